"""The streaming readers: offsets, partitions, deterministic replay, starting position and
admission control, first called directly on the driver side, then on real Spark.

Admission control is feature-detected: on PySpark 4.2+ Spark passes a read limit to
`latestOffset(start, limit)`; on 4.0/4.1 Spark calls `latestOffset()`, which returns the feed's
end whatever maxRecordsPerTrigger says. Each version runs the tests that apply to it and skips
the others with the reason; tests/connector/test_stream_matrix.py runs the triggers on Spark.
"""
import json
import logging
import random
import uuid

import pytest
from streaming_job import data_batches, read_feed, register, start_feed_to_table

from solutions.options import OptionError, parse_options
from solutions.simple_stream_reader import PracticeSimpleStreamReader
from solutions.stream_reader import (
    HAS_ADMISSION_CONTROL,
    PracticeStreamReader,
    SeqRangePartition,
    make_offset,
    offset_seq,
    parse_starting_offsets,
    plan_seq_ranges,
)
from workshop.truth import checksum, to_json_record

needs_admission_control = pytest.mark.skipif(not HAS_ADMISSION_CONTROL, reason="admission control needs PySpark 4.2+")


# -- offsets and partitions (no service, no Spark) ----------------------------------------------


def test_offsets_are_dicts_with_a_version():
    offset = make_offset(1234)
    assert offset == {"version": 1, "seq": 1234}
    assert json.loads(json.dumps(offset)) == offset  # what Spark does with it: plain JSON
    assert offset_seq(offset) == 1234


@pytest.mark.parametrize("bad", ['{"version": 1, "seq": 5}', {"seq": 5}, {"version": 2, "seq": 5}, {"version": 1, "seq": "5"}])
def test_offsets_from_elsewhere_are_refused_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="new checkpoint"):
        offset_seq(bad)


def test_seq_ranges_cover_a_batch_once_without_overlap_or_gap():
    chooser = random.Random(3)
    for _ in range(500):
        after = chooser.randint(0, 10_000)
        until = after + chooser.randint(1, 3_000)
        parts = chooser.randint(1, 9)
        ranges = plan_seq_ranges(after, until, parts)
        assert 1 <= len(ranges) <= parts
        assert ranges[0].after_seq == after and ranges[-1].until_seq == until
        for left, right in zip(ranges, ranges[1:]):
            assert left.until_seq == right.after_seq  # (a, b] then (b, c]: each seq once
        assert all(piece.after_seq < piece.until_seq for piece in ranges)
        assert [piece.index for piece in ranges] == list(range(len(ranges)))


def test_an_empty_batch_plans_no_partitions():
    # The streaming API asks for an empty list when start == end (Spark calls this on restart).
    assert plan_seq_ranges(50, 50, 4) == []


def test_starting_offsets_option_is_checked():
    assert parse_starting_offsets("EARLIEST") == "earliest"
    assert parse_starting_offsets(" latest ") == "latest"
    assert parse_starting_offsets("42") == 42
    for bad in ("-1", "soon", "1.5"):
        with pytest.raises(OptionError, match="startingOffsets"):
            parse_starting_offsets(bad)


# -- the reader's methods, called directly against the real service ------------------------------


@pytest.fixture(scope="module")
def feed(own_service):
    """A practice service of this module's own, whose feed the tests grow with append_events."""
    return own_service(seed=11, events=400)


@pytest.fixture(scope="module")
def events_schema(spark, feed):
    register(spark)
    return spark.read.format("practice").option("url", feed.url).load().schema


def make_reader(feed, schema, reader_class=PracticeStreamReader, **options):
    return reader_class(parse_options({"url": feed.url, **{k: str(v) for k, v in options.items()}}), schema)


def latest(feed):
    return feed.truth.count("events")


def test_initial_offset_follows_the_starting_options(feed, events_schema):
    now = latest(feed)
    assert make_reader(feed, events_schema, startingOffsets="earliest").initialOffset() == make_offset(0)
    assert make_reader(feed, events_schema, startingOffsets="latest").initialOffset() == make_offset(now)
    assert make_reader(feed, events_schema, startingOffsets="17").initialOffset() == make_offset(17)
    # startingTimestamp: the stream starts with the event ingested at that time.
    ingest_time = feed.truth.records("events", after_seq=99, until_seq=100)[0]["ingest_time"]
    reader = make_reader(feed, events_schema, startingTimestamp=ingest_time, startingOffsets="latest")
    assert reader.initialOffset() == make_offset(99)


def test_latest_offset_is_decided_once_per_run(feed, events_schema):
    reader = make_reader(feed, events_schema, startingOffsets="latest")
    first = reader.initialOffset()
    feed.append_events(5)
    assert reader.initialOffset() == first  # Spark may ask twice; "latest" must not move


def test_stream_read_of_other_resources_is_refused(feed, events_schema):
    with pytest.raises(OptionError, match="only `events` has an append feed"):
        make_reader(feed, events_schema, resource="entities")


def test_a_range_reads_the_same_rows_every_time(feed, events_schema):
    reader = make_reader(feed, events_schema, pageSize=7)  # several pages per range
    partition = SeqRangePartition(0, 100, 160)
    first = list(reader.read(partition))
    feed.append_events(25)  # new events must not leak into a closed range
    again = list(reader.read(partition))
    assert first == again
    seq_index = events_schema.names.index("seq")
    assert [row[seq_index] for row in first] == list(range(101, 161))


def test_a_range_beyond_the_feed_is_an_error_not_fewer_rows(feed, events_schema):
    reader = make_reader(feed, events_schema)
    end = latest(feed)
    with pytest.raises(Exception, match="ahead of the service"):
        list(reader.read(SeqRangePartition(0, end - 3, end + 10)))


def test_legacy_latest_offset_ends_at_the_feed_end_whatever_the_limit(feed, events_schema, caplog):
    # Defect 4. What Spark 4.0/4.1 call: latestOffset() with no start and no limit. That Spark
    # runs Trigger.AvailableNow and Trigger.Once up to the first answer, so it must not cap.
    caplog.set_level(logging.WARNING, logger="solutions.stream_reader")
    reader = make_reader(feed, events_schema, startingOffsets="earliest", maxRecordsPerTrigger=100)
    now = latest(feed)
    assert reader.latestOffset() == make_offset(now)
    feed.append_events(5)
    assert reader.latestOffset() == make_offset(now + 5)
    ignored = [record for record in caplog.records if "maxRecordsPerTrigger=100 is ignored" in record.getMessage()]
    assert len(ignored) == 1  # said once, not per batch
    # Never before where the stream is: a start after the feed's end, or a checkpoint ahead of it.
    assert make_reader(feed, events_schema, startingOffsets=str(now + 50)).latestOffset() == make_offset(now + 50)
    restarted = make_reader(feed, events_schema, startingOffsets="earliest")
    restarted.partitions(make_offset(now + 80), make_offset(now + 80))  # what Spark 4.0/4.1 do on restart
    assert restarted.latestOffset() == make_offset(now + 80)


@needs_admission_control
def test_latest_offset_obeys_the_read_limit_spark_passes(feed, events_schema):
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

    reader = make_reader(feed, events_schema, maxRecordsPerTrigger=40)
    assert reader.getDefaultReadLimit() == ReadMaxRows(40)
    assert make_reader(feed, events_schema).getDefaultReadLimit() == ReadAllAvailable()
    now = latest(feed)
    assert reader.latestOffset(make_offset(10), ReadMaxRows(40)) == make_offset(50)
    assert reader.latestOffset(make_offset(10), ReadAllAvailable()) == make_offset(now)  # the limit Spark passes wins
    assert reader.latestOffset(make_offset(now), ReadMaxRows(40)) == make_offset(now)  # nothing new: same offset
    assert reader.reportLatestOffset() == make_offset(now)


@needs_admission_control
def test_available_now_stops_at_the_feed_end_it_saw_first(feed, events_schema):
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    reader = make_reader(feed, events_schema)
    reader.prepareForTriggerAvailableNow()
    target = latest(feed)
    feed.append_events(10)
    assert reader.latestOffset(make_offset(0), ReadAllAvailable()) == make_offset(target)
    assert reader.reportLatestOffset() == make_offset(target + 10)  # progress still shows the truth


def test_simple_reader_reads_then_replays_the_same_range(feed, events_schema):
    reader = make_reader(feed, events_schema, PracticeSimpleStreamReader, startingOffsets="earliest", maxRecordsPerTrigger=30)
    now = latest(feed)
    rows, end = reader.read(reader.initialOffset())
    rows = list(rows)
    # The limit applies where Spark runs Trigger.AvailableNow in batches (4.2+), not on 4.0/4.1.
    want = 30 if HAS_ADMISSION_CONTROL else now
    assert end == make_offset(want) and len(rows) == want
    feed.append_events(5)
    assert list(reader.readBetweenOffsets(make_offset(0), end)) == rows


def test_simple_reader_refuses_arrow(feed, events_schema):
    with pytest.raises(OptionError, match="streamReader=full"):
        make_reader(feed, events_schema, PracticeSimpleStreamReader, arrow="true")


# -- on Spark: streaming queries into a memory table --------------------------------------------


def run_to_memory(spark, frame):
    """Run a Trigger.AvailableNow query into Spark's memory sink; (query, the rows it wrote)."""
    name = "stream_" + uuid.uuid4().hex[:8]
    query = frame.writeStream.format("memory").queryName(name).trigger(availableNow=True).start()
    assert query.awaitTermination(90), "the query did not finish within 90 s"
    assert query.exception() is None
    return query, spark.table(name).collect()


def assert_rows_are_the_feed(feed, rows, until_seq):
    records = [to_json_record(row) for row in rows]
    assert len(records) == until_seq
    assert len({record["seq"] for record in records}) == until_seq
    assert checksum(records) == feed.truth.checksum("events", until_seq=until_seq)


@pytest.mark.version_matrix
@pytest.mark.parametrize("options", [
    {"streamReader": "full"},
    {"streamReader": "full", "arrow": "true"},
    {"streamReader": "simple"},
], ids=["full", "full-arrow", "simple"])
def test_streaming_query_reads_exactly_the_feed(spark, feed, options):
    register(spark)
    target = latest(feed)
    query, rows = run_to_memory(spark, read_feed(spark, feed.url, **options))
    end = data_batches(query)[-1][2]
    assert end >= target
    assert_rows_are_the_feed(feed, rows, end)


def test_starting_offsets_latest_reads_only_new_events(spark, feed, tmp_path):
    register(spark)
    table = "latest_" + uuid.uuid4().hex[:8]

    def run():
        query = start_feed_to_table(spark, feed.url, table, str(tmp_path), reader_options={"startingOffsets": "latest"})
        assert query.awaitTermination(90)
        assert query.exception() is None

    before = latest(feed)
    run()  # starts at the feed's end: nothing to read
    with pytest.raises(KeyError):  # nothing written, so no table yet: the first batch with rows makes it
        feed.truth.table(table)
    feed.append_events(40)
    run()  # same checkpoint: continues after `before`
    assert sorted(row["seq"] for row in feed.truth.table(table)) == list(range(before + 1, before + 41))
