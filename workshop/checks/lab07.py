"""Lab 07 check: a streaming writer that publishes every micro-batch exactly once.

The check starts a small practice service of its own and runs real streaming queries from its
feed into a table with the learner's writer: a first run (every batch published once, every
stage made under "<query id>:<batch id>"), a crash
between the sink's commit and Spark's commit log (the entry removed from the checkpoint, so
Spark replays that batch: it must not be published twice, and its fresh stages are discarded),
and a batch in which one task fails (aborted: nothing visible, no stage left open).
"""
import os
import tempfile
import threading
import time

from workshop.checks import new_name, spark_error_text
from workshop.truth import checksum

EVENTS = 300
MAX_ROWS = 100

PUBLISHES = "on Spark, every micro-batch is published once, with all its rows"
BATCH_WRITE_ID = "each task stages under \"<query id>:<batch id>\", so commit, abort and a restart find its stage"
REPLAY = "a batch replayed after a crash (sink committed, Spark had not recorded it) is not published again"
REPLAY_STAGES = "the replayed batch's new stages are discarded, not left open"
ABORT = "a batch with a failed task is aborted: nothing visible, its stages discarded"


def checked_sink(writer_class):
    """A data source writing streams with the learner's writer (the reference reads)."""
    from solutions.datasource import PracticeDataSource

    learners_writer = writer_class

    class CheckedSink(PracticeDataSource):
        short_name = "lab07_check"
        stream_writer = learners_writer

    return CheckedSink


def stages_of(service, table, state=None):
    """The stages of `table` (in `state`, if given); none when the writer never created the table."""
    return service.tables.stages(table, state=state) if table in service.tables.names() else []


def open_stages(service, table):
    return len(stages_of(service, table, "open"))


def write_ids_of_stages(service, table):
    """The write id of every stage ever made in `table` (open, committed or discarded)."""
    return [stage["write_id"] for stage in stages_of(service, table)]


def query_id_in(checkpoint):
    """The query id Spark keeps in the checkpoint's metadata file."""
    import json

    with open(os.path.join(checkpoint, "metadata")) as metadata:
        return json.loads(metadata.readline())["id"]


def forget_last_commit(checkpoint):
    """Remove the newest entry of the checkpoint's commit log: Spark runs that batch again.

    The state a crash leaves between the sink's commit and Spark's own record of it.
    """
    commits = os.path.join(checkpoint, "commits")
    last = max(int(name) for name in os.listdir(commits) if name.isdigit())
    for name in (str(last), f".{last}.crc"):
        if os.path.exists(os.path.join(commits, name)):
            os.remove(os.path.join(commits, name))
    return last


def python_error_text(error):
    """The innermost Python exception line in a streaming query's error, else Spark's message."""
    import re

    pattern = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception)): (.+)$")
    found = [
        match.group(0).strip()
        for match in map(pattern.match, str(error).splitlines())
        if match and match.group(1) != "StreamingQueryException" and not match.group(0).strip().startswith(("org.", "java.", "py4j"))
    ]
    return found[-1] if found else spark_error_text(error)


def explain(error_text):
    """The query's error, with the usual cause of it in plain words."""
    hints = {
        "positional argument": "streaming commit and abort take (messages, batchId)",
        "DATA_SOURCE_TYPE_MISMATCH": "write() must return a WriterCommitMessage subclass, never None or a dict",
        "WriterCommitMessage": "write() must return a WriterCommitMessage subclass, never None or a dict",
        "NoneType": "write() must return a commit message; did it return None?",
    }
    for marker, hint in hints.items():
        if marker in error_text:
            return f"{error_text} ({hint})"
    return error_text


def check(report, PracticeStreamWriter):
    from pyspark.sql.functions import col, udf

    from solutions.datasource import PracticeDataSource
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)  # reads the feed
    spark.dataSource.register(checked_sink(PracticeStreamWriter))
    folder = tempfile.mkdtemp(prefix="lab07-")
    with PracticeService(seed=17, events=EVENTS) as feed:
        state = {"table": new_name("lab07"), "checkpoint": os.path.join(folder, "checkpoint")}

        def latest():
            return feed.truth.count("events")

        def rows_of(table):
            try:
                return feed.truth.table(table)
            except KeyError:  # the writer never created it
                return []

        def run(table, checkpoint, frame=None):
            """Run the stream until it has written what is available; the error text, if any."""
            if frame is None:
                frame = (
                    spark.readStream.format("practice").option("url", feed.url).option("startingOffsets", "earliest")
                    .option("maxRecordsPerTrigger", MAX_ROWS).option("numPartitions", 2).option("logLevel", "WARNING")
                    .load()
                )
            query = (
                frame.writeStream.format("lab07_check").option("url", feed.url).option("table", table)
                .option("checkpointLocation", "file:" + checkpoint).option("batchSize", 20).option("logLevel", "WARNING")
                .trigger(processingTime="200 milliseconds").start()
            )
            try:
                query.processAllAvailable()
            except Exception as error:
                return python_error_text(error)
            finally:
                query.stop()
            return None

        def table_is_feed(table, what):
            rows = rows_of(table)
            want = latest()
            if len(rows) == want and checksum(rows) == feed.truth.checksum("events", until_seq=want):
                return None
            seqs = [row["seq"] for row in rows]
            twice = sorted({seq for seq in seqs if seqs.count(seq) > 1})
            if twice:
                return (
                    f"{what} the table holds {len(rows)} rows for a feed of {want} events: seqs {twice[0]} to "
                    f"{twice[-1]} are in it twice. Publish each batch with a commit_id made of the query id and "
                    "the batch id (\"<query id>:<batch id>\"), so the service publishes a replayed batch once"
                )
            return f"{what} the table holds {len(rows)} rows, not the feed's {want} events"

        def publishes_each_batch():
            error = run(state["table"], state["checkpoint"])
            if error:
                return f"the streaming query failed: {explain(error)}"
            state["first"] = True
            return table_is_feed(state["table"], "after the first run")

        def stages_under_the_batch():
            if not state.get("first"):
                return "not run: the first query above failed"
            query_id = query_id_in(state["checkpoint"])
            wrong = sorted({str(write_id) for write_id in write_ids_of_stages(feed, state["table"])
                            if not str(write_id).startswith(f"{query_id}:")})
            if wrong:
                return (
                    f"stages were made under write id {wrong[0]}, not \"<query id>:<batch id>\" (the query id is "
                    f"{query_id}): stage with writer.send(json_rows, write_id=micro_batch_id(query_id, batch_id)), so "
                    "commit and abort can discard the stages of tasks whose process died"
                )

        def replay_published_once():
            if not state.get("first"):
                return "not run: the first query above failed"
            replayed = forget_last_commit(state["checkpoint"])
            feed.append_events(50)  # and a new batch after the replayed one
            error = run(state["table"], state["checkpoint"])
            if error:
                return f"the restarted query failed: {explain(error)}"
            state["replayed"] = True
            problem = table_is_feed(state["table"], f"after Spark replayed batch {replayed},")
            return problem

        def replay_stages_discarded():
            if not state.get("replayed"):
                return "not run: the replay above failed"
            left = open_stages(feed, state["table"])
            if left:
                return (
                    f"{left} stage(s) are still open after the replay: when the service answers that a commit id "
                    "was already published (\"duplicate\"), discard the replay's stages"
                )

        def abort_discards():
            table, checkpoint = new_name("lab07"), os.path.join(folder, "failing")
            fail_at = 90  # in batch 0: seqs 1..100 on 4.2+, 1..300 on 4.0/4.1 (no read limit), in two tasks
            marker = os.path.join(folder, "first-task-staged")

            def watch():
                """Tell the failing task (by a file) once the other task has staged its 50 rows."""
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if any(stage["rows"] >= 50 for stage in stages_of(feed, table, "open")):
                        time.sleep(1.0)  # and has returned its commit message
                        open(marker, "w").close()
                        return
                    time.sleep(0.05)

            @udf("boolean")
            def fail_once(seq):
                if seq == fail_at:
                    waited = time.monotonic()
                    while not os.path.exists(marker) and time.monotonic() - waited < 30:
                        time.sleep(0.05)  # fail only once the other task's rows are staged
                    raise RuntimeError("a task fails half-way (the check's doing)")
                return True

            threading.Thread(target=watch, daemon=True).start()

            frame = (
                spark.readStream.format("practice").option("url", feed.url).option("startingOffsets", "earliest")
                .option("maxRecordsPerTrigger", MAX_ROWS).option("numPartitions", 2).option("logLevel", "WARNING")
                .load()
            ).where(fail_once(col("seq")))
            error = run(table, checkpoint, frame)
            if error is None:
                return "the query did not fail, although the check made one of its tasks fail"
            if "the check's doing" not in error:
                return f"the query failed, but not where the check made it fail: {explain(error)}"
            visible = len(rows_of(table))
            if visible:
                return f"after the failed batch the table shows {visible} rows: stage rows in write(), publish only in commit()"
            left = open_stages(feed, table)
            if left:
                return (
                    f"{left} stage(s) of the failed batch are still open: abort(messages, batchId) must discard the "
                    "stage of every message that is not None"
                )

        report.require(PUBLISHES, publishes_each_batch)
        report.require(BATCH_WRITE_ID, stages_under_the_batch)
        report.require(REPLAY, replay_published_once)
        report.require(REPLAY_STAGES, replay_stages_discarded)
        report.require(ABORT, abort_discards)
