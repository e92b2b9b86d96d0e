"""Batch writes: exactly once, append vs overwrite, nothing visible after a failure, idempotent
reruns, and the Arrow writer sending the same rows as the Row writer."""
import uuid

import pytest
from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

from solutions import PracticeDataSource
from solutions.client import PracticeClient, ServiceError
from solutions.options import OptionError, parse_options
from solutions.writer import PracticeBatchWriter, PracticeCommitMessage
from workshop.truth import checksum


def new_table():
    return "t_" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def source(spark, spark_service_url):
    """source(resource) -> DataFrame read from the practice service (every field type)."""
    spark.dataSource.register(PracticeDataSource)

    def load(resource, **options):
        reader = spark.read.format("practice").option("url", spark_service_url).option("resource", resource)
        for name, value in options.items():
            reader = reader.option(name, str(value))
        return reader.load()

    return load


def save(df, url, table, mode="append", **options):
    writer = df.write.format("practice").option("url", url).option("table", table).mode(mode)
    for name, value in options.items():
        writer = writer.option(name, str(value))
    writer.save()


# -- on Spark -----------------------------------------------------------------------------------


@pytest.mark.spark
def test_a_write_lands_exactly_once_and_reads_back_equal(source, service, spark_service_url):
    table = new_table()
    save(source("events", numPartitions=3), spark_service_url, table)
    rows = service.truth.table(table)
    assert len(rows) == service.truth.count("events")
    # every type (timestamps, decimals, binary, map, struct) comes back exactly as served
    assert checksum(rows) == service.truth.checksum("events")


@pytest.mark.spark
def test_append_adds_and_overwrite_replaces(source, service, spark_service_url):
    table = new_table()
    entities = source("entities", numPartitions=2)
    save(entities, spark_service_url, table, mode="append")
    save(entities, spark_service_url, table, mode="append")
    assert len(service.truth.table(table)) == 2 * service.truth.count("entities")
    ids = [r["id"] for r in service.truth.records("entities")]
    save(entities.filter(f"id < {ids[100]}"), spark_service_url, table, mode="overwrite")
    assert checksum(service.truth.table(table)) == service.truth.checksum("entities", id_lt=ids[100])


@pytest.mark.spark
def test_a_task_failing_mid_write_leaves_the_table_unchanged(source, service, spark_service_url):
    from pyspark.sql.functions import col, udf

    table = new_table()
    entities = source("entities", numPartitions=4)
    save(entities, spark_service_url, table)
    before = service.truth.table(table)

    last_id = max(r["id"] for r in service.truth.records("entities"))

    @udf("bigint")
    def fail_on_the_last_id(value):
        if value == last_id:  # in the last partition, after its other rows were sent
            raise RuntimeError("boom: a task fails mid-write")
        return value

    failing = entities.withColumn("id", fail_on_the_last_id(col("id")))
    with pytest.raises(Exception, match="boom: a task fails mid-write"):
        save(failing, spark_service_url, table, mode="overwrite", batchSize=100)
    assert service.truth.table(table) == before


@pytest.mark.spark
def test_an_idempotent_rerun_adds_nothing(source, service, spark_service_url):
    table = new_table()
    entities = source("entities", numPartitions=3)
    options = dict(writeProtocol="idempotent", idempotencyKey="load-2026-01-01", batchSize=500)
    save(entities, spark_service_url, table, **options)
    save(entities, spark_service_url, table, **options)  # the same write again
    assert checksum(service.truth.table(table)) == service.truth.checksum("entities")
    save(entities, spark_service_url, table, **dict(options, idempotencyKey="load-2026-01-02"))
    assert len(service.truth.table(table)) == 2 * service.truth.count("entities")


@pytest.mark.spark
@pytest.mark.parametrize("resource", ["events", "kv"])
def test_the_arrow_writer_sends_what_the_row_writer_sends(source, service, spark_service_url, resource):
    by_rows, by_arrow = new_table(), new_table()
    df = source(resource)
    save(df, spark_service_url, by_rows)
    save(df, spark_service_url, by_arrow, arrow="true")
    assert sorted(map(repr, service.truth.table(by_arrow))) == sorted(map(repr, service.truth.table(by_rows)))
    assert checksum(service.truth.table(by_arrow)) == service.truth.checksum(resource)


@pytest.mark.spark
def test_a_table_with_other_fields_is_a_clear_error(source, spark, spark_service_url):
    table = new_table()
    save(source("kv"), spark_service_url, table)
    with pytest.raises(Exception, match=f"HTTP 409 conflict: table '{table}' exists with other fields"):
        save(spark.range(3), spark_service_url, table)


# -- the protocol, driven directly (no Spark): what write, commit and abort do ------------------

SCHEMA = StructType(
    [StructField("id", LongType()), StructField("at", TimestampType()), StructField("price", DecimalType(10, 2)),
     StructField("name", StringType())]
)


def rows(count):
    import datetime
    import decimal

    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return [(i, at, decimal.Decimal(i) / 4, f"n{i}") for i in range(count)]


def writer_for(service, table, overwrite=False, **options):
    options = parse_options({"url": service.url, "table": table, "batchSize": "10", **options})
    return PracticeBatchWriter(options, SCHEMA, overwrite)


def test_write_returns_a_commit_message_with_counts(service):
    table = new_table()
    writer = writer_for(service, table)
    message = writer.write(iter(rows(25)))
    assert isinstance(message, PracticeCommitMessage)
    # requests: every HTTP request of the task, creating the stage included
    assert (message.partition_id, message.rows, message.requests) == (0, 25, 4)
    assert message.stage_id and message.bytes > 25 * 40
    assert service.truth.table(table) == []  # staged, not visible
    writer.commit([message])
    assert [r["price"] for r in service.truth.table(table)][:3] == ["0.00", "0.25", "0.50"]
    writer.commit([message])  # a repeated commit (same commit id) publishes nothing more
    assert len(service.truth.table(table)) == 25


def test_abort_discards_the_staged_rows(service):
    table = new_table()
    writer = writer_for(service, table)
    messages = [writer.write(iter(rows(15))), None]  # None: a task that failed
    writer.abort(messages)
    with pytest.raises(ServiceError, match="already discarded"):
        writer.commit(messages[:1])
    assert service.truth.table(table) == []


def test_a_task_that_fails_discards_its_own_stage(service, monkeypatch):
    table = new_table()
    writer = writer_for(service, table)
    staged = []
    original_post = PracticeClient.post

    def remember_stage(client, path, body=None, headers=None, **more):
        answer = original_post(client, path, body, headers, **more)
        if path.endswith("/stages"):
            staged.append(answer["stage_id"])
        return answer

    monkeypatch.setattr(PracticeClient, "post", remember_stage)  # in this process only

    def rows_then_failure():
        yield from rows(25)
        raise RuntimeError("the input broke")

    with pytest.raises(RuntimeError, match="the input broke"):
        writer.write(rows_then_failure())
    (stage_id,) = staged
    message = PracticeCommitMessage(partition_id=0, stage_id=stage_id)
    with pytest.raises(ServiceError, match="already discarded"):
        writer.commit([message])
    assert service.truth.table(table) == []


def test_a_task_without_rows_makes_no_stage(service):
    writer = writer_for(service, new_table())
    message = writer.write(iter([]))
    assert message.rows == 0 and message.stage_id is None
    writer.commit([message])


def test_overwrite_needs_the_staged_protocol(service):
    with pytest.raises(OptionError, match="overwrite needs writeProtocol=staged"):
        writer_for(service, new_table(), overwrite=True, writeProtocol="idempotent", idempotencyKey="k")


def test_required_write_options_are_named(service):
    with pytest.raises(OptionError, match="option idempotencyKey is required with writeProtocol=idempotent"):
        writer_for(service, new_table(), writeProtocol="idempotent")
    with pytest.raises(OptionError, match="option table is required"):
        PracticeBatchWriter(parse_options({"url": service.url}), SCHEMA, False)
