"""Lab 05 check: commit messages, two-phase commit (nothing visible after a failure), Arrow.

First the writer's methods are called directly (what `write` returns, what is visible after
`write`, `commit` and `abort`, under which write id a task stages); then DataFrames are written on Spark with the learner's writers
and the table compared with ground truth, including a write whose last task fails half-way.
"""
import dataclasses
import datetime
import decimal

from workshop.checks import new_name, practice_service, spark_error_text
from workshop.truth import checksum

EVENTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z")  # about 1,200 events

WRITE_RETURNS = "write() returns a WriterCommitMessage that counts the rows"
INVISIBLE = "rows stay invisible until commit(), which publishes them all"
ABORT = "abort() discards the staged rows, and takes None for a failed task"
APPEND = "on Spark, append: every row once, as read"
OVERWRITE = "on Spark, overwrite replaces the table's rows"
FAILURE = "on Spark, a task failing half-way leaves the table as it was"
NO_OPEN_STAGE = "a task that fails inside write() discards its own stage"
WRITE_ID = "write() stages under the write's id, so commit() and abort() find stages that tasks left"
ARROW = "on Spark, the Arrow writer writes the same rows"


def sink(batch_writer, arrow_writer):
    """A data source writing with the learner's writers."""
    from solutions.datasource import PracticeDataSource

    learners_writers = batch_writer, arrow_writer

    class CheckedSink(PracticeDataSource):
        short_name = "lab05_check"
        batch_writer, arrow_writer = learners_writers

    return CheckedSink


def open_stages(service, table):
    """The stages of `table` that are neither committed nor discarded (none without a table)."""
    try:
        return service.tables.open_stages(table)
    except Exception:  # no such table: nothing was written
        return []


def message_counts(message):
    """The integer fields of a commit message (dataclass fields or attributes)."""
    if dataclasses.is_dataclass(message):
        values = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
    else:
        values = dict(vars(message))
    return {name: value for name, value in values.items() if isinstance(value, int) and not isinstance(value, bool)}


def check(report, PracticeBatchWriter, PracticeArrowWriter, url, service=None):
    from pyspark.sql.datasource import WriterCommitMessage
    from pyspark.sql.functions import col, udf
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

    from solutions.options import parse_options
    from workshop.spark import get_spark

    service = practice_service(url, service)
    truth = service.truth
    schema = StructType(
        [
            StructField("id", LongType()),
            StructField("at", TimestampType()),
            StructField("price", DecimalType(10, 2)),
            StructField("name", StringType()),
        ]
    )
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def rows(count, start=0):
        return [(i, at, decimal.Decimal(i) / 4, f"n{i}") for i in range(start, start + count)]

    def writer_for(table, overwrite=False):
        options = parse_options({"url": url, "table": table, "batchSize": "10", "logLevel": "WARNING"})
        return PracticeBatchWriter(options, schema, overwrite)

    def visible(table):
        try:
            return len(truth.table(table))
        except KeyError:
            return 0

    # -- the writer's methods, called directly -----------------------------------------------

    def write_returns_a_message():
        message = writer_for(new_name("lab05")).write(iter(rows(25)))
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

    def invisible_until_commit():
        table = new_name("lab05")
        writer = writer_for(table)
        messages = [writer.write(iter(rows(25))), writer.write(iter([])), writer.write(iter(rows(7, start=100)))]
        seen = visible(table)
        if seen:
            return f"{seen} rows were visible after write(), before commit(): stage them, and publish them in commit()"
        writer.commit(messages)
        seen = visible(table)
        if seen != 32:
            return (
                f"after commit() of 3 tasks (25 rows, none, 7 rows) the table shows {seen} rows, not 32: publish the "
                "stages of all messages in one POST .../commit (a task without rows has no stage)"
            )

    def abort_discards():
        table = new_name("lab05")
        writer = writer_for(table)
        message = writer.write(iter(rows(15)))
        try:
            writer.abort([message, None])
        except Exception as error:
            return (
                f"abort([message, None]) failed with {type(error).__name__}: {error}. Spark passes None for each "
                "task that failed; skip those"
            )
        left = len(open_stages(service, table))
        if left:
            return f"after abort() {left} stage(s) are still open (invisible, but never cleaned up): discard the stage of every message"
        if visible(table):
            return f"after abort() the table shows {visible(table)} rows"

    def stages_under_the_write_id():
        table = new_name("lab05")
        writer = writer_for(table)
        message = writer.write(iter(rows(15)))
        stages = open_stages(service, table)
        if not stages:
            return "write() of 15 rows left no open stage: stage the rows, and publish them only in commit()"
        others = sorted({str(stage["write_id"]) for stage in stages} - {writer.commit_id})
        writer.abort([message])
        if others:
            return (
                f"write() made its stage under write id {others[0]}, not the write's id {writer.commit_id!r}: create "
                "it with self.create_stage(client, message.write_id), so that commit() and abort() can find the "
                "stages of tasks whose process died"
            )

    # -- on Spark --------------------------------------------------------------------------

    from solutions.datasource import PracticeDataSource

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)  # reads the events to write
    spark.dataSource.register(sink(PracticeBatchWriter, PracticeArrowWriter))
    state = {}

    def events():
        if "events" not in state:
            state["events"] = (
                spark.read.format("practice")
                .option("url", url)
                .option("start", EVENTS[0])
                .option("end", EVENTS[1])
                .option("numPartitions", "3")
                .option("logLevel", "WARNING")
                .load()
            )
        return state["events"]

    def save(df, table, mode, **options):
        writer = df.write.format("lab05_check").option("url", url).option("table", table).option("batchSize", "100")
        writer = writer.option("logLevel", "WARNING")
        for key, value in options.items():
            writer = writer.option(key, value)
        writer.mode(mode).save()

    def table_equals(table, expected_count, expected_checksum, what):
        got = truth.table(table)
        if len(got) != expected_count:
            return f"{what}: the table has {len(got)} rows, expected {expected_count}"
        if checksum(got) != expected_checksum:
            return f"{what}: the table has {len(got)} rows, but not the ones written"
        return None

    def appends():
        table = new_name("lab05")
        try:
            save(events(), table, "append")
        except Exception as error:
            return f"the write failed: {spark_error_text(error)}"
        expected = truth.checksum("events", start=EVENTS[0], end=EVENTS[1])
        return table_equals(table, truth.count("events", start=EVENTS[0], end=EVENTS[1]), expected, "after an append")

    def overwrites():
        table = new_name("lab05")
        purchases = events().filter("kind = 'purchase'")
        try:
            save(events(), table, "append")
            save(purchases, table, "overwrite")
        except Exception as error:
            return f"the write failed: {spark_error_text(error)}"
        records = [r for r in truth.records("events", start=EVENTS[0], end=EVENTS[1]) if r["kind"] == "purchase"]
        return table_equals(table, len(records), checksum(records), "after an append, then an overwrite with the purchases only")

    def failure_leaves_nothing():
        table = new_name("lab05")
        last_seq = truth.records("events", start=EVENTS[0], end=EVENTS[1])[-1]["seq"]

        @udf("bigint")
        def fail_on_the_last_row(seq):
            if seq == last_seq:  # the last row of the last partition, after its other rows were sent
                raise RuntimeError("a task fails half-way (the check's doing)")
            return seq

        failing = events().withColumn("seq", fail_on_the_last_row(col("seq")))
        # Rows reach write() in Arrow batches of this size: small, so the failing task has sent
        # some rows when the failure reaches it.
        setting = "spark.sql.execution.arrow.maxRecordsPerBatch"
        before = spark.conf.get(setting, None)
        spark.conf.set(setting, "50")
        try:
            save(failing, table, "append", batchSize="20")
        except Exception as error:
            if "the check's doing" not in str(error):
                return f"the write failed, but not where the check made it fail: {spark_error_text(error)}"
        else:
            return "the write did not fail, although the check made its last task fail"
        finally:
            if before is None:
                spark.conf.unset(setting)
            else:
                spark.conf.set(setting, before)
        now = visible(table)
        if now:
            return (
                f"after the failed append the new table shows {now} rows: rows must stay staged (invisible) "
                "until commit(), which Spark does not call when a task fails"
            )

    def failing_task_discards_its_stage():
        table = new_name("lab05")
        writer = writer_for(table)

        def rows_then_failure():
            yield from rows(25)
            raise RuntimeError("the input broke (the check's doing)")

        try:
            writer.write(rows_then_failure())
        except Exception as error:
            if "the check's doing" not in str(error):
                return f"write() failed with {type(error).__name__}: {error}, not with the input's error; re-raise it"
        else:
            return "write() swallowed the error of its input and returned: re-raise it, so Spark knows the task failed"
        left = len(open_stages(service, table))
        if left:
            return (
                "write() failed after staging some rows and left its stage open: Spark gets no message from a "
                "failed task, so abort() cannot discard it; discard it in the task (except: discard, then raise)"
            )

    def arrow_writes():
        table = new_name("lab05")
        try:
            save(events(), table, "append", arrow="true")
        except Exception as error:
            return f"the write with arrow=true failed: {spark_error_text(error)}"
        expected = truth.checksum("events", start=EVENTS[0], end=EVENTS[1])
        return table_equals(table, truth.count("events", start=EVENTS[0], end=EVENTS[1]), expected, "after an Arrow append")

    report.require(WRITE_RETURNS, write_returns_a_message)
    report.require(INVISIBLE, invisible_until_commit)
    report.require(ABORT, abort_discards)
    report.require(NO_OPEN_STAGE, failing_task_discards_its_stage)
    report.require(WRITE_ID, stages_under_the_write_id)
    report.require(APPEND, appends)
    report.require(OVERWRITE, overwrites)
    report.require(FAILURE, failure_leaves_nothing)
    report.require(ARROW, arrow_writes)
