"""Lab 07 check: a streaming writer that publishes every micro-batch exactly once.

The check starts a small practice service of its own. First it calls the learner's `commit` and
`abort` directly, on the driver, with commit messages of tasks staged the way `write` stages
them (the reference `send`, under the micro-batch's id), and a new writer for every call, as
Spark makes one. Then it runs real streaming queries from the service's feed into a table with the
learner's writer: a first run (Trigger.AvailableNow), a crash between the sink's commit and Spark's
commit log (the entry removed from the checkpoint, so Spark replays that batch, then reads new
events: a processing-time trigger, since 4.0/4.1 run AvailableNow as one batch), and a batch in
which a task fails (Trigger.AvailableNow).

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

- `write` stages its rows under "<query id>:<batch id>" and returns a WriterCommitMessage subclass
  with the stage, the batch id (an int) and the query id, from TaskContext: PUBLISHES (the run's
  commits get the messages) and BATCH_WRITE_ID (every stage's write id names the query and a batch
  that ran).
- `commit(messages, batchId)` publishes all stages of the batch in one call, with commit id
  "<query id>:<batch id>": a replayed batch publishes nothing and its new stages are discarded; the
  next batch of the same query and batch 0 of another query (another checkpoint) on the same table
  are published (the batch id alone, or the query id alone, is not a key); the stages of the batch
  that no message names (a task whose process died) are discarded: COMMIT_BY_HAND. On Spark: REPLAY
  and REPLAY_STAGES.
- With exactlyOnce=false the commit carries no id (at least once): a replayed batch lands twice:
  AT_LEAST_ONCE.
- Complete mode (overwrite) commits an empty batch too: a result that became empty empties the
  table, and a first empty batch creates it (no `prepare` runs for a stream): COMPLETE_EMPTY.
- `abort(messages, batchId)` discards the stages of the messages (None for each failed task) and
  the batch's leftovers, and takes a batch where every task failed: ABORT_BY_HAND. On Spark, a
  batch whose task fails half-way (the service refuses its last row, after five posts of 20)
  leaves nothing visible, and an abort that crashes is named as such (Spark then reports only
  "Writing job failed."): ABORT.
- Spark makes a new writer for every batch, commit and abort, so nothing travels on `self`: every
  direct call gets a writer of its own.

Not tested here: the streaming Arrow writer (the stretch; lab 05 checks the Arrow path), and
retries after a lost answer (lab 09).
"""
import dataclasses
import os
import re
import tempfile

from workshop.checkpoints import forget_last_commit, query_id_in
from workshop.checks import new_name, spark_error_text
from workshop.truth import checksum

EVENTS = 60  # in the check's feed at the start
MAX_ROWS = 30  # two batches where Spark passes read limits (4.2+), one on 4.0/4.1
FAILING_ROWS = 240  # the failing batch: two tasks of 120 rows, posted 20 at a time
REFUSAL = "is missing or null but the field is not nullable"  # the service's words for the row it refuses

COMMIT_BY_HAND = "commit(messages, batchId) publishes each batch once per query: not again when replayed"
AT_LEAST_ONCE = "with exactlyOnce=false the commit carries no commit id: a replayed batch lands twice"
COMPLETE_EMPTY = "in complete mode an empty batch is committed too: it empties the table"
ABORT_BY_HAND = "abort(messages, batchId) discards the batch's stages, with None for each failed task"
PUBLISHES = "on Spark, every micro-batch is published once, with all its rows"
BATCH_WRITE_ID = "each task stages under \"<query id>:<batch id>\", so commit, abort and a restart find its stage"
REPLAY = "on Spark, a batch replayed after a crash (sink committed, Spark had not recorded it) is not published again"
REPLAY_STAGES = "on Spark, the replayed batch's new stages are discarded, not left open"
ABORT = "on Spark, a batch with a failed task is aborted: nothing visible"

HINTS = {
    "stage_micro_batch": [
        "A task learns which micro-batch it writes from Spark: the batch id and the query id are local properties "
        "of its TaskContext. Stage the rows under an id made of both, and say both in the message.",
        "The batch id property is a string: make it an int, as commit(messages, batchId) gets it. Keep every field "
        "of the message send returns (the stage id above all).",
        "batch_id = int(context.getLocalProperty(BATCH_ID_PROPERTY)); message = writer.send(json_rows, write_id="
        "micro_batch_id(query_id, batch_id)); return PracticeStreamCommitMessage(**dataclasses.asdict(message), ...).",
    ],
    "publish_micro_batch": [
        "The micro-batch's id (query id and batch id) names what the tasks staged, and, for exactly once, the commit: "
        "the service publishes a commit id only once, so a replayed batch publishes nothing.",
        "The batch id alone is no key (another query has its own batch 0), nor the query id alone. With "
        "exactlyOnce=false send no commit id at all. An empty batch in complete mode is still published.",
        "micro_batch = micro_batch_id(query_id, batch_id); in a with block of writer.client_class(writer.options): "
        "published = writer.publish(client, messages, micro_batch if writer.exactly_once else None, micro_batch).",
    ],
    "discard_micro_batch": [
        "Discard what the batch's tasks staged: the stages the messages name, and, through the micro-batch's id, the "
        "stages no message names (a task whose process died).",
        "A failed task sends None; when every task failed there is no query id, hence no write id: pass None then.",
        "In a with block of writer.client_class(writer.options): writer.discard(client, messages, None if query_id "
        "is None else micro_batch_id(query_id, batch_id)).",
    ],
}


class Context:
    """What the requirements share: the learner's writer class, the check's service, and what earlier ones found."""

    def __init__(self, writer_class, feed):
        self.writer_class = writer_class
        self.feed = feed
        self.spark = None
        self.source = None  # the registered name of the data source with the learner's writer
        self.folder = tempfile.mkdtemp(prefix="lab07-")
        self.first_run = None  # (table, checkpoint) once the first run ran
        self.replayed = False

    def writer(self, table, overwrite=False, exactly_once=True):
        """A new learner's writer, as Spark makes one for every batch, commit and abort."""
        from pyspark.sql.types import LongType, StructField, StructType

        from solutions.options import parse_options

        options = parse_options({"url": self.feed.url, "table": table, "logLevel": "WARNING",
                                 "exactlyOnce": str(exactly_once).lower()})
        return self.writer_class(options, StructType([StructField("seq", LongType())]), overwrite)

    def task(self, table, query_id, batch_id, seqs, **writer_settings):
        """The commit message of one write task of batch `batch_id`, staged as `write` stages (the reference `send`)."""
        from solutions.observability import micro_batch_id
        from solutions.stream_writer import PracticeStreamCommitMessage

        message = self.writer(table, **writer_settings).send(({"seq": seq} for seq in seqs),
                                                             write_id=micro_batch_id(query_id, batch_id))
        return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id=query_id)

    def seqs(self, table):
        """The seqs the table shows, sorted (none when the writer never created it)."""
        try:
            return sorted(row["seq"] for row in self.feed.truth.table(table))
        except KeyError:
            return []

    def open_stages(self, table):
        return self.feed.tables.open_stages(table) if table in self.feed.tables.names() else []

    def latest(self):
        return self.feed.truth.count("events")

    def feed_stream(self, start=0, max_rows=MAX_ROWS):
        """The reference reader's stream of the feed after seq `start`."""
        return (
            self.spark.readStream.format("practice").option("url", self.feed.url).option("startingOffsets", start)
            .option("maxRecordsPerTrigger", max_rows).option("numPartitions", 2).option("logLevel", "ERROR")
            .load()  # ERROR: on 4.0/4.1 the reader warns that maxRecordsPerTrigger is ignored
        )


def called(method, messages, batch_id):
    """Call the learner's commit or abort as Spark does; None, or what went wrong in plain words."""
    name = method.__name__
    try:
        method(messages, batch_id)
    except TypeError as error:
        if "positional argument" in str(error):
            return f"{name}(messages, {batch_id}) failed: {error}. Spark calls {name}(messages, batchId) in a stream"
        return f"{name}(messages, {batch_id}) failed with TypeError: {error}"
    except Exception as error:
        return f"{name}(messages, {batch_id}) failed with {type(error).__name__}: {error}"
    return None


def shown(seqs):
    return "nothing" if not seqs else f"seqs {seqs}" if len(seqs) <= 8 else f"{len(seqs)} rows"


# -- called directly, on the driver ---------------------------------------------------------------


def commits_once_per_batch(c):
    table = new_name("lab07_commit")
    steps = [
        ("q1", 0, [[1, 2], [3]], [1, 2, 3], "batch 0 of query q1 (two tasks: seqs 1, 2 and 3)",
         "publish the stages of all messages in one call, writer.publish(client, messages, commit_id, write_id)"),
        ("q1", 0, [[1, 2], [3]], [1, 2, 3], "batch 0 of query q1 again, as a restarted query replays it",
         "the commit id \"<query id>:<batch id>\" (micro_batch_id) makes the service publish a batch once"),
        ("q1", 1, [[4]], [1, 2, 3, 4], "batch 1 of query q1",
         "the commit id must name the batch: micro_batch_id(query_id, batch_id)"),
        ("q2", 0, [[5]], [1, 2, 3, 4, 5], "batch 0 of query q2, another query writing to the same table",
         "the batch id alone is no key, another query has its own batch 0: micro_batch_id(query_id, batch_id)"),
    ]
    for query_id, batch_id, tasks, want, what, rule in steps:
        messages = [c.task(table, query_id, batch_id, seqs) for seqs in tasks]
        failed = called(c.writer(table).commit, messages, batch_id)
        if failed:
            return f"{failed} (for {what})"
        got = c.seqs(table)
        if got != want:
            return f"after commit() of {what} the table shows {shown(got)}, not {shown(want)}: {rule}"
        left = c.open_stages(table)
        if left:
            return (
                f"after commit() of {what}, {len(left)} stage(s) are still open: when the service answers that the "
                "commit id was published before, writer.publish discards the replay's stages (pass it the messages)"
            )
    # A task whose process died staged rows but sent no message: its stage is under the batch's id.
    c.task(table, "q1", 2, [7])
    failed = called(c.writer(table).commit, [c.task(table, "q1", 2, [6])], 2)
    if failed:
        return failed
    left = c.open_stages(table)
    if c.seqs(table) != [1, 2, 3, 4, 5, 6] or left:
        return (
            f"commit() of batch 2 (one task's message for seq 6, and the stage of a task that died, seq 7) left the "
            f"table with {shown(c.seqs(table))} and {len(left)} stage(s) open: publish the messages' stages, with the "
            "micro-batch's id as the write id, so writer.publish discards the batch's stages no message names"
        )


def at_least_once_without_the_option(c):
    table = new_name("lab07_at_least_once")
    for _ in ("the first run", "the replay"):
        failed = called(c.writer(table, exactly_once=False).commit, [c.task(table, "q1", 0, [1, 2], exactly_once=False)], 0)
        if failed:
            return failed
    got = c.seqs(table)
    if got != [1, 1, 2, 2]:
        return (
            f"with exactlyOnce=false, batch 0 committed twice (its first run and a replay) left {shown(got)}, not seqs 1 "
            "and 2 twice: without the option the commit carries no commit id (at least once), so a replay lands again"
        )


def complete_mode_commits_empty_batches(c):
    table = new_name("lab07_complete")
    empty = dict(overwrite=True)
    failed = called(c.writer(table, **empty).commit, [c.task(table, "q1", 0, [], **empty)], 0)
    if failed:
        return f"{failed} (a first batch without rows, in complete mode)"
    if table not in c.feed.tables.names():
        return (
            "in complete mode a first batch without rows made no table: publish it anyway (no stages, mode "
            "overwrite); writer.publish posts with post_to_table, which creates a missing table"
        )
    for batch_id, seqs in ((1, [1, 2]), (2, [])):
        failed = called(c.writer(table, **empty).commit, [c.task(table, "q1", batch_id, seqs, **empty)], batch_id)
        if failed:
            return f"{failed} (complete mode)"
    got = c.seqs(table)
    if got:
        return (
            f"in complete mode, after batch 1 (seqs 1, 2) and then an empty batch 2, the table shows {shown(got)}: the "
            "result became empty, so the empty batch must be published too (mode overwrite, no stages)"
        )


def aborts_discard_the_batch(c):
    table = new_name("lab07_abort")
    c.task(table, "q1", 0, [9])  # a task whose process died: a stage under the batch's id, no message
    failed = called(c.writer(table).abort, [c.task(table, "q1", 0, [1, 2]), None], 0)
    if failed:
        return f"{failed}, with the messages [message, None]: Spark passes None for each task that failed; skip those"
    left = c.open_stages(table)
    if left:
        named = sum(stage["rows"] == 2 for stage in left)
        which = "the stage a message names" if named else "the stage of a task that died (no message names it)"
        how = ("discard the stage of every message that is not None" if named else
               "pass the micro-batch's id as the write id, so writer.discard discards the batch's other open stages")
        return f"after abort([message, None], 0), {which} is still open: {how}"
    if c.seqs(table):
        return f"after abort() the table shows {shown(c.seqs(table))}: an aborted batch publishes nothing"
    failed = called(c.writer(table).abort, [None, None], 1)
    if failed:
        return f"{failed}, with the messages [None, None] (every task failed): no message names the query, so no write id"


# -- on Spark -------------------------------------------------------------------------------------


def python_error_text(error):
    """The innermost Python exception line in a streaming query's error, else Spark's message."""
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


def run_stream(c, table, checkpoint, frame=None, available_now=True):
    """Run the stream until it has written what is available; the error text, if it failed.

    Trigger.AvailableNow stops by itself. A restart that replays a batch and then reads new events runs
    with a processing-time trigger until all is processed: Spark 4.0/4.1 run AvailableNow as one batch,
    which the replayed batch would be.
    """
    if frame is None:
        frame = c.feed_stream()
    writer = (
        frame.writeStream.format(c.source).option("url", c.feed.url).option("table", table)
        .option("checkpointLocation", "file:" + checkpoint).option("batchSize", 20).option("logLevel", "WARNING")
    )
    query = writer.trigger(availableNow=True).start() if available_now else writer.trigger(processingTime="100 milliseconds").start()
    try:
        if available_now and not query.awaitTermination(180):
            return "the Trigger.AvailableNow query did not stop within 180 s"
        if not available_now:
            query.processAllAvailable()
        if query.exception() is not None:
            return python_error_text(query.exception())
    except Exception as error:
        return python_error_text(error)
    finally:
        query.stop()
    return None


def table_problem(c, table, what):
    """Whether `table` holds the feed exactly once; else what it holds instead."""
    try:
        rows = c.feed.truth.table(table)
    except KeyError:  # the writer never created it
        rows = []
    want = c.latest()
    if len(rows) == want and checksum(rows) == c.feed.truth.checksum("events", until_seq=want):
        return None
    seqs = [row["seq"] for row in rows]
    twice = sorted({seq for seq in seqs if seqs.count(seq) > 1})
    if twice:
        return (
            f"{what} the table holds {len(rows)} rows for a feed of {want} events: seqs {twice[0]} to {twice[-1]} are "
            "in it twice. Publish each batch with a commit_id made of the query id and the batch id "
            "(\"<query id>:<batch id>\"), so the service publishes a replayed batch once"
        )
    return f"{what} the table holds {len(rows)} rows, not the feed's {want} events"


def publishes_each_batch(c):
    table, checkpoint = new_name("lab07"), os.path.join(c.folder, "checkpoint")
    error = run_stream(c, table, checkpoint)
    if error:
        return f"the streaming query failed: {explain(error)}"
    c.first_run = (table, checkpoint)  # it ran: the replay can follow, whatever it wrote
    return table_problem(c, table, "after the first run")


def stages_under_the_batch(c):
    if c.first_run is None:
        return "not run: the first query above failed"
    table, checkpoint = c.first_run
    query_id = query_id_in(checkpoint)
    batches = {int(name) for name in os.listdir(os.path.join(checkpoint, "commits")) if name.isdigit()}
    wanted = {f"{query_id}:{batch}" for batch in batches}
    wrong = sorted({str(stage["write_id"]) for stage in c.feed.tables.stages(table)} - wanted)
    if wrong:
        return (
            f"stages were made under write id {wrong[0]}, not \"<query id>:<batch id>\" (the query id is {query_id}, "
            f"batches {sorted(batches)} ran): stage with writer.send(json_rows, write_id=micro_batch_id(query_id, "
            "batch_id)), the batch id an int from TaskContext, so commit and abort can discard the stages of tasks "
            "whose process died"
        )


def replay_published_once(c):
    if c.first_run is None:
        return "not run: the first query above failed"
    table, checkpoint = c.first_run
    replayed = forget_last_commit(checkpoint)
    c.feed.append_events(20)  # and a new batch after the replayed one
    error = run_stream(c, table, checkpoint, available_now=False)
    if error:
        return f"the restarted query failed: {explain(error)}"
    c.replayed = True
    return table_problem(c, table, f"after Spark replayed batch {replayed},")


def replay_stages_discarded(c):
    if not c.replayed:
        return "not run: the replay above failed"
    left = c.open_stages(c.first_run[0])
    if left:
        return (
            f"{len(left)} stage(s) are still open after the replay: when the service answers that a commit id "
            "was already published (\"duplicate\"), the replay's stages are discarded; pass writer.publish the messages"
        )


def failed_batch_leaves_nothing(c):
    import requests
    from pyspark.sql.functions import col, lit, when

    table, checkpoint = new_name("lab07"), os.path.join(c.folder, "failing")
    start = c.latest()
    refused = c.feed.append_events(FAILING_ROWS)  # the last seq: its row is one the service refuses
    # The table exists already, its column `flag` NOT NULL; the row of the last seq has no flag. One batch in
    # two tasks: the second fails at the service's answer to its last post, after it staged its other rows.
    fields = [{"name": "seq", "type": "bigint", "nullable": True}, {"name": "flag", "type": "string", "nullable": False}]
    requests.put(f"{c.feed.url}/v1/tables/{table}", json={"fields": fields}, timeout=10).raise_for_status()
    frame = c.feed_stream(start=start, max_rows=FAILING_ROWS).select(
        "seq", when(col("seq") == refused, lit(None)).otherwise(lit("fine")).alias("flag"))
    error = run_stream(c, table, checkpoint, frame)
    if error is None:
        return f"the query did not fail, although the service refuses the row of seq {refused} (flag is null)"
    if "Writing job failed" in error:
        return (
            "the batch failed where the check made it fail, and then your abort(messages, batchId) failed too (Spark "
            f"reports only {error!r} then): see the requirement on abort() by hand above; Spark passes None for "
            "each task that failed"
        )
    if REFUSAL not in error:
        return f"the query failed, but not where the check made it fail (the service refusing seq {refused}): {explain(error)}"
    visible = c.seqs(table)
    if visible:
        return f"after the failed batch the table shows {len(visible)} rows: stage rows in write(), publish only in commit()"


def check(report, PracticeStreamWriter):
    from solutions.datasource import PracticeDataSource
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    class CheckedSink(PracticeDataSource):  # the reference data source, writing streams with the learner's writer
        short_name = "lab07_check"
        stream_writer = PracticeStreamWriter

    with PracticeService(seed=17, events=EVENTS) as feed:
        c = Context(PracticeStreamWriter, feed)
        report.require(COMMIT_BY_HAND, commits_once_per_batch, c)
        report.require(AT_LEAST_ONCE, at_least_once_without_the_option, c)
        report.require(COMPLETE_EMPTY, complete_mode_commits_empty_batches, c)
        report.require(ABORT_BY_HAND, aborts_discard_the_batch, c)

        spark = get_spark()
        spark.dataSource.register(PracticeDataSource)  # reads the feed
        spark.dataSource.register(CheckedSink)
        c.spark, c.source = spark, CheckedSink.short_name
        report.require(PUBLISHES, publishes_each_batch, c)
        report.require(BATCH_WRITE_ID, stages_under_the_batch, c)
        report.require(REPLAY, replay_published_once, c)
        report.require(REPLAY_STAGES, replay_stages_discarded, c)
        report.require(ABORT, failed_batch_leaves_nothing, c)
