"""Fault soak: read and write N rows while 30 % of requests fail, and end equal to ground truth.

1. Read: the practice service serves N events while a fraction of all requests (30 % by
   default) fail transiently: 429 with Retry-After, 500, 503, connection resets (a reset on a
   write carries the write out first) and slow answers that outlast the read timeout (so the
   request is carried out after the client gave up on it). A batch read of every row (the
   `seq` column) aggregates on Spark (count, distinct seqs, sum of seqs) and compares with
   ground truth.
2. Write: the same read (under the same faults) is written to a table with the staged protocol;
   the published table is compared with ground truth: row count, distinct seqs and the
   order-independent checksum of every record. 0 lost and 0 duplicated, or the script fails.
3. Outage: against a service where every request fails (503), a read must stop in bounded time
   with the circuit breaker's message.

It prints the rows, the faults the service injected (by kind), the retries the connector made
(counted from its JSON logs), and the wall time of each phase. The Spark mode comes from
WORKSHOP_SPARK_MODE (classic by default).

    python benchmarks/fault_soak.py                 # 1,000,000 rows
    python benchmarks/fault_soak.py --rows 100000 --fault-rate 0.3 --json
"""
import argparse
import json
import os
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FAULT_KINDS = ["429", "500", "503", "reset", "slow"]


def connector_options(args, url, log_file):
    return {
        "url": url,
        "numPartitions": args.partitions,
        "pageSize": args.page_size,
        "batchSize": args.batch_size,
        "readTimeout": f"{args.read_timeout}s",
        "retryDelay": f"{args.retry_delay}s",
        "maxRetryDelay": f"{args.max_retry_delay}s",
        "logFile": log_file,
        "logLevel": "INFO",
    }


def apply(builder, options):
    for name, value in options.items():
        builder = builder.option(name, str(value))
    return builder


def retries_in(log_file):
    """Retries the connector made, on the driver and the executors: one `retrying` line each."""
    if not os.path.exists(log_file):
        return 0
    with open(log_file) as lines:
        return sum(1 for line in lines if '"message": "retrying ' in line)


def read_phase(spark, args, service, options):
    from pyspark.sql import functions as F

    started = time.perf_counter()
    # Every row, only the column the check needs: the service sends whole records, the
    # connector converts just `seq` (the write phase below converts and checks every field).
    frame = apply(spark.read.format("practice"), {**options, "resource": "events"}).schema("seq bigint").load()
    got = frame.agg(F.count("*").alias("rows"), F.countDistinct("seq").alias("distinct"), F.sum("seq").alias("sum")).first()
    seconds = time.perf_counter() - started
    rows = service.truth.count("events")
    expected_sum = sum(record["seq"] for record in service.truth.records("events"))
    return {
        "seconds": round(seconds, 1),
        "rows": got["rows"],
        "lost": rows - got["distinct"],
        "duplicated": got["rows"] - got["distinct"],
        "exact": got["rows"] == got["distinct"] == rows and got["sum"] == expected_sum,
    }


def write_phase(spark, args, service, options):
    from workshop.truth import checksum

    table = f"soak_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    frame = apply(spark.read.format("practice"), {**options, "resource": "events"}).load()
    apply(frame.write.format("practice").mode("append"), {**options, "table": table}).save()
    seconds = time.perf_counter() - started
    published = service.truth.table(table)
    distinct = len({row["seq"] for row in published})
    rows = service.truth.count("events")
    return {
        "seconds": round(seconds, 1),
        "rows": len(published),
        "lost": rows - distinct,
        "duplicated": len(published) - distinct,
        "exact": len(published) == distinct == rows and checksum(published) == service.truth.checksum("events"),
    }


def outage_phase(spark, args, log_file):
    """A service that answers every request with 503: the read must end, with the breaker's words."""
    from workshop.service import PracticeService

    with PracticeService(seed=args.seed + 1, entities=1000, events=10, ring_rows=10) as down:
        down.set_faults(rate=1.0, kinds=["503"])  # /health and /v1/schema never fault
        options = connector_options(args, down.url, log_file)
        started = time.perf_counter()
        try:
            # partitioning=none plans without a request: the outage meets the task on an executor.
            apply(spark.read.format("practice"), {**options, "resource": "entities", "partitioning": "none"}).load().collect()
            message = "the read succeeded"
        except Exception as error:  # noqa: BLE001 - the message is the result
            text = str(error)
            start = text.find("circuit breaker open")
            message = text[start:].splitlines()[0] if start >= 0 else text.splitlines()[0]
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "breaker": message.startswith("circuit breaker open"), "message": message[:500]}


def phase_line(phase, result):
    return (f"{phase:>6}: {result['rows']:,} rows in {result['seconds']} s, {result['retries']:,} retries, "
            f"lost {result['lost']}, duplicated {result['duplicated']}, equal to ground truth: {result['exact']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=71)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--slow-seconds", type=float, default=1.5, help="delay of a slow fault")
    parser.add_argument("--read-timeout", type=float, default=1.0, help="seconds; below --slow-seconds, slow answers time out")
    parser.add_argument("--retry-delay", type=float, default=0.2, help="base of the backoff (option retryDelay)")
    parser.add_argument("--max-retry-delay", type=float, default=5.0, help="option maxRetryDelay")
    parser.add_argument("--skip-outage", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    from solutions.datasource import PracticeDataSource
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    spark = get_spark(app_name="fault-soak")
    spark.dataSource.register(PracticeDataSource)
    log_file = os.path.join(tempfile.mkdtemp(prefix="fault-soak-"), "connector.jsonl")
    figures = {"rows": args.rows, "fault_rate": args.fault_rate, "fault_kinds": FAULT_KINDS}
    started = time.perf_counter()
    say = (lambda text: None) if args.json else (lambda text: print(text, flush=True))
    say(f"rows: {args.rows:,}  fault rate: {args.fault_rate:.0%} of requests ({', '.join(FAULT_KINDS)})")
    with PracticeService(seed=args.seed, events=args.rows, entities=10, ring_rows=10, fault_rate=args.fault_rate,
                         fault_kinds=FAULT_KINDS, slow_seconds=args.slow_seconds) as service:
        options = connector_options(args, service.url, log_file)
        figures["read"] = read_phase(spark, args, service, options)
        figures["read"]["retries"] = retries_in(log_file)
        say(phase_line("read", figures["read"]))
        figures["write"] = write_phase(spark, args, service, options)
        figures["write"]["retries"] = retries_in(log_file) - figures["read"]["retries"]
        say(phase_line("write", figures["write"]))
        figures["faults_injected"] = dict(service.faults.injected)
    figures["faults_injected_total"] = sum(figures["faults_injected"].values())
    figures["retries"] = retries_in(log_file)
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    if not args.skip_outage:
        figures["outage"] = outage_phase(spark, args, log_file + ".outage")
    spark.stop()

    exact = figures["read"]["exact"] and figures["write"]["exact"]
    bounded = args.skip_outage or figures["outage"]["breaker"]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"faults injected: {figures['faults_injected_total']:,} {figures['faults_injected']}")
        print(f"retries by the connector: {figures['retries']:,}")
        print(f"wall time (service start to checks done): {figures['wall_seconds']} s")
        if not args.skip_outage:
            outage = figures["outage"]
            print(f"outage: stopped after {outage['seconds']} s with: {outage['message']}")
    return 0 if exact and bounded else 1


if __name__ == "__main__":
    sys.exit(main())
