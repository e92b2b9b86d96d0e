"""The streaming writer: exactly-once through the batch id, at-least-once without it, abort.

The commit protocol is first driven by hand on the driver side (stage rows as a task would,
then commit or abort as Spark's driver would), then run by Spark in streaming queries.
"""
import dataclasses
import os
import uuid

import pytest
from killed_tasks import dying_sink
from streaming_job import (
    PROCESSING_TIME,
    data_batches,
    feed_summary,
    read_feed,
    register,
    start_feed_to_table,
    table_summary,
)

from solutions.client import PracticeClient, ServiceError
from solutions.observability import micro_batch_id
from solutions.options import OptionError, parse_options
from solutions.stream_writer import PracticeStreamCommitMessage, PracticeStreamWriter


@pytest.fixture(scope="module")
def feed(own_service):
    return own_service(seed=12, events=300)


def grow_batch_by_batch(query, feed, batches, events):
    """Run the query to the feed's end, then `batches` times: append `events` events, run to the end.

    One micro-batch each on every Spark version: 4.0/4.1 give a Python stream reader no read
    limit (maxRecordsPerTrigger cannot split a batch there), so the feed grows between batches.
    """
    query.processAllAvailable()
    for _ in range(batches):
        feed.append_events(events)
        query.processAllAvailable()


def new_table():
    return "sink_" + uuid.uuid4().hex[:8]


def small_schema():
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType([StructField("seq", LongType()), StructField("note", StringType())])


def make_writer(feed, table, overwrite=False, **options):
    """A stream writer as Spark makes one (for every micro-batch, commit and abort)."""
    raw = {"url": feed.url, "table": table, **{name: str(value) for name, value in options.items()}}
    return PracticeStreamWriter(parse_options(raw), small_schema(), overwrite)


def staged_task(writer, seqs, batch_id, query_id="query-1"):
    """What `write` does in one task of batch `batch_id`: stage rows under the batch, report the stage."""
    message = writer.send(({"seq": seq, "note": f"row {seq}"} for seq in seqs), write_id=micro_batch_id(query_id, batch_id))
    return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id=query_id)


def open_stages(service, table):
    with PracticeClient(parse_options({"url": service.url})) as client:
        return client.get(f"/v1/tables/{table}/stages")["stages"]


def published_seqs(feed, table):
    """The seqs published to `table`; none when no request has created it yet."""
    try:
        return sorted(row["seq"] for row in feed.truth.table(table))
    except KeyError:
        return []


# -- the protocol, driven by hand ---------------------------------------------------------------


def test_a_replayed_batch_is_published_once(feed):
    table = new_table()
    writer = make_writer(feed, table)
    writer.commit([staged_task(writer, [1, 2], 0), staged_task(writer, [3], 0)], 0)
    assert published_seqs(feed, table) == [1, 2, 3]
    # A restart replays batch 0: new stages with the same rows, the same batch id.
    writer.commit([staged_task(writer, [1, 2], 0), staged_task(writer, [3], 0)], 0)
    assert published_seqs(feed, table) == [1, 2, 3]
    writer.commit([staged_task(writer, [4], 1)], 1)
    assert published_seqs(feed, table) == [1, 2, 3, 4]
    # Another query (another checkpoint) has its own batch 0.
    writer.commit([staged_task(writer, [5], 0, query_id="query-2")], 0)
    assert published_seqs(feed, table) == [1, 2, 3, 4, 5]


def test_at_least_once_publishes_a_replayed_batch_again(feed):
    table = new_table()
    writer = make_writer(feed, table, exactlyOnce="false")
    writer.commit([staged_task(writer, [1, 2], 0)], 0)
    writer.commit([staged_task(writer, [1, 2], 0)], 0)  # the replay
    assert published_seqs(feed, table) == [1, 1, 2, 2]


def test_abort_discards_the_stages_of_the_batch(feed):
    table = new_table()
    writer = make_writer(feed, table)
    done = staged_task(writer, [1, 2], 5)
    writer.abort([done, None], 5)  # None: a task that failed
    assert published_seqs(feed, table) == []
    with PracticeClient(writer.options) as client, pytest.raises(ServiceError, match="409"):
        client.post(writer.table_path("/commit"), {"stage_ids": [done.stage_id], "mode": "append"})


def test_an_empty_batch_publishes_nothing(feed):
    table = new_table()
    writer = make_writer(feed, table)
    writer.commit([staged_task(writer, [], 0)], 0)
    assert published_seqs(feed, table) == []
    writer.commit([staged_task(writer, [7], 0)], 0)  # batch id 0 was not used up by the empty batch
    assert published_seqs(feed, table) == [7]


def test_an_empty_batch_in_complete_mode_empties_the_table(feed):
    # Complete mode: Spark makes the writer with overwrite=True and each batch is the whole result.
    table = new_table()
    make_writer(feed, table, overwrite=True).commit([staged_task(make_writer(feed, table), [1, 2], 0)], 0)
    assert published_seqs(feed, table) == [1, 2]
    make_writer(feed, table, overwrite=True).commit([staged_task(make_writer(feed, table), [], 1)], 1)
    assert published_seqs(feed, table) == []  # the result became empty: so is the table
    # and an empty result is exactly-once too: batch 0 run again after a restart publishes nothing
    make_writer(feed, table, overwrite=True).commit([staged_task(make_writer(feed, table), [1, 2], 0)], 0)
    assert published_seqs(feed, table) == [] and open_stages(feed, table) == []


def test_the_first_empty_result_of_a_complete_mode_query_creates_the_table(feed):
    table = new_table()
    make_writer(feed, table, overwrite=True).commit([staged_task(make_writer(feed, table), [], 0)], 0)
    assert feed.truth.table(table) == []


def test_commit_discards_the_stages_of_the_batch_that_no_message_names(feed):
    table = new_table()
    writer = make_writer(feed, table)
    died = staged_task(writer, [1, 2], 0)  # its process died after staging: no message reaches the driver
    other_query = staged_task(writer, [9], 0, query_id="query-2")  # another query's batch 0: not ours
    writer.commit([staged_task(writer, [1, 2], 0)], 0)  # the batch run again (a restart), committed
    assert published_seqs(feed, table) == [1, 2]
    assert [stage["stage_id"] for stage in open_stages(feed, table)] == [other_query.stage_id]
    assert died.stage_id not in {stage["stage_id"] for stage in open_stages(feed, table)}


def test_an_abort_while_the_table_endpoint_is_down_still_discards_the_stages(feed, monkeypatch):
    from workshop.service.errors import ApiError

    table = new_table()
    tasks = [staged_task(make_writer(feed, table), [1, 2], 4), staged_task(make_writer(feed, table), [3], 4)]
    died = staged_task(make_writer(feed, table), [5], 4)  # and a task whose process died: no message

    def table_endpoint_down(*args, **kwargs):
        raise ApiError(503, "unavailable", "the table endpoint is down")

    monkeypatch.setattr(feed.tables, "create", table_endpoint_down)  # PUT /v1/tables/<name> answers 503
    before = feed.request_counts()
    writer = make_writer(feed, table, maxRetries=1, retryDelay="0.01")  # Spark makes a writer for the abort
    assert feed.request_counts() == before  # making it sent nothing
    writer.abort([tasks[0], tasks[1], None], 4)
    sent = feed.request_counts() - before
    assert open_stages(feed, table) == []
    assert {stage.stage_id for stage in tasks + [died]} <= {path.rsplit("/", 1)[1] for method, path in sent
                                                           if method == "DELETE"}
    assert sent[("PUT", f"/v1/tables/{table}")] == 0 and sent[("GET", "/health")] == 0


def test_commit_refuses_messages_of_another_batch(feed):
    writer = make_writer(feed, new_table())
    with pytest.raises(RuntimeError, match="batch"):
        writer.commit([staged_task(writer, [1], 3)], 4)


def test_streams_write_with_staged_commits_only(feed):
    with pytest.raises(OptionError, match="staged"):
        make_writer(feed, new_table(), writeProtocol="idempotent", idempotencyKey="k")


# -- on Spark ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow"])
def test_stream_to_table_is_exact_and_keyed_by_batch_id(spark, feed, tmp_path, arrow, worker_features):
    if arrow and "DataSourceStreamArrowWriter" not in worker_features:
        pytest.skip("the Spark server's PySpark has no DataSourceStreamArrowWriter (4.1+)")
    register(spark)
    table = new_table()
    query = start_feed_to_table(
        spark, feed.url, table, str(tmp_path),
        reader_options={"maxRecordsPerTrigger": 120, "numPartitions": 2},
        writer_options={"arrow": "true"} if arrow else None,
        available_now=False,
    )
    query.processAllAvailable()
    query.stop()
    batches = data_batches(query)
    end = batches[-1][2]
    assert table_summary(feed, table) == feed_summary(feed, end)
    # Each batch was published under "<query id>:<batch id>": publishing it again does nothing.
    with PracticeClient(parse_options({"url": feed.url})) as client:
        for batch_id, _, _, _ in batches:
            stage = client.post(f"/v1/tables/{table}/stages")["stage_id"]
            body = {"stage_ids": [stage], "mode": "append", "commit_id": micro_batch_id(str(query.id), batch_id)}
            assert client.post(f"/v1/tables/{table}/commit", body).get("duplicate") is True


def test_arrow_stream_writes_need_pyspark_4_1(spark, feed, tmp_path, worker_features):
    if "DataSourceStreamArrowWriter" in worker_features:
        pytest.skip("the Spark server's PySpark has DataSourceStreamArrowWriter")
    register(spark)
    with pytest.raises(Exception, match="4.1"):
        query = start_feed_to_table(spark, feed.url, new_table(), str(tmp_path), writer_options={"arrow": "true"})
        query.awaitTermination(60)
        raise query.exception() or AssertionError("the query should have failed")


def test_a_stream_neither_probes_nor_creates_the_table_per_micro_batch(spark, feed, tmp_path):
    from workshop.service import PracticeService

    register(spark)
    table = new_table()
    with PracticeService(events=0) as sink:  # its own service: only the writer's requests arrive there
        query = start_feed_to_table(
            spark, feed.url, table, str(tmp_path), reader_options={"numPartitions": 2},
            writer_options={"url": sink.url}, available_now=False,
        )
        try:
            grow_batch_by_batch(query, feed, batches=3, events=60)
        finally:
            query.stop()
        batches = data_batches(query)
        assert len(batches) == 4 and table_summary(sink, table) == feed_summary(feed, batches[-1][2])
        sent = sink.request_counts()
    # Spark made a writer to plan each micro-batch and one for each commit; none of them sent anything
    # when made. The table was created by the first batch's tasks (at most one PUT each).
    assert sent[("GET", "/health")] == 0
    assert 1 <= sent[("PUT", f"/v1/tables/{table}")] <= 2
    assert sent[("POST", f"/v1/tables/{table}/commit")] == len(batches)


def test_complete_mode_ends_equal_to_the_batch_answer_when_the_result_becomes_empty(spark, tmp_path):
    from collections import Counter

    from workshop.service import PracticeService

    register(spark)
    first, total = 40, 300
    kinds = Counter(record["kind"] for record in PracticeService(seed=12, events=total).truth.records("events"))
    least = min(kinds.values())  # "count < least" is empty over all the events, not over the first ones

    def batch_answer(records):
        """Spark's own batch query over the same rows."""
        frame = spark.createDataFrame([(record["kind"],) for record in records], "kind string")
        return sorted(tuple(row) for row in frame.groupBy("kind").count().where(f"count < {least}").collect())

    def table_now():
        return sorted((row["kind"], row["count"]) for row in source.truth.table(table))

    table = new_table()
    with PracticeService(seed=12, events=first) as source:
        aggregated = read_feed(spark, source.url, numPartitions=2).groupBy("kind").count().where(f"count < {least}")
        query = (
            aggregated.writeStream.format("practice").option("url", source.url).option("table", table)
            .option("checkpointLocation", str(tmp_path)).outputMode("complete").trigger(processingTime=PROCESSING_TIME)
            .start()
        )
        try:
            query.processAllAvailable()
            early = batch_answer(source.truth.records("events"))
            assert early, "the test needs a non-empty result first"
            assert table_now() == early
            source.append_events(total - first)
            query.processAllAvailable()
        finally:
            query.stop()
        assert batch_answer(source.truth.records("events")) == []
        assert table_now() == []


def test_a_micro_batch_whose_task_process_dies_leaves_no_open_stage(spark, feed, tmp_path):
    marker = str(tmp_path / "a-task-died")
    register(spark)
    spark.dataSource.register(dying_sink("practice_dying_stream", marker))  # in batch 0, partition 0 dies
    table, checkpoint = new_table(), str(tmp_path / "checkpoint")

    def run():
        # One partition: the dead task is the batch's only one, so abort gets [None] and cannot know the
        # query id; the batch's run after the restart, under the same write id, must clean up.
        frame = read_feed(spark, feed.url, maxRecordsPerTrigger=100, numPartitions=1)
        query = (
            frame.writeStream.format("practice_dying_stream").option("url", feed.url).option("table", table)
            .option("batchSize", 10).option("checkpointLocation", checkpoint).trigger(processingTime=PROCESSING_TIME)
            .start()
        )
        try:
            query.processAllAvailable()
        finally:
            query.stop()

    with pytest.raises(Exception, match="exited unexpectedly"):  # batch 0 fails: local mode runs a task once
        run()
    assert os.path.exists(marker)
    run()  # restarted from the checkpoint: batch 0 runs again, and no task dies
    assert table_summary(feed, table) == feed_summary(feed, feed.truth.count("events"))
    assert open_stages(feed, table) == []


def test_spark_makes_a_stream_writer_to_plan_each_micro_batch_and_for_each_commit(spark, feed, tmp_path):
    # Why the constructor must do no I/O (docs/streaming.md, lab 07): count the writers Spark makes.
    from solutions.datasource import PracticeDataSource

    made = tmp_path / "stream-writers-made"

    class CountingSink(PracticeDataSource):
        short_name = "practice_counting"

        def streamWriter(self, schema, overwrite):
            with open(made, "a") as record:  # in the driver-side Python process Spark started
                record.write(f"{overwrite}\n")
            return super().streamWriter(schema, overwrite)

    register(spark)
    spark.dataSource.register(CountingSink)
    query = (
        read_feed(spark, feed.url, numPartitions=2).writeStream.format("practice_counting")
        .option("url", feed.url).option("table", new_table()).option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(processingTime=PROCESSING_TIME).start()
    )
    try:
        grow_batch_by_batch(query, feed, batches=2, events=50)
    finally:
        query.stop()
    batches = data_batches(query)
    assert len(batches) == 3  # the first 300 events, then 50 and 50 more
    assert made.read_text().split() == ["False"] * (2 * len(batches))  # append mode: overwrite=False


def test_spark_refuses_update_mode_for_a_python_sink(spark, feed, tmp_path):
    register(spark)
    counts = read_feed(spark, feed.url).groupBy("kind").count()
    query = (
        counts.writeStream.format("practice").option("url", feed.url).option("table", new_table())
        .option("checkpointLocation", str(tmp_path)).outputMode("update").start()
    )
    try:
        with pytest.raises(Exception, match="does not support Update mode"):
            query.processAllAvailable()
    finally:
        query.stop()
