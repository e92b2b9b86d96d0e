"""Batch figures, each next to its reference and its target, measured in one run on this machine.

1. The service's serving limit: as many raw HTTP clients (one process each) as partitions,
   draining the same time windows with the same page size, in JSON and in Arrow IPC.
2. `spark.read.json` over the same events dumped to local JSON-lines files.
3. Read N events (default 1,000,000) with the connector at 1, 2 and 4 partitions, into Spark's
   `noop` sink, on each rung of the ladder (workshop/performance.py): rows over JSON and
   RecordBatches over JSON, each next to the JSON serving limit (target 0.9x), and RecordBatches
   over Arrow IPC next to `spark.read.json` (target 1.0x).
4. Arrow vs rows where the source is not the bottleneck: `generated_source.py`.
5. Write N rows with the row writer and the Arrow writer (JSON bodies) next to raw clients posting
   the same rows as JSON, and with the Arrow IPC writer (wireFormat=arrow) next to raw clients
   posting them as Arrow IPC, in batches of the same size (target 0.9x).

Every figure is the median of `--runs` runs after one warm-up run, as rows/s, with what bounds
it: how busy the CPUs were (other programs included), and the CPU time per row of the service
(its own process) and of the benchmark's other processes (Spark's JVM, its Python workers running
the connector, the raw clients). On two cores, rows/s cannot exceed 2 / (the CPU seconds both
spend per row): when the CPUs are busy, that ceiling says what bounds a figure. The service runs
in its own process (started by `serving.start_server`), so it does not share the GIL with Spark's
driver. No asserts: the figures depend on the machine.

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
ARROW = "application/vnd.apache.arrow.stream"
# The read ladder (workshop/performance.py): (label, wireFormat, arrow).
RUNGS = (("rows over JSON", "json", False), ("RecordBatches over JSON", "json", True),
         ("RecordBatches over Arrow IPC", "arrow", True))
TARGETS = {"serving": 0.9, "json": 1.0, "ingest": 0.9}  # connector / reference, per kind of reference


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


def tree_cpu_seconds(root, exclude=None):
    """CPU seconds (user + system, with reaped children) of process `root` and its descendants, except
    the subtree of `exclude`: this benchmark's own work (Spark's JVM, its Python workers, the raw
    clients), not that of other programs on the machine. Linux /proc; None elsewhere."""
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    parents, seconds = {}, {}
    for name in names:
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(name)] = int(fields[1])
        seconds[int(name)] = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def inside(pid):
        while pid in parents:
            if pid == exclude:
                return False
            if pid == root:
                return True
            pid = parents[pid]
        return False

    return sum(cpu for pid, cpu in seconds.items() if inside(pid))


class CpuMeter:
    """CPU spent meanwhile: how busy the machine was, the service's own process, and this benchmark's
    other processes (Spark, the connector in its Python workers, the raw clients)."""

    def __init__(self, server_pid=None):
        self.server_pid = server_pid
        self.machine = cpu_jiffies()
        self.server = serving.cpu_seconds(server_pid) if server_pid else None
        self.ours = tree_cpu_seconds(os.getpid(), server_pid)

    def per_row(self, rows):
        """{cpu_busy, service_cpu_us_per_row, spark_cpu_us_per_row} since the meter started."""
        machine = cpu_jiffies()
        server = serving.cpu_seconds(self.server_pid) if self.server_pid else None
        ours = tree_cpu_seconds(os.getpid(), self.server_pid)
        found = {"cpu_busy": busy_fraction(self.machine, machine)}
        if rows and ours is not None and self.ours is not None:
            found["service_cpu_us_per_row"] = round((server - self.server) / rows * 1e6, 2) if server is not None else 0.0
            found["spark_cpu_us_per_row"] = round((ours - self.ours) / rows * 1e6, 2)
        return found


def median_seconds(action, runs, warm_up=True, server_pid=None, rows=None):
    """Run `action` once to warm up (starts Spark's Python workers), then `runs` times.

    Returns the median seconds, every run's seconds, and the CPU it took meanwhile (CpuMeter:
    how busy the cores were, 1.0 being every core busy the whole time; CPU µs per row).
    """
    if warm_up:
        action()
    seconds = []
    meter = CpuMeter(server_pid)
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), seconds, meter.per_row((rows or 0) * runs)


def figure(name, rows, median, seconds, cpu, reference=None, target=None, **extra):
    """One figure: rows/s, every run, the CPU it took (a dict, or just how busy the cores were), its ratio."""
    rate = rows / median
    cpu = cpu if isinstance(cpu, dict) else {"cpu_busy": cpu}
    result = {"figure": name, "rows": rows, "rows_per_s": round(rate), "runs_s": [round(s, 2) for s in seconds], **cpu}
    if reference:
        result["reference"] = reference["figure"]
        result["ratio"] = round(rate / reference["rows_per_s"], 2)
        if target is not None:
            result["target"] = target
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


def serving_limit(url, clients, runs, use_gzip, wire="json", server_pid=None):
    """Raw clients, one per window, draining all events page by page in `wire` (json or arrow): rows/s."""
    work = [[f"/v1/events?{urllib.parse.urlencode({'start': a, 'end': b, 'limit': PAGE})}"]
            for a, b in time_windows(url, clients)]
    serving.run_once(url, work, use_gzip, wire)  # warm-up
    meter = CpuMeter(server_pid)
    outcomes = [serving.run_once(url, work, use_gzip, wire) for _ in range(runs)]
    seconds = [o["seconds"] for o in outcomes]
    return figure(f"serving limit, {WIRE_NAMES[wire]}, {clients} client{'s' if clients > 1 else ''}", outcomes[0]["rows"],
                  statistics.median(seconds), seconds, meter.per_row(outcomes[0]["rows"] * runs))


WIRE_NAMES = {"json": "JSON", "arrow": "Arrow IPC"}


def connector_read(spark, url, partitions, wire, arrow, use_gzip):
    def read():
        (spark.read.format("practice").option("url", url).option("logLevel", "WARNING").option("numPartitions", partitions)
         .option("pageSize", PAGE).option("gzip", str(use_gzip).lower()).option("wireFormat", wire)
         .option("arrow", str(arrow).lower()).load().write.format("noop").mode("overwrite").save())
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


def read_figures(spark, url, server_pid, events, partition_counts, runs, use_gzip, say):
    figures, limits = [], {}
    for wire in ("json", "arrow"):
        for count in partition_counts:
            limits[wire, count] = serving_limit(url, count, runs, use_gzip, wire, server_pid)
            figures.append(limits[wire, count])
            say(figures[-1])
    best = {wire: max((limits[wire, count] for count in partition_counts), key=lambda f: f["rows_per_s"])
            for wire in ("json", "arrow")}
    directory = tempfile.mkdtemp(prefix="events-json-")
    try:
        dumped = dump_events(url, directory)
        ddl = serving.get_json(url + "/v1/schema/events")["ddl"]
        median, seconds, cpu = median_seconds(
            lambda: spark.read.schema(ddl).json(directory).write.format("noop").mode("overwrite").save(), runs,
            server_pid=server_pid, rows=dumped)
        json_files = figure("spark.read.json over the same events in local files", dumped, median, seconds, cpu)
        figures.append(json_files)
        say(figures[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for label, wire, arrow in RUNGS:
        reference, target = (json_files, TARGETS["json"]) if wire == "arrow" else (best["json"], TARGETS["serving"])
        for count in partition_counts:
            # Each partition count cuts other windows, so its first read asks for pages the service has
            # not answered before: that run is the warm-up, and its rate is kept as the first run's.
            read = connector_read(spark, url, count, wire, arrow, use_gzip)
            started = time.perf_counter()
            read()
            first_run = time.perf_counter() - started
            median, seconds, cpu = median_seconds(read, runs, False, server_pid, events)
            figures.append(figure(
                f"connector read, {label}, {count} partition{'s' if count > 1 else ''}", events, median, seconds, cpu,
                reference, target, serving_limit_ratio=round(events / median / limits[wire, count]["rows_per_s"], 2),
                first_run_rows_per_s=round(events / first_run)))
            say(figures[-1])
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
    url, table, bodies, content_type, barrier, results = args
    import http.client

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    barrier.wait()
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", f"/v1/tables/{table}/rows", body, {"Content-Type": content_type})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status} {answer[:200]!r}")
    results.put((started, time.perf_counter()))
    connection.close()


def ingest_bodies(wire):
    """Request bodies of WRITE_BATCH generated rows each: JSON rows, or Arrow IPC streams of the same rows."""
    import generated_source

    columns = generated_source.block_columns(generated_source.BLOCK)
    if wire == "arrow":
        import pyarrow as pa

        from solutions.client import arrow_stream_bytes

        block = pa.RecordBatch.from_arrays(
            [pa.array(columns[0], pa.int64()), pa.array(columns[1], pa.timestamp("us", tz="UTC")),
             pa.array(columns[2], pa.int64()), pa.array(columns[3], pa.string()), pa.array(columns[4], pa.float64()),
             pa.array(columns[5], pa.string())], names=["seq", "event_time", "device_id", "kind", "value", "note"])
        return [arrow_stream_bytes(block.slice(i, WRITE_BATCH)) for i in range(0, block.num_rows, WRITE_BATCH)]
    records = [
        {"seq": s, "event_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "device_id": d, "kind": k, "value": v, "note": n}
        for s, t, d, k, v, n in zip(*columns)
    ]
    return [json.dumps({"rows": records[i:i + WRITE_BATCH]}).encode() for i in range(0, len(records), WRITE_BATCH)]


def raw_ingest(url, table_fields, rows, clients, wire="json"):
    """Seconds for `clients` processes to post `rows` generated rows (JSON or Arrow IPC bodies) to a new table."""
    bodies = ingest_bodies(wire)
    per_client = rows // clients // WRITE_BATCH
    table = "raw_" + uuid.uuid4().hex[:8]
    request("PUT", f"{url}/v1/tables/{table}", {"fields": table_fields})
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier, results = context.Barrier(clients), context.Queue()
    work = [[bodies[i % len(bodies)] for i in range(per_client)] for _ in range(clients)]
    content_type = ARROW if wire == "arrow" else "application/json"
    processes = [context.Process(target=_post_rows, args=((url, table, bodies_, content_type, barrier, results),))
                 for bodies_ in work]
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


# (figure name, options, the raw clients' body format): each writer next to raw clients sending its body format.
WRITERS = (("rows writer, JSON bodies", {"arrow": "false"}, "json"),
           ("Arrow writer, JSON bodies", {"arrow": "true"}, "json"),
           ("Arrow writer, Arrow IPC bodies", {"arrow": "true", "wireFormat": "arrow"}, "arrow"))


def write_figures(spark, url, server_pid, rows, runs, say, clients=2):
    source = (spark.read.format("generated").option("rows", rows).option("numPartitions", clients)
              .option("arrow", "true").load())
    source = source.cache()
    source.count()
    fields = [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable} for f in source.schema.fields]
    figures, raw = [], {}
    for wire in ("json", "arrow"):
        raw_ingest(url, fields, rows, clients, wire)  # warm-up
        meter = CpuMeter(server_pid)
        timings = [raw_ingest(url, fields, rows, clients, wire) for _ in range(runs)]
        seconds = [s for s, _ in timings]
        raw[wire] = figure(f"raw ingest clients, {clients}, {WIRE_NAMES[wire]} bodies of {WRITE_BATCH} rows", timings[0][1],
                           statistics.median(seconds), seconds, meter.per_row(timings[0][1] * runs))
        figures.append(raw[wire])
        say(figures[-1])
    for name, options, wire in WRITERS:
        def write(options=options):
            table = "bench_" + uuid.uuid4().hex[:8]
            writer = (source.write.format("practice").option("url", url).option("logLevel", "WARNING")
                      .option("table", table).option("batchSize", WRITE_BATCH))
            for key, value in options.items():
                writer = writer.option(key, value)
            writer.mode("append").save()
            request("DELETE", f"{url}/v1/tables/{table}")  # keeps the service's memory flat

        median, seconds, cpu = median_seconds(write, runs, server_pid=server_pid, rows=rows)
        figures.append(figure(f"connector write, {name}, {clients} partitions", rows, median, seconds, cpu, raw[wire],
                              TARGETS["ingest"]))
        say(figures[-1])
    source.unpersist()
    return figures


def write_profile(repeats=5):
    """Where a write's time goes per row, by writer, on one block of generated rows, without Spark or the service."""
    import json as json_module

    import generated_source
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

    from solutions.client import arrow_stream_bytes
    from solutions.conversion import batch_rows, in_table_types, row_to_json_converter
    from workshop.performance import best_seconds

    columns = generated_source.block_columns(WRITE_BATCH)
    batch = pa.RecordBatch.from_arrays(
        [pa.array(columns[0], pa.int64()), pa.array(columns[1], pa.timestamp("us", tz="America/New_York")),
         pa.array(columns[2], pa.int64()), pa.array(columns[3], pa.string()), pa.array(columns[4], pa.float64()),
         pa.array(columns[5], pa.string())], names=["seq", "event_time", "device_id", "kind", "value", "note"])
    schema = StructType([StructField("seq", LongType()), StructField("event_time", TimestampType()),
                         StructField("device_id", LongType()), StructField("kind", StringType()),
                         StructField("value", DoubleType()), StructField("note", StringType())])
    to_json = row_to_json_converter(schema)
    dicts = batch_rows(batch)
    json_rows = [to_json(row) for row in dicts]

    def per_row(action):
        return round(best_seconds(action, repeats) / batch.num_rows * 1e6, 3)

    encode_json = per_row(lambda: json_module.dumps({"rows": json_rows}, separators=(",", ":")))
    convert = per_row(lambda: [to_json(row) for row in dicts])
    steps = {
        "Arrow writer, JSON bodies": [("batch to Python values", per_row(lambda: batch_rows(batch))),
                                      ("values to JSON form", convert), ("encode the JSON body", encode_json)],
        "Arrow writer, Arrow IPC bodies": [("cast to the table's types (UTC)", per_row(lambda: list(in_table_types([batch], schema)))),
                                           ("encode the Arrow IPC body", per_row(lambda: arrow_stream_bytes(batch)))],
    }
    return {"figure": "write profile per row, one block, without Spark or the service", "events": batch.num_rows,
            "bytes_per_event": {"JSON": len(json_module.dumps({"rows": json_rows})) // batch.num_rows,
                                "Arrow IPC": len(arrow_stream_bytes(batch)) // batch.num_rows},
            "steps": steps}


def describe(result):
    """The figure, its value, its ratio to the reference (and target), and, under a figure with a
    target, the CPU per row that bounds it; the profile's steps under the profile."""
    if "steps" in result:
        lines = [f"{result['figure']} ({result['events']:,} records; bytes per record: "
                 + ", ".join(f"{wire} {size}" for wire, size in result["bytes_per_event"].items()) + ")"]
        for rung, steps in result["steps"].items():
            total = sum(micros for _, micros in steps)
            lines.append(f"    {rung:30} {total:7.2f} µs = " + " + ".join(f"{step} {micros:.2f}" for step, micros in steps))
        return "\n".join(lines)
    value = f"{result['rows_per_s']:>10,} rows/s" if "rows_per_s" in result else f"{result['ms']:>10,} ms    "
    busy = f"cpu {result['cpu_busy']:4.0%}" if result.get("cpu_busy") is not None else " " * 8
    text = f"{result['figure']:62} {value}  {busy}"
    if "ratio" in result:
        text += f"  {result['ratio']:5.2f}x {result['reference']}"
        if "target" in result:
            text += f" (target {result['target']:.1f}x: {'met' if result['ratio'] >= result['target'] else 'missed'})"
    if "first_run_rows_per_s" in result:
        text += f"\n    first run (pages the service had not answered before): {result['first_run_rows_per_s']:,} rows/s"
    bound = describe_bound(result) if "target" in result else None
    return text + ("\n" + bound if bound else "")


def describe_bound(result):
    """What bounds a figure: CPU per row of the service and of everything else, against the cores there are."""
    if "service_cpu_us_per_row" not in result:
        return None
    service, spark = result["service_cpu_us_per_row"], result["spark_cpu_us_per_row"]
    cores = os.cpu_count() or 1
    if not service + spark:
        return None
    ceiling = cores / ((service + spark) / 1e6)
    return (f"    CPU per row: the service {service:.1f} µs, Spark and the connector {spark:.1f} µs: {cores} cores "
            f"allow at most {ceiling:,.0f} rows/s at that cost (cores busy, other programs included: "
            f"{result['cpu_busy']:.0%})")


def measure(events, rows, partition_counts, runs, use_gzip=False, parts=("read", "generated", "write"), say=print,
            generated_rows=None):
    """All batch figures (a list of dicts); `say` is called with each as it is measured."""
    import pyspark

    from solutions.datasource import PracticeDataSource
    from workshop.performance import event_profile
    from workshop.spark import get_spark, resolve_mode

    process, url = serving.start_server(events, PAGE, max_window_rows=events)
    spark = get_spark(app_name="batch-benchmark")
    spark.dataSource.register(PracticeDataSource)
    print(f"PySpark {pyspark.__version__}, {resolve_mode()} mode, {os.cpu_count()} CPUs, service {url}, page {PAGE}, "
          f"gzip {'on' if use_gzip else 'off'}, median of {runs} runs after a warm-up, load average "
          f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}", file=sys.stderr, flush=True)
    figures = []
    try:
        if "read" in parts:
            figures += read_figures(spark, url, process.pid, events, partition_counts, runs, use_gzip, say)
            schema = spark.read.format("practice").option("url", url).load().schema
            window = time_windows(url, 1)[0]  # every event: the first page is PAGE of them
            profile = event_profile(url, schema, window[0], window[1], page_size=PAGE)
            figures.append({"figure": "profile per event, one page, without Spark", **profile})
            say(figures[-1])
        if "generated" in parts:
            figures += generated_figures(spark, generated_rows or rows, runs, say)
        if "write" in parts:
            figures += write_figures(spark, url, process.pid, rows, runs, say)
            figures.append(write_profile())
            say(figures[-1])
    finally:
        process.terminate()
        process.wait(timeout=10)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to read (default 1000000)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to write and to generate (default 1000000)")
    parser.add_argument("--partitions", default="1,2,4", help="partition and client counts (default 1,2,4)")
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
