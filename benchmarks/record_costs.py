"""Where a read's time goes, per event: the profile behind docs/performance.md.

Fetches one page of 10,000 events from a practice service in this process and times, per
event, each step a partition of the connector takes, best of several runs, without Spark in
the loop: the service encoding the page as JSON, the client decoding it, the connector
converting records to Spark values (RecordConverter), and either building a RecordBatch
itself (arrow=true) or handing tuples to Spark's Python worker, which turns them into Arrow
(the row path; timed with PySpark's own function for it, where this PySpark has one).

    python benchmarks/record_costs.py
"""
import json
import os
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def best_seconds(action, runs=5):
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main():
    from pyspark.sql.types import _parse_datatype_string

    from solutions.conversion import RecordConverter, rows_to_record_batch
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    get_spark(app_name="record-costs")  # only to parse the schema's DDL
    with PracticeService(events=20_000, max_window_rows=20_000) as service:
        ddl = json.load(urllib.request.urlopen(service.url + "/v1/schema/events"))["ddl"]
        body = urllib.request.urlopen(service.url + "/v1/events?limit=10000&start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z").read()
    schema = _parse_datatype_string(ddl)
    page = json.loads(body)
    items = page["items"]
    converter = RecordConverter(schema)
    rows = [converter.convert(record) for record in items]
    steps = [
        ("service: encode the page as JSON", lambda: json.dumps(page)),
        ("client: decode the page", lambda: json.loads(body)),
        ("connector: records to Spark values", lambda: [converter.convert(record) for record in items]),
        ("connector: rows to a RecordBatch (arrow=true)", lambda: rows_to_record_batch(rows, schema)),
    ]
    try:  # PySpark's internal helper of the row path (4.0 and later); it may change without notice
        from pyspark.sql.worker.plan_data_source_read import records_to_arrow_batches

        steps.append(("Spark's worker: tuples to Arrow (row path)",
                      lambda: list(records_to_arrow_batches(iter(rows), len(rows), schema, None))))
    except ImportError:
        pass
    print(f"{len(items)} events of {len(body) / len(items):.0f} bytes each (JSON), 14 columns with nested types")
    for name, action in steps:
        print(f"{name:48} {best_seconds(action) / len(items) * 1e6:6.1f} µs per event")


if __name__ == "__main__":
    main()
