"""Batch reads on real Spark against the real practice service, checked against ground truth.

Every resource, every partitioning strategy, several partition counts, Row and Arrow paths:
the rows read must equal the served records exactly (count, checksum, no duplicate keys).
"""
import json

import pytest

from solutions import PracticeDataSource
from solutions.options import parse_options
from solutions.partitioning import EmptyPartition, TimeWindowPartition
from solutions.reader import PracticeBatchReader, SchemaMismatchError
from workshop.truth import checksum, to_json_record

KEYS = {"events": "seq", "entities": "id", "kv": "key"}
STRATEGY = {"events": "time", "entities": "id", "kv": "token"}


@pytest.fixture(scope="module")
def read(spark, spark_service_url):
    """read(resource, url=..., schema=..., **options) -> DataFrame of the practice source."""
    spark.dataSource.register(PracticeDataSource)

    def load(resource, url=spark_service_url, schema=None, **options):
        reader = spark.read.format("practice").option("url", url).option("resource", resource)
        for name, value in options.items():
            reader = reader.option(name, str(value))
        if schema is not None:
            reader = reader.schema(schema)
        return reader.load()

    return load


def assert_equals_truth(rows, truth, resource, **query):
    keys = [row[KEYS[resource]] for row in rows]
    assert len(keys) == len(set(keys)), "a record was read twice"
    assert len(rows) == truth.count(resource, **query)
    assert checksum(to_json_record(row) for row in rows) == truth.checksum(resource, **query)


def partitions_used(df):
    from pyspark.sql.functions import spark_partition_id

    return df.select(spark_partition_id().alias("p")).distinct().count()


# -- every resource, strategy, partition count and path equals ground truth ----------------------

CASES = [
    (resource, partitioning, parts, arrow)
    for resource in ("events", "entities", "kv")
    for partitioning, parts, arrow in [
        (STRATEGY[resource], 1, False),
        (STRATEGY[resource], 3, False),
        (STRATEGY[resource], 8, False),
        (STRATEGY[resource], 3, True),
        ("none", 1, False),
        ("none", 1, True),
    ]
]


@pytest.mark.spark
@pytest.mark.parametrize("resource, partitioning, parts, arrow", CASES)
def test_reads_equal_ground_truth(read, service, resource, partitioning, parts, arrow):
    df = read(resource, partitioning=partitioning, numPartitions=parts, arrow=str(arrow).lower())
    assert_equals_truth(df.collect(), service.truth, resource)


@pytest.mark.spark
def test_the_default_schema_is_the_services(read):
    df = read("events")
    assert df.schema.simpleString() == (
        "struct<seq:bigint,event_id:string,event_time:timestamp,ingest_time:timestamp,event_date:date,"
        "device_id:bigint,kind:string,value:double,amount:decimal(12,2),tags:array<string>,"
        "attributes:map<string,string>,location:struct<lat:double,lon:double>,payload:binary,note:string>"
    )


@pytest.mark.spark
def test_a_user_schema_may_pick_and_reorder_columns(read, service):
    rows = read("entities", schema="balance decimal(18,4), id bigint").collect()
    expected = {record["id"]: record["balance"] for record in service.truth.records("entities")}
    assert {row.id: format(row.balance, "f") for row in rows} == expected


@pytest.mark.spark
def test_an_event_time_window_from_options(read, service):
    start, end = "2026-01-01T00:00:10Z", "2026-01-01T00:00:30.5+00:00"
    rows = read("events", start=start, end=end, numPartitions=2).collect()
    assert rows, "the window holds events"
    assert_equals_truth(rows, service.truth, "events", start=start, end="2026-01-01T00:00:30.500000Z")


# -- planning: too-large windows are split before any task runs, and again at read time ---------


def test_planning_splits_windows_the_service_would_refuse(service):
    options = parse_options({"url": service.url, "numPartitions": "1"})
    reader = PracticeBatchReader(options, _schema("seq bigint"))
    partitions = reader.partitions()
    assert all(isinstance(p, TimeWindowPartition) for p in partitions)
    counts = [service.truth.count("events", start=_iso(p.start), end=_iso(p.end)) for p in partitions]
    assert len(partitions) >= 4 and max(counts) <= 1500  # 6000 events, max_window_rows=1500
    assert sum(counts) == service.truth.count("events")


def test_a_window_refused_at_read_time_is_split(service):
    # partitioning=none plans one window of all 6000 events: the service answers 413 and the
    # reader halves the window until it is accepted.
    options = parse_options({"url": service.url, "partitioning": "none"})
    reader = PracticeBatchReader(options, _schema("seq bigint"))
    (partition,) = reader.partitions()
    seqs = [row[0] for row in reader.read(partition)]
    assert sorted(seqs) == sorted(record["seq"] for record in service.truth.records("events"))


@pytest.mark.spark
def test_the_planned_partitions_are_the_spark_partitions(read):
    assert partitions_used(read("entities", numPartitions=5)) == 5
    assert partitions_used(read("kv", numPartitions=8)) == 8  # 4 ring ranges, 2 pieces each
    assert partitions_used(read("kv", partitioning="none")) == 1


# -- bad input fails on the driver with clear words ---------------------------------------------


@pytest.mark.spark
def test_a_bad_option_fails_before_any_task_runs(read):
    with pytest.raises(Exception, match=r"option numPartitions='several' is not valid: expected a whole number"):
        read("events", numPartitions="several").collect()


@pytest.mark.spark
def test_an_unknown_column_is_named(read):
    with pytest.raises(Exception, match=r"column 'event_tme' is not a field of events \(did you mean 'event_time'\?\)"):
        read("events", schema="event_tme timestamp").collect()


@pytest.mark.spark
def test_an_incompatible_type_is_named(read):
    with pytest.raises(Exception, match=r"column 'amount' is decimal\(12,2\) in events, the schema asks for double"):
        read("events", schema="seq bigint, amount double").collect()


def test_schema_mismatches_are_all_listed(service):
    options = parse_options({"url": service.url, "resource": "kv"})
    reader = PracticeBatchReader(options, _schema("key string, token int, colour string, _corrupt_record int"))
    with pytest.raises(SchemaMismatchError) as error:
        reader.prepare()  # before planning; the constructor only checks options
    message = str(error.value)
    assert "column 'token' is bigint in kv, the schema asks for int" in message
    assert "column 'colour' is not a field of kv" in message
    assert "the corrupt-record column '_corrupt_record' must be string, not int" in message


# -- malformed records and empty resources ------------------------------------------------------


@pytest.fixture(scope="module")
def quirky(own_service):
    """A service with malformed events, no entities and an empty token ring."""
    running = own_service(seed=11, events=800, entities=0, ring_rows=0, ring_nodes=0, malformed_rate=0.05)
    assert running.truth.malformed_seqs(), "the service serves some malformed records"
    return running


EVENTS_WITH_CORRUPT = (
    "seq bigint, event_id string, event_time timestamp, ingest_time timestamp, event_date date, "
    "device_id bigint, kind string, value double, amount decimal(12,2), tags array<string>, "
    "attributes map<string,string>, location struct<lat:double,lon:double>, payload binary, "
    "note string, _corrupt_record string"
)


@pytest.mark.spark
@pytest.mark.parametrize("arrow", [False, True])
def test_permissive_keeps_malformed_records_as_raw_text(read, quirky, arrow):
    rows = read("events", url=quirky.url, schema=EVENTS_WITH_CORRUPT, mode="PERMISSIVE", arrow=arrow).collect()
    corrupt = [row for row in rows if row._corrupt_record is not None]
    assert len(rows) == quirky.truth.count("events")
    assert len(corrupt) == len(quirky.truth.malformed_seqs())
    truncated = {record for record in quirky.truth.records("events") if isinstance(record, str)}
    for row in corrupt:  # the fields that fit are kept, as Spark's JSON reader keeps them
        if row._corrupt_record in truncated:
            assert all(value is None for name, value in row.asDict().items() if name != "_corrupt_record")
        else:
            record = json.loads(row._corrupt_record)
            assert (row.seq, row.event_id) == (record["seq"], record["event_id"])
    good = [row.asDict() for row in rows if row._corrupt_record is None]
    for row in good:
        del row["_corrupt_record"]
    assert checksum(to_json_record(row) for row in good) == quirky.truth.checksum("events", drop_malformed=True)


@pytest.mark.spark
def test_dropmalformed_skips_them(read, quirky):
    rows = read("events", url=quirky.url, mode="DROPMALFORMED").collect()
    assert_equals_truth(rows, quirky.truth, "events", drop_malformed=True)


@pytest.mark.spark
def test_failfast_stops_at_the_first_and_names_it(read, quirky):
    with pytest.raises(Exception, match=r"malformed record at partition \d+, page \d+, item \d+"):
        read("events", url=quirky.url, mode="FAILFAST").collect()


@pytest.mark.spark
@pytest.mark.parametrize("resource", ["entities", "kv"])
def test_an_empty_resource_reads_no_rows(read, quirky, resource):
    assert read(resource, url=quirky.url).collect() == []


def test_an_empty_ring_plans_one_partition_that_reads_nothing(quirky):
    reader = PracticeBatchReader(parse_options({"url": quirky.url, "resource": "kv"}), _schema("key string"))
    assert reader.partitions() == [EmptyPartition()]
    assert list(reader.read(EmptyPartition())) == []


def _schema(ddl):
    """A StructType from simple `name type` pairs, without a Spark session."""
    from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

    types = {"bigint": LongType(), "int": IntegerType(), "string": StringType()}
    return StructType([StructField(name, types[type_]) for name, type_ in (part.split() for part in ddl.split(","))])


def _iso(value):
    from solutions.conversion import format_timestamp

    return format_timestamp(value)


def test_filter_pushdown_is_feature_detected(service, monkeypatch, caplog):
    from pyspark.sql.datasource import CaseInsensitiveDict

    import solutions.datasource as datasource
    from solutions.reader import PracticePushdownReader

    source = PracticeDataSource(CaseInsensitiveDict({"url": service.url, "filterPushdown": "true"}))
    schema = _schema("seq bigint")
    expected = PracticePushdownReader if datasource.SPARK_HAS_FILTER_PUSHDOWN else PracticeBatchReader
    assert type(source.reader(schema)) is expected
    # on a Spark without pushdown (4.0) the option falls back to the plain reader, and says so
    monkeypatch.setattr(datasource, "SPARK_HAS_FILTER_PUSHDOWN", False)
    assert type(source.reader(schema)) is PracticeBatchReader
    assert "filterPushdown=true is ignored" in caplog.text
    # without the option, never the pushdown reader: Spark 4.1+ refuses it unless
    # spark.sql.python.filterPushdown.enabled is on
    plain = PracticeDataSource(CaseInsensitiveDict({"url": service.url}))
    assert type(plain.reader(schema)) is PracticeBatchReader
