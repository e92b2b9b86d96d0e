"""Lab 06 check: offsets, partitions that cover a batch once, deterministic replay, admission control.

Admission control differs by Spark version. 4.2+ pass a read limit to `latestOffset(start, limit)`.
4.0/4.1 call `latestOffset()` and run Trigger.AvailableNow and Trigger.Once as one batch ending at
its first answer, so a legacy `latestOffset()` that caps ends those runs early: the check calls it
directly on every version, and runs Trigger.AvailableNow on Spark, where 4.0/4.1 show the loss.

The check starts a small practice service of its own (it appends events to its feed, which the
lab's service should not see). First the learner's stream reader is called directly, as
Spark's driver and executors would call it; then it runs in real streaming queries, stopped and
restarted from a checkpoint, and the table they fill is compared with the feed's ground truth.

`follow_query` and `plot_batches` are the notebooks' live progress and plot (labs 06 and 07).
"""
import json
import os
import tempfile
import time

from workshop.checks import new_name, spark_error_text

EVENTS = 300  # in the check's own feed at the start
MAX_ROWS = 100  # maxRecordsPerTrigger of the check's queries

OFFSETS = "offsets are dicts with a version field (Spark stores them as JSON)"
PARTITIONS = "partitions(start, end) cover (start, end] once: no overlap, no gap, none for an empty batch"
REPLAY = "read(partition) returns exactly its range, the same rows every time"
LIMIT = "latestOffset(start, limit) obeys the read limit (Spark 4.2+)"
LEGACY = "latestOffset() without arguments ends at the feed's end, whatever maxRecordsPerTrigger says (Spark 4.0/4.1)"
ON_SPARK = "on Spark, Trigger.AvailableNow reads the feed exactly, in batches within maxRecordsPerTrigger on 4.2+"
RESTART = "on Spark, a query restarted from its checkpoint reads what arrived meanwhile, then stops"


# -- live progress and a plot, for the notebooks ------------------------------------------------


def batch_progress(query):
    """One dict per micro-batch that read rows: batch, start and end seq, rows, milliseconds."""
    batches = []
    for item in query.recentProgress:
        entry = json.loads(item.json)  # the same in classic and Connect mode
        source = (entry.get("sources") or [{}])[0]
        if not source.get("numInputRows"):
            continue
        offsets = {}
        for key in ("startOffset", "endOffset", "latestOffset"):
            value = source.get(key)
            offsets[key] = json.loads(value) if isinstance(value, str) else value  # Connect: JSON text
        batches.append({
            "batch": entry["batchId"],
            "start": (offsets["startOffset"] or {}).get("seq", 0),
            "end": (offsets["endOffset"] or {}).get("seq"),
            "latest": (offsets["latestOffset"] or {}).get("seq"),
            "rows": source["numInputRows"],
            "ms": entry.get("durationMs", {}).get("triggerExecution", 0),
        })
    return batches


def follow_query(query, until_seq, timeout=180, quiet=False):
    """Print each micro-batch as it completes, until the query has read up to `until_seq`.

    Returns the batches (see `batch_progress`); the query keeps running: stop it yourself.
    """
    printed, deadline = set(), time.monotonic() + timeout
    while True:
        batches = batch_progress(query)
        for batch in batches:
            if batch["batch"] not in printed:
                printed.add(batch["batch"])
                if not quiet:
                    latest = f", feed at {batch['latest']}" if batch["latest"] is not None else ""
                    print(f"batch {batch['batch']:>3}: {batch['rows']:>5} rows, seq {batch['start']} -> "
                          f"{batch['end']}{latest}, {batch['ms']} ms", flush=True)
        if batches and batches[-1]["end"] is not None and batches[-1]["end"] >= until_seq:
            return batches
        if not query.isActive:
            error = query.exception()
            raise RuntimeError(f"the query stopped: {error}" if error else "the query stopped")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the query did not reach seq {until_seq} within {timeout} s")
        time.sleep(0.3)


def plot_batches(batches, title):
    """Rows and milliseconds per micro-batch, side by side."""
    import matplotlib.pyplot as plt

    ids = [batch["batch"] for batch in batches]
    figure, (rows, ms) = plt.subplots(1, 2, figsize=(9, 2.8))
    rows.bar(ids, [batch["rows"] for batch in batches], color="#2e86c1")
    rows.set_xlabel("batch id")
    rows.set_ylabel("rows")
    ms.plot(ids, [batch["ms"] for batch in batches], marker="o", color="#e08a00")
    ms.set_xlabel("batch id")
    ms.set_ylabel("ms per batch")
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()


# -- the check -----------------------------------------------------------------------------------


def seq_of(offset):
    """The seq in an offset, or a plain-words complaint."""
    if not isinstance(offset, dict):
        raise AssertionError(f"an offset is {type(offset).__name__} {offset!r}, not a dict")
    return offset["seq"]


def checked_source(reader_class):
    """A data source streaming with the learner's reader (the reference writes)."""
    from solutions.datasource import PracticeDataSource

    learners_reader = reader_class

    class CheckedStream(PracticeDataSource):
        short_name = "lab06_check"
        stream_reader = learners_reader

    return CheckedStream


def check(report, PracticeStreamReader):
    from solutions.options import parse_options
    from solutions.stream_reader import HAS_ADMISSION_CONTROL, make_offset
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    spark = get_spark()
    with PracticeService(seed=16, events=EVENTS) as feed:
        from solutions.datasource import PracticeDataSource

        spark.dataSource.register(PracticeDataSource)
        schema = spark.read.format("practice").option("url", feed.url).load().schema
        seq_index = schema.names.index("seq")

        def reader(**options):
            # ERROR: the legacy latestOffset() warns that maxRecordsPerTrigger is ignored, as it should
            raw = {"url": feed.url, "startingOffsets": "earliest", "logLevel": "ERROR"}
            raw.update({name: str(value) for name, value in options.items()})
            return PracticeStreamReader(parse_options(raw), schema)

        def seqs(rows):
            return [row[seq_index] for row in rows]

        def latest():
            return feed.truth.count("events")

        # -- called directly ---------------------------------------------------------------

        def offsets_are_dicts():
            one = reader(maxRecordsPerTrigger=MAX_ROWS)
            start = one.initialOffset()

            def latest_offset():
                return one.latestOffset(start, one.getDefaultReadLimit()) if HAS_ADMISSION_CONTROL else one.latestOffset()

            # Judge each offset before the next call: a wrong initial offset can break latestOffset().
            for what, call in (("initialOffset()", lambda: start), ("latestOffset()", latest_offset)):
                offset = call()
                if isinstance(offset, str):
                    return (
                        f"{what} returned the string {offset!r}: Python data sources take offsets as dicts, which "
                        "Spark turns into JSON itself; return a dict such as {'version': 1, 'seq': N}"
                    )
                if not isinstance(offset, dict):
                    return f"{what} returned {type(offset).__name__} {offset!r}: return a dict such as {{'version': 1, 'seq': N}}"
                try:
                    again = json.loads(json.dumps(offset))
                except (TypeError, ValueError) as error:
                    return f"{what} returned {offset!r}, which is not plain JSON ({error}): use ints and strings only"
                if again != offset:
                    return f"{what} returned {offset!r}, which comes back from JSON as {again!r}"
                if "version" not in offset:
                    return f"{what} returned {offset!r} without a version field: add one, so a later reader can recognise it"

        def partitions_cover_once():
            one = reader(numPartitions=3)
            for after, until, parts in ((0, 100, 3), (17, 18, 4), (50, 250, 7), (10, 13, 8), (120, 120, 4)):
                planned = list(one.partitions(make_offset(after), make_offset(until)))
                if len(planned) > max(parts, 1):
                    return f"partitions({after}, {until}) with numPartitions={parts} planned {len(planned)} partitions"
                if until - after >= 2 and parts >= 2 and len(planned) < 2:
                    return (
                        f"partitions({after}, {until}) with numPartitions={parts} planned {len(planned)} partition(s): "
                        "split a batch into up to numPartitions ranges, so tasks read in parallel"
                    )
                read = [seq for partition in planned for seq in seqs(one.read(partition))]
                expected = list(range(after + 1, until + 1))
                if until == after and read:
                    return f"the empty batch ({after}, {after}] read {len(read)} rows; it must read none"
                twice = sorted({seq for seq in read if read.count(seq) > 1})
                if twice:
                    return (
                        f"batch ({after}, {until}] in {len(planned)} partitions read seq {twice[0]}"
                        f"{' and others' if len(twice) > 1 else ''} twice: partitions overlap; make each "
                        "partition's until_seq the next one's after_seq, reading after_seq < seq <= until_seq"
                    )
                missing = sorted(set(expected) - set(read))
                if missing:
                    return (
                        f"batch ({after}, {until}] in {len(planned)} partitions never read seq {missing[0]}"
                        f"{' and others' if len(missing) > 1 else ''}: partitions leave a gap; the ranges must "
                        "chain from start to end"
                    )
                extra = sorted(set(read) - set(expected))
                if extra:
                    return f"batch ({after}, {until}] read seq {extra[0]}, which lies outside it"

        def replay_is_deterministic():
            one = reader(numPartitions=1, pageSize=7)  # several pages per partition
            (partition,) = one.partitions(make_offset(100), make_offset(160))
            first = list(one.read(partition))
            if seqs(first) != list(range(101, 161)):
                got = seqs(first)
                return (
                    f"the partition (100, 160] read {len(got)} rows, seq {min(got, default=None)} to "
                    f"{max(got, default=None)}: read exactly after_seq < seq <= until_seq (ask the feed with "
                    "until_seq), not whatever is in the feed"
                )
            feed.append_events(30)  # new events must not leak into a closed range
            again = list(one.read(partition))
            if again != first:
                return (
                    f"reading the partition (100, 160] again, after 30 new events arrived, gave {len(again)} rows, "
                    "not the same 60: a replay must read the fixed range again, not what is new"
                )

        def latest_offset_obeys_the_limit():
            from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

            capped, free = reader(maxRecordsPerTrigger=MAX_ROWS), reader()
            now = latest()
            for one, start, limit, want in (
                (capped, 10, capped.getDefaultReadLimit(), 10 + MAX_ROWS),
                (capped, 10, ReadAllAvailable(), now),
                (capped, now - 30, ReadMaxRows(MAX_ROWS), now),
                (free, 10, free.getDefaultReadLimit(), now),
            ):
                got = seq_of(one.latestOffset(make_offset(start), limit))
                if got != want:
                    cap = f"at most {limit.max_rows} events" if isinstance(limit, ReadMaxRows) else "everything available"
                    return (
                        f"latestOffset(start=seq {start}, limit={limit!r}) ended the batch at seq {got}, not {want}: "
                        f"with this limit a batch takes {cap}, and never goes past the feed's end ({now})"
                    )

        def legacy_latest_offset():
            one = reader(maxRecordsPerTrigger=MAX_ROWS)
            for call in ("first", "second"):
                now, got = latest(), seq_of(one.latestOffset())
                if got < now:
                    return (
                        f"the {call} latestOffset() with maxRecordsPerTrigger={MAX_ROWS} ended the batch at seq {got}, "
                        f"not at the feed's end ({now}): Spark 4.0/4.1 run Trigger.AvailableNow and Trigger.Once as one "
                        "batch that ends at the first latestOffset(), which cannot tell the trigger, so a cap here ends "
                        "the run early; without a start, take everything available"
                    )
                if got > now:
                    return f"the {call} latestOffset() ended the batch at seq {got}, past the feed's end ({now})"
                feed.append_events(20)  # the second call must see them
            ahead = latest() + 40
            got = seq_of(reader(startingOffsets=str(ahead)).latestOffset())
            if got != ahead:
                return (
                    f"with startingOffsets={ahead} (after the feed's end, {latest()}) latestOffset() ended the first batch "
                    f"at seq {got}: a batch never ends before it starts; begin at the end of the last batch (or the "
                    "initial offset) and never go below it"
                )

        # -- on Spark ------------------------------------------------------------------------

        spark.dataSource.register(checked_source(PracticeStreamReader))
        state = {"table": new_name("lab06"), "checkpoint": os.path.join(tempfile.mkdtemp(prefix="lab06-"), "checkpoint")}

        def read_limits_on_spark():
            """Whether the PySpark that runs the stream reader (a Connect server's) has read limits."""

            def probe(_):  # defined here so it pickles by value
                try:
                    from pyspark.sql.streaming.datasource import ReadMaxRows  # noqa: F401
                except ImportError:
                    return False
                return True

            from pyspark.sql.functions import udf

            return spark.range(1).select(udf(probe, "boolean")("id")).first()[0]

        def run_query():
            """Run the stream with Trigger.AvailableNow until it stops; (batches, error text)."""
            frame = (
                spark.readStream.format("lab06_check").option("url", feed.url).option("startingOffsets", "earliest")
                .option("maxRecordsPerTrigger", MAX_ROWS).option("numPartitions", 3)
                .option("logLevel", "ERROR").load()  # ERROR: on 4.0/4.1 the reader warns that the limit is ignored
            )
            query = (
                frame.writeStream.format("practice").option("url", feed.url).option("table", state["table"])
                .option("checkpointLocation", "file:" + state["checkpoint"]).option("logLevel", "WARNING")
                .trigger(availableNow=True).start()
            )
            try:
                if not query.awaitTermination(180):
                    return None, "the Trigger.AvailableNow query did not stop within 180 s"
                if query.exception() is not None:
                    return None, spark_error_text(query.exception())
            except Exception as error:
                return None, spark_error_text(error)
            finally:
                query.stop()
            return batch_progress(query), None

        def table_is_feed(what):
            try:
                rows = feed.truth.table(state["table"])
            except KeyError:  # the sink never created the table
                rows = []
            want = feed.truth.records("events", until_seq=latest())
            if len(rows) == len(want) and feed.truth.checksum("events", until_seq=latest()) == _checksum(rows):
                return None
            distinct = len({row["seq"] for row in rows})
            if distinct < len(rows):
                why = ": some events were read twice"
            elif distinct < len(want) and not state["read_limits"]:
                why = (": Trigger.AvailableNow stopped early. This Spark (4.0/4.1) runs it as one batch ending at the "
                       "first latestOffset(): without a start, latestOffset() must not cap")
            else:
                why = ""
            return f"{what} the query wrote {len(rows)} rows ({distinct} distinct seqs) for a feed of {len(want)} events{why}"

        def reads_on_spark():
            state["read_limits"] = read_limits_on_spark()
            batches, error = run_query()
            if error:
                return f"the streaming query failed: {error}"
            state["first"] = True
            for batch in batches:
                width = batch["end"] - batch["start"]
                if batch["rows"] != width:
                    how = "some events were read twice" if batch["rows"] > width else "some events were never read"
                    return f"batch {batch['batch']} read {batch['rows']} rows for the range ({batch['start']}, {batch['end']}]: {how}"
            too_big = [batch for batch in batches if batch["rows"] > MAX_ROWS] if state["read_limits"] else []
            if too_big:
                return (
                    f"batch {too_big[0]['batch']} read {too_big[0]['rows']} rows with maxRecordsPerTrigger={MAX_ROWS}: "
                    "end each batch at most that many events after its start"
                )
            for before, after in zip(batches, batches[1:]):
                if after["start"] != before["end"]:
                    return f"batch {after['batch']} started at seq {after['start']}, not where batch {before['batch']} ended ({before['end']})"
            return table_is_feed(f"after a run over a feed of {latest()} events")

        def restarts():
            if not state.get("first"):
                return "not run: the first query above failed"
            feed.append_events(150)  # arrive between the runs
            _, error = run_query()
            if error:
                return f"the restarted query failed: {error}"
            return table_is_feed("after a restart and 150 new events")

        report.require(OFFSETS, offsets_are_dicts)
        report.require(PARTITIONS, partitions_cover_once)
        report.require(REPLAY, replay_is_deterministic)
        if HAS_ADMISSION_CONTROL:
            report.require(LIMIT, latest_offset_obeys_the_limit)
        else:
            report.skip(LIMIT, "this PySpark has no read limits; the next line checks the 4.0/4.1 way")
        report.require(LEGACY, legacy_latest_offset)
        report.require(ON_SPARK, reads_on_spark)
        report.require(RESTART, restarts)


def _checksum(rows):
    from workshop.truth import checksum

    return checksum(rows)
