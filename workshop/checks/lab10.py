"""Lab 10 check: JSON logs from tasks, metrics in commit messages, option validation, filter pushdown.

The learner's formatter and `task_fields` are called directly and inside Spark tasks; the metrics
functions directly (with a client that really retried) and in a real write on Spark, plugged
into `workshop.metered_writer.MeteredWriter` (the commit's log line is read back from the log
file); the option parser directly and through a Spark read; `pushFilters` directly and, on
Spark 4.1+, on Spark with `spark.sql.python.filterPushdown.enabled=true`.

Rules the lab states, and the requirement that tests each with inputs where breaking it changes
the outcome:

- A log line is one JSON object with `ts` (UTC), `level`, `logger`, `message` (the arguments
  merged in: `record.getMessage()`), every `extra=` field, and `exception` with `exc_info`:
  LOG_FORMAT (a call with arguments, three extra fields, a message holding a line break, one
  with a traceback; a `ts` with another offset fails).
- No secret reaches a line, wherever it is (message, arguments, nested extra fields, an
  `api_key=` query value), whatever characters it holds: NO_SECRETS (a secret with a quote, a
  backslash and a non-ASCII letter, in the arguments and inside a nested extra dict).
- `task_fields()` names the task from TaskContext (partition, attempt, stage) and is `{}` on the
  driver: LOG_IN_TASKS (the driver call, then 8 rows in 4 partitions, each line's partition id
  compared with Spark's own `spark_partition_id()`).
- Only what is in the commit message reaches the driver: rows, requests, retries, seconds and
  bytes sent: TASK_METRICS (a client of a service with 429 faults, so that retries are not 0,
  and a body sent, so that bytes are not 0).
- The driver sums every message that is not None (a failed task), seconds rounded to
  milliseconds: DRIVER_SUM ([message, None, message] with seconds 0.1 and 0.2, whose float sum
  is 0.30000000000000004; all None; none at all).
- On Spark the commit's one line carries the sums of every task: METRICS_ON_SPARK (300 rows in
  3 tasks, batches of 40, read back from option logFile).
- Options are strings: `true`/`false` in any case and with spaces, never `bool(text)`; whole
  numbers at least the minimum; a choice in any case returns the allowed spelling; the other
  kinds go to PARSERS; a bad value is refused naming the option, the value and what is allowed:
  VALIDATION (good and bad values of every kind, `"false"`, `" TRUE "`, `"1"`, `"3.0"`, `"0"`,
  `"-5"`, `"Entities"`, `"250ms"`, a timestamp).
- A bad option stops the query on the driver before any task: VALIDATION_ON_SPARK (a good read
  equals ground truth; a bad one fails naming the option and the service saw no page request).
- pushFilters keeps only EqualTo/In on device_id/kind whose every value the service matches
  exactly, narrows the read by them (a second filter on a column narrows further), returns every
  other filter, and in PERMISSIVE mode returns them all after narrowing: PUSH_SPLIT (the kept and
  returned lists and the rows read, in DROPMALFORMED and PERMISSIVE mode; values the service
  would misread, `kind = 'view,click'`, a device id that is a string; `Not`; two filters on
  `kind` in the order where replacing instead of intersecting reads too much).
- Spark does not check a kept filter again: PUSH_ON_SPARK (a query whose unpushable part drops
  half the rows the service filter leaves, so a kept but unapplied filter shows as extra rows).
- Version branch: filter pushdown needs PySpark 4.1+ (PUSH_SPLIT and PUSH_ON_SPARK are skipped,
  saying so, on 4.0).

The notebook's performance ladder and Python worker logs are demonstrations, not checked.
"""
import dataclasses
import datetime
import io
import json
import logging
import os
import sys
import tempfile

from workshop.checks import new_name, practice_service, spark_error_text

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-01T00:02:00Z")  # a small part of the events
PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"

LOG_FORMAT = "the formatter writes one JSON object per line: ts (UTC), level, logger, message and the extra fields"
NO_SECRETS = "no secret reaches a log line"
LOG_IN_TASKS = "on Spark, each task's log line carries its partition id, attempt and stage"
TASK_METRICS = "a write task returns its counts in its commit message"
DRIVER_SUM = "the driver sums the tasks' metrics, skipping None (failed tasks)"
METRICS_ON_SPARK = "on Spark, the commit logs the summed metrics of every task"
VALIDATION = "bad option values are refused naming the option, the value and what is allowed"
VALIDATION_ON_SPARK = "on Spark, a bad option stops the read before any task, with your message"
PUSH_SPLIT = "pushFilters keeps only what the service applies exactly, never in PERMISSIVE mode, and returns the rest"
PUSH_ON_SPARK = "on Spark, a read with pushed filters returns exactly the matching rows"

HINTS = {
    "task_fields": [
        "Spark tells Python code which task it runs in through pyspark.TaskContext.get().",
        "On the driver there is no task: TaskContext.get() is None there, and the function must return {} then.",
        "context = TaskContext.get(); return {} if context is None, else partition_id=context.partitionId(), "
        "task_attempt=context.attemptNumber(), spark_stage=context.stageId().",
    ],
    "JsonFormatter.format": [
        "Build a dict for the record, then turn it into one line of JSON.",
        "record.msg is the template ('read %d rows'): record.getMessage() merges the arguments in. The fields a call "
        "passed with extra= are attributes of the record that a plain LogRecord does not have (self.STANDARD). "
        "Redact before json.dumps.",
        "entry = {ts: fromtimestamp(record.created, timezone.utc).isoformat(), level, logger, message}; add "
        "vars(record) minus self.STANDARD; add exception=self.formatException(record.exc_info) when set; "
        "return json.dumps(redact_values(entry)).",
    ],
    "metered_message": [
        "The commit message is the only thing a task sends back to the driver: put the counts in it.",
        "client.metrics() has requests, retries, seconds and bytes_sent; the message's field is called bytes.",
        "counts = client.metrics(); return PracticeCommitMessage(partition_id=partition_id, rows=rows, "
        "bytes=counts['bytes_sent'], requests=counts['requests'], retries=counts['retries'], seconds=counts['seconds']).",
    ],
    "sum_task_metrics": [
        "Add up each field over the messages, and count the messages as tasks.",
        "Spark passes None for a task that failed: skip it, or the sum fails. Round the seconds to milliseconds.",
        "totals = dict(tasks=0, rows=0, bytes=0, requests=0, retries=0, seconds=0.0); for each message that is not "
        "None add 1 to tasks and each field; round(totals['seconds'], 3).",
    ],
    "parse_value": [
        "Every option arrives as a string; turn it into the option's kind, or refuse it saying what is allowed.",
        "bool('false') is True: compare the words. int(' 3 ') works, int('3.0') does not. A choice matches in any "
        "case but returns the spelling in option.allowed.",
        "boolean: text.strip().lower() in ('true', 'false'); int: int(text) and at least option.minimum; choice: the "
        "allowed value whose lower() equals text.strip().lower(); else PARSERS[option.kind](option, text). Raise "
        "OptionError(f'option {option.name}={text!r} is not valid: expected ...').",
    ],
    "Lab10PushdownReader.pushFilters": [
        "A filter you keep is never checked by Spark again: keep one only when every row you yield satisfies it.",
        "Only EqualTo and In on device_id or kind, and only when service_matches_exactly holds for every value; a "
        "second filter on the same column narrows further (intersect). In PERMISSIVE mode narrow, but return them all.",
        "For each filter: column = condition.attribute[0]; values = set(condition.value) for In, {condition.value} for "
        "EqualTo; if exact, intersect self.kinds or self.device_ids with values and keep it unless "
        "self.options['mode'] == 'PERMISSIVE'; append everything else to the list you return.",
    ],
}


@dataclasses.dataclass
class Lab10:
    """What the requirements need: the learner's pieces, the service and Spark."""

    JsonFormatter: type
    task_fields: object
    metered_message: object
    sum_task_metrics: object
    parse_value: object
    PushdownReader: type
    url: str
    service: object
    spark: object
    schema: object = None  # the events' Spark schema, for the pushdown readers


def check(report, JsonFormatter, task_fields, metered_message, sum_task_metrics, parse_value, PushdownReader, url,
          service=None):
    from pyspark.sql.datasource import DataSourceReader

    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)
    lab = Lab10(JsonFormatter, task_fields, metered_message, sum_task_metrics, parse_value, PushdownReader, url,
                practice_service(url, service), spark)
    report.require(LOG_FORMAT, log_format, lab)
    report.require(NO_SECRETS, no_secrets, lab)
    report.require(LOG_IN_TASKS, log_in_tasks, lab)
    report.require(TASK_METRICS, task_metrics, lab)
    report.require(DRIVER_SUM, driver_sum, lab)
    report.require(METRICS_ON_SPARK, metrics_on_spark, lab)
    report.require(VALIDATION, validation, lab)
    report.require(VALIDATION_ON_SPARK, validation_on_spark, lab)
    if hasattr(DataSourceReader, "pushFilters"):
        report.require(PUSH_SPLIT, push_split, lab)
        report.require(PUSH_ON_SPARK, push_on_spark, lab)
    else:
        why = "this PySpark has no DataSourceReader.pushFilters (filter pushdown needs Spark 4.1+)"
        report.skip(PUSH_SPLIT, why)
        report.skip(PUSH_ON_SPARK, why)


# -- helpers ------------------------------------------------------------------------------------


def format_one(formatter, level, message, *args, extra=None, exc_info=None, name="lab10.check"):
    """What `formatter` makes of one log call (a fresh logger, so nothing else sees it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.log(level, message, *args, extra=extra, exc_info=exc_info)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def parse_line(text):
    """The one JSON object of a formatted line, or a plain-words complaint (AssertionError)."""
    lines = text.rstrip("\n").split("\n")
    if len(lines) != 1:
        raise AssertionError(f"one log call made {len(lines)} lines ({text[:120]!r}...): a log line must be one JSON object, "
                             "with line breaks (a traceback, a message holding one) escaped inside it: use json.dumps")
    try:
        entry = json.loads(lines[0])
    except ValueError:
        raise AssertionError(f"the log line {lines[0][:160]!r} is not JSON: use json.dumps") from None
    if not isinstance(entry, dict):
        raise AssertionError(f"the log line {lines[0][:160]!r} is JSON but not an object")
    return entry


def options_with(parse_value, raw):
    """Parsed options like solutions.options.parse_options, but every value through `parse_value`."""
    from solutions.options import BY_LOWER_NAME, DEFAULT_PARTITIONING, OPTIONS, Options

    values = {option.name: option.default for option in OPTIONS}
    for key, text in raw.items():
        option = BY_LOWER_NAME.get(key.lower())
        if option is not None:
            values[option.name] = parse_value(option, str(text))
    if values["partitioning"] is None:
        values["partitioning"] = DEFAULT_PARTITIONING[values["resource"]]
    return Options(values)


def events_schema(lab):
    if lab.schema is None:
        lab.schema = lab.spark.read.format("practice").option("url", lab.url).load().schema
    return lab.schema


# -- logs ---------------------------------------------------------------------------------------


def log_format(lab):
    text = format_one(lab.JsonFormatter(), logging.INFO, "read %d rows", 5,
                      extra={"partition_id": 2, "task_attempt": 1, "latency_ms": 12.5})
    entry = parse_line(text)
    expected = {"level": "INFO", "logger": "lab10.check", "message": "read 5 rows", "partition_id": 2,
                "task_attempt": 1, "latency_ms": 12.5}
    for key, value in expected.items():
        if key not in entry:
            return f"the line {entry} has no {key!r}" + ("" if key in ("level", "logger", "message") else
                                                         ": copy every field the call passed with extra= into the object")
        if entry[key] != value:
            return f"logger.info('read %d rows', 5) gave {key}={entry[key]!r}, expected {value!r}" + (
                " (record.msg is the template; record.getMessage() puts the arguments in)" if key == "message" else "")
    from solutions.observability import _STANDARD_FIELDS  # what every LogRecord has, never an extra= field

    standard = sorted(set(entry) & (_STANDARD_FIELDS - {"message"}))
    if standard:
        return (f"the line carries the LogRecord attribute(s) {', '.join(standard)}, which every record has: copy only "
                "the attributes the call passed with extra= (those not in self.STANDARD)")
    if "ts" not in entry:
        return f"the line {entry} has no 'ts' (the time of the record, record.created)"
    try:
        when = datetime.datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))
    except ValueError:
        return f"ts={entry['ts']!r} is not an ISO-8601 time"
    if when.utcoffset() != datetime.timedelta(0):
        return (f"ts={entry['ts']!r} is not in UTC: lines from executors in several zones must compare "
                "(datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc))")
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300:
        return f"ts={entry['ts']!r} is not the time of the record: use record.created"
    broken = parse_line(format_one(lab.JsonFormatter(), logging.WARNING, "first line\nsecond line"))
    if broken.get("message") != "first line\nsecond line":
        return f"a message with a line break came back as {broken.get('message')!r}"
    try:
        raise ValueError("the check's own error")
    except ValueError:
        failed = format_one(lab.JsonFormatter(), logging.ERROR, "it failed", exc_info=sys.exc_info())
    entry = parse_line(failed)  # one line also with a traceback
    if "the check's own error" not in str(entry.get("exception", "")):
        return ("a line logged with exc_info has no 'exception' field with the traceback: add "
                "entry['exception'] = self.formatException(record.exc_info)")


def no_secrets(lab):
    from solutions.observability import remember_secret

    secret = new_name('lab10-s3cr"et\\é')  # a quote, a backslash and a non-ASCII letter: JSON escapes them
    remember_secret(secret)
    text = format_one(lab.JsonFormatter(), logging.WARNING, "token %s refused by %s", secret,
                      "http://127.0.0.1:1/v1/events?api_key=plain-key-123",
                      extra={"request": {"headers": {"Authorization": f"Bearer {secret}"}}})
    entry = parse_line(text)
    for key, value in entry.items():
        for leaked, what in ((secret, "a registered secret"), ("plain-key-123", "an api_key= query value")):
            if any(leaked in text for text in strings_in(value)):
                return (f"{what} appears in the line's {key!r} field: pass the whole entry through redact_values() "
                        "(nested dicts too) before json.dumps")


def strings_in(value):
    """Every string in a parsed JSON value, keys of objects too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def log_in_tasks(lab):
    outside = lab.task_fields()
    if not isinstance(outside, dict) or outside:
        return f"task_fields() on the driver returned {outside!r}: outside a task (TaskContext.get() is None) return {{}}"
    from pyspark.sql.functions import spark_partition_id, udf

    formatter, fields = lab.JsonFormatter, lab.task_fields

    @udf("string")
    def log_line(value):
        return format_one(formatter(), logging.INFO, "row %s", value, extra=fields(), name="lab10.task")

    rows = lab.spark.range(0, 8, 1, 4).select(spark_partition_id().alias("pid"), log_line("id").alias("line")).collect()
    for row in rows:
        entry = parse_line(row.line)
        if entry.get("partition_id") != row.pid:
            return (f"a line logged in partition {row.pid} says partition_id={entry.get('partition_id')!r}: take it "
                    "from TaskContext.get().partitionId()")
        for field, method in (("task_attempt", "attemptNumber"), ("spark_stage", "stageId")):
            if not isinstance(entry.get(field), int) or isinstance(entry.get(field), bool):
                return f"a line logged in a task has {field}={entry.get(field)!r}: use TaskContext.get().{method}()"


# -- metrics ------------------------------------------------------------------------------------


def task_metrics(lab):
    from pyspark.sql.datasource import WriterCommitMessage

    from solutions.client import PracticeClient
    from solutions.options import parse_options
    from workshop.service import PracticeService

    # A service of its own whose answers are often 429 (with no wait): the client retries.
    with PracticeService(seed=5, events=10, entities=10, ring_rows=10, fault_rate=0.5, fault_kinds=["429"],
                         retry_after=0) as faulty:
        options = parse_options({"url": faulty.url, "logLevel": "ERROR", "retryDelay": "1ms", "maxRetryDelay": "5ms"})
        with PracticeClient(options) as client:
            client.put(f"/v1/tables/{new_name('lab10')}", {"fields": [{"name": "id", "type": "bigint"}]})
            while client.metrics()["retries"] < 2:
                client.get("/v1/events/stats")
            message = lab.metered_message(3, 42, client)
            counts = client.metrics()
    if not isinstance(message, WriterCommitMessage):
        return f"metered_message returned {message!r}, not a WriterCommitMessage: Spark fails the task otherwise"
    expected = {"partition_id": 3, "rows": 42, "requests": counts["requests"], "retries": counts["retries"],
                "bytes": counts["bytes_sent"]}
    for name, value in expected.items():
        got = getattr(message, name, None)
        if got != value:
            return (f"after {counts['requests']} requests with {counts['retries']} retries, sending "
                    f"{counts['bytes_sent']} bytes, the message has {name}={got!r}, not {value}"
                    + (" (the client counts bytes_sent)" if name == "bytes" else "")
                    + ": the task counted it, but only what is in the commit message reaches the driver")
    seconds = getattr(message, "seconds", None)
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= counts["seconds"]:
        return f"the message has seconds={seconds!r}, the client's count was {counts['seconds']}: put the client's seconds in it"


def driver_sum(lab):
    from solutions.writer import PracticeCommitMessage

    messages = [
        PracticeCommitMessage(0, rows=10, bytes=100, requests=2, retries=1, seconds=0.1114),
        None,
        PracticeCommitMessage(2, rows=5, bytes=50, requests=1, seconds=0.2),
    ]
    try:
        totals = lab.sum_task_metrics(messages)
    except (TypeError, AttributeError) as error:
        return f"sum_task_metrics failed on [message, None, message] ({error}): Spark passes None for a failed task; skip it"
    expected = {"tasks": 2, "rows": 15, "bytes": 150, "requests": 3, "retries": 1, "seconds": 0.311}
    for name, value in expected.items():
        got = totals.get(name) if isinstance(totals, dict) else totals
        if got != value:
            why = (": round the sum to milliseconds, round(seconds, 3)"
                   if name == "seconds" and isinstance(got, float) and abs(got - value) < 0.01 else "")
            return f"for two tasks (10 and 5 rows, 0.1114 and 0.2 s) and a failed one (None), {name} is {got!r}, not {value}{why}"
    for case in ([None, None], []):
        totals = lab.sum_task_metrics(case)
        zeros = {"tasks": 0, "rows": 0, "bytes": 0, "requests": 0, "retries": 0, "seconds": 0}
        if not isinstance(totals, dict) or any(totals.get(name) != value for name, value in zeros.items()):
            return f"sum_task_metrics({case}) gave {totals!r}: with no task that reported, every total is 0"


def metrics_on_spark(lab):
    from pyspark.sql.functions import col

    from solutions.datasource import PracticeDataSource
    from workshop.metered_writer import MeteredWriter

    learner_message, learner_sum = lab.metered_message, lab.sum_task_metrics

    class CheckWriter(MeteredWriter):
        task_message = staticmethod(learner_message)
        sum_messages = staticmethod(learner_sum)

    class MeteredSink(PracticeDataSource):
        short_name = "lab10_metrics_check"
        batch_writer = CheckWriter

    lab.spark.dataSource.register(MeteredSink)
    table = new_name("lab10")
    log_file = os.path.join(tempfile.mkdtemp(prefix="lab10-"), "connector.jsonl")
    frame = lab.spark.range(0, 300, 1, 3).select(col("id"), (col("id") % 7).cast("string").alias("name"))
    try:
        (frame.write.format("lab10_metrics_check").option("url", lab.url).option("table", table)
         .option("writeProtocol", "idempotent").option("idempotencyKey", table).option("batchSize", 40)
         .option("logFile", log_file).option("logLevel", "INFO").mode("append").save())
    except Exception as error:
        return f"the write failed: {spark_error_text(error)}"
    written = len(lab.service.truth.table(table))
    if written != 300:
        return f"the write put {written} rows in the table, not 300"
    committed = []
    if os.path.exists(log_file):
        with open(log_file, encoding="utf-8") as lines:
            committed = [entry for entry in map(json.loads, lines)
                         if entry.get("event") == "write committed" and entry.get("table") == table]
    if not committed:
        return "no 'write committed' line in the log file: did sum_task_metrics return a dict?"
    entry = committed[-1]
    if entry.get("tasks") != 3 or entry.get("rows") != 300:
        return f"the commit logged tasks={entry.get('tasks')!r}, rows={entry.get('rows')!r} for 3 tasks writing 300 rows"
    if not entry.get("requests") or entry["requests"] < 9 or not entry.get("bytes"):
        return (f"the commit logged requests={entry.get('requests')!r}, bytes={entry.get('bytes')!r} for 3 tasks that "
                "posted 100 rows each in batches of 40 (at least 9 requests): the tasks' counts must travel in their "
                "commit messages")


# -- validation -----------------------------------------------------------------------------------

# (option, text, expected value) and (option, text, words the error must contain)
GOOD_VALUES = [
    ("gzip", "false", False), ("gzip", "TRUE", True), ("verifyTls", " True ", True), ("numPartitions", "8", 8),
    ("numPartitions", " 3 ", 3), ("maxRetries", "0", 0), ("resource", "Entities", "entities"),
    ("mode", "dropMalformed", "DROPMALFORMED"), ("readTimeout", "250ms", 0.25), ("table", "anything goes", "anything goes"),
    ("start", "2026-01-01T00:00:00Z", datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)),
]
BAD_VALUES = [
    ("gzip", "yes", ("gzip", "yes", "true or false")),
    ("verifyTls", "1", ("verifyTls", "1", "true or false")),
    ("numPartitions", "0", ("numPartitions", "0", "at least 1")),
    ("batchSize", "-5", ("batchSize", "-5", "at least 1")),
    ("numPartitions", "four", ("numPartitions", "four", "whole number")),
    ("pageSize", "3.0", ("pageSize", "3.0", "whole number")),
    ("resource", "orders", ("resource", "orders", "one of events, entities, kv")),
    ("mode", "lenient", ("mode", "lenient", "PERMISSIVE", "DROPMALFORMED", "FAILFAST")),
]


def validation(lab):
    from solutions.options import BY_LOWER_NAME

    for name, text, want in GOOD_VALUES:
        got = lab.parse_value(BY_LOWER_NAME[name.lower()], text)
        if got != want or type(got) is not type(want):
            return f"{name}={text!r} gave {got!r}, expected {want!r}" + (
                " (bool('false') is True: compare the words)" if isinstance(want, bool) else
                " (the other kinds go to PARSERS[option.kind])" if name in ("readTimeout", "start") else "")
    for name, text, words in BAD_VALUES:
        option = BY_LOWER_NAME[name.lower()]
        try:
            got = lab.parse_value(option, text)
        except ValueError as error:
            missing = [word for word in words if word not in str(error)]
            if missing:
                return f"the error for {name}={text!r} says {str(error)!r}; it should name {', '.join(map(repr, missing))}"
            continue
        return f"{name}={text!r} was accepted as {got!r}: refuse it with a ValueError naming the option and what is allowed"
    from solutions.options import Option

    unbounded = Option("lab10Offset", "int", 0, "an int option without a minimum (the check's own)")
    try:
        got = lab.parse_value(unbounded, "-3")
    except Exception as error:
        return (f"an int option without a minimum refused -3 ({type(error).__name__}: {error}): apply "
                "option.minimum only when there is one (it is None otherwise)")
    if got != -3:
        return f"an int option without a minimum gave {got!r} for '-3', expected -3"


def validation_on_spark(lab):
    from solutions.datasource import PracticeDataSource

    parse = lab.parse_value

    class ValidatedSource(PracticeDataSource):
        short_name = "lab10_options_check"

        def parsed_options(self):
            return options_with(parse, self.options)

    lab.spark.dataSource.register(ValidatedSource)

    def read(**options):
        reader = lab.spark.read.format("lab10_options_check").option("url", lab.url).option("logLevel", "WARNING")
        for key, value in {"start": WINDOW[0], "end": "2026-01-01T00:00:10Z", **options}.items():
            reader = reader.option(key, value)
        return reader.load()

    try:
        got = read(numPartitions="2", gzip="false").count()
    except Exception as error:
        return f"a read with good options failed: {spark_error_text(error)}"
    want = lab.service.truth.count("events", start=WINDOW[0], end="2026-01-01T00:00:10Z")
    if got != want:
        return f"a read with good options (numPartitions=2, gzip=false) returned {got} rows, not {want}"
    pages_before = lab.service.request_counts()[("GET", "/v1/events")]
    try:
        read(numPartitions="0").collect()
    except Exception as error:
        text = str(error)
        if "numPartitions" not in text or "0" not in text:
            return f"the read with numPartitions=0 failed, but the error does not name the option and value: {spark_error_text(error)}"
    else:
        return "a read with numPartitions=0 ran: refuse the value when the options are parsed, on the driver"
    if lab.service.request_counts()[("GET", "/v1/events")] != pages_before:
        return "the read with numPartitions=0 asked the service for pages before it failed: refuse it on the driver"


# -- filter pushdown -----------------------------------------------------------------------------

KINDS, DEVICES = ("click",), (3, 5, 8)


def expected_records(lab, kinds=KINDS, value_over=None):
    records = lab.service.truth.records("events", start=WINDOW[0], end=WINDOW[1], kind=",".join(kinds),
                                        device_id=",".join(map(str, DEVICES)))
    return [r for r in records if value_over is None or (r["value"] is not None and r["value"] > value_over)]


def pushdown_reader(lab, mode):
    from solutions.options import parse_options

    options = parse_options({"url": lab.url, "start": WINDOW[0], "end": WINDOW[1], "filterPushdown": "true",
                             "mode": mode, "numPartitions": "1", "logLevel": "WARNING"})
    return lab.PushdownReader(options, events_schema(lab))


def seqs_read(lab, reader):
    seq = events_schema(lab).names.index("seq")
    return sorted(row[seq] for partition in reader.partitions() for row in reader.read(partition))


def push_split(lab):
    from pyspark.sql.datasource import EqualTo, GreaterThan, In, Not, StringStartsWith

    want = sorted(record["seq"] for record in expected_records(lab))
    reader = pushdown_reader(lab, "DROPMALFORMED")
    service_filters = [EqualTo(("kind",), "click"), In(("device_id",), DEVICES)]
    why = {
        GreaterThan(("value",), 50.0): "the service cannot filter on value",
        EqualTo(("event_id",), "e-1"): "the service filters only device_id and kind",
        StringStartsWith(("kind",), "cl"): "the service matches kinds exactly, not by prefix",
        EqualTo(("kind",), "view,click"): "the service would split kind='view,click' at the comma and return views and clicks",
        Not(EqualTo(("device_id",), 4)): "the service cannot exclude values",
        In(("device_id",), (3, "5")): "a device id given as the string '5' is not what the service's device_id means",
    }
    spark_filters = list(why)
    returned = list(reader.pushFilters(service_filters + spark_filters) or [])
    for condition in spark_filters:
        if condition not in returned:
            return (f"pushFilters kept {condition!r}, but {why[condition]}: return it, so Spark applies "
                    "it (Spark does not check the rows against a filter you keep)")
    for condition in service_filters:
        if condition in returned:
            return f"pushFilters returned {condition!r} in mode DROPMALFORMED, which the service applies exactly: keep it"
    got = seqs_read(lab, reader)
    if got != want:
        return (f"after pushFilters kept kind = 'click' and device_id IN {DEVICES}, the reader read {len(got)} rows, "
                f"not the {len(want)} matching ones: narrow what the reader asks the service for (self.kinds, "
                "self.device_ids), and only by the filters you keep")
    twice = pushdown_reader(lab, "DROPMALFORMED")
    on_kind = [EqualTo(("kind",), "click"), In(("kind",), ("click", "view"))]
    returned = list(twice.pushFilters(on_kind + [In(("device_id",), DEVICES)]) or [])
    got = seqs_read(lab, twice)
    if any(condition not in returned for condition in on_kind) and got != want:
        return (f"after kind = 'click' then kind IN ('click', 'view') (both kept), the reader read {len(got)} rows, not "
                f"the {len(want)} clicks: a second filter on a column narrows the read further (intersect the sets), "
                "it does not replace the first")
    one_device = pushdown_reader(lab, "DROPMALFORMED")
    on_device = [In(("device_id",), DEVICES), EqualTo(("device_id",), DEVICES[0])]
    returned = list(one_device.pushFilters([EqualTo(("kind",), "click")] + on_device) or [])
    got = seqs_read(lab, one_device)
    only = sorted(record["seq"] for record in expected_records(lab) if record["device_id"] == DEVICES[0])
    if any(condition not in returned for condition in on_device) and got != only:
        return (f"after device_id IN {DEVICES} then device_id = {DEVICES[0]} (both kept), the reader read {len(got)} "
                f"rows, not the {len(only)} clicks of device {DEVICES[0]}: a second filter on a column narrows the read "
                "further (intersect the sets), it does not add to the first")
    permissive = pushdown_reader(lab, "PERMISSIVE")
    service_filters = [EqualTo(("kind",), "click"), In(("device_id",), DEVICES)]
    returned = list(permissive.pushFilters(service_filters) or [])
    kept = [condition for condition in service_filters if condition not in returned]
    if kept:
        return (f"in mode PERMISSIVE pushFilters kept {kept[0]!r}, but there a malformed record's row has nulls where "
                "the service saw values (a kept kind = 'click' lets rows whose kind is null through, and Spark does "
                "not check a kept filter): return every filter in PERMISSIVE mode, after narrowing the read")
    got = seqs_read(lab, permissive)
    if got != want:
        return (f"in mode PERMISSIVE the reader read {len(got)} rows, not the {len(want)} matching ones: narrow the "
                "read there too (self.kinds, self.device_ids), and return the filters")


def push_on_spark(lab):
    from pyspark.sql.functions import col

    from solutions.datasource import PracticeDataSource
    from workshop.truth import checksum, to_json_record

    # A threshold that drops about half of the rows the service filter leaves, so a kept but
    # unapplied `value > ...` filter shows.
    values = sorted(r["value"] for r in expected_records(lab) if r["value"] is not None)
    threshold = float(values[len(values) // 2]) if values else 50.0
    reader_class = lab.PushdownReader

    class PushdownSource(PracticeDataSource):
        short_name = "lab10_pushdown_check"
        pushdown_reader = reader_class

    lab.spark.dataSource.register(PushdownSource)
    before = lab.spark.conf.get(PUSHDOWN_CONF, "false")
    lab.spark.conf.set(PUSHDOWN_CONF, "true")
    try:
        frame = (lab.spark.read.format("lab10_pushdown_check").option("url", lab.url).option("start", WINDOW[0])
                 .option("end", WINDOW[1]).option("filterPushdown", "true").option("logLevel", "WARNING").load())
        rows = (frame.filter(col("kind") == "click").filter(col("device_id").isin(*DEVICES))
                .filter(col("value") > threshold).collect())
    except Exception as error:
        return f"the read failed: {spark_error_text(error)}"
    finally:
        lab.spark.conf.set(PUSHDOWN_CONF, before)
    want = expected_records(lab, value_over=threshold)
    got = [to_json_record(row) for row in rows]
    if len(got) != len(want) or checksum(got) != checksum(want):
        extra = len(got) - len(want)
        how = (f"{extra} rows too many: a filter pushFilters kept was not applied, and Spark does not apply it again"
               if extra > 0 else "rows are missing")
        return f"kind = 'click' AND device_id IN {DEVICES} AND value > {threshold} returned {len(got)} rows, not {len(want)}: {how}"
