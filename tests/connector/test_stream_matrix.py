"""The streaming behaviours that depend on the PySpark version, checked on each version.

PySpark 4.0/4.1 (DBR 17.3 LTS runs 4.0) give Python stream readers no read limit: Spark calls
`latestOffset()` and runs Trigger.AvailableNow (by default, and through its wrapper too) and
Trigger.Once as one batch ending at the first offset it gets; the reader therefore ignores
maxRecordsPerTrigger there, and says so once. PySpark 4.2+ passes a read limit and runs
Trigger.AvailableNow in batches within it. Whatever the version, every query below must leave
the sink equal to the feed's ground truth (count, distinct seqs, checksum), fresh and restarted
from its checkpoint with more events appended meanwhile; what differs by version (batch sizes,
the warning) is asserted per version.

The tests carry the marker `version_matrix`, so CI runs exactly them on 4.0.1, the newest
4.1.x, the newest 4.2.x and the newest 4.x:

    pytest -m version_matrix    # in an environment with the PySpark to check
"""
import json
import uuid
from collections import Counter

import pytest
from streaming_job import data_batches, feed_summary, progress, read_feed, register, start_feed_to_table, table_summary

pytestmark = [pytest.mark.version_matrix, pytest.mark.engine]  # triggers and limits: Spark's engine

LIMIT = 100  # maxRecordsPerTrigger where a test sets one
FRESH, MORE = 250, 150  # events before the first run; appended before the restart
IGNORED = "option maxRecordsPerTrigger=100 is ignored"


@pytest.fixture(scope="module")
def feed(spark, own_service):
    register(spark)
    return own_service(seed=21, events=10)


@pytest.fixture(scope="module")
def read_limits(worker_features):
    """True where Spark passes read limits to Python stream readers (PySpark 4.2+ on the server)."""
    return "admissionControl" in worker_features


def latest(feed):
    return feed.truth.count("events")


def new_events(feed, count):
    """Append `count` events; the seq a test's stream starts after (earlier tests' events are not its)."""
    start = latest(feed)
    feed.append_events(count)
    return start


def run(spark, feed, table, checkpoint, start, reader_options, trigger, **kwargs):
    """Run feed (after `start`) -> table to the end; the batches that read rows."""
    frame = kwargs.pop("frame", None)
    if frame is None:
        frame = read_feed(spark, feed.url, startingOffsets=str(start), numPartitions=2, **reader_options)
    query = start_feed_to_table(spark, feed.url, table, checkpoint, frame=frame, trigger=trigger, **kwargs)
    try:
        if "processingTime" in trigger:
            query.processAllAvailable()
        else:
            assert query.awaitTermination(120), "the query did not finish within 120 s"
    finally:
        query.stop()
    assert query.exception() is None
    return query


def sizes(query):
    return [rows for _, _, _, rows in data_batches(query)]


def limit_warnings(log_file):
    """The reader's warnings that maxRecordsPerTrigger is ignored, from its JSON log file."""
    if not log_file.exists():
        return []
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["level"] == "WARNING" and line["message"].startswith(IGNORED)]


def expected_sizes(events, capped):
    """Batch sizes of a run that reads `events` new events: within the limit, or all in one batch."""
    if not capped:
        return [events]
    return [LIMIT] * (events // LIMIT) + ([events % LIMIT] if events % LIMIT else [])


def stream_options(stream_reader, limit, log_file):
    options = {"streamReader": stream_reader, "logFile": log_file}
    if limit:
        options["maxRecordsPerTrigger"] = LIMIT
    return options


STREAM_READERS = pytest.mark.parametrize("stream_reader", ["full", "simple"])


@STREAM_READERS
@pytest.mark.parametrize("limit", [True, False], ids=["limit", "no-limit"])
def test_available_now_reads_the_feed_exactly(spark, feed, read_limits, tmp_path, stream_reader, limit):
    # Defect 4: on 4.0/4.1 a capped latestOffset() (or simple read()) made this run read 100 of 250
    # events, and the restart 100 of the 150 more.
    table, checkpoint = "matrix_" + uuid.uuid4().hex[:8], str(tmp_path / "checkpoint")
    start = new_events(feed, FRESH)
    capped = limit and read_limits
    for events, log_name in ((FRESH, "fresh.jsonl"), (MORE, "restart.jsonl")):
        if events == MORE:
            feed.append_events(MORE)  # arrive while the query is stopped
        log_file = tmp_path / log_name
        query = run(spark, feed, table, checkpoint, start, stream_options(stream_reader, limit, log_file),
                    {"availableNow": True})
        assert table_summary(feed, table) == feed_summary(feed, latest(feed), after_seq=start)
        assert sizes(query) == expected_sizes(events, capped)
        # 4.0/4.1 say once per run that the limit does nothing there; 4.2+ apply it silently.
        assert len(limit_warnings(log_file)) == (1 if limit and not read_limits else 0)
    if capped and stream_reader == "full":
        # reportLatestOffset (4.2+): the progress shows the feed's end next to each capped batch.
        first = next(entry["sources"][0] for entry in progress(query) if entry["sources"][0]["numInputRows"])
        assert first["latestOffset"]["seq"] == latest(feed) > first["endOffset"]["seq"]


@STREAM_READERS
def test_a_processing_time_trigger_caps_batches_only_where_spark_passes_a_limit(spark, feed, read_limits, tmp_path,
                                                                                 stream_reader):
    table, log_file = "matrix_" + uuid.uuid4().hex[:8], tmp_path / "read.jsonl"
    start = new_events(feed, FRESH)
    query = run(spark, feed, table, str(tmp_path / "checkpoint"), start, stream_options(stream_reader, True, log_file),
                {"processingTime": "200 milliseconds"})
    assert table_summary(feed, table) == feed_summary(feed, latest(feed), after_seq=start)
    batches = data_batches(query)
    for (_, _, end, _), (_, next_start, _, _) in zip(batches, batches[1:]):
        assert next_start == end  # each batch starts where the last one ended
    if read_limits:
        assert sizes(query) == expected_sizes(FRESH, True)
        assert limit_warnings(log_file) == []
    else:
        assert sizes(query) == [FRESH]  # everything available at the first trigger, in one batch
        assert len(limit_warnings(log_file)) == 1


@STREAM_READERS
def test_trigger_once_reads_one_batch(spark, feed, read_limits, tmp_path, stream_reader):
    table = "matrix_" + uuid.uuid4().hex[:8]
    start = new_events(feed, FRESH)
    query = run(spark, feed, table, str(tmp_path / "checkpoint"), start,
                stream_options(stream_reader, True, tmp_path / "read.jsonl"), {"once": True})
    if stream_reader == "simple" and read_limits:
        # Documented difference (docs/streaming.md): 4.2+ leave a simple reader's limit to its
        # read(), which cannot tell Trigger.Once from a processing-time trigger. The next run
        # continues from the checkpoint; Trigger.AvailableNow reads all in batches.
        end = start + LIMIT
    else:
        end = start + FRESH  # 4.2+ pass ReadAllAvailable to a full reader under Trigger.Once
    assert sizes(query) == [end - start]
    assert table_summary(feed, table) == feed_summary(feed, end, after_seq=start)


def test_a_complete_mode_aggregate_replaces_the_table_each_batch(spark, feed, read_limits, tmp_path):
    table, checkpoint = "matrix_" + uuid.uuid4().hex[:8], str(tmp_path / "checkpoint")
    start = new_events(feed, FRESH)
    for events in (FRESH, MORE):
        if events == MORE:
            feed.append_events(MORE)  # the restart's result counts them too: the state is in the checkpoint
        frame = read_feed(spark, feed.url, startingOffsets=str(start), numPartitions=2,
                          maxRecordsPerTrigger=LIMIT).groupBy("kind").count()
        query = run(spark, feed, table, checkpoint, start, {}, {"availableNow": True}, frame=frame,
                    output_mode="complete")
        assert sizes(query) == expected_sizes(events, read_limits)
        truth = Counter(record["kind"] for record in feed.truth.records("events", after_seq=start, until_seq=latest(feed)))
        assert {row["kind"]: row["count"] for row in feed.truth.table(table)} == dict(truth)
        assert len(feed.truth.table(table)) == len(truth)  # the last result only, not one per batch


def test_update_mode_is_refused_for_python_sinks(spark, feed, tmp_path):
    # Spark builds an update-mode write only for a sink whose write builder is
    # SupportsStreamingUpdateAsAppend; Python data sources' is not (4.0.1 to 4.3.0).
    frame = read_feed(spark, feed.url, startingOffsets=str(new_events(feed, 10))).groupBy("kind").count()
    query = start_feed_to_table(spark, feed.url, "matrix_" + uuid.uuid4().hex[:8], str(tmp_path / "checkpoint"),
                                frame=frame, output_mode="update")
    with pytest.raises(Exception, match="does not support Update mode"):
        try:
            query.awaitTermination(120)
        finally:
            query.stop()
        raise AssertionError(f"the update-mode query ended without an error: {query.exception()}")
