"""Lab 05 check: commit messages, two-phase commit (nothing visible after a failure), Arrow.

First the writer's methods are called directly, as Spark calls them (what `write` returns, how it
posts, what is visible after `write`, `commit` and `abort`, under which write id a task stages);
then DataFrames are written on Spark with the learner's writers and the table compared with ground
truth, including a write whose last task fails half-way.

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

- `write` returns an instance of a WriterCommitMessage subclass that counts the rows, never None
  or a dict: WRITE_RETURNS (directly), APPEND (Spark fails such a task).
- A task stages its rows in batches of `batchSize`, each its own POST with its own idempotency key,
  and a task without rows makes no stage: BATCHES (25 rows in batches of 10 are 3 posts, where a
  floor would make 2; a repeated key would lose a batch: INVISIBLE counts the rows).
- The stage is made under the write's id (`message.write_id`: the batch write's commit id, or the
  id `send` is given, as a stream's micro-batch gives it): WRITE_ID.
- Nothing is visible until `commit`, which publishes the stages of all messages at once (tasks
  with rows and without): INVISIBLE (tasks of 25, 0 and 7 rows).
- The commit carries the write's commit id, so the same commit sent again publishes nothing:
  COMMIT_ID.
- The commit may be sent again after a lost answer only when it carries a commit id: COMMIT_RETRY
  (the writer's client drops the answer to the first POST .../commit after the service applied
  it; a commit not marked idempotent then fails the write).
- A write without rows is committed too: append creates the table (`post_to_table`, for writers
  that never ran `prepare`), overwrite empties it: EMPTY_WRITE.
- `abort` discards the stage of every message that names one, taking None for a failed task: ABORT.
- A task that fails inside `write` discards its own stage and re-raises: NO_OPEN_STAGE (directly,
  with an input that breaks after 25 rows).
- On Spark: append writes every row once (APPEND); overwrite replaces the table's rows
  (OVERWRITE, onto a table that holds other rows); a write whose last task fails half-way leaves
  the table as it was, and an abort that crashes is named as such (Spark then reports only
  "Writing job failed."): FAILURE. The task fails in its own Python worker at its last row (an
  instant after year 9999, which Spark holds and Python's datetime cannot), after its earlier
  Arrow batches of 50 rows went out in posts of 20: a writer that publishes in write() is caught
  every time, with no UDF (whose worker races the writer's) and no sleep.
- The Arrow writer takes RecordBatches and sends every row, timestamps in UTC: ARROW, with the
  session time zone in Los Angeles and an instant at 0001-01-01T00:00Z, which
  `batch.to_pylist()` would put in year 0 (outside Python's datetime).

Not tested here: the request count in the message (`send` replaces it with its client's count, so
the lab asks `_stage` to count rows only), retries of the other requests (lab 09), a commit without
a commit id sent again (a batch write's commit always has one), the modes `error` and `ignore`
(Spark refuses them before the writer is made), and the stages of tasks whose process died
(`discard_leftover_stages` is given, and Spark calls abort() without waiting for the tasks it
cancels, so an open stage after a failed write on Spark is no fault of the learner's).
"""
import dataclasses
import datetime
import decimal
import math

from workshop.checks import new_name, practice_service, spark_error_text
from workshop.truth import checksum

EVENTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:04Z")  # about 400 events
BATCH_SIZE = 10  # of the direct calls
BEYOND_PYTHON = 253402300800000000  # 10000-01-01T00:00Z in microseconds: Spark holds it, Python's datetime cannot
FAILURE_TEXT = "date value out of range"  # what Spark's worker raises converting that instant for write()
UTC = datetime.timezone.utc

WRITE_RETURNS = "write() returns a WriterCommitMessage that counts the rows"
BATCHES = "write() stages its rows in batches of batchSize, and a task without rows makes no stage"
WRITE_ID = "write() stages under the write's id, so commit() and abort() find stages that tasks left"
INVISIBLE = "rows stay invisible until commit(), which publishes them all"
COMMIT_ID = "commit() carries the write's commit id: the same commit sent again publishes nothing"
COMMIT_RETRY = "commit() with a commit id is sent again when its answer is lost"
EMPTY_WRITE = "commit() of a write without rows: append creates the table, overwrite empties it"
ABORT = "abort() discards the staged rows, and takes None for a failed task"
NO_OPEN_STAGE = "a task that fails inside write() discards its own stage"
APPEND = "on Spark, append: every row once, as read"
OVERWRITE = "on Spark, overwrite replaces the table's rows"
FAILURE = "on Spark, a task failing half-way leaves the table as it was"
ARROW = "on Spark, the Arrow writer writes the same rows, timestamps in UTC"

HINTS = {
    "PracticeWriter._stage": [
        "Stage the rows batch by batch: the first batch creates the task's stage (under the write's id), every "
        "batch is one POST to it, and the message counts what was written.",
        "A task without rows makes no stage. Each batch needs its own idempotency key, or the service takes a "
        "batch for a retry of the one before. If anything fails, discard the stage before re-raising: no message "
        "reaches abort() from a failed task.",
        "try: for batch in batches(json_rows, self.options[\"batchSize\"]): create the stage on the first "
        "(self.create_stage(client, message.write_id)); written, _ = self.post_rows(client, path, batch, key, "
        "number); message.rows += written; except BaseException: discard_quietly(...); raise.",
    ],
    "PracticeWriter.publish": [
        "One request publishes every stage of the write at once: name the stages, say append or overwrite, and "
        "send the commit id so that the same commit twice publishes once.",
        "Post it even without stages (an empty write still creates or empties the table): post_to_table creates a "
        "missing table. Only a request with a commit id is safe to send again.",
        "body = {\"stage_ids\": stages, \"mode\": \"overwrite\" if self.overwrite else \"append\"} plus "
        "\"commit_id\" when given; answer = self.post_to_table(client, self.table_path(\"/commit\"), body, "
        "idempotent=commit_id is not None).",
    ],
    "PracticeWriter.discard": [
        "Discard the stage of every task that reported one; nothing of the write may become visible.",
        "A failed task sends None, and a task without rows has no stage: staged(messages) gives the stage ids.",
        "for stage_id in staged(messages): discard_quietly(client, self.table_path(f\"/stages/{stage_id}\")).",
    ],
    "PracticeArrowWriter.write": [
        "The iterator gives pyarrow RecordBatches: turn every row of every batch into the service's JSON, and send "
        "them all, as the Row writer does.",
        "batch.to_pylist() reads timestamps in the session's time zone, where an instant near year 1 or 9999 is "
        "no Python datetime: batch_rows(batch) gives them in UTC.",
        "to_json = row_to_json_converter(self.schema); return self.send(to_json(record) for batch in iterator for "
        "record in batch_rows(batch)).",
    ],
}


def open_stages(service, table):
    """The stages of `table` that are neither committed nor discarded (none without a table)."""
    return service.tables.open_stages(table) if table in service.tables.names() else []


def message_counts(message):
    """The integer fields of a commit message (dataclass fields or attributes)."""
    if dataclasses.is_dataclass(message):
        values = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
    else:
        values = dict(vars(message))
    return {name: value for name, value in values.items() if isinstance(value, int) and not isinstance(value, bool)}


class Context:
    """What the requirements share: the learner's writers, the service, Spark and the DataFrames written."""

    def __init__(self, batch_writer, arrow_writer, url, service):
        from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

        self.batch_writer = batch_writer
        self.arrow_writer = arrow_writer
        self.url = url
        self.service = service
        self.truth = service.truth
        self.schema = StructType([StructField("id", LongType()), StructField("at", TimestampType()),
                                  StructField("price", DecimalType(10, 2)), StructField("name", StringType())])
        self.spark = None
        self.sink = None  # the registered name of the data source with the learner's writers
        self.events = None  # a DataFrame of the events written on Spark, and their records
        self.records = None
        self.event_rows = None  # the records as row tuples (aware datetimes, Decimals)
        self.committed = None  # (writer, messages, table) of the commit INVISIBLE made

    def rows(self, count, start=0):
        at = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        return [(i, at, decimal.Decimal(i) / 4, f"n{i}") for i in range(start, start + count)]

    def writer(self, table, overwrite=False):
        """A new learner's Row writer, made (without `prepare`) as Spark's data source would make it."""
        from solutions.options import parse_options

        options = parse_options({"url": self.url, "table": table, "batchSize": str(BATCH_SIZE), "logLevel": "WARNING"})
        return self.batch_writer(options, self.schema, overwrite)

    def visible(self, table):
        try:
            return len(self.truth.table(table))
        except KeyError:
            return 0

    def save(self, df, table, mode, **options):
        writer = df.write.format(self.sink).option("url", self.url).option("table", table).option("batchSize", "100")
        writer = writer.option("logLevel", "WARNING")
        for key, value in options.items():
            writer = writer.option(key, value)
        writer.mode(mode).save()

    def table_problem(self, table, records, what):
        got = self.truth.table(table) if table in self.service.tables.names() else []
        if len(got) != len(records):
            return f"{what}: the table has {len(got)} rows, expected {len(records)}"
        if checksum(got) != checksum(records):
            return f"{what}: the table has {len(got)} rows, but not the ones written"
        return None


# -- the writer's methods, called directly --------------------------------------------------------


def write_returns_a_message(c):
    from pyspark.sql.datasource import WriterCommitMessage

    message = c.writer(new_name("lab05")).write(iter(c.rows(25)))
    if message is None:
        return (
            "write() returned None: Spark fails the task (DATA_SOURCE_TYPE_MISMATCH); return an instance of a "
            "WriterCommitMessage subclass with what the driver needs (the stage id, counts)"
        )
    if isinstance(message, dict):
        return (
            "write() returned a dict: Spark fails the task (DATA_SOURCE_TYPE_MISMATCH); make a subclass of "
            "WriterCommitMessage (a dataclass is handy) and return an instance of it"
        )
    if not isinstance(message, WriterCommitMessage):
        return f"write() returned {message!r}, which is not a WriterCommitMessage"
    if 25 not in message_counts(message).values():
        return f"write() got 25 rows but its message {message!r} does not say so: count the rows (e.g. a rows field)"


def stages_in_batches(c):
    table = new_name("lab05")
    writer = c.writer(table)
    before = c.service.request_counts()
    writer.write(iter(c.rows(25)))
    posts = sum(count - before.get(key, 0) for key, count in c.service.request_counts().items()
                if key[0] == "POST" and key[1].startswith(f"/v1/tables/{table}/stages/") and key[1].endswith("/rows"))
    want = math.ceil(25 / BATCH_SIZE)
    if posts != want:
        return (
            f"write() of 25 rows with batchSize={BATCH_SIZE} posted {posts} batch(es) of rows to its stage, not {want}: "
            "post each batch of options[\"batchSize\"] rows (batches(json_rows, size)), the last one shorter"
        )
    stages = len(open_stages(c.service, table))
    writer.write(iter([]))
    made = len(open_stages(c.service, table)) - stages
    if made:
        return "write() of no rows made a stage: create the stage with the first batch, so a task without rows makes none"


def stages_under_the_write_id(c):
    table = new_name("lab05")
    writer = c.writer(table)
    writer.write(iter(c.rows(15)))
    stages = open_stages(c.service, table)
    if not stages:
        return "write() of 15 rows left no open stage: stage the rows, and publish them only in commit()"
    others = sorted({str(stage["write_id"]) for stage in stages} - {writer.commit_id})
    if others:
        return (
            f"write() made its stage under write id {others[0]}, not the write's id {writer.commit_id!r}: create "
            "it with self.create_stage(client, message.write_id), so that commit() and abort() can find the "
            "stages of tasks whose process died"
        )
    given = "lab05-check:micro-batch-7"
    message = c.writer(table).send(({"id": i} for i in range(3)), write_id=given)
    got = {str(stage["write_id"]) for stage in open_stages(c.service, table) if stage["stage_id"] == message.stage_id}
    if got != {given}:
        return (
            f"send(json_rows, write_id={given!r}) staged under write id {sorted(got)[0] if got else None}: use "
            "message.write_id, the id send was given (a stream gives its micro-batch's, lab 07), not self.commit_id"
        )


def invisible_until_commit(c):
    table = new_name("lab05")
    writer = c.writer(table)
    messages = [writer.write(iter(c.rows(25))), writer.write(iter([])), writer.write(iter(c.rows(7, start=100)))]
    seen = c.visible(table)
    if seen:
        return f"{seen} rows were visible after write(), before commit(): stage them, and publish them in commit()"
    writer.commit(messages)
    seen = c.visible(table)
    if seen != 32:
        return (
            f"after commit() of 3 tasks (25 rows, none, 7 rows) the table shows {seen} rows, not 32: publish the "
            "stages of all messages in one POST .../commit (a task without rows has no stage)"
        )
    c.committed = (writer, messages, table)


def commit_twice_publishes_once(c):
    if c.committed is None:
        return "not run: the requirement above failed"
    writer, messages, table = c.committed
    try:
        writer.commit(messages)  # the same commit again, as after an answer lost on the way back
    except Exception as error:
        return (
            f"commit() sent a second time (as after a lost answer) failed: {type(error).__name__}: {error}. Send the "
            "write's commit id (self.commit_id reaches publish as commit_id): the service publishes a commit id once"
        )
    seen = c.visible(table)
    if seen != 32:
        return f"commit() sent a second time left {seen} rows, not 32: send the write's commit id with the commit"


def commit_answer_lost(c):
    """The commit is applied, then its answer is lost (as after a reset): publish must send it again."""
    import requests

    from solutions.client import PracticeClient, _no_answer

    lost = []

    class LosesTheFirstCommitAnswer(PracticeClient):
        def _attempt(self, method, path, *args, **kwargs):
            answer = super()._attempt(method, path, *args, **kwargs)
            if method == "POST" and path.endswith("/commit") and not lost:
                lost.append(path)  # the error the client raises for a reset, as if the answer never came
                reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
                raise _no_answer(method, path, self, reset)
            return answer

    table = new_name("lab05")
    writer = c.writer(table)
    messages = [writer.write(iter(c.rows(12)))]
    writer.client_class = LosesTheFirstCommitAnswer
    try:
        writer.commit(messages)
    except Exception as error:
        return (
            f"commit() failed when the answer to its POST .../commit was lost (the service had published it): "
            f"{type(error).__name__}: {error}. A commit that carries a commit id is safe to send again: post it with "
            "idempotent=True when commit_id is given (and only then)"
        )
    if not lost:
        return "commit() sent no POST .../commit through the writer's client (self.client_class)"
    seen = c.visible(table)
    if seen != 12:
        return f"after a commit whose answer was lost and which was sent again, the table shows {seen} rows, not 12"


def commits_empty_writes(c):
    table = new_name("lab05")
    writer = c.writer(table)
    try:
        writer.commit([writer.write(iter([]))])
    except Exception as error:
        return (
            f"commit() of a write without rows to a new table failed: {type(error).__name__}: {error}. Post the commit "
            "with self.post_to_table, which creates a table that does not exist yet"
        )
    if table not in c.service.tables.names():
        return ("commit() of a write without rows made no table: post the commit anyway (no stages), with "
                "self.post_to_table, which creates a missing table")
    filled = c.writer(table)
    filled.commit([filled.write(iter(c.rows(5)))])
    emptying = c.writer(table, overwrite=True)
    emptying.commit([emptying.write(iter([]))])
    seen = c.visible(table)
    if seen:
        return (f"an overwrite without rows left the table's {seen} rows: it replaces them with nothing, so post the "
                "commit (mode overwrite) even when no task staged a row")


def abort_discards(c):
    table = new_name("lab05")
    writer = c.writer(table)
    message = writer.write(iter(c.rows(15)))
    try:
        writer.abort([message, None])
    except Exception as error:
        return (
            f"abort([message, None]) failed with {type(error).__name__}: {error}. Spark passes None for each "
            "task that failed; skip those"
        )
    left = len(open_stages(c.service, table))
    if left:
        return f"after abort() {left} stage(s) are still open (invisible, but never cleaned up): discard the stage of every message"
    if c.visible(table):
        return f"after abort() the table shows {c.visible(table)} rows"


def failing_task_discards_its_stage(c):
    table = new_name("lab05")
    writer = c.writer(table)

    def rows_then_failure():
        yield from c.rows(25)
        raise RuntimeError("the input broke (the check's doing)")

    try:
        writer.write(rows_then_failure())
    except Exception as error:
        if "the check's doing" not in str(error):
            return f"write() failed with {type(error).__name__}: {error}, not with the input's error; re-raise it"
    else:
        return "write() swallowed the error of its input and returned: re-raise it, so Spark knows the task failed"
    if open_stages(c.service, table):
        return (
            "write() failed after staging 20 rows and left its stage open: Spark gets no message from a "
            "failed task, so abort() cannot discard it; discard it in the task (except: discard, then raise)"
        )


# -- on Spark -------------------------------------------------------------------------------------


def appends(c):
    table = new_name("lab05")
    try:
        c.save(c.events, table, "append")
    except Exception as error:
        return f"the write failed: {spark_error_text(error)}"
    return c.table_problem(table, c.records, "after an append")


def overwrites(c):
    from solutions.options import parse_options

    table = new_name("lab05")
    options = parse_options({"url": c.url, "table": table, "logLevel": "WARNING"})
    earlier = c.batch_writer(options, c.events.schema, False)  # the table holds other rows first
    earlier.commit([earlier.write(iter(c.event_rows[:30]))])
    purchases = [record for record in c.records if record["kind"] == "purchase"]
    try:
        c.save(c.events.filter("kind = 'purchase'"), table, "overwrite")
    except Exception as error:
        return f"the write failed: {spark_error_text(error)}"
    return c.table_problem(table, purchases, "after an overwrite with the purchases only, of a table with 30 rows")


def failure_leaves_nothing(c):
    from pyspark.sql.functions import col, lit, timestamp_micros, when

    table = new_name("lab05")
    # The last row of the last task holds an instant Spark holds and Python cannot (after 9999-12-31): the
    # task fails in its Python worker when that row's Arrow batch reaches write(), after it staged (or,
    # wrongly, published) the batches before. No UDF (its worker races the writer's), no sleep: Spark hands
    # rows over in Arrow batches of 50, in order, so the failure comes after the task's earlier rows.
    last_seq = c.records[-1]["seq"]
    failing = c.events.coalesce(2).withColumn(
        "event_time", when(col("seq") == last_seq, timestamp_micros(lit(BEYOND_PYTHON))).otherwise(col("event_time")))
    setting = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = c.spark.conf.get(setting, None)
    c.spark.conf.set(setting, "50")
    try:
        c.save(failing, table, "append", batchSize="20")
    except Exception as error:
        text = str(error)
        if "Writing job failed" in text:
            return ("the write failed where the check made it fail, and then your abort() failed too (Spark reports "
                    "only \"Writing job failed.\" then): see the requirement on abort() above; Spark passes None for "
                    "each task that failed")
        if FAILURE_TEXT not in text:
            return f"the write failed, but not where the check made it fail: {spark_error_text(error)}"
    else:
        return (f"the write did not fail, although its last row (seq {last_seq}) holds an instant after year 9999, "
                "which Python cannot hold: do not catch the error of the rows' iterator in write()")
    finally:
        if before is None:
            c.spark.conf.unset(setting)
        else:
            c.spark.conf.set(setting, before)
    now = c.visible(table)
    if now:
        return (
            f"after an append whose last task failed at its last row the new table shows {now} rows: rows must stay "
            "staged (invisible) until commit(), which Spark does not call when a task fails"
        )
    # Open stages are not asked about here: Spark calls abort() without waiting for the tasks it cancels,
    # and the other task may make its stage after abort() has looked (best effort; NO_OPEN_STAGE and ABORT).


def arrow_writes(c):
    table = new_name("lab05")
    rows = [
        (1, datetime.datetime(1, 1, 1, tzinfo=UTC), decimal.Decimal("1.25"), "the first instant Spark and Python share"),
        (2, datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), decimal.Decimal("-2.50"), "the last"),
        (3, datetime.datetime(2026, 3, 8, 10, 30, tzinfo=UTC), decimal.Decimal("0.00"), "a day summer time starts"),
    ]
    frame = c.spark.createDataFrame(rows, c.schema)
    setting = "spark.sql.session.timeZone"
    before = c.spark.conf.get(setting)
    c.spark.conf.set(setting, "America/Los_Angeles")  # where 0001-01-01T00:00Z is still year 0
    try:
        c.save(frame, table, "append", arrow="true")
    except Exception as error:
        text = spark_error_text(error)
        if "out of range" in text:
            return (
                f"the write with arrow=true failed: {text}. With the session time zone in Los Angeles, "
                "0001-01-01T00:00Z is year 0 there: batch.to_pylist() reads timestamps in that zone; batch_rows(batch) "
                "gives them in UTC"
            )
        return f"the write with arrow=true failed: {text}"
    finally:
        c.spark.conf.set(setting, before)
    from solutions.conversion import format_timestamp

    want = [{"id": i, "at": format_timestamp(at), "price": str(price), "name": name} for i, at, price, name in rows]
    return c.table_problem(table, want, "after an Arrow append of three rows (years 1, 9999 and 2026)")


def check(report, PracticeBatchWriter, PracticeArrowWriter, url, service=None):
    from solutions.conversion import RecordConverter
    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark

    c = Context(PracticeBatchWriter, PracticeArrowWriter, url, practice_service(url, service))
    report.require(WRITE_RETURNS, write_returns_a_message, c)
    report.require(BATCHES, stages_in_batches, c)
    report.require(WRITE_ID, stages_under_the_write_id, c)
    report.require(INVISIBLE, invisible_until_commit, c)
    report.require(COMMIT_ID, commit_twice_publishes_once, c)
    report.require(COMMIT_RETRY, commit_answer_lost, c)
    report.require(EMPTY_WRITE, commits_empty_writes, c)
    report.require(ABORT, abort_discards, c)
    report.require(NO_OPEN_STAGE, failing_task_discards_its_stage, c)

    class CheckedSink(PracticeDataSource):  # the reference data source, writing with the learner's writers
        short_name = "lab05_check"
        batch_writer = PracticeBatchWriter
        arrow_writer = PracticeArrowWriter

    c.spark = get_spark()
    c.spark.dataSource.register(CheckedSink)
    c.sink = CheckedSink.short_name
    # The events to write: the served records as a local DataFrame (no read of the service per write).
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(PracticeDataSource(options={"url": url, "logLevel": "WARNING"}).schema())
    c.records = c.truth.records("events", start=EVENTS[0], end=EVENTS[1])
    to_row = RecordConverter(schema)
    c.event_rows = [to_row.convert(record) for record in c.records]
    c.events = c.spark.createDataFrame(c.event_rows, schema)  # two partitions
    report.require(APPEND, appends, c)
    report.require(OVERWRITE, overwrites, c)
    report.require(FAILURE, failure_leaves_nothing, c)
    report.require(ARROW, arrow_writes, c)
