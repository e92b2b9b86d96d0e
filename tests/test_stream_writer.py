"""The streaming writer: exactly-once through the batch id, at-least-once without it, abort.

The commit protocol is first driven by hand on the driver side (stage rows as a task would,
then commit or abort as Spark's driver would), then run by Spark in streaming queries.
"""
import dataclasses
import uuid

import pytest

from solutions.client import PracticeClient, ServiceError
from solutions.options import OptionError, parse_options
from solutions.stream_writer import PracticeStreamCommitMessage, PracticeStreamWriter, commit_id_for
from streaming_job import data_batches, feed_summary, register, start_feed_to_table, table_summary


@pytest.fixture(scope="module")
def feed(spark_service_url, service):
    if spark_service_url != service.url:
        pytest.skip("streaming tests start their own practice service here; the cluster cannot reach it")
    from workshop.service import PracticeService

    with PracticeService(seed=12, events=300) as running:
        yield running


def new_table():
    return "sink_" + uuid.uuid4().hex[:8]


def small_schema():
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType([StructField("seq", LongType()), StructField("note", StringType())])


def make_writer(feed, table, **options):
    raw = {"url": feed.url, "table": table, **{name: str(value) for name, value in options.items()}}
    return PracticeStreamWriter(parse_options(raw), small_schema(), False)


def staged_task(writer, seqs, batch_id, query_id="query-1"):
    """What `write` does in one task of batch `batch_id`: stage rows, report the stage."""
    message = writer.send({"seq": seq, "note": f"row {seq}"} for seq in seqs)
    return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id=query_id)


def published_seqs(feed, table):
    return sorted(row["seq"] for row in feed.truth.table(table))


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
            body = {"stage_ids": [stage], "mode": "append", "commit_id": commit_id_for(str(query.id), batch_id)}
            assert client.post(f"/v1/tables/{table}/commit", body).get("duplicate") is True


def test_arrow_stream_writes_need_pyspark_4_1(spark, feed, tmp_path, worker_features):
    if "DataSourceStreamArrowWriter" in worker_features:
        pytest.skip("the Spark server's PySpark has DataSourceStreamArrowWriter")
    register(spark)
    with pytest.raises(Exception, match="4.1"):
        query = start_feed_to_table(spark, feed.url, new_table(), str(tmp_path), writer_options={"arrow": "true"})
        query.awaitTermination(60)
        raise query.exception() or AssertionError("the query should have failed")
