"""Streaming figures: end-to-end latency at a steady input rate, and rows/s with a batch limit.

1. Latency: events are appended to the feed at a steady rate (a thread calls
   `service.append_events` every 50 ms and notes the time); a query feed -> table runs with a
   processing-time trigger; a poller asks the table's row count (`GET /v1/tables/<name>`)
   every 20 ms. A batch publishes a contiguous seq range at once, so the count says which seqs
   are visible. Latency of an event = first time it is visible - time it was appended.
2. Throughput: a feed of N events is read in micro-batches of at most `maxRecordsPerTrigger`
   rows: by the full reader (parallel partitions) and the simple reader (driver only) into
   Spark's `noop` sink (the reader alone), and by the full reader into a table (end to end);
   rows/s = N / wall time from start to caught up.

No asserts: the figures depend on the machine. The Spark mode comes from WORKSHOP_SPARK_MODE.

    python benchmarks/streaming.py
    python benchmarks/streaming.py --json
    python benchmarks/streaming.py --rate 200 --seconds 30 --trigger "1 second" --events 50000 --batch 5000
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def table_count(url, table):
    try:
        with urllib.request.urlopen(f"{url}/v1/tables/{table}") as response:
            return json.load(response)["count"]
    except urllib.error.HTTPError:
        return 0  # not created yet


def start_query(spark, url, table, checkpoint, trigger, sink="practice", **reader_options):
    """feed -> table (sink "practice"), or feed -> nothing (sink "noop": the reader alone)."""
    reader = spark.readStream.format("practice").option("url", url).option("logLevel", "WARNING")
    for name, value in reader_options.items():
        reader = reader.option(name, str(value))
    writer = reader.load().writeStream.format(sink).option("checkpointLocation", checkpoint)
    if sink == "practice":
        writer = writer.option("url", url).option("table", table).option("logLevel", "WARNING")
    return writer.trigger(processingTime=trigger).start()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_latency(spark, rate, seconds, trigger):
    """p50/p95/max seconds from append to visible in the table, at `rate` events/s."""
    from workshop.service import PracticeService

    with PracticeService(seed=21, events=0) as service, tempfile.TemporaryDirectory() as checkpoint:
        table = "latency_" + uuid.uuid4().hex[:8]
        query = start_query(spark, service.url, table, checkpoint, trigger, startingOffsets="earliest", numPartitions=2)
        appended = []  # (last seq of an append, time)
        stop = threading.Event()

        def append_steadily():
            started, sent = time.monotonic(), 0
            while not stop.wait(0.05):
                due = int((time.monotonic() - started) * rate)
                if due > sent:
                    appended.append((service.append_events(due - sent), time.monotonic()))
                    sent = due

        # Warm up: the first batch starts Spark's Python workers, which is not what we measure.
        warm_up = service.append_events(10)
        give_up = time.monotonic() + 120
        while table_count(service.url, table) < warm_up and time.monotonic() < give_up:
            time.sleep(0.1)
        appender = threading.Thread(target=append_steadily, daemon=True)
        appender.start()
        visible = []  # (rows published, time)
        stop_appending_at = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= stop_appending_at:
                stop.set()
            count = table_count(service.url, table)
            visible.append((count, now))
            caught_up = stop.is_set() and not appender.is_alive() and count >= (appended[-1][0] if appended else 0)
            if caught_up or now > stop_appending_at + 60:  # 60 s: the query fell too far behind
                break
            time.sleep(0.02)
        query.stop()

    latencies = []
    position = 0
    for last_seq, at in appended:
        while position < len(visible) and visible[position][0] < last_seq:
            position += 1
        if position == len(visible):
            break
        latencies.append(visible[position][1] - at)
    return {
        "rate_events_per_s": rate,
        "trigger": trigger,
        "events": appended[-1][0] if appended else 0,
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "latency_max_s": round(max(latencies), 3),
        "batches": len([entry for entry in query.recentProgress if entry.numInputRows]),
    }


def measure_throughput(spark, events, batch, stream_reader, sink, **reader_options):
    """Rows/s reading `events` events into `sink`, `batch` rows per micro-batch at most."""
    from workshop.service import PracticeService

    with PracticeService(seed=22, events=events) as service, tempfile.TemporaryDirectory() as checkpoint:
        table = "throughput_" + uuid.uuid4().hex[:8]
        started = time.monotonic()
        query = start_query(spark, service.url, table, checkpoint, "0 seconds", sink, startingOffsets="earliest",
                            maxRecordsPerTrigger=batch, streamReader=stream_reader, **reader_options)
        # PySpark 4.0/4.1 ignore maxRecordsPerTrigger (one batch of everything): batch sizes need 4.2+.
        query.processAllAvailable()
        elapsed = time.monotonic() - started
        query.stop()
    batches = [entry for entry in query.recentProgress if entry.numInputRows]
    rows = sum(entry.numInputRows for entry in batches)
    return {
        "reader": stream_reader,
        "sink": sink,
        "events": events,
        "max_records_per_trigger": batch,
        "rows": rows,
        "batches": len(batches),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "median_batch_s": round(statistics.median(entry.batchDuration / 1000 for entry in batches), 3) if batches else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="events appended per second (latency run)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the latency run")
    parser.add_argument("--trigger", default="500 milliseconds", help="processing-time trigger of the latency run")
    parser.add_argument("--events", type=int, default=20_000, help="events in the throughput runs")
    parser.add_argument("--batch", type=int, default=2_000, help="maxRecordsPerTrigger in the throughput runs")
    parser.add_argument("--runs", default="full:noop,simple:noop,full:practice",
                        help="throughput runs as reader:sink (sink noop measures the reader alone)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import pyspark

    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark, resolve_mode

    spark = get_spark(app_name="streaming-benchmark")
    spark.dataSource.register(PracticeDataSource)
    results = {
        "pyspark": pyspark.__version__,
        "mode": resolve_mode(),
        "latency": measure_latency(spark, args.rate, args.seconds, args.trigger),
        "throughput": [
            measure_throughput(spark, args.events, args.batch, *run.split(":")) for run in args.runs.split(",")
        ],
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        latency = results["latency"]
        print(f"PySpark {results['pyspark']}, {results['mode']} mode")
        print(f"latency at {latency['rate_events_per_s']:g} events/s, trigger {latency['trigger']}: "
              f"p50 {latency['latency_p50_s']} s, p95 {latency['latency_p95_s']} s, max {latency['latency_max_s']} s "
              f"({latency['events']} events, {latency['batches']} batches)")
        for run in results["throughput"]:
            print(f"throughput, {run['reader']} reader -> {run['sink']}, maxRecordsPerTrigger {run['max_records_per_trigger']}: "
                  f"{run['rows_per_s']} rows/s ({run['rows']} rows in {run['batches']} batches, "
                  f"{run['seconds']} s, median batch {run['median_batch_s']} s)")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
