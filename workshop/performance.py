"""The read ladder of lab 10: three ways to read the same events, each faster, measured live.

    rows over JSON              wireFormat=json,  arrow=false: JSON pages, a tuple per record
    RecordBatches over JSON     wireFormat=json,  arrow=true:  JSON pages, a RecordBatch per page
    RecordBatches over Arrow    wireFormat=arrow, arrow=true:  the service's Arrow pages, as they are

and, as the reference, `spark.read.json` over the same events in a local file (written with
`service.truth.dump`, the very text the service serves). `read_ladder` times full reads on
Spark (into the `noop` sink: nothing is collected); `event_profile` times, per event and
without Spark, each step a partition takes on each rung, on one page of the same events, so
the bars say where the time goes; `plot_ladder` draws both.
"""
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request

# (label, wireFormat, arrow): the rungs, slowest first.
RUNGS = (
    ("rows over JSON", "json", False),
    ("RecordBatches over JSON", "json", True),
    ("RecordBatches over Arrow IPC", "arrow", True),
)
REFERENCE = "spark.read.json, local file"
# The steps of a partition's work, the same four on every rung.
FETCH, DECODE, CONVERT, TO_ARROW = "fetch the page", "decode it", "convert each value", "make the Arrow batch"
COLOURS = {FETCH: "#5dade2", DECODE: "#f5b041", CONVERT: "#e74c3c", TO_ARROW: "#8e44ad"}
ARROW_STREAM = "application/vnd.apache.arrow.stream"


def best_seconds(action, repeats):
    """The shortest of `repeats` runs of `action()` (the least disturbed by anything else running)."""
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        took = time.perf_counter() - started
        best = took if best is None else min(best, took)
    return best


def read_ladder(spark, service, start, end, partitions=2, repeats=2, page_size=5000):
    """Rows per second of full reads of [start, end) on each rung, and of spark.read.json on the same events.

    One warm-up read first (Spark starts its Python workers, the service fills its page cache),
    then the best of `repeats` reads per rung. gzip is off on every rung: it would add the same
    compression work to each.
    """
    def connector(wire, arrow):
        return (spark.read.format("practice").option("url", service.url).option("start", start).option("end", end)
                .option("numPartitions", partitions).option("pageSize", page_size).option("gzip", "false")
                .option("wireFormat", wire).option("arrow", str(arrow).lower()).option("logLevel", "WARNING").load())

    rows = service.truth.count("events", start=start, end=end)
    for wire in ("json", "arrow"):
        connector(wire, True).write.format("noop").mode("overwrite").save()  # warm-up
    results = []
    for label, wire, arrow in RUNGS:
        frame = connector(wire, arrow)
        seconds = best_seconds(lambda: frame.write.format("noop").mode("overwrite").save(), repeats)  # noqa: B023
        results.append({"read": label, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)})
        print(f"{label:>30}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:>9,.0f} rows/s", flush=True)
    folder = tempfile.mkdtemp(prefix="lab10-events-")
    path = os.path.join(folder, "events.json")
    service.truth.dump(path, "events", start=start, end=end)  # the same records, as the service serves them
    ddl = service_ddl(service.url)
    spark.read.schema(ddl).json(path).write.format("noop").mode("overwrite").save()  # warm-up
    seconds = best_seconds(lambda: spark.read.schema(ddl).json(path).write.format("noop").mode("overwrite").save(), repeats)
    results.append({"read": REFERENCE, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)})
    print(f"{REFERENCE:>30}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:>9,.0f} rows/s", flush=True)
    return results


def service_ddl(url):
    with urllib.request.urlopen(f"{url}/v1/schema/events", timeout=30) as answer:
        return json.load(answer)["ddl"]


def event_profile(url, schema, start, end, page_size=5000, repeats=5):
    """µs per event of each step of each rung, on one page of events of `schema` (the read's Spark schema).

    Measured in this process, without Spark, best of `repeats`: fetching the page (the service
    answers from its cache, so this is the request and the bytes on the wire), decoding it,
    converting each value (the JSON rungs), building the RecordBatch, or handing tuples to
    PySpark's own conversion of the row path.
    """
    import pyarrow as pa

    from solutions.conversion import ArrowColumns, RecordConverter, rows_to_record_batch

    query = urllib.parse.urlencode({"start": start, "end": end, "limit": page_size})
    page_url = f"{url}/v1/events?{query}"

    def fetch(accept):
        request = urllib.request.Request(page_url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.read()

    json_body, arrow_body = fetch("application/json"), fetch(ARROW_STREAM)  # also warms the service's cache
    items = json.loads(json_body)["items"]
    count = len(items)
    converter = RecordConverter(schema)
    rows = [converter.convert(record) for record in items]
    page = pa.ipc.open_stream(arrow_body).read_next_batch()
    columns = ArrowColumns(page.schema, schema, "_corrupt_record")

    def per_event(action):
        return round(best_seconds(action, repeats) / count * 1e6, 3)

    fetch_json, decode_json = per_event(lambda: fetch("application/json")), per_event(lambda: json.loads(json_body))
    convert = per_event(lambda: [converter.convert(record) for record in items])
    profile = {
        RUNGS[0][0]: [(FETCH, fetch_json), (DECODE, decode_json), (CONVERT, convert)],
        RUNGS[1][0]: [(FETCH, fetch_json), (DECODE, decode_json), (CONVERT, convert),
                      (TO_ARROW, per_event(lambda: rows_to_record_batch(rows, schema)))],  # the connector builds it
        RUNGS[2][0]: [(FETCH, per_event(lambda: fetch(ARROW_STREAM))),
                      (DECODE, per_event(lambda: pa.ipc.open_stream(arrow_body).read_next_batch())),
                      (TO_ARROW, per_event(lambda: columns.select(page)))],  # the page's columns, taken whole
    }
    try:  # PySpark's own helper of the row path (4.0 and later); internal, so it may move
        from pyspark.sql.worker.plan_data_source_read import records_to_arrow_batches
    except ImportError:
        pass
    else:  # Spark's Python worker turns the yielded tuples into Arrow
        profile[RUNGS[0][0]].append((TO_ARROW, per_event(lambda: list(records_to_arrow_batches(iter(rows), len(rows), schema, None)))))
    # {"events": n, "bytes_per_event": {...}, "steps": {rung: [(step, µs per event), ...]}}
    return {"events": count, "bytes_per_event": {"JSON": len(json_body) // count, "Arrow IPC": len(arrow_body) // count},
            "steps": profile}


def plot_ladder(results, profile, title):
    """Left: rows/s per rung, spark.read.json as the line to reach. Right: µs per event, step by step."""
    import matplotlib.pyplot as plt

    rungs = [r for r in results if r["read"] != REFERENCE]
    reference = next(r for r in results if r["read"] == REFERENCE)
    figure, (rates, steps) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    names = [r["read"] for r in rungs]
    rates.barh(names[::-1], [r["rows_per_s"] for r in rungs][::-1], color="#2e86c1")
    rates.axvline(reference["rows_per_s"], color="#c0392b", linestyle="--", label=f"{REFERENCE} ({reference['rows_per_s']:,})")
    rates.set_xlabel("rows per second (best run)")
    rates.legend(loc="lower right", fontsize=8)
    rates.set_title(title, fontsize=10)
    labelled = set()
    widest = max(sum(micros for _, micros in profile["steps"][name]) for name in names)
    for position, name in enumerate(names[::-1]):
        left = 0.0
        for step, micros in profile["steps"][name]:
            steps.barh(position, micros, left=left, color=COLOURS[step], label=None if step in labelled else step)
            labelled.add(step)
            if micros > widest / 25:
                steps.text(left + micros / 2, position, f"{micros:.1f}", ha="center", va="center", fontsize=7)
            left += micros
        steps.text(left + widest / 100, position, f"{left:.1f} µs", va="center", fontsize=8)
    steps.set_yticks(range(len(names)))
    steps.set_yticklabels(names[::-1])
    steps.set_xlabel(f"µs per event, one page of {profile['events']:,} events, without Spark")
    steps.set_xlim(0, widest * 1.15)
    steps.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    plt.show()
