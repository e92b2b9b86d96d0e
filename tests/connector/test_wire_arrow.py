"""Option wireFormat=arrow: Arrow IPC pages and bodies, against ground truth and the JSON path.

Reads hand the service's RecordBatches to Spark; their rows must be the served records
(ground truth) on every resource and partitioning, and, with malformed events, the rows of the
same read over JSON in every mode (the JSON path is the reference: its converter decides what
is malformed, and the Arrow path asks it about each row the service marks). Faults are
retried as for JSON, pushdown changes no answer, and Arrow IPC writes leave the tables that JSON
writes leave. In the version matrix: what Spark checks of a yielded RecordBatch changed in 4.2
(its Arrow schema must equal Spark's, nullability included), and pushdown needs 4.1.
"""
import json
import uuid

import pytest

from solutions import PracticeDataSource
from solutions.client import ARROW_STREAM, PracticeClient, ServiceError
from solutions.options import OptionError, parse_options
from solutions.reader import PracticeBatchReader
from workshop.truth import checksum, to_json_record

pytestmark = pytest.mark.version_matrix
KEYS = {"events": "seq", "entities": "id", "kv": "key"}
EVENTS_WITH_CORRUPT = (
    "seq bigint, event_id string, event_time timestamp, ingest_time timestamp, event_date date, "
    "device_id bigint, kind string, value double, amount decimal(12,2), tags array<string>, "
    "attributes map<string,string>, location struct<lat:double,lon:double>, payload binary, "
    "note string, _corrupt_record string"
)
PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"


@pytest.fixture(scope="module")
def read(spark, spark_service_url):
    """read(resource, url=..., schema=..., **options) -> DataFrame of the practice source."""
    spark.dataSource.register(PracticeDataSource)

    def load(resource, url=spark_service_url, schema=None, **options):
        reader = spark.read.format("practice").option("url", url).option("resource", resource)
        for name, value in {"logLevel": "WARNING", **options}.items():
            reader = reader.option(name, str(value))
        if schema is not None:
            reader = reader.schema(schema)
        return reader.load()

    return load


def records(rows):
    return [to_json_record(row) for row in rows]


def same_rows(a, b):
    """Order-free equality of two lists of JSON-form records (count and checksum, and the sorted texts)."""
    texts = sorted(json.dumps(record, sort_keys=True) for record in a)
    return len(a) == len(b) and checksum(a) == checksum(b) and texts == sorted(json.dumps(r, sort_keys=True) for r in b)


# -- every resource and partitioning equals ground truth ---------------------------------------

CASES = [
    ("events", "time", 3, True), ("events", "none", 1, True), ("events", "time", 2, False),
    ("entities", "id", 3, True), ("entities", "none", 1, True), ("entities", "id", 2, False),
    ("kv", "token", 5, True), ("kv", "none", 1, True), ("kv", "token", 2, False),
]


@pytest.mark.spark
@pytest.mark.parametrize("resource, partitioning, parts, arrow", CASES)
def test_arrow_reads_equal_ground_truth(read, service, resource, partitioning, parts, arrow):
    # events: 6000 in windows of at most 1500 (planned, or split when the service refuses one,
    # with partitioning=none); pages of 700 rows, so every partition follows X-Next-Cursor.
    rows = read(resource, wireFormat="arrow", arrow=str(arrow).lower(), partitioning=partitioning,
                numPartitions=parts, pageSize=700).collect()
    keys = [row[KEYS[resource]] for row in rows]
    assert len(keys) == len(set(keys)), "a record was read twice"
    assert len(rows) == service.truth.count(resource)
    assert checksum(records(rows)) == service.truth.checksum(resource)


@pytest.mark.spark
def test_a_user_schema_picks_reorders_and_keeps_types(read, service):
    rows = read("entities", wireFormat="arrow", arrow="true", schema="balance decimal(18,4), id bigint").collect()
    assert {row.id: format(row.balance, "f") for row in rows} == {
        record["id"]: record["balance"] for record in service.truth.records("entities")}


# -- malformed records: every mode gives the JSON path's rows ---------------------------------


@pytest.fixture(scope="module")
def quirky(own_service):
    """Events with 5 % malformed records (truncated, or one field of the wrong type)."""
    running = own_service(seed=11, events=1200, malformed_rate=0.05, max_window_rows=600)
    assert len(running.truth.malformed_seqs()) > 30
    return running


@pytest.mark.spark
@pytest.mark.parametrize("arrow", [True, False])
@pytest.mark.parametrize("mode, schema", [
    ("PERMISSIVE", EVENTS_WITH_CORRUPT),
    ("PERMISSIVE", None),  # no corrupt-record column: the service's is dropped
    # A record broken only in `value` or `amount` is fine for this schema: no corrupt text.
    ("PERMISSIVE", "seq bigint, kind string, event_time timestamp, _corrupt_record string"),
    ("DROPMALFORMED", None),
    ("DROPMALFORMED", "seq bigint, kind string, event_time timestamp"),
    # A NOT NULL column: a record with a null there is malformed too (note is often null).
    ("DROPMALFORMED", "seq bigint, note string NOT NULL, _corrupt_record string"),
])
def test_every_mode_reads_the_json_paths_rows(read, quirky, mode, schema, arrow):
    def rows(wire):
        return records(read("events", url=quirky.url, schema=schema, mode=mode, numPartitions=2, pageSize=250,
                            wireFormat=wire, arrow=str(arrow).lower()).collect())

    over_json, over_arrow = rows("json"), rows("arrow")
    assert over_json, "the read has rows"
    assert same_rows(over_arrow, over_json)


@pytest.mark.spark
def test_a_subset_schema_keeps_no_corrupt_text_for_a_record_that_fits_it(read, quirky):
    # The service marks every malformed record; for a schema without the broken field the JSON
    # path finds nothing wrong. Only the truncated records (no field fits) and those whose
    # event_time broke keep their text.
    rows = read("events", url=quirky.url, schema="seq bigint, _corrupt_record string", wireFormat="arrow",
                arrow="true").collect()
    kept = [row for row in rows if row._corrupt_record is not None]
    truncated = [record for record in quirky.truth.records("events") if isinstance(record, str)]
    assert len(kept) == len(truncated) < len(quirky.truth.malformed_seqs())


@pytest.mark.spark
def test_failfast_fails_naming_the_record_the_json_path_names(read, quirky):
    def error_of(wire):
        with pytest.raises(Exception) as failure:
            read("events", url=quirky.url, mode="FAILFAST", partitioning="none", wireFormat=wire, arrow="true").collect()
        text = str(failure.value)
        return text[text.index("malformed record at"):].split(". mode=FAILFAST")[0]

    over_arrow = error_of("arrow")
    assert over_arrow == error_of("json")
    assert "partition 0, page " in over_arrow and "expected" in over_arrow  # where, and why


@pytest.mark.spark
@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED"])
def test_dead_letters_are_the_json_paths(read, quirky, mode):
    def letters(wire):
        table = f"dead_{wire}_{uuid.uuid4().hex[:8]}"
        read("events", url=quirky.url, mode=mode, numPartitions=2, deadLetterTable=table, wireFormat=wire,
             arrow="true").count()
        return [{key: value for key, value in letter.items() if key not in ("run_id", "recorded_at")}
                for letter in quirky.truth.table(table)]

    over_arrow = letters("arrow")
    assert len(over_arrow) == len(quirky.truth.malformed_seqs())
    assert same_rows(over_arrow, letters("json"))


# -- faults, pushdown ---------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.parametrize("resource", ["events", "entities"])
def test_an_arrow_read_under_faults_equals_ground_truth(read, own_service, tmp_path, resource):
    flaky = own_service(seed=41, events=2000, entities=1500, fault_rate=0.3, fault_kinds=["429", "500", "reset"],
                        retry_after=0, max_window_rows=1000)
    log_file = tmp_path / "read.jsonl"
    rows = read(resource, url=flaky.url, wireFormat="arrow", arrow="true", numPartitions=3, pageSize=200,
                retryDelay="5ms", maxRetryDelay="50ms", logFile=log_file, logLevel="INFO").collect()
    assert len(rows) == flaky.truth.count(resource)
    assert checksum(records(rows)) == flaky.truth.checksum(resource)
    with open(log_file) as lines:
        finished = [json.loads(line) for line in lines if '"read partition' in line]
    assert sum(line["retries"] for line in finished) > 0  # the faults were real, and retried
    assert sum(flaky.faults.injected[kind] for kind in ("429", "500", "reset")) > 0


PUSHDOWN_CASES = [
    "device_id IN (3, 5, 8) AND kind = 'click'",
    "kind IN ('view', 'refund') AND event_time >= TIMESTAMP'2026-01-01 00:00:03'",
    "device_id = 7 AND value > 300",
    "kind IS NULL",
]


@pytest.mark.spark
@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED"])
def test_pushdown_on_equals_off_over_arrow(spark, read, quirky, mode):
    def answers(pushdown):
        frame = read("events", url=quirky.url, schema=EVENTS_WITH_CORRUPT if mode == "PERMISSIVE" else None,
                     mode=mode, wireFormat="arrow", arrow="true", numPartitions=2, filterPushdown=str(pushdown).lower())
        return [records(frame.filter(condition).collect()) for condition in PUSHDOWN_CASES]

    before = spark.conf.get(PUSHDOWN_CONF, "false")
    try:
        off = answers(False)
        spark.conf.set(PUSHDOWN_CONF, "true")
        on = answers(True)
    finally:
        spark.conf.set(PUSHDOWN_CONF, before)
    assert any(off), "the cases select rows"
    for condition, with_pushdown, without in zip(PUSHDOWN_CASES, on, off):
        assert same_rows(with_pushdown, without), condition


# -- writes: Arrow IPC bodies leave the tables JSON bodies leave ---------------------------------


@pytest.mark.spark
@pytest.mark.parametrize("protocol", ["staged", "idempotent"])
@pytest.mark.parametrize("resource", ["events", "entities"])
def test_arrow_writes_equal_json_writes(spark, read, service, spark_service_url, protocol, resource):
    # A session time zone that is not UTC: Spark's batches carry it, the Arrow writer sends UTC.
    frame = read(resource, numPartitions=3).cache()
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    tables = {}
    try:
        for wire in ("json", "arrow"):
            table = tables[wire] = f"w_{wire}_{uuid.uuid4().hex[:8]}"
            (frame.write.format("practice").option("url", spark_service_url).option("table", table)
             .option("arrow", "true").option("wireFormat", wire).option("writeProtocol", protocol)
             .option("idempotencyKey", table).option("batchSize", 700).option("logLevel", "WARNING")
             .mode("append").save())
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
        frame.unpersist()
    assert same_rows(service.truth.table(tables["arrow"]), service.truth.table(tables["json"]))
    assert checksum(service.truth.table(tables["arrow"])) == service.truth.checksum(resource)


@pytest.mark.spark
def test_an_arrow_write_under_faults_lands_exactly_once(spark, read, own_service):
    flaky = own_service(seed=42, entities=1500, fault_rate=0.3, fault_kinds=["429", "500", "reset"], retry_after=0)
    frame = read("entities", url=flaky.url, numPartitions=3, retryDelay="5ms", maxRetryDelay="50ms")
    for protocol in ("staged", "idempotent"):
        table = f"faulty_{protocol}_{uuid.uuid4().hex[:8]}"
        (frame.write.format("practice").option("url", flaky.url).option("table", table).option("arrow", "true")
         .option("wireFormat", "arrow").option("writeProtocol", protocol).option("idempotencyKey", table)
         .option("batchSize", 200).option("retryDelay", "5ms").option("maxRetryDelay", "50ms")
         .option("logLevel", "WARNING").mode("append").save())
        assert len(flaky.truth.table(table)) == 1500, protocol  # none lost, none twice
        assert checksum(flaky.truth.table(table)) == flaky.truth.checksum("entities"), protocol


def test_rows_the_service_refuses_go_to_the_dead_letter_table_as_json_rows_do(service):
    # A NOT NULL field refuses the rows whose name is null (422 naming the row): each is set
    # aside and the rest sent again, in an Arrow body as in a JSON one.
    import pyarrow as pa
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from solutions.writer import PracticeArrowIpcWriter, PracticeBatchWriter

    schema = StructType([StructField("id", LongType()), StructField("name", StringType(), nullable=False)])
    rows = [{"id": i, "name": None if i % 7 == 0 else str(i)} for i in range(60)]
    sent = {
        "json": (PracticeBatchWriter, iter(rows)),
        "arrow": (PracticeArrowIpcWriter, iter([pa.RecordBatch.from_pylist(rows[:35]), pa.RecordBatch.from_pylist(rows[35:])])),
    }
    letters = {}
    for wire, (writer_class, batches) in sent.items():
        table, dead = f"nn_{wire}_{uuid.uuid4().hex[:8]}", f"dead_{wire}_{uuid.uuid4().hex[:8]}"
        options = parse_options({"url": service.url, "table": table, "batchSize": "25", "deadLetterTable": dead,
                                 "logLevel": "WARNING"})
        writer = writer_class(options, schema, False)
        message = writer.send(batches) if wire == "json" else writer.write(batches)
        writer.commit([message])
        assert (message.rows, message.dead_letters) == (51, 9), wire
        assert sorted(row["id"] for row in service.truth.table(table)) == [i for i in range(60) if i % 7], wire
        letters[wire] = [{key: value.replace(table, "T") for key, value in letter.items() if key in ("source", "reason",
                          "record", "location")} for letter in service.truth.table(dead)]
    assert same_rows(letters["arrow"], letters["json"])
    assert "field 'name'" in letters["arrow"][0]["reason"]


# -- what is refused, clearly, and the client's part --------------------------------------------


@pytest.mark.spark
def test_an_arrow_write_needs_the_arrow_writer(spark, spark_service_url):
    with pytest.raises(Exception, match="option wireFormat=arrow for writes needs option arrow=true"):
        (spark.range(3).write.format("practice").option("url", spark_service_url).option("table", "never_made")
         .option("wireFormat", "arrow").mode("append").save())


def test_streams_and_nested_not_null_are_refused_naming_the_option(service):
    from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType

    from solutions.stream_reader import check_stream_options
    from solutions.stream_writer import PracticeStreamWriter

    options = parse_options({"url": service.url, "wireFormat": "arrow", "table": "t"})
    with pytest.raises(OptionError, match="wireFormat=arrow is for batch reads"):
        check_stream_options(options)
    with pytest.raises(OptionError, match="wireFormat=arrow is for batch writes"):
        PracticeStreamWriter(options, StructType([StructField("seq", LongType())]), False)
    nested = StructType([StructField("tags", ArrayType(StringType(), containsNull=False))])
    with pytest.raises(TypeError, match=r"cannot check NOT NULL inside tags\[\]"):
        PracticeBatchReader(options, nested)
    with pytest.raises(OptionError, match="option wireFormat='xml' is not valid: expected one of json, arrow"):
        parse_options({"url": service.url, "wireFormat": "xml"})


def test_arrow_pages_follow_the_cursor_header_and_are_the_json_pages(service):
    options = parse_options({"url": service.url, "logLevel": "WARNING"})
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:08Z"}
    with PracticeClient(options) as client:
        json_pages = list(client.pages("/v1/events", window, page_size=150))
        arrow_pages = list(client.arrow_pages("/v1/events", window, page_size=150))
        requests = client.requests
    assert len(json_pages) == len(arrow_pages) > 2 and requests == 2 * len(json_pages)
    assert [page.num_rows for page in arrow_pages] == [len(items) for items in json_pages]
    assert [page.column("seq").to_pylist() for page in arrow_pages] == [[r["seq"] for r in items] for items in json_pages]


def test_an_answer_that_is_not_arrow_is_a_clear_error(service):
    with PracticeClient(parse_options({"url": service.url, "logLevel": "WARNING"})) as client:
        with pytest.raises(ServiceError, match=r"asked .* for Arrow .* got application/json .*wireFormat=json"):
            client.request("GET", "/v1/events/stats", accept=ARROW_STREAM)  # an endpoint that only speaks JSON
