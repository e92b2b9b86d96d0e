"""`workshop bench`: every performance figure of the course, each next to its reference, in one run.

Runs benchmarks/batch.py (the serving limit in JSON and Arrow IPC, `spark.read.json` over the
same events, the read ladder from rows over JSON to RecordBatches over Arrow IPC, Arrow vs rows
where the source costs nothing, writes next to raw ingest clients sending the same body format)
and benchmarks/streaming.py (latency and rows/s with a batch limit) at sizes that fit in about
ten minutes on two cores (run `python benchmarks/batch.py` for 1M-event reads and 1M-row
writes), then adds the last recorded wall times of `course.py test` and `course.py run`
(course.py writes them to build/timings.json). Prints a table of figures with their ratios and
targets, the CPU per row behind each connector figure, a per-event profile of the read ladder,
and the load average before and after (other work on the machine moves every figure); or one
JSON object with `--json`. docs/performance.md explains the figures.
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMINGS = os.path.join(ROOT, "build", "timings.json")


def recorded_timings():
    """The last wall times of `course.py test` and `course.py run`, as course.py recorded them."""
    try:
        with open(TIMINGS) as source:
            return json.load(source)
    except (OSError, ValueError):
        return {}


def benchmark_modules():
    folder = os.path.join(ROOT, "benchmarks")
    if not os.path.isdir(folder):
        raise SystemExit("workshop bench runs from a clone of the course: benchmarks/ is not next to workshop/")
    sys.path[:0] = [ROOT, folder]
    import batch
    import streaming

    return batch, streaming


def run_loops(args):
    """`workshop bench --loops`: where the time of the course's own loops goes (benchmarks/loops.py)."""
    benchmark_modules()
    import loops

    return loops.main(["--labs"] if args.labs else [])


def run(args):
    if args.loops:
        return run_loops(args)
    batch, streaming = benchmark_modules()
    started = time.monotonic()
    quiet = args.json
    say = (lambda figure: None) if quiet else (lambda figure: print(batch.describe(figure), flush=True))
    load_before = os.getloadavg()
    if not quiet:
        print(f"workshop bench: reads of {args.events:,} events, writes of {args.rows:,} rows, median of {args.runs} "
              "runs after a warm-up; figures print as they come (cpu: how busy all cores were); load average "
              f"{_load(load_before)}", flush=True)
    counts = [int(part) for part in args.partitions.split(",")]
    figures = batch.measure(args.events, args.rows, counts, args.runs, say=say, generated_rows=args.generated_rows)
    streaming_figures = measure_streaming(streaming, args, batch_reference(figures), batch.PAGE)
    for figure in streaming_figures:
        say(figure)
    timing_figures = [
        {"figure": f"wall time of `python3 course.py {name}`", "seconds": entry["seconds"], "when": entry["when"],
         "exit_code": entry["exit_code"]}
        for name, entry in sorted(recorded_timings().items())
    ]
    figures += streaming_figures + timing_figures
    if args.plot:
        plot(figures, args.plot)
    load_after = os.getloadavg()
    if quiet:
        print(json.dumps({"figures": figures, "seconds": round(time.monotonic() - started),
                          "load_average": {"before": load_before, "after": load_after}}, indent=2))
        return 0
    for figure in timing_figures:
        print(f"{figure['figure']:58} {figure['seconds']:>10,.0f} s   (recorded {figure['when']}, exit {figure['exit_code']})")
    if not timing_figures:
        print("no wall times recorded yet: run `python3 course.py test` and `python3 course.py run`")
    import loops

    for line in loops.describe_recorded():  # the suite per test file, CI per step (`--loops` measures the rest)
        print(line)
    print(f"workshop bench took {time.monotonic() - started:.0f} s; load average {_load(load_before)} before, "
          f"{_load(load_after)} after (1, 5 and 15 minutes; {os.cpu_count()} CPUs)")
    return 0


def _load(averages):
    return " ".join(f"{value:.1f}" for value in averages)


# The streaming read is compared with the batch read (row path) at this many partitions, and
# runs with as many itself.
STREAM_PARTITIONS = 2


def batch_reference(figures):
    """The connector's batch read at STREAM_PARTITIONS partitions (row path), the streaming reader's reference."""
    for figure in figures:
        if figure["figure"] == f"connector read, rows over JSON, {STREAM_PARTITIONS} partitions":
            return figure
    return None


def measure_streaming(streaming, args, reference, page_size):
    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark

    spark = get_spark(app_name="workshop-bench")
    spark.dataSource.register(PracticeDataSource)
    latency = streaming.measure_latency(spark, args.rate, args.seconds, "500 milliseconds")
    figures = []
    for name, key in (("p50", "latency_p50_s"), ("p95", "latency_p95_s")):
        figures.append({
            "figure": f"streaming latency {name}, {args.rate:g} events/s, trigger 500 ms", "ms": round(latency[key] * 1000),
            "reference": "the trigger interval (500 ms)", "ratio": round(latency[key] / 0.5, 2),
        })
    # The same page size and partition count as the batch read it is compared with.
    runs = [streaming.measure_throughput(spark, args.stream_events, args.stream_batch, "full", "noop",
                                         pageSize=page_size, numPartitions=STREAM_PARTITIONS)
            for _ in range(args.runs + 1)][1:]  # the first run warms up
    runs.sort(key=lambda run: run["rows_per_s"])
    middle = runs[len(runs) // 2]
    figure = {
        "figure": f"streaming read, maxRecordsPerTrigger {args.stream_batch}, {STREAM_PARTITIONS} partitions",
        "rows": middle["rows"], "rows_per_s": middle["rows_per_s"], "runs_s": [run["seconds"] for run in runs],
        "batches": middle["batches"], "median_batch_s": middle["median_batch_s"],
    }
    if reference:
        figure["reference"] = reference["figure"]
        figure["ratio"] = round(middle["rows_per_s"] / reference["rows_per_s"], 2)
    figures.append(figure)
    return figures


def plot(figures, path):
    """Bar chart of the read and write figures (rows/s), each kind next to its reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if "rows_per_s" in f and not f["figure"].startswith("streaming")]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(shown) + 1.2))
    colours = ["#1f77b4" if f["figure"].startswith("connector") else "#999999" for f in shown]
    ax.barh([f["figure"] for f in shown][::-1], [f["rows_per_s"] for f in shown][::-1], color=colours[::-1])
    ax.set_xlabel("rows per second (median)")
    ax.set_title("The connector (blue) next to its references (grey)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
