"""Event time and late data: the watermark belongs to the query, not to the source.

The source only delivers rows with `event_time` (when it happened) and `ingest_time` (when the
service got it); a few percent of events arrive minutes to hours late. The query declares
`withWatermark("event_time", "5 seconds")` and counts events per one-second window in append
mode. Spark then:

- after each batch, sets the watermark to (largest event_time seen so far) - 5 seconds;
- drops a row whose window ended at or before the watermark of the *previous* batch (late rows
  are filtered with the previous batch's watermark, eviction uses the current one);
- emits a window once, with its final count, when the watermark passes the window's end.

The test replays those rules over ground truth, batch by batch (the batch boundaries come from
the checkpoint's offsets log, batches without data included), and compares with what Spark
emitted: exactly the same windows and counts. It also shows that the dropped rows are late
events, while late events that arrived before the watermark had moved were kept.
"""
import datetime
import json
import os
import time
import uuid
from collections import Counter

import pytest
from streaming_job import progress, read_feed, register

DELAY_MS = 5_000
WINDOW_US = 1_000_000
CHUNK, CHUNKS = 300, 4  # the feed grows by CHUNK events while the query runs: one batch each


@pytest.fixture(scope="module")
def feed(own_service):
    return own_service(seed=14, events=CHUNK)


def micros(text):
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)


def window_start(event_us):
    return event_us // WINDOW_US * WINDOW_US


def simulate(batches, events):
    """Spark's watermark rules over ground truth: (window -> count emitted, dropped seqs, final watermark).

    `batches` are (start seq, end seq) of each batch, in order; `events` maps seq -> event_time in
    microseconds. Watermarks are in milliseconds, as Spark keeps them.
    """
    watermark_ms = 0  # before any data
    late_threshold_ms = 0  # the previous batch's watermark
    max_event_ms = None
    counts, dropped, used = Counter(), [], []
    for start, end in batches:
        used.append(watermark_ms)
        for seq in range(start + 1, end + 1):
            window = window_start(events[seq])
            if window + WINDOW_US <= late_threshold_ms * 1000:
                dropped.append(seq)
            else:
                counts[window] += 1
            event_ms = events[seq] // 1000
            max_event_ms = event_ms if max_event_ms is None else max(max_event_ms, event_ms)
        late_threshold_ms = watermark_ms
        watermark_ms = max(watermark_ms, max_event_ms - DELAY_MS)  # the next batch's watermark
    emitted = {window: count for window, count in counts.items() if window + WINDOW_US <= watermark_ms * 1000}
    return emitted, dropped, used, watermark_ms


def planned_batches(checkpoint):
    """(batch id, start seq, end seq) of every batch in the checkpoint's offsets log.

    With a watermark Spark also runs batches without data, to move it on (and to drop late rows
    with it); the rules count those as batches too.
    """
    folder = os.path.join(checkpoint, "offsets")
    batches, start = [], 0
    for batch_id in sorted(int(name) for name in os.listdir(folder) if name.isdigit()):
        with open(os.path.join(folder, str(batch_id))) as entry:
            end = json.loads(entry.read().splitlines()[-1])["seq"]  # the source's offset, Spark's last line
        batches.append((batch_id, start, end))
        start = end
    return batches


def test_watermark_drops_only_events_later_than_the_threshold(spark, feed, tmp_path):
    from pyspark.sql import functions as F

    register(spark)
    name, checkpoint = "windows_" + uuid.uuid4().hex[:8], str(tmp_path / "checkpoint")
    windows = (
        read_feed(spark, feed.url, numPartitions=2)
        .withWatermark("event_time", f"{DELAY_MS // 1000} seconds")
        .groupBy(F.window("event_time", "1 second"))
        .count()
        .select(F.unix_micros(F.col("window.start")).alias("start_us"), "count")
    )
    query = (windows.writeStream.outputMode("append").format("memory").queryName(name)
             .option("checkpointLocation", checkpoint).trigger(processingTime="200 milliseconds").start())
    try:
        # Several data batches on every Spark 4.x: the feed grows while the query runs (a read
        # limit would do it on 4.2+ only; 4.0/4.1 give Python sources none).
        query.processAllAvailable()
        for _ in range(CHUNKS - 1):
            feed.append_events(CHUNK)
            query.processAllAvailable()
        records = feed.truth.records("events")
        events = {record["seq"]: micros(record["event_time"]) for record in records}
        final_watermark_ms = max(events.values()) // 1000 - DELAY_MS
        # After the last data batch Spark runs one more batch without data, to apply the last
        # watermark (emit the windows it closes). Wait for it.
        deadline = time.monotonic() + 30
        while max(watermark_ms(entry) for entry in progress(query)) < final_watermark_ms:
            assert time.monotonic() < deadline, "Spark did not apply the final watermark within 30 s"
            time.sleep(0.2)
    finally:
        query.stop()
    assert query.exception() is None

    batches = planned_batches(checkpoint)
    assert batches[-1][2] == len(events) and sum(end > start for _, start, end in batches) >= CHUNKS
    emitted, dropped, used, simulated_watermark_ms = simulate([(start, end) for _, start, end in batches], events)
    assert simulated_watermark_ms == final_watermark_ms

    # The watermark Spark used in each data batch is the one the rules give.
    by_batch = {entry["batchId"]: watermark_ms(entry) for entry in progress(query)}
    data = [(batch_id, watermark) for (batch_id, start, end), watermark in zip(batches, used) if end > start]
    assert [by_batch[batch_id] for batch_id, _ in data] == [watermark for _, watermark in data]

    got = {row.start_us: row["count"] for row in spark.table(name).collect()}
    assert got == emitted

    # What was dropped: only late events (ingest - event > the delay), and not every late event.
    late = {record["seq"] for record in records if micros(record["ingest_time"]) - micros(record["event_time"]) > DELAY_MS * 1000}
    assert dropped and set(dropped) <= late
    assert late - set(dropped), "late events that arrived before the watermark moved are kept"
    assert sum(got.values()) <= len(events) - len(dropped)  # open windows are not emitted yet


def watermark_ms(entry):
    text = entry.get("eventTime", {}).get("watermark")
    return micros(text) // 1000 if text else 0
