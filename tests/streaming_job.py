"""A streaming query from the practice feed to a practice table, and what the streaming tests share.

As a script it runs the query in its own process, so a test can SIGKILL it mid-stream and
start another process from the same checkpoint:

    python tests/streaming_job.py --url URL --table T --checkpoint DIR --max-records 50 --forever
    python tests/streaming_job.py --url URL --table T --checkpoint DIR --max-records 50

`--forever` runs until killed; without it the query processes what is available and stops.
It prints `STARTED <query id>` once the query runs. The Spark mode comes from
WORKSHOP_SPARK_MODE, as everywhere else (workshop.spark.get_spark).

As a module it gives the tests the same query (`start_feed_to_table`), the query's progress
as plain dicts in classic and Connect mode (`progress`), and the checks against ground truth
(`table_summary`, `feed_summary`).
"""
import argparse
import json
import sys

from workshop.truth import checksum

PROCESSING_TIME = "200 milliseconds"


def register(spark):
    from solutions.datasource import PracticeDataSource

    spark.dataSource.register(PracticeDataSource)


def read_feed(spark, url, **options):
    """A streaming DataFrame over the feed, from the start of the feed unless told otherwise."""
    reader = spark.readStream.format("practice").option("url", url).option("startingOffsets", "earliest")
    for name, value in options.items():
        reader = reader.option(name, str(value))
    return reader.load()


def start_feed_to_table(spark, url, table, checkpoint, reader_options=None, writer_options=None,
                        available_now=True, frame=None, trigger=None, output_mode="append"):
    """Start feed -> table. `available_now=False` runs micro-batches every PROCESSING_TIME;
    `trigger` (keyword arguments of DataStreamWriter.trigger, e.g. {"once": True}) overrides both."""
    frame = frame if frame is not None else read_feed(spark, url, **(reader_options or {}))
    writer = (
        frame.writeStream.format("practice")
        .outputMode(output_mode)
        .option("url", url)
        .option("table", table)
        .option("checkpointLocation", checkpoint)
    )
    for name, value in (writer_options or {}).items():
        writer = writer.option(name, str(value))
    if trigger is None:
        trigger = {"availableNow": True} if available_now else {"processingTime": PROCESSING_TIME}
    return writer.trigger(**trigger).start()


def progress(query):
    """The query's recent progress as dicts; source offsets as dicts (Connect gives JSON text)."""
    result = []
    for item in query.recentProgress:
        entry = json.loads(item.json)
        for source in entry.get("sources", []):
            for key in ("startOffset", "endOffset", "latestOffset"):
                if isinstance(source.get(key), str):
                    source[key] = json.loads(source[key])
        result.append(entry)
    return result


def data_batches(query):
    """(batch id, start seq, end seq, rows) of each micro-batch that read rows."""
    batches = []
    for entry in progress(query):
        source = entry["sources"][0]
        if source["numInputRows"]:
            start = source["startOffset"]["seq"] if source.get("startOffset") else None
            batches.append((entry["batchId"], start, source["endOffset"]["seq"], source["numInputRows"]))
    return batches


def table_summary(service, table):
    """Rows, distinct seqs and checksum of a table's published rows."""
    rows = service.truth.table(table)
    return {"rows": len(rows), "distinct_seqs": len({row["seq"] for row in rows}), "checksum": checksum(rows)}


def feed_summary(service, until_seq, after_seq=0):
    """The same summary for the feed's events `after_seq < seq <= until_seq`: what an exact sink holds."""
    records = service.truth.records("events", after_seq=after_seq, until_seq=until_seq)
    return {"rows": len(records), "distinct_seqs": len(records), "checksum": checksum(records)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--starting-offsets", default="earliest")
    parser.add_argument("--max-records", type=int, default=100)
    parser.add_argument("--forever", action="store_true", help="run until killed")
    args = parser.parse_args(argv)

    from workshop.spark import get_spark

    # In connect mode this process starts its own local Connect server: on a free port, since
    # the test process that started us may run one on the default port. Ignored in classic mode.
    spark = get_spark(app_name="streaming-job", conf={"spark.connect.grpc.binding.port": "0"})
    register(spark)
    query = start_feed_to_table(
        spark, args.url, args.table, args.checkpoint,
        reader_options={"startingOffsets": args.starting_offsets, "maxRecordsPerTrigger": args.max_records,
                        "numPartitions": 2},
        available_now=False,
    )
    print(f"STARTED {query.id}", flush=True)
    if args.forever:
        query.awaitTermination()
    else:
        # A processing-time trigger, as with --forever, so both runs plan batches the same way.
        query.processAllAvailable()
        query.stop()
        print(f"DONE {json.dumps(data_batches(query))}", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
