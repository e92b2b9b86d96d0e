"""Batch writes: exactly once, append vs overwrite, nothing visible after a failure, idempotent
reruns, and the Arrow writer sending the same rows as the Row writer."""
import json
import os
import time
import uuid

import pytest
from killed_tasks import dying_sink
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


@pytest.mark.spark
def test_an_idempotent_rerun_over_grown_data_reports_what_the_table_got(spark, service, spark_service_url, tmp_path):
    spark.dataSource.register(PracticeDataSource)
    table = new_table()
    log_file = tmp_path / "write.jsonl"
    options = dict(writeProtocol="idempotent", idempotencyKey="daily-load", batchSize=10, logFile=log_file)

    def committed():
        """What the driver's commit logged for the latest write to the table."""
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
        return [line for line in lines if line.get("event") == "write committed" and line.get("table") == table][-1]

    save(spark.range(0, 10, 1, 1), spark_service_url, table, **options)
    assert committed()["rows"] == len(service.truth.table(table)) == 10
    # The source grew at the end: rows 10-19 come in a batch of their own, under a key not used yet.
    save(spark.range(0, 20, 1, 1), spark_service_url, table, **options)
    assert sorted(row["id"] for row in service.truth.table(table)) == list(range(20))
    assert committed()["rows"] == 10  # written by this run: the table gained 10 rows
    assert committed()["already_present"] == 10
    # In batches of 1000, batch 0 holds rows 0-29 under the key that rows 0-9 were sent with:
    # refused, naming the option, rather than reported written and dropped.
    with pytest.raises(Exception, match="option idempotencyKey"):
        save(spark.range(0, 30, 1, 1), spark_service_url, table, **dict(options, batchSize=1000))
    assert sorted(row["id"] for row in service.truth.table(table)) == list(range(20))


def open_stages(service, table):
    """The open stages of a table, as the service lists them."""
    with PracticeClient(parse_options({"url": service.url})) as client:
        return client.get(f"/v1/tables/{table}/stages")["stages"]


@pytest.mark.spark
def test_a_batch_write_whose_task_process_dies_leaves_no_open_stage(spark, service, spark_service_url, tmp_path):
    marker = str(tmp_path / "a-task-died")
    spark.dataSource.register(dying_sink("practice_dying_batch", marker))  # partition 0 dies after staging
    table = new_table()
    # One partition: no other task that Spark cancels but that may still be staging when abort runs
    # (abort is best effort; see docs/streaming.md). The dead task sends no message: abort gets [None].
    frame = spark.range(0, 100, 1, 1)

    def write():
        frame.write.format("practice_dying_batch").option("url", spark_service_url).option("table", table) \
            .option("batchSize", 10).mode("append").save()

    with pytest.raises(Exception, match="exited unexpectedly"):  # local mode runs a task once
        write()
    assert os.path.exists(marker)  # the task died where the test made it die, after staging
    assert open_stages(service, table) == [] and service.truth.table(table) == []
    write()  # the write run again; no task dies this time
    assert sorted(row["id"] for row in service.truth.table(table)) == list(range(100))
    assert open_stages(service, table) == []


@pytest.mark.spark
def test_abort_cannot_discard_a_stage_that_a_cancelled_task_makes_after_it(spark, service, spark_service_url, tmp_path):
    # Pins what docs/streaming.md says: Spark calls abort without waiting for the tasks it
    # cancelled, so the leftover cleanup is best effort.
    spark.dataSource.register(dying_sink("practice_straggling_batch", str(tmp_path / "a-task-died"), straggler=True))
    table = new_table()
    with pytest.raises(Exception, match="exited unexpectedly"):
        spark.range(0, 100, 1, 2).write.format("practice_straggling_batch").option("url", spark_service_url) \
            .option("table", table).option("batchSize", 10).mode("append").save()
    deadline = time.monotonic() + 60
    while not open_stages(service, table) and time.monotonic() < deadline:
        time.sleep(0.05)  # partition 1 is still running, after the write failed and was aborted
    assert len(open_stages(service, table)) == 1  # its stage, made after abort listed the write's stages
    assert service.truth.table(table) == []  # invisible: never published


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
    """A writer as PracticeDataSource.writer() makes it on the driver: made, then prepared."""
    options = parse_options({"url": service.url, "table": table, "batchSize": "10", **options})
    writer = PracticeBatchWriter(options, SCHEMA, overwrite)
    writer.prepare()
    return writer


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


# -- what the writer reports is what the service did (defect 6) -----------------------------------


def test_an_idempotent_rerun_counts_rows_already_present_not_written(service):
    table = new_table()
    options = dict(writeProtocol="idempotent", idempotencyKey="load-1")  # batches of 10 rows
    first = writer_for(service, table, **options)
    message = first.write(iter(rows(30)))
    first.commit([message])
    assert message.rows == first.last_metrics["rows"] == len(service.truth.table(table)) == 30

    rerun = writer_for(service, table, **options)  # the same write again: the service has every batch
    message = rerun.write(iter(rows(30)))
    rerun.commit([message])
    assert len(service.truth.table(table)) == 30
    assert message.rows == rerun.last_metrics["rows"] == 0
    assert message.already_present == rerun.last_metrics["already_present"] == 30

    grown = writer_for(service, table, **options)  # 10 more rows at the end: a batch with a new key
    message = grown.write(iter(rows(40)))
    assert sorted(row["id"] for row in service.truth.table(table)) == list(range(40))
    assert (message.rows, message.already_present) == (10, 30)


def test_rows_whose_answer_was_lost_count_as_written_by_this_write():
    from workshop.service import PracticeService

    # A reset carries the post out and drops the answer; the retry finds the key used, by this write.
    with PracticeService(events=0, fault_rate=0.3, fault_kinds=["reset"]) as flaky:
        options = dict(writeProtocol="idempotent", idempotencyKey="load-1", retryDelay="1ms", maxRetryDelay="5ms",
                       breakerThreshold="1000")
        message = writer_for(flaky, "lossy", **options).write(iter(rows(100)))
        assert message.retries > 0 and len(flaky.truth.table("lossy")) == 100
        assert (message.rows, message.already_present) == (100, 0)
        rerun = writer_for(flaky, "lossy", **options).write(iter(rows(100)))  # another write, the same key
        assert (rerun.rows, rerun.already_present) == (0, 100) and len(flaky.truth.table("lossy")) == 100


def test_an_idempotent_rerun_with_other_rows_under_a_used_key_fails_naming_the_option(service):
    table = new_table()
    writer_for(service, table, writeProtocol="idempotent", idempotencyKey="load-1").write(iter(rows(10)))
    # Batches of 100: batch 0 now holds rows 0-19, not the rows 0-9 that key load-1-0-0 was sent with.
    rerun = writer_for(service, table, writeProtocol="idempotent", idempotencyKey="load-1", batchSize="100")
    with pytest.raises(OptionError, match="option idempotencyKey.*other rows under key 'load-1-0-0'"):
        rerun.write(iter(rows(20)))
    assert sorted(row["id"] for row in service.truth.table(table)) == list(range(10))


# -- stages of tasks that could not clean up (defect 14), setup without I/O (defect 9) -------------


def test_commit_discards_the_stage_of_an_attempt_spark_ran_again(service):
    table = new_table()
    writer = writer_for(service, table)
    lost = writer.write(iter(rows(15)))  # attempt 0 of partition 0: staged, but its message never arrived
    retried = writer.write(iter(rows(15)))  # attempt 1 of the same partition
    other_write = writer_for(service, table).write(iter(rows(3)))  # another write's stage: not ours to discard
    assert {stage["stage_id"] for stage in open_stages(service, table)} == {lost.stage_id, retried.stage_id,
                                                                          other_write.stage_id}
    writer.commit([retried])
    assert len(service.truth.table(table)) == 15
    assert [stage["stage_id"] for stage in open_stages(service, table)] == [other_write.stage_id]


def test_abort_discards_the_stages_of_tasks_that_sent_no_message(service):
    table = new_table()
    writer = writer_for(service, table)
    done, died = writer.write(iter(rows(15))), writer.write(iter(rows(7)))
    writer.abort([done, None])  # `died`'s process was killed: Spark passes None in its place
    assert open_stages(service, table) == [] and service.truth.table(table) == []
    with pytest.raises(ServiceError, match="already discarded"):
        writer.commit([died])


def test_making_a_writer_sends_no_request_and_the_first_stage_creates_the_table(service):
    table = new_table()
    before = service.request_counts()
    options = parse_options({"url": service.url, "table": table, "batchSize": "10"})
    writer = PracticeBatchWriter(options, SCHEMA, False)  # as Spark may make it anywhere: no I/O
    assert service.request_counts() == before
    message = writer.write(iter(rows(15)))  # no prepare(): the stage request finds no table and makes it
    writer.commit([message])
    assert len(service.truth.table(table)) == 15
    counts = service.request_counts() - before
    assert counts[("PUT", f"/v1/tables/{table}")] == 1 and counts[("GET", "/health")] == 0
