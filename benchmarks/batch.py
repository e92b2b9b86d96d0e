"""Batch figures, each next to its reference, measured in one run on this machine.

1. Read N events (default 1,000,000) with the connector, row path and Arrow path, at 1, 2, 4
   and 8 partitions, into Spark's `noop` sink, next to
   - the service's serving limit: as many raw HTTP clients (one process each) as partitions,
     draining the same time windows with the same page size;
   - `spark.read.json` over the same events dumped to local JSON-lines files.
2. Arrow vs rows where the source is not the bottleneck: `generated_source.py`.
3. Write N rows: the row writer and the Arrow writer (staged commits) next to raw clients
   posting the same rows, as JSON, in batches of the same size.

Every figure is the median of `--runs` runs after one warm-up run, as rows/s. The service runs
in its own process (started by `serving.start_server`), so it does not share the GIL with
Spark's driver. No asserts: the figures depend on the machine.

    python benchmarks/batch.py                      # 1M events and rows
    python benchmarks/batch.py --events 200000 --runs 2 --partitions 1,2 --json
"""
import argparse
import datetime
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

import serving  # noqa: E402  (benchmarks/serving.py: the service process and raw clients)

PAGE = 10_000  # the service's largest page; the connector and the raw clients both use it
WRITE_BATCH = 5_000


def cpu_jiffies():
    """(busy, total) CPU time of all cores so far, from /proc/stat (Linux), or None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def busy_fraction(before, after):
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 2)


def median_seconds(action, runs, warm_up=True):
    """Run `action` once to warm up (starts Spark's Python workers), then `runs` times.

    Returns the median seconds, every run's seconds, and how busy the CPUs were meanwhile
    (1.0: every core busy the whole time, so the figure is bound by this machine's CPUs).
    """
    if warm_up:
        action()
    seconds = []
    before = cpu_jiffies()
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), seconds, busy_fraction(before, cpu_jiffies())


def figure(name, rows, median, seconds, cpu_busy, reference=None, **extra):
    rate = rows / median
    result = {"figure": name, "rows": rows, "rows_per_s": round(rate), "runs_s": [round(s, 2) for s in seconds],
              "cpu_busy": cpu_busy}
    if reference:
        result["reference"] = reference["figure"]
        result["ratio"] = round(rate / reference["rows_per_s"], 2)
    result.update(extra)
    return result


def time_windows(url, count):
    """`count` equal event-time windows covering every event: (start, end) ISO strings."""
    stats = serving.get_json(url + "/v1/events/stats")
    first = datetime.datetime.fromisoformat(stats["min_event_time"].replace("Z", "+00:00"))
    last = datetime.datetime.fromisoformat(stats["max_event_time"].replace("Z", "+00:00")) + datetime.timedelta(seconds=1)
    step = (last - first) / count
    edges = [first + step * index for index in range(count)] + [last]
    return [(serving.iso(a), serving.iso(b)) for a, b in zip(edges, edges[1:])]


def serving_limit(url, clients, runs, use_gzip):
    """Raw clients, one per window, draining all events page by page: rows/s."""
    work = [[f"/v1/events?{urllib.parse.urlencode({'start': a, 'end': b, 'limit': PAGE})}"]
            for a, b in time_windows(url, clients)]
    serving.run_once(url, work, use_gzip)  # warm-up
    before = cpu_jiffies()
    outcomes = [serving.run_once(url, work, use_gzip) for _ in range(runs)]
    seconds = [o["seconds"] for o in outcomes]
    return figure(f"serving limit, {clients} client{'s' if clients > 1 else ''}", outcomes[0]["rows"],
                  statistics.median(seconds), seconds, busy_fraction(before, cpu_jiffies()))


def connector_read(spark, url, partitions, arrow, use_gzip):
    def read():
        (spark.read.format("practice").option("url", url).option("logLevel", "WARNING").option("numPartitions", partitions)
         .option("pageSize", PAGE).option("gzip", str(use_gzip).lower()).option("arrow", str(arrow).lower())
         .load().write.format("noop").mode("overwrite").save())
    return read


def dump_events(url, directory, files=4):
    """All events as JSON lines in `files` files (what an export to cloud storage would give)."""
    rows = 0
    for index, (start, end) in enumerate(time_windows(url, files)):
        cursor = None
        with open(os.path.join(directory, f"events-{index}.json"), "w") as out:
            while True:
                query = {"start": start, "end": end, "limit": PAGE}
                if cursor:
                    query["cursor"] = cursor
                page = serving.get_json(f"{url}/v1/events?{urllib.parse.urlencode(query)}")
                out.writelines(json.dumps(item) + "\n" for item in page["items"])
                rows += len(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    return rows


def read_figures(spark, url, events, partition_counts, runs, use_gzip, say):
    figures = []
    limits = {}
    for count in partition_counts:
        limits[count] = serving_limit(url, count, runs, use_gzip)
        figures.append(limits[count])
        say(figures[-1])
    best_limit = max(limits.values(), key=lambda f: f["rows_per_s"])
    for arrow in (False, True):
        for count in partition_counts:
            first = not figures[len(limits):]  # one warm-up before the first read is enough
            median, seconds, busy = median_seconds(connector_read(spark, url, count, arrow, use_gzip), runs, first)
            path = "Arrow" if arrow else "rows"
            figures.append(figure(f"connector read, {path}, {count} partition{'s' if count > 1 else ''}", events,
                                  median, seconds, busy, best_limit, same_concurrency_ratio=round(
                                      events / median / limits[count]["rows_per_s"], 2)))
            say(figures[-1])
    directory = tempfile.mkdtemp(prefix="events-json-")
    try:
        dumped = dump_events(url, directory)
        ddl = serving.get_json(url + "/v1/schema/events")["ddl"]
        median, seconds, busy = median_seconds(
            lambda: spark.read.schema(ddl).json(directory).write.format("noop").mode("overwrite").save(), runs)
        figures.append(figure("spark.read.json over the same events in local files", dumped, median, seconds, busy,
                              best_limit))
        say(figures[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return figures


def generated_figures(spark, rows, runs, say):
    import generated_source
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(generated_source)  # Spark's workers cannot import benchmarks/
    spark.dataSource.register(generated_source.GeneratedDataSource)
    figures = []
    for arrow in (False, True):
        def read(arrow=arrow):
            (spark.read.format("generated").option("rows", rows).option("numPartitions", 2)
             .option("arrow", str(arrow).lower()).load().write.format("noop").mode("overwrite").save())
        median, seconds, busy = median_seconds(read, runs)
        reference = figures[0] if arrow else None
        figures.append(figure(f"generated source (no I/O), {'Arrow' if arrow else 'rows'}, 2 partitions", rows,
                              median, seconds, busy, reference))
        say(figures[-1])
    return figures


def _post_rows(args):
    url, table, bodies, barrier, results = args
    import http.client

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    barrier.wait()
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", f"/v1/tables/{table}/rows", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status} {answer[:200]!r}")
    results.put((started, time.perf_counter()))
    connection.close()


def raw_ingest(url, table_fields, rows, clients):
    """Seconds for `clients` processes to post `rows` generated rows as JSON to a new table."""
    import generated_source

    columns = generated_source.block_columns(generated_source.BLOCK)
    records = [
        {"seq": s, "event_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "device_id": d, "kind": k, "value": v, "note": n}
        for s, t, d, k, v, n in zip(*columns)
    ]
    bodies = [json.dumps({"rows": records[i:i + WRITE_BATCH]}) for i in range(0, len(records), WRITE_BATCH)]
    per_client = rows // clients // WRITE_BATCH
    table = "raw_" + uuid.uuid4().hex[:8]
    request("PUT", f"{url}/v1/tables/{table}", {"fields": table_fields})
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier, results = context.Barrier(clients), context.Queue()
    work = [[bodies[i % len(bodies)] for i in range(per_client)] for _ in range(clients)]
    processes = [context.Process(target=_post_rows, args=((url, table, bodies_, barrier, results),)) for bodies_ in work]
    for process in processes:
        process.start()
    spans = [results.get(timeout=900) for _ in processes]
    for process in processes:
        process.join()
    count = serving.get_json(f"{url}/v1/tables/{table}")["count"]
    request("DELETE", f"{url}/v1/tables/{table}")
    return max(end for _, end in spans) - min(start for start, _ in spans), count


def request(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)) as answer:
        return json.load(answer)


def write_figures(spark, url, rows, runs, say):
    source = (spark.read.format("generated").option("rows", rows).option("numPartitions", 2)
              .option("arrow", "true").load())
    source = source.cache()
    source.count()
    fields = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in source.schema.fields]
    figures = []
    for clients in (2,):
        raw_ingest(url, fields, rows, clients)  # warm-up
        before = cpu_jiffies()
        timings = [raw_ingest(url, fields, rows, clients) for _ in range(runs)]
        seconds = [s for s, _ in timings]
        figures.append(figure(f"raw bulk-ingest clients, {clients}, {WRITE_BATCH} rows per request", timings[0][1],
                              statistics.median(seconds), seconds, busy_fraction(before, cpu_jiffies())))
        say(figures[-1])
    reference = figures[0]
    for arrow in (False, True):
        def write(arrow=arrow):
            table = "bench_" + uuid.uuid4().hex[:8]
            (source.write.format("practice").option("url", url).option("logLevel", "WARNING").option("table", table)
             .option("batchSize", WRITE_BATCH).option("arrow", str(arrow).lower()).mode("append").save())
            request("DELETE", f"{url}/v1/tables/{table}")  # keeps the service's memory flat

        median, seconds, busy = median_seconds(write, runs)
        figures.append(figure(f"connector write, {'Arrow' if arrow else 'rows'} writer, 2 partitions", rows, median,
                              seconds, busy, reference))
        say(figures[-1])
    source.unpersist()
    return figures


def describe(result):
    """One line: the figure, its value, and its ratio to the reference."""
    value = f"{result['rows_per_s']:>10,} rows/s" if "rows_per_s" in result else f"{result['ms']:>10,} ms    "
    busy = f"cpu {result['cpu_busy']:4.0%}" if result.get("cpu_busy") is not None else " " * 8
    text = f"{result['figure']:58} {value}  {busy}"
    if "ratio" in result:
        text += f"  {result['ratio']:5.2f}x {result['reference']}"
    return text


def measure(events, rows, partition_counts, runs, use_gzip=False, parts=("read", "generated", "write"), say=print,
            generated_rows=None):
    """All batch figures (a list of dicts); `say` is called with each as it is measured."""
    import pyspark

    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark, resolve_mode

    process, url = serving.start_server(events, PAGE, max_window_rows=events)
    spark = get_spark(app_name="batch-benchmark")
    spark.dataSource.register(PracticeDataSource)
    print(f"PySpark {pyspark.__version__}, {resolve_mode()} mode, {os.cpu_count()} CPUs, service {url}, page {PAGE}, "
          f"gzip {'on' if use_gzip else 'off'}, median of {runs} runs after a warm-up", file=sys.stderr, flush=True)
    figures = []
    try:
        if "read" in parts:
            figures += read_figures(spark, url, events, partition_counts, runs, use_gzip, say)
        if "generated" in parts:
            figures += generated_figures(spark, generated_rows or rows, runs, say)
        if "write" in parts:
            figures += write_figures(spark, url, rows, runs, say)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to read (default 1000000)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to write and to generate (default 1000000)")
    parser.add_argument("--partitions", default="1,2,4,8", help="partition and client counts (default 1,2,4,8)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per figure, after a warm-up (default 3)")
    parser.add_argument("--gzip", action="store_true", help="gzip responses (connector and raw clients alike)")
    parser.add_argument("--only", default="read,generated,write", help="which parts to run (default all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    say = (lambda figure: None) if args.json else (lambda figure: print(describe(figure), flush=True))
    counts = [int(part) for part in args.partitions.split(",")]
    figures = measure(args.events, args.rows, counts, args.runs, args.gzip, args.only.split(","), say)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "events": args.events, "rows": args.rows, "runs": args.runs,
                          "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
