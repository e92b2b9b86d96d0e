# Lab 10 source: production hardening: logs, metrics, validation, health probe, pushdown, performance. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 10 · Production hardening: logs, metrics, validation, pushdown, performance
#
# **Goal:** make the connector something you can run at 3 a.m.: JSON logs that say which task
# did what and how long a request took, never a secret, and where to read them; counts from
# every task summed on the driver; options refused on the driver with an error that says what
# is allowed; a health probe before planning; filter pushdown that is never wrong; and the
# biggest lever of a connector's speed, measured live: what travels on the wire.
#
# **Time:** 75 minutes.
#
# Each task has hints, one step at a time: `lab.hint("parse_value")` prints the first, and again
# the next (the idea, then the pitfall, then a near-solution). The setup cell prints which of this
# lab's Spark-version branches apply where you run it: filter pushdown and Python worker logs
# came with Spark 4.1.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Where each production concern lives: driver and executors](images/10_production.svg)
#
# A data source runs in many Python processes: the driver plans (options, health probe,
# `pushFilters`, `partitions`) and commits; each executor task reads or writes one partition.
# That shapes every production concern:
#
# - **Logs.** Each task logs in its own Python worker; Spark collects the worker's stderr per
#   executor. Lines from many tasks interleave, so each is **one JSON object** that names its
#   task (`partition_id`, `task_attempt`, from `TaskContext`) and its request (`latency_ms`,
#   `status`), and a secret is replaced by `***` before the line is written. The reference
#   connector does this in `solutions/observability.py`: option `logLevel` sets the level,
#   option `logFile` copies the lines to a file (handy locally: driver and executors on one
#   machine write the same file).
# - **Metrics.** A task's counters live in its worker and die with it. For a write, the
#   **commit message** that `write()` returns is the only way back to the driver: put the counts
#   in it and sum them in `commit(messages)` (which gets `None` for a failed task). A reader has
#   no commit message; it logs its counts when a partition ends.
# - **Validation.** Options arrive as strings. Parse them once, in `DataSource.reader()` /
#   `writer()` on the driver, so a bad value stops the query **before any task starts**, with an
#   error naming the option, the value and what is allowed (`docs/options.md` lists them all).
# - **Health probe.** The first thing a read asks is `GET /health`: a wrong URL, a TLS mismatch
#   or a service that is down becomes one clear error on the driver, not a hundred task failures.
# - **Filter pushdown** (Spark 4.1+, and on DBR 17.3, which has it): Spark offers the query's
#   filters to `pushFilters(filters)`; the reader may use any of them to ask the service for
#   less, and returns those Spark must still check. Spark **does not check a filter the reader
#   keeps**: `explain("formatted")` lists it in the scan's `PushedFilters` and no `Filter` node
#   checks it (a returned filter stays in a `Filter` node). So keep a filter only when every row
#   the reader yields satisfies it: the service applies it exactly, *and* each row is its record
#   converted as it was. That holds in `DROPMALFORMED` and `FAILFAST` mode, not in `PERMISSIVE`:
#   there a malformed record's row has nulls where the service saw values, so a kept
#   `kind IN ('view', 'click')` would let rows whose kind is null through. In PERMISSIVE mode the
#   filters still narrow what the service sends, and all go back to Spark. Spark 4.0 has no
#   `pushFilters`; the same code runs there and simply reads more. Spark refuses a reader with
#   `pushFilters` unless `spark.sql.python.filterPushdown.enabled=true`, and a data source cannot
#   read Spark settings, so the reference also wants option `filterPushdown=true` before it
#   returns such a reader.
#
# The reference's JSON lines, from a real read: `logLevel=DEBUG` adds one line per request.

# %%
import os
import json
import tempfile

log_file = os.path.join(tempfile.mkdtemp(prefix="lab10-"), "connector.jsonl")
events = (
    spark.read.format("practice").option("url", lab.url).option("numPartitions", 2)
    .option("start", "2026-01-01T00:00:00Z").option("end", "2026-01-01T00:00:20Z")
    .option("logLevel", "DEBUG").option("logFile", log_file).load()
)
print(events.count(), "events read")
with open(log_file) as lines:
    entries = [json.loads(line) for line in lines]
for entry in [e for e in entries if "partition_id" in e][:4]:
    print({key: entry.get(key) for key in ("level", "message", "partition_id", "task_attempt", "request", "latency_ms", "rows")})

# %% [markdown]
# ## Your task 1: JSON log lines that name their task
#
# - `task_fields()`: inside a Spark task, `{"partition_id": ..., "task_attempt": ...,
#   "spark_stage": ...}` from `pyspark.TaskContext.get()` (`partitionId()`, `attemptNumber()`,
#   `stageId()`); outside a task (`TaskContext.get()` is `None`, on the driver) `{}`.
# - `JsonFormatter.format(record)`: one JSON object, on one line, with `ts` (the record's time,
#   `record.created`, in UTC, ISO-8601), `level`, `logger`, `message` (`record.getMessage()`),
#   every field the call passed with `extra=` (the record's attributes that a plain `LogRecord`
#   does not have: `self.STANDARD` lists those), and `exception` (`self.formatException(...)`)
#   when `record.exc_info` is set. Redact before encoding: pass the entry through
#   `redact_values()`, which applies `redact()` to every string in it (`redact` replaces every
#   secret the connector registered with `remember_secret`, and `api_key=` query values, by `***`),
#   then `json.dumps` it. `json.dumps` escapes `"`, `\` and control characters, so a secret
#   holding one is no longer itself in the finished line (`redact` also knows a secret's escaped
#   forms, JSON, `repr` and URL, for text encoded before it reached you, such as an exception's).

# %%
import datetime
import json
import logging

from solutions.observability import redact_values


def task_fields():
    """Where a log line comes from inside Spark; {} on the driver."""
    # BEGIN SOLUTION: where this task runs, from TaskContext; {} outside a task
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None:
        return {}
    return {"partition_id": context.partitionId(), "task_attempt": context.attemptNumber(), "spark_stage": context.stageId()}
    # END SOLUTION


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC), level, logger, message, the extra fields, redacted."""

    # Attributes every LogRecord has; any other attribute came from `extra=`.
    STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "", 0, "", (), None))) | {"message", "asctime", "taskName"}

    def format(self, record):
        # BEGIN SOLUTION: one JSON object: time, level, logger, message, extras, redacted
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in self.STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact_values(entry))
        # END SOLUTION


# %% [markdown]
# Your formatter on one line, with a secret in it, and inside Spark tasks:

# %%
import sys
from pyspark.sql.functions import spark_partition_id, udf

from solutions.observability import remember_secret

demo = logging.getLogger("lab10.demo")
demo.propagate = False
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonFormatter())
demo.handlers[:] = [handler]
demo.setLevel(logging.INFO)
remember_secret("s3cret-token-of-lab10")
demo.warning("token %s was refused", "s3cret-token-of-lab10", extra={"latency_ms": 41.7, **task_fields()})


@udf("string")
def line_from_a_task(value):
    import io

    stream = io.StringIO()
    task_log = logging.getLogger("lab10.task")
    task_log.handlers[:] = [logging.StreamHandler(stream)]
    task_log.handlers[0].setFormatter(JsonFormatter())
    task_log.propagate = False
    task_log.warning("row %s", value, extra=task_fields())
    return stream.getvalue().strip()


for row in spark.range(0, 3, 1, 3).select(line_from_a_task("id").alias("line")).collect():
    print(row.line)

# %% [markdown]
# ## Where the lines go
#
# A task's Python worker writes its lines to its standard error, and Spark keeps each
# executor's stderr in a file beside the executor. Where you read them depends on where you run:
#
# - **Locally** (`local[2]`, the course's own runs), the Python workers are children of the one
#   Spark process: their stderr is that process's, and option `logFile` copies the connector's
#   lines into one file you can read back (the cells above do).
# - **On Databricks**, the lab cluster is a single-node compute, which "runs Spark locally" with
#   the "driver acting as both master and worker, with no worker nodes" (Databricks' compute
#   configuration reference): the tasks' Python workers run beside the driver, and their lines
#   go to the driver's standard error, as locally. To keep them after the compute stops, give it a log
#   destination (compute log delivery, `cluster_log_conf`: a DBFS path, an S3 location or a
#   Unity Catalog volume): Databricks delivers the logs there every five minutes, the driver's to
#   `<destination>/<cluster-id>/driver` and the executors' to `<destination>/<cluster-id>/executor`
#   (the Clusters API's description of `cluster_log_conf`), and init script logs to
#   `<destination>/<cluster-id>/init_scripts` (Databricks, "Init script logging").
# - **Spark 4.1+ collects Python workers' logs itself** when `spark.sql.pyspark.worker.logging.enabled`
#   is true: every `logging` record (and every `print`) of a Python worker goes to Spark, and the
#   table-valued function `python_worker_logs()` (`spark.tvf.python_worker_logs()`) returns them as
#   a DataFrame: `ts`, `level`, `logger`, `msg`, `context` (the function and class that logged) and
#   `exception`, from every executor, read with SQL instead of from files. The setting must still be
#   on when you read them (Spark refuses the function otherwise, FEATURE_NOT_ENABLED), and it is
#   there from Spark 4.1 (4.0 has no such function); the setup cell printed whether yours has it.
#   Spark keeps the message, not the fields the connector adds with `extra=`: its own JSON lines
#   still carry those.

# %%
from pyspark.sql.functions import col

HAS_WORKER_LOGS = hasattr(getattr(spark, "tvf", None), "python_worker_logs")  # detected, not assumed from a version

if not HAS_WORKER_LOGS:
    print("skipped: this Spark has no python_worker_logs() (Python worker logging came with Spark 4.1); "
          "the connector's lines are in the executors' stderr and in option logFile")
else:
    spark.conf.set("spark.sql.pyspark.worker.logging.enabled", "true")
    try:
        (spark.read.format("practice").option("url", lab.url).option("numPartitions", 2)
         .option("start", "2026-01-01T00:00:00Z").option("end", "2026-01-01T00:00:20Z").load().count())
        (spark.tvf.python_worker_logs().filter(col("logger").startswith("solutions"))
         .select("ts", "level", "logger", "msg", "context").orderBy("ts").show(truncate=60))
    finally:
        spark.conf.set("spark.sql.pyspark.worker.logging.enabled", "false")

# %% [markdown]
# ## Your task 2: metrics in commit messages, summed on the driver
#
# - `metered_message(partition_id, rows, client)` (executors, at the end of `write`): the task's
#   `PracticeCommitMessage` with `rows`, and from `client.metrics()` the `requests`, `retries`,
#   `seconds` and `bytes` (the client's `bytes_sent`). Counting is not enough: only what is in
#   the message reaches the driver.
# - `sum_task_metrics(messages)` (driver, in `commit`/`abort`): a dict with `tasks` (messages
#   that are not `None`) and the sums of `rows`, `bytes`, `requests`, `retries` and `seconds`
#   (round seconds to milliseconds). Spark passes `None` for each failed task.
#
# The writer that uses them is given: `MeteredWriter` (`workshop/metered_writer.py`) is the
# reference row writer whose `write` posts the rows and returns `task_message(partition_id, rows,
# client)`, and whose `commit` logs `sum_messages(messages)` as one JSON line with
# `"event": "write committed"`. Below, `Lab10Writer` plugs your two functions in as those two
# class attributes, the way every piece of the connector plugs in.

# %%
from solutions.writer import PracticeCommitMessage


def metered_message(partition_id, rows, client):
    """The commit message of one write task: its rows and its client's counts."""
    # BEGIN SOLUTION: the task's commit message, with its rows and the client's counts
    counts = client.metrics()
    return PracticeCommitMessage(
        partition_id=partition_id, rows=rows, bytes=counts["bytes_sent"], requests=counts["requests"],
        retries=counts["retries"], seconds=counts["seconds"],
    )
    # END SOLUTION


def sum_task_metrics(messages):
    """{"tasks", "rows", "bytes", "requests", "retries", "seconds"} over the messages; None skipped."""
    # BEGIN SOLUTION: the totals over the messages that are not None
    totals = {"tasks": 0, "rows": 0, "bytes": 0, "requests": 0, "retries": 0, "seconds": 0.0}
    for message in messages:
        if message is None:
            continue
        totals["tasks"] += 1
        for name in ("rows", "bytes", "requests", "retries", "seconds"):
            totals[name] += getattr(message, name) or 0
    totals["seconds"] = round(totals["seconds"], 3)
    return totals
    # END SOLUTION


# %% [markdown]
# ## Your task 3: refuse bad options, clearly
#
# `parse_value(option, text)` turns one option's string into its type. `option` is an entry of
# the reference's table (`solutions.options.OPTIONS`): `option.name`, `option.kind`,
# `option.allowed` (for a choice), `option.minimum` (for an int). Handle:
#
# - `boolean`: `true` or `false` in any case and with spaces around (never `bool(text)`:
#   `bool("false")` is `True`);
# - `int`: a whole number, at least `option.minimum` when there is one;
# - `choice`: one of `option.allowed`, any case; return the allowed spelling;
# - anything else (`string`, `duration`, `timestamp`): `PARSERS[option.kind](option, text)`.
#
# A bad value raises `OptionError` (a `ValueError`) saying `option <name>=<value> is not valid:
# expected <what is allowed>`, e.g. `expected true or false`, `expected a whole number of at least
# 1`, `expected one of events, entities, kv`.

# %%
from solutions.options import PARSERS, OptionError


def parse_value(option, text):
    """The typed value of `text` for `option`, or OptionError naming the option, value and what is allowed."""
    # BEGIN SOLUTION: the typed value of text for this option, or an OptionError
    def bad(allowed):
        return OptionError(f"option {option.name}={text!r} is not valid: expected {allowed}")

    if option.kind == "boolean":
        word = text.strip().lower()
        if word in ("true", "false"):
            return word == "true"
        raise bad("true or false")
    if option.kind == "int":
        try:
            value = int(text.strip())
        except ValueError:
            raise bad("a whole number") from None
        if option.minimum is not None and value < option.minimum:
            raise bad(f"a whole number of at least {option.minimum}")
        return value
    if option.kind == "choice":
        for allowed in option.allowed:
            if text.strip().lower() == allowed.lower():
                return allowed
        raise bad("one of " + ", ".join(option.allowed))
    return PARSERS[option.kind](option, text)
    # END SOLUTION


# %% [markdown]
# ## Your task 4: push down only what the service applies exactly
#
# `Lab10PushdownReader.pushFilters(filters)` (driver, Spark 4.1+) gets Spark's filters
# (`EqualTo`, `In`, `GreaterThan`, `StringStartsWith`, `Not`, ... from `pyspark.sql.datasource`;
# each has `attribute`, a tuple with the column path, and most a `value`). For `EqualTo` and
# `In` on `device_id` and `kind` where `service_matches_exactly(column, value)` holds for every
# value, narrow the read: `self.device_ids` / `self.kinds` (None means "any"; a second filter on
# the same column intersects the sets), and keep the filter, unless `self.options["mode"]` is
# `PERMISSIVE`: then return it too, for Spark to check the rows again. Return every other
# filter: Spark applies those. The reference (`PracticePushdownReader` in `solutions/reader.py`)
# also pushes `event_time` and `id` ranges.

# %%
from solutions.reader import PracticeBatchReader


def service_matches_exactly(column, value):
    """True when the service's device_id/kind parameter means exactly `column = value`.

    The service splits the parameter at commas and strips spaces: kind = 'view,click' sent
    as kind=view,click would return views and clicks, so such a value stays with Spark.
    """
    if column == "device_id":
        return type(value) is int
    return type(value) is str and value != "" and value == value.strip() and "," not in value


class Lab10PushdownReader(PracticeBatchReader):
    """The reference batch reader plus your pushFilters (events: device_id and kind)."""

    def pushFilters(self, filters):
        from pyspark.sql.datasource import EqualTo, In  # Spark 4.1+, like pushFilters itself

        # BEGIN SOLUTION: narrow the read by what the service applies exactly; return what Spark must check
        rows_are_records = self.options["mode"] != "PERMISSIVE"  # PERMISSIVE rows may hold nulls the service never saw
        returned = []
        for condition in filters:
            path = getattr(condition, "attribute", ())
            column = path[0] if len(path) == 1 else None
            if self.resource == "events" and column in ("device_id", "kind") and isinstance(condition, (EqualTo, In)):
                values = set(condition.value) if isinstance(condition, In) else {condition.value}
                if all(service_matches_exactly(column, value) for value in values):
                    if column == "device_id":
                        self.device_ids = values if self.device_ids is None else self.device_ids & values
                    else:
                        self.kinds = values if self.kinds is None else self.kinds & values
                    if rows_are_records:
                        continue
            returned.append(condition)
        return returned
        # END SOLUTION


# %% [markdown]
# ## Your connector on Spark
#
# A data source with your pieces: options through your `parse_value`, the metered writer, and
# your pushdown reader when option `filterPushdown` is true on a Spark that has `pushFilters`.

# %%
from pyspark.sql.datasource import DataSourceReader

from solutions.datasource import PracticeDataSource
from solutions.options import BY_LOWER_NAME, DEFAULT_PARTITIONING, OPTIONS, Options

from workshop.metered_writer import MeteredWriter

HAS_PUSHDOWN = hasattr(DataSourceReader, "pushFilters")  # feature detection, not a version number


class Lab10Writer(MeteredWriter):
    task_message = staticmethod(metered_message)  # yours: each task's commit message
    sum_messages = staticmethod(sum_task_metrics)  # yours: the driver's totals


class Lab10DataSource(PracticeDataSource):
    short_name = "practice_lab10"
    pushdown_reader = Lab10PushdownReader  # yours: the reference's reader() picks it with filterPushdown on 4.1+
    batch_writer = Lab10Writer  # yours

    def parsed_options(self):
        values = {option.name: option.default for option in OPTIONS}
        for key, text in self.options.items():
            option = BY_LOWER_NAME.get(key.lower())
            if option is not None:
                values[option.name] = parse_value(option, text)
        if values["partitioning"] is None:
            values["partitioning"] = DEFAULT_PARTITIONING[values["resource"]]
        return Options(values)


spark.dataSource.register(Lab10DataSource)

# %% [markdown]
# **Metrics.** Write a minute of events in 3 partitions and read the commit's line from the log
# file: the sums of what the three tasks reported.

# %%
import requests

log_file = os.path.join(tempfile.mkdtemp(prefix="lab10-"), "connector.jsonl")
minute = (
    spark.read.format("practice").option("url", lab.url).option("start", "2026-01-01T00:00:00Z")
    .option("end", "2026-01-01T00:01:00Z").option("logLevel", "WARNING").load().repartition(3)
)
(
    minute.write.format("practice_lab10").option("url", lab.url).option("table", "lab10_metered")
    .option("writeProtocol", "idempotent").option("idempotencyKey", f"lab10-{os.getpid()}")
    .option("batchSize", 500).option("logFile", log_file).mode("append").save()
)
with open(log_file) as lines:
    committed = [json.loads(line) for line in lines if '"write committed"' in line]
print({key: committed[-1][key] for key in ("tasks", "rows", "requests", "retries", "bytes", "seconds")})
print(requests.get(f"{lab.url}/v1/tables/lab10_metered", timeout=10).json()["count"], "rows in the table")

# %% [markdown]
# **Validation and the health probe.** Each of these stops on the driver, before any task, with
# one line that says what to fix: your `parse_value` for the options, the reference's probe for
# the URL (a closed port, a URL with a path, a server that is not the practice service).

# %%
from workshop.checks import spark_error_text

attempts = {
    "numPartitions=0": {"numPartitions": "0"},
    "gzip=yes": {"gzip": "yes"},
    "resource=orders": {"resource": "orders"},
    "a closed port": {"url": "http://127.0.0.1:9"},
    "a URL with a path": {"url": lab.url + "/v1/events"},
}
for what, options in attempts.items():
    reader = spark.read.format("practice_lab10").option("url", lab.url)
    for key, value in options.items():
        reader = reader.option(key, value)
    try:
        reader.load().collect()
        print(f"{what:>18}: no error?!")
    except Exception as error:
        print(f"{what:>18}: {spark_error_text(error)[:200]}")

# %% [markdown]
# **Filter pushdown.** With pushdown the service sends only the matching events; the log lines
# of the read tasks count the rows that crossed the network. Where the setup cell says this Spark
# has no filter pushdown (Spark 4.0), this cell says so and skips.

# %%
from pyspark.sql.functions import col


def rows_sent(log_path):
    """Rows the read tasks received from the service, from their 'read partition ... finished' lines."""
    with open(log_path) as lines:
        return sum(json.loads(line).get("rows", 0) for line in lines if "read partition" in line)


def clicks_of_three_devices(pushdown):
    path = os.path.join(tempfile.mkdtemp(prefix="lab10-"), "read.jsonl")
    frame = (
        spark.read.format("practice_lab10").option("url", lab.url).option("start", "2026-01-01T00:00:00Z")
        .option("end", "2026-01-01T00:05:00Z").option("filterPushdown", str(pushdown).lower())
        .option("logFile", path).load()
    )
    matching = frame.filter((col("kind") == "click") & col("device_id").isin(3, 5, 8) & (col("value") > 50)).count()
    return matching, rows_sent(path)


if not HAS_PUSHDOWN:
    print("skipped: this PySpark has no DataSourceReader.pushFilters; filter pushdown needs Spark 4.1+ "
          "(Spark filters every row itself here, which is always correct)")
else:
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        for pushdown in (False, True):
            matching, sent = clicks_of_three_devices(pushdown)
            print(f"filterPushdown={str(pushdown).lower():5}: {matching} matching rows, {sent} rows sent by the service")
    finally:
        spark.conf.set("spark.sql.python.filterPushdown.enabled", "false")

# %% [markdown]
# ## Performance: what travels on the wire
#
# A Python data source pays for every value that passes through Python. Here is where a read's
# time goes, on a ladder of three ways to read the same events, each one step less Python:
#
# | rung | options | what happens per event |
# |---|---|---|
# | rows over JSON | `wireFormat=json` (default), `arrow=false` | the client decodes JSON, the connector converts each value, Spark's Python worker turns the tuples into Arrow |
# | RecordBatches over JSON | `wireFormat=json`, `arrow=true` | the same decoding and converting, then the connector builds one `pyarrow.RecordBatch` per page |
# | RecordBatches over Arrow IPC | `wireFormat=arrow`, `arrow=true` | the service sends each page as an Arrow IPC stream (`Accept: application/vnd.apache.arrow.stream`), and the connector hands its columns to Spark as they are |
#
# The last rung is what real systems offer (ClickHouse's `ArrowStream` format over HTTP, Arrow
# Flight services, BigQuery's and Snowflake's Arrow result sets): no value is decoded, converted
# or rebuilt in Python. Malformed records still follow `mode`: Arrow is typed, so the service
# marks such a record in a `_corrupt_record` column (its text; the fields that fit keep their
# values), and the connector applies `mode` to those rows only (option `wireFormat` in
# `docs/options.md`).
#
# The reference line is `spark.read.json` over the very same events in a local file
# (`service.truth.dump` writes the text the service serves), parsed in Spark's JVM: the speed a
# built-in source reaches on the same data.
#
# The cell below reads ten minutes of events (about 60,000) on each rung into Spark's `noop`
# sink (nothing is collected to the driver), the best of two runs after a warm-up; then it takes
# one page of the same events and times, per event and without Spark, each step a partition
# takes on each rung. The figures depend on the machine and on what else runs on it: compare the
# rungs with each other, not with another machine.

# %%
from workshop.performance import event_profile, plot_ladder, read_ladder

start, end = "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z"
events_schema = spark.read.format("practice").option("url", lab.url).load().schema
profile = event_profile(lab.url, events_schema, start, "2026-01-01T00:01:00Z")  # one page, 5,000 events
ladder = read_ladder(spark, lab.service, start, end, partitions=2)
print(f"bytes per event on the wire: {profile['bytes_per_event']}")
plot_ladder(ladder, profile, f"Lab 10: reading {ladder[0]['rows']:,} events, Spark {spark.version}")

# %% [markdown]
# What it shows:
#
# - **Converting values is the big cost of the JSON rungs**: the converter checks and converts
#   each of 14 fields of every event in Python, which is what makes a malformed record a clear
#   error instead of a wrong value.
# - **`arrow=true` removes Spark's own per-row work** (the purple step of the first rung), not the
#   conversion before it: the second rung is faster, but by less than the profile of the first
#   might suggest, because the connector now builds the batch.
# - **Arrow on the wire removes the rest**: decoding an Arrow IPC page and selecting its columns
#   costs a small fraction of a microsecond per event, and the bytes per event are fewer too. On
#   this rung the read is bound by what is left: the requests, Spark's tasks, and the service.
# - **`spark.read.json` is a fair line to reach**: it parses JSON in the JVM, in parallel, with no
#   Python at all. The JSON rungs stay below it; the Arrow rung can reach it, because it too
#   does no per-value work in Python.
#
# More partitions help only while there are idle cores, and only when each partition carries an
# equal share of the events (lab 03's planner cuts windows by event count for that reason). A
# workspace cluster, a laptop and a shared machine give different figures; the order of the rungs
# is what carries over.

# %% [markdown]
# ## Check
#
# The check formats lines with your formatter (fields, UTC time, one line with a traceback or a
# line break, no secret wherever it hides) and inside Spark tasks (the right partition id); calls
# your metrics functions (with a client that really retried) and writes on Spark with them,
# reading the commit's line back from the log file; calls `parse_value` with good and bad values
# of every kind and reads on Spark with a bad one; and, where the setup cell found filter pushdown,
# calls your `pushFilters` and reads with pushdown on, comparing the rows with ground truth. The
# rules it tests, one by one, are listed at the top of `workshop/checks/lab10.py`.

# %%
from workshop.checks import check_lab

check_lab(
    "10", JsonFormatter=JsonFormatter, task_fields=task_fields, metered_message=metered_message,
    sum_task_metrics=sum_task_metrics, parse_value=parse_value, PushdownReader=Lab10PushdownReader, url=lab.url,
)

# %% [markdown]
# ## Stretch
#
# - Start the service with faults (`lab.service.set_faults(rate=0.2)`), read with `logLevel=DEBUG`
#   and `logFile`, and find the retried requests: which fields tell you the attempt and the wait?
# - Make the reader's end-of-partition line (`solutions/reader.py`, `_end_of_partition`) carry
#   `rows_per_s`. On Spark 4.1+, pass it in `extra={"context": {...}}` too and find it in
#   `python_worker_logs()`.
# - Push `event_time` ranges too: `GreaterThan(("event_time",), t)` means `>= t + 1 µs` for the
#   service's half-open windows (the reference's `_range_bounds`). Check the rows against ground truth.
# - Add a rung: `wireFormat=arrow` with `arrow=false` (Arrow on the wire, rows for Spark). Where
#   does it fall on the ladder, and why?
# - Run the ladder on 1, 2 and 4 partitions (`read_ladder(..., partitions=4)`): which rung gains
#   from more partitions where you run, and which is bound by something else?
#
# ## Recap
#
# - Log JSON, one object per line, with the task (`partition_id`, `task_attempt`) and the request
#   (`latency_ms`); redact secrets in the formatter, where no line can escape it. Read the lines in
#   the executors' stderr (on Databricks: the driver's logs on a single-node compute, and the log
#   destination of the compute), and on Spark 4.1+ with `python_worker_logs()`.
# - Counts travel to the driver only inside commit messages; `commit` sums them (`None` is a
#   failed task) and logs one line per write.
# - Parse options once, on the driver; an error names the option, the value and what is allowed.
# - Probe `/health` before planning: one clear error instead of many failed tasks.
# - `pushFilters` (Spark 4.1+, `spark.sql.python.filterPushdown.enabled=true`) keeps only what the
#   service applies exactly, and only when each row is its record (not in PERMISSIVE mode, where
#   a malformed record's row has nulls): Spark never re-checks a kept filter. Feature-detect it;
#   4.0 reads more.
# - Measure before tuning: the wire format is the biggest lever. Values converted in Python cost
#   microseconds each; Arrow batches handed on as they are cost almost nothing per value.
