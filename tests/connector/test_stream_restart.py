"""Restarts: a feed -> table query stopped, failed or killed at several points and restarted
from its checkpoint must leave the table equal to the feed: same count, same checksum, no seq
twice. The at-least-once writer (exactlyOnce=false) is shown to duplicate under the same replay.

Stop points:
- between batches (query.stop() after catching up, events appended, restart);
- after the sink published a batch but before Spark recorded it (the batch's file in the
  checkpoint's commit log removed, as if the driver died right then): Spark replays the batch,
  which publishes nothing twice and records none of its dead letters twice;
- in the middle of a batch: one task fails while the other has staged its rows; the batch is
  aborted and replayed on restart;
- SIGKILL of the whole process (driver and JVM) while it streams, as soon as its first batch
  is visible in the table, which is usually before Spark has recorded that batch as done;
  another process restarts from the checkpoint.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from streaming_job import data_batches, feed_summary, read_feed, register, start_feed_to_table, table_summary

from workshop.truth import checksum

pytestmark = pytest.mark.engine  # the same through any client: not rerun per Spark mode

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, with streaming_job.py
READ = {"maxRecordsPerTrigger": 100, "numPartitions": 2}


@pytest.fixture(scope="module")
def feed(own_service):
    return own_service(seed=13, events=250)


def new_table():
    return "restart_" + uuid.uuid4().hex[:8]


def catch_up(spark, feed, table, checkpoint, reader_options=READ, writer_options=None, frame=None):
    """Run the query until it has read everything available, then stop it; its batches."""
    query = start_feed_to_table(spark, feed.url, table, checkpoint, reader_options, writer_options,
                                available_now=False, frame=frame)
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert query.exception() is None
    return data_batches(query)


def latest(feed):
    return feed.truth.count("events")


def assert_exact(feed, table):
    assert table_summary(feed, table) == feed_summary(feed, latest(feed))


def last_batch(checkpoint, log):
    """The newest batch id in the checkpoint's `offsets` (planned) or `commits` (done) log; -1 for none."""
    folder = os.path.join(checkpoint, log)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return max((int(name) for name in names if name.isdigit()), default=-1)


def forget_last_commit(checkpoint):
    """Remove the newest entry of the checkpoint's commit log: Spark will run that batch again.

    This is the state a crash leaves between the sink's commit and Spark's own record of it.
    """
    commits = os.path.join(checkpoint, "commits")
    last = last_batch(checkpoint, "commits")
    os.remove(os.path.join(commits, str(last)))
    crc = os.path.join(commits, f".{last}.crc")
    if os.path.exists(crc):
        os.remove(crc)
    return last


def test_stops_between_batches(spark, feed, tmp_path):
    register(spark)
    table, checkpoint = new_table(), str(tmp_path)
    for _ in range(2):
        catch_up(spark, feed, table, checkpoint)
        assert_exact(feed, table)
        feed.append_events(130)  # arrives while the query is stopped
    catch_up(spark, feed, table, checkpoint)
    assert_exact(feed, table)


@pytest.mark.version_matrix
@pytest.mark.parametrize("stream_reader, exactly_once", [
    ("full", True),
    ("simple", True),
    ("full", False),
], ids=["exactly-once", "exactly-once-simple-reader", "at-least-once"])
def test_batch_replayed_after_a_crash_between_sink_commit_and_checkpoint(spark, feed, tmp_path, stream_reader, exactly_once):
    register(spark)
    table, checkpoint = new_table(), str(tmp_path)
    reader_options = {**READ, "streamReader": stream_reader}
    writer_options = {"exactlyOnce": str(exactly_once).lower()}
    first_run = catch_up(spark, feed, table, checkpoint, reader_options, writer_options)
    assert_exact(feed, table)
    replayed = forget_last_commit(checkpoint)
    replayed_rows = next(rows for batch_id, _, _, rows in first_run if batch_id == replayed)

    catch_up(spark, feed, table, checkpoint, reader_options, writer_options)  # replays that batch

    if exactly_once:
        assert_exact(feed, table)  # the replay published nothing: commit id already used
    else:
        summary = table_summary(feed, table)
        assert summary["rows"] == latest(feed) + replayed_rows  # the whole batch twice
        assert summary["distinct_seqs"] == latest(feed)


def test_a_batch_that_fails_mid_write_is_aborted_and_replayed(spark, feed, tmp_path):
    from pyspark.sql.functions import col, udf

    register(spark)
    table, checkpoint = new_table(), str(tmp_path / "checkpoint")
    marker = str(tmp_path / "failed-once")
    start = latest(feed)
    fail_at = start + 190  # in batch 1

    # Defined here, not at module level, so it is pickled by value for the Python workers.
    def fail_once(seq):
        if seq == fail_at and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError(f"injected failure at seq {seq}")
        return True

    frame = read_feed(spark, feed.url, startingOffsets=str(start), **READ).where(udf(fail_once, "boolean")(col("seq")))
    writer_options = {"batchSize": 10}  # the failing task has staged some rows already
    feed.append_events(100)
    catch_up(spark, feed, table, checkpoint, writer_options=writer_options, frame=frame)  # batch 0
    # Batch 1: seqs start+101 .. start+200 on 4.2+ (maxRecordsPerTrigger), start+101 .. start+300 on
    # 4.0/4.1, which ignore the option; either way seq start+190 is the 90th row of a task.
    feed.append_events(200)
    with pytest.raises(Exception, match="injected failure"):
        catch_up(spark, feed, table, checkpoint, writer_options=writer_options, frame=frame)
    # Batch 0 is published; nothing of the failed batch 1 is visible.
    assert table_summary(feed, table) == feed_summary(feed, start + 100, after_seq=start)

    catch_up(spark, feed, table, checkpoint, writer_options=writer_options, frame=frame)
    assert table_summary(feed, table) == feed_summary(feed, latest(feed), after_seq=start)


@pytest.fixture(scope="module")
def malformed_feed(own_service):
    return own_service(seed=15, events=300, malformed_rate=0.05)


def seq_in(letter):
    """The seq of a dead letter's record (a truncated record keeps its raw text, which holds it)."""
    return int(letter["record"].split('"seq":', 1)[1].split(",", 1)[0])


@pytest.mark.version_matrix
@pytest.mark.parametrize("stream_reader", ["full", "simple"])
def test_a_replayed_batch_records_its_dead_letters_once(spark, malformed_feed, tmp_path, stream_reader):
    # Defect 10: the run in stream-read dead-letter keys was random per reader, so the restarted
    # query posted the replayed batch's dead letters under new keys, and the table held them twice.
    register(spark)
    feed, table, dead, checkpoint = malformed_feed, new_table(), "dead_" + uuid.uuid4().hex[:8], str(tmp_path)
    start = latest(feed)
    feed.append_events(300)
    reader_options = {**READ, "streamReader": stream_reader, "startingOffsets": str(start), "mode": "DROPMALFORMED",
                      "deadLetterTable": dead}
    # (batch id, after seq, until seq) of each batch; the first batch's progress has no start offset
    batches = [(batch_id, after or start, until) for batch_id, after, until, _ in
               catch_up(spark, feed, table, checkpoint, reader_options)]
    replayed = forget_last_commit(checkpoint)
    _, replayed_after, replayed_until = next(batch for batch in batches if batch[0] == replayed)
    malformed = [seq for seq in feed.truth.malformed_seqs() if seq > start]
    assert any(replayed_after < seq <= replayed_until for seq in malformed)  # the replay has dead letters to repeat

    catch_up(spark, feed, table, checkpoint, reader_options)

    letters = feed.truth.table(dead)
    assert sorted(seq_in(letter) for letter in letters) == malformed  # each once, the replayed batch's too
    good = {"after_seq": start, "until_seq": latest(feed), "drop_malformed": True}
    rows = feed.truth.table(table)
    assert (len(rows), checksum(rows)) == (feed.truth.count("events", **good), feed.truth.checksum("events", **good))
    # The run in the keys, read from the dead letters: query id and batch id from Spark's task
    # properties (full reader), the batch's seq range (simple reader, which reads on the driver).
    with open(os.path.join(checkpoint, "metadata")) as metadata:
        query_id = json.load(metadata)["id"]
    for letter in letters:
        batch_id, after, until = next(batch for batch in batches if batch[1] < seq_in(letter) <= batch[2])
        assert letter["run_id"] == (f"{query_id}:{batch_id}" if stream_reader == "full" else f"seqs-{after}-{until}")


def start_job(feed, table, checkpoint, log_path, starting_seq, forever):
    command = [sys.executable, os.path.join(TESTS, "streaming_job.py"), "--url", feed.url, "--table", table,
               "--checkpoint", checkpoint, "--starting-offsets", str(starting_seq), "--max-records", "100"]
    if forever:
        command.append("--forever")
    log = open(log_path, "a")
    # A session of its own, so one signal reaches the driver and the JVM it started.
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def published_rows(feed, table):
    try:
        return len(feed.truth.table(table))
    except KeyError:  # the job has not created the table yet
        return 0


@pytest.mark.spark  # runs Spark, in a subprocess of its own
def test_killed_process_restarts_from_its_checkpoint(feed, tmp_path):
    table, checkpoint, log_path = new_table(), str(tmp_path / "checkpoint"), str(tmp_path / "job.log")
    start = latest(feed)
    feed.append_events(300)  # three batches of 100 on 4.2+; one on 4.0/4.1, which ignore maxRecordsPerTrigger
    began = time.monotonic()
    job = start_job(feed, table, checkpoint, log_path, start, forever=True)
    try:
        deadline = time.monotonic() + 120  # generous: a busy machine starts Spark slowly
        while published_rows(feed, table) < 100:  # one batch done: mid-stream, or before Spark recorded it
            assert job.poll() is None, open(log_path).read()
            assert time.monotonic() < deadline, "the streaming job published too little in 120 s:\n" + open(log_path).read()
            time.sleep(0.1)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM, with no chance to clean up
        job.wait(timeout=30)
    killed_at = published_rows(feed, table)
    planned, recorded = last_batch(checkpoint, "offsets"), last_batch(checkpoint, "commits")
    print(f"killed after {time.monotonic() - began:.0f} s with {killed_at} rows published; "
          f"batches planned up to {planned}, recorded done up to {recorded}")

    feed.append_events(50)
    began = time.monotonic()
    restarted = start_job(feed, table, checkpoint, log_path, start, forever=False)
    assert restarted.wait(timeout=180) == 0, open(log_path).read()
    print(f"restarted process caught up in {time.monotonic() - began:.0f} s")
    assert table_summary(feed, table) == feed_summary(feed, latest(feed), after_seq=start)
