"""Lab 10 check: JSON logs from tasks, metrics in commit messages, option validation, filter pushdown.

The learner's formatter and `task_fields` are called directly and inside Spark tasks; the
metrics functions directly and in a real write on Spark (the commit's log line is read back
from the log file); the option parser directly and through a Spark read; `pushFilters`
directly and on Spark 4.1+ with `spark.sql.python.filterPushdown.enabled=true`.

`metered_writer`, `measure_reads` and `plot_throughput` are the notebook's writer and live
performance plot (lab 10 includes them).
"""
import datetime
import io
import json
import logging
import os
import tempfile
import time

from workshop.checks import new_name, practice_service, spark_error_text

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-01T00:02:00Z")  # a small part of the events
PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"

LOG_FORMAT = "the formatter writes one JSON object per line: ts (UTC), level, logger, message and the extra fields"
NO_SECRETS = "no secret reaches a log line"
LOG_IN_TASKS = "on Spark, each task's log line carries its partition id and attempt"
TASK_METRICS = "a write task returns its counts in its commit message"
DRIVER_SUM = "the driver sums the tasks' metrics, skipping None (failed tasks)"
METRICS_ON_SPARK = "on Spark, the commit logs the summed metrics of every task"
VALIDATION = "bad option values are refused naming the option, the value and what is allowed"
VALIDATION_ON_SPARK = "on Spark, a bad option stops the read before any task, with your message"
PUSH_SPLIT = "pushFilters keeps only what the service applies exactly, never in PERMISSIVE mode, and returns the rest"
PUSH_ON_SPARK = "on Spark, a read with pushed filters returns exactly the matching rows"


# -- the notebook's writer and performance plot --------------------------------------------------


def metered_writer(metered_message, sum_task_metrics):
    """A batch writer reporting metrics with your two functions.

    It posts rows with idempotency keys (writeProtocol=idempotent: rows are visible at once),
    returns `metered_message(...)` from each task and, on the driver, logs the sum of all
    messages as one JSON line with `"event": "write committed"`.
    """
    from solutions.conversion import row_to_json_converter
    from solutions.observability import configure_logging
    from solutions.writer import PracticeBatchWriter, batches

    log = logging.getLogger("solutions.lab10")

    class MeteredWriter(PracticeBatchWriter):
        def write(self, iterator):
            from pyspark import TaskContext

            context = TaskContext.get()
            partition_id = context.partitionId() if context else 0
            to_json = row_to_json_converter(self.schema)
            key, rows = self.options["idempotencyKey"], 0
            with self.client_class(self.options) as client:
                for number, batch in enumerate(batches((to_json(row) for row in iterator), self.options["batchSize"])):
                    path = self.table_path("/rows")
                    written, _already_present = self.post_rows(client, path, batch, f"{key}-{partition_id}-{number}", number)
                    rows += written
                return metered_message(partition_id, rows, client)

        def commit(self, messages):
            configure_logging(self.options)  # this driver-side Python process may have no client yet
            self.last_metrics = sum_task_metrics(messages)
            log.info("write to table %s committed", self.table,
                     extra={"event": "write committed", "table": self.table, **self.last_metrics})

        def abort(self, messages):
            configure_logging(self.options)
            self.last_metrics = sum_task_metrics(messages)
            log.warning("write to table %s aborted", self.table,
                        extra={"event": "write aborted", "table": self.table, **self.last_metrics})

    return MeteredWriter


def measure_reads(spark, url, start, end, partitions=(1, 2, 4), repeats=2):
    """Rows per second of full reads of [start, end), per partition count, rows vs Arrow.

    A read is forced to the end with the `noop` sink (nothing is collected to the driver);
    the best of `repeats` runs counts, after one warm-up read.
    """
    def read(num, arrow):
        return (
            spark.read.format("practice").option("url", url).option("start", start).option("end", end)
            .option("numPartitions", num).option("arrow", str(arrow).lower()).option("logLevel", "WARNING").load()
        )

    rows = read(1, False).count()  # the warm-up: Python workers start, the service warms its caches
    results = []
    for arrow in (False, True):
        for num in partitions:
            best = None
            for _ in range(repeats):
                started = time.perf_counter()
                read(num, arrow).write.format("noop").mode("overwrite").save()
                took = time.perf_counter() - started
                best = took if best is None else min(best, took)
            results.append({"path": "Arrow" if arrow else "rows", "partitions": num, "seconds": round(best, 2),
                            "rows_per_s": round(rows / best)})
            print(f"{results[-1]['path']:>5}, {num} partition(s): {rows} rows in {best:.2f} s = {rows / best:,.0f} rows/s",
                  flush=True)
    return results


def plot_throughput(results, title):
    """Grouped bars: rows/s per partition count, one bar per read path."""
    import matplotlib.pyplot as plt

    partitions = sorted({r["partitions"] for r in results})
    paths = sorted({r["path"] for r in results}, reverse=True)  # rows, then Arrow
    width = 0.8 / len(paths)
    figure, axes = plt.subplots(figsize=(7, 3))
    for number, (path, color) in enumerate(zip(paths, ("#2e86c1", "#e08a00"))):
        values = [next(r["rows_per_s"] for r in results if r["path"] == path and r["partitions"] == p) for p in partitions]
        axes.bar([i + number * width for i in range(len(partitions))], values, width, label=path, color=color)
    axes.set_xticks([i + width * (len(paths) - 1) / 2 for i in range(len(partitions))])
    axes.set_xticklabels([f"{p} partition{'s' if p > 1 else ''}" for p in partitions])
    axes.set_ylabel("rows per second")
    axes.legend()
    axes.set_title(title)
    figure.tight_layout()
    plt.show()


# -- helpers of the check ----------------------------------------------------------------------


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
                             "with newlines (a traceback) escaped inside it")
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


# (option, text, expected value) and (option, text, words the error must contain)
GOOD_VALUES = [
    ("gzip", "false", False), ("gzip", "TRUE", True), ("numPartitions", "8", 8), ("numPartitions", " 3 ", 3),
    ("resource", "Entities", "entities"), ("mode", "failfast", "FAILFAST"), ("maxRetries", "0", 0),
    ("table", "anything goes", "anything goes"),
]
BAD_VALUES = [
    ("gzip", "yes", ("gzip", "yes", "true or false")),
    ("verifyTls", "0", ("verifyTls", "0", "true or false")),
    ("numPartitions", "0", ("numPartitions", "0", "at least 1")),
    ("numPartitions", "four", ("numPartitions", "four")),
    ("pageSize", "2.5", ("pageSize", "2.5")),
    ("resource", "orders", ("resource", "orders", "events", "entities", "kv")),
    ("mode", "lenient", ("mode", "lenient", "PERMISSIVE", "DROPMALFORMED", "FAILFAST")),
]


def check(report, JsonFormatter, task_fields, metered_message, sum_task_metrics, parse_value, PushdownReader, url,
          service=None):
    from pyspark.sql.datasource import DataSourceReader, WriterCommitMessage

    from solutions.client import PracticeClient
    from solutions.datasource import PracticeDataSource
    from solutions.observability import remember_secret
    from solutions.options import BY_LOWER_NAME, parse_options
    from solutions.writer import PracticeCommitMessage
    from workshop.spark import get_spark
    from workshop.truth import checksum, to_json_record

    service = practice_service(url, service)
    truth = service.truth
    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)

    # -- logs --------------------------------------------------------------------------------

    def log_format():
        text = format_one(JsonFormatter(), logging.INFO, "read %d rows", 5,
                          extra={"partition_id": 2, "task_attempt": 1, "latency_ms": 12.5})
        entry = parse_line(text)
        expected = {"level": "INFO", "logger": "lab10.check", "message": "read 5 rows", "partition_id": 2,
                    "task_attempt": 1, "latency_ms": 12.5}
        for key, value in expected.items():
            if key not in entry:
                return f"the line {entry} has no {key!r}" + ("" if key in ("level", "logger", "message") else
                                                             ": copy every field passed with extra= into the object")
            if entry[key] != value:
                return f"the line has {key}={entry[key]!r}, expected {value!r}" + (
                    " (record.getMessage() puts the arguments into the message)" if key == "message" else "")
        if "ts" not in entry:
            return f"the line {entry} has no 'ts' (the time of the record)"
        try:
            when = datetime.datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))
        except ValueError:
            return f"ts={entry['ts']!r} is not an ISO-8601 time"
        if when.utcoffset() != datetime.timedelta(0):
            return f"ts={entry['ts']!r} is not in UTC: logs from executors in several zones must compare (use record.created in UTC)"
        try:
            raise ValueError("the check's own error")
        except ValueError:
            import sys

            failed = format_one(JsonFormatter(), logging.ERROR, "it failed", exc_info=sys.exc_info())
        parse_line(failed)  # one line also with a traceback
        if "the check's own error" not in failed:
            return "a line logged with exc_info does not carry the exception: add formatException(record.exc_info)"

    def no_secrets():
        secret = new_name("lab10-secret")
        remember_secret(secret)
        text = format_one(JsonFormatter(), logging.WARNING, "token %s refused by %s", secret,
                          "http://127.0.0.1:1/v1/events?api_key=plain-key-123", extra={"authorization": f"Bearer {secret}"})
        if secret in text:
            return "a registered secret appears in the log line: pass the finished line through redact() (solutions.observability)"
        if "plain-key-123" in text:
            return "an api_key= query value appears in the log line: pass the finished line through redact()"
        parse_line(text)

    def log_in_tasks():
        outside = task_fields()
        if not isinstance(outside, dict) or outside.get("partition_id") is not None:
            return f"task_fields() on the driver returned {outside!r}: outside a task (TaskContext.get() is None) return {{}}"
        from pyspark.sql.functions import spark_partition_id, udf

        formatter, fields = JsonFormatter, task_fields

        @udf("string")
        def log_line(value):
            return format_one(formatter(), logging.INFO, "row %s", value, extra=fields(), name="lab10.task")

        rows = spark.range(0, 8, 1, 4).select(spark_partition_id().alias("pid"), log_line("id").alias("line")).collect()
        for row in rows:
            entry = parse_line(row.line)
            if entry.get("partition_id") != row.pid:
                return (f"a line logged in partition {row.pid} says partition_id={entry.get('partition_id')!r}: take it "
                        "from TaskContext.get().partitionId()")
            if not isinstance(entry.get("task_attempt"), int) or isinstance(entry.get("task_attempt"), bool):
                return f"a line logged in a task has task_attempt={entry.get('task_attempt')!r}: use TaskContext.get().attemptNumber()"

    # -- metrics -----------------------------------------------------------------------------

    def task_metrics():
        with PracticeClient(parse_options({"url": url, "logLevel": "WARNING"})) as client:
            client.get("/v1/events/stats")
            client.put(f"/v1/tables/{new_name('lab10')}", {"fields": [{"name": "id", "type": "bigint"}]})
            client.get("/v1/events/stats")
            message = metered_message(3, 42, client)
            counts = client.metrics()
        if not isinstance(message, WriterCommitMessage):
            return f"metered_message returned {message!r}, not a WriterCommitMessage: Spark fails the task otherwise"
        expected = {"partition_id": 3, "rows": 42, "requests": counts["requests"], "bytes": counts["bytes_sent"]}
        for name, value in expected.items():
            got = getattr(message, name, None)
            if got != value:
                return (f"after 3 requests sending {counts['bytes_sent']} bytes, the message has {name}={got!r}, not {value}: "
                        "the task counted it, but only what is in the commit message reaches the driver")
        if not isinstance(getattr(message, "seconds", None), (int, float)) or message.seconds < 0:
            return f"the message has seconds={getattr(message, 'seconds', None)!r}: put the task's seconds in it"

    def driver_sum():
        messages = [
            PracticeCommitMessage(0, rows=10, bytes=100, requests=2, retries=1, seconds=0.5),
            None,
            PracticeCommitMessage(2, rows=5, bytes=50, requests=1, seconds=0.25),
        ]
        try:
            totals = sum_task_metrics(messages)
        except (TypeError, AttributeError) as error:
            return f"sum_task_metrics failed on [message, None, message] ({error}): Spark passes None for a failed task; skip it"
        expected = {"rows": 15, "bytes": 150, "requests": 3, "retries": 1, "tasks": 2}
        for name, value in expected.items():
            if not isinstance(totals, dict) or totals.get(name) != value:
                got = totals.get(name) if isinstance(totals, dict) else totals
                return f"for two tasks (10 and 5 rows) and a failed one (None), {name} is {got!r}, not {value}"
        if abs(float(totals.get("seconds", -1)) - 0.75) > 1e-6:
            return f"seconds summed to {totals.get('seconds')!r}, not 0.75"

    def metrics_on_spark():
        from pyspark.sql.functions import col

        table = new_name("lab10")
        log_file = os.path.join(tempfile.mkdtemp(prefix="lab10-"), "connector.jsonl")
        writer_class = metered_writer(metered_message, sum_task_metrics)

        class MeteredSink(PracticeDataSource):
            short_name = "lab10_metrics_check"
            batch_writer = writer_class

        spark.dataSource.register(MeteredSink)
        frame = spark.range(0, 300, 1, 3).select(col("id"), (col("id") % 7).cast("string").alias("name"))
        try:
            (frame.write.format("lab10_metrics_check").option("url", url).option("table", table)
             .option("writeProtocol", "idempotent").option("idempotencyKey", table).option("batchSize", 40)
             .option("logFile", log_file).option("logLevel", "INFO").mode("append").save())
        except Exception as error:
            return f"the write failed: {spark_error_text(error)}"
        written = len(truth.table(table))
        if written != 300:
            return f"the write put {written} rows in the table, not 300"
        committed = []
        if os.path.exists(log_file):
            with open(log_file, encoding="utf-8") as lines:
                for line in lines:
                    entry = json.loads(line)
                    if entry.get("event") == "write committed" and entry.get("table") == table:
                        committed.append(entry)
        if not committed:
            return "no 'write committed' line in the log file: did sum_task_metrics return a dict?"
        entry = committed[-1]
        if entry.get("tasks") != 3 or entry.get("rows") != 300:
            return f"the commit logged tasks={entry.get('tasks')!r}, rows={entry.get('rows')!r} for 3 tasks writing 300 rows"
        if not entry.get("requests") or entry["requests"] < 3 or not entry.get("bytes"):
            return (f"the commit logged requests={entry.get('requests')!r}, bytes={entry.get('bytes')!r} for 3 tasks that "
                    "posted rows: the tasks' counts must travel in their commit messages")

    # -- validation ----------------------------------------------------------------------------

    def validation():
        for name, text, want in GOOD_VALUES:
            got = parse_value(BY_LOWER_NAME[name.lower()], text)
            if got != want or type(got) is not type(want):
                return f"{name}={text!r} gave {got!r}, expected {want!r}" + (
                    " (bool('false') is True: compare the words)" if isinstance(want, bool) else "")
        for name, text, words in BAD_VALUES:
            option = BY_LOWER_NAME[name.lower()]
            try:
                got = parse_value(option, text)
            except ValueError as error:
                missing = [word for word in words if word not in str(error)]
                if missing:
                    return f"the error for {name}={text!r} says {str(error)!r}; it should name {', '.join(map(repr, missing))}"
                continue
            return f"{name}={text!r} was accepted as {got!r}: refuse it with a ValueError naming the option and what is allowed"

    def validation_on_spark():
        parse = parse_value

        class ValidatedSource(PracticeDataSource):
            short_name = "lab10_options_check"

            def parsed_options(self):
                return options_with(parse, self.options)

        spark.dataSource.register(ValidatedSource)

        def read(**options):
            reader = spark.read.format("lab10_options_check").option("url", url).option("logLevel", "WARNING")
            for key, value in {"start": WINDOW[0], "end": "2026-01-01T00:00:10Z", **options}.items():
                reader = reader.option(key, value)
            return reader.load()

        try:
            got = read(numPartitions="2", gzip="false").count()
        except Exception as error:
            return f"a read with good options failed: {spark_error_text(error)}"
        want = truth.count("events", start=WINDOW[0], end="2026-01-01T00:00:10Z")
        if got != want:
            return f"a read with good options returned {got} rows, not {want}"
        try:
            read(numPartitions="0").collect()
        except Exception as error:
            text = str(error)
            if "numPartitions" not in text or "0" not in text:
                return f"the read with numPartitions=0 failed, but the error does not name the option: {spark_error_text(error)}"
            return None
        return "a read with numPartitions=0 ran: refuse the value when the options are parsed, on the driver"

    # -- filter pushdown -----------------------------------------------------------------------

    schema = spark.read.format("practice").option("url", url).load().schema
    kinds, devices = ("click",), (3, 5, 8)

    def expected_records(value_over=None):
        records = truth.records("events", start=WINDOW[0], end=WINDOW[1], kind=",".join(kinds),
                                device_id=",".join(map(str, devices)))
        return [r for r in records if value_over is None or (r["value"] is not None and r["value"] > value_over)]

    # A threshold that drops about half of the rows the service filter leaves, so a kept but
    # unapplied `value > ...` filter shows.
    values = sorted(r["value"] for r in expected_records() if r["value"] is not None)
    threshold = float(values[len(values) // 2]) if values else 50.0

    def push_split():
        from pyspark.sql.datasource import EqualTo, GreaterThan, In, StringStartsWith

        def reader_in(mode):
            return PushdownReader(parse_options({"url": url, "start": WINDOW[0], "end": WINDOW[1], "filterPushdown": "true",
                                                 "mode": mode, "logLevel": "WARNING"}), schema)

        seq = schema.names.index("seq")
        want = sorted(record["seq"] for record in expected_records())

        def seqs_read(reader):
            return sorted(row[seq] for partition in reader.partitions() for row in reader.read(partition))

        reader = reader_in("DROPMALFORMED")
        service_filters = [EqualTo(("kind",), "click"), In(("device_id",), devices)]
        spark_filters = [GreaterThan(("value",), 50.0), StringStartsWith(("kind",), "cl"),
                         EqualTo(("kind",), "view,click")]
        returned = list(reader.pushFilters(service_filters + spark_filters) or [])
        for condition in spark_filters:
            if condition not in returned:
                why = {
                    "GreaterThan": "the service cannot filter on value",
                    "StringStartsWith": "the service matches kinds exactly, not by prefix",
                    "EqualTo": "the service would split kind='view,click' at the comma and return views and clicks",
                }[type(condition).__name__]
                return (f"pushFilters kept {condition!r}, but {why}: return it, so Spark applies it (Spark does not "
                        "check the rows against a filter you keep)")
        for condition in service_filters:
            if condition in returned:
                return (f"pushFilters returned {condition!r} in mode DROPMALFORMED, which the service can apply: keep it, "
                        "so less data travels")
        got = seqs_read(reader)
        if got != want:
            return (f"after pushFilters kept kind = 'click' and device_id IN {devices}, the reader read {len(got)} rows, "
                    f"not the {len(want)} matching ones: narrow what the reader asks the service for "
                    "(self.kinds, self.device_ids)")
        permissive = reader_in("PERMISSIVE")
        service_filters = [EqualTo(("kind",), "click"), In(("device_id",), devices)]
        returned = list(permissive.pushFilters(service_filters) or [])
        kept = [condition for condition in service_filters if condition not in returned]
        if kept:
            return (f"in mode PERMISSIVE pushFilters kept {kept[0]!r}, but there a malformed record's row has nulls where "
                    "the service saw values (a kept kind = 'click' lets rows whose kind is null through, and Spark does "
                    "not check a kept filter): return every filter in PERMISSIVE mode, after narrowing the read")
        got = seqs_read(permissive)
        if got != want:
            return (f"in mode PERMISSIVE the reader read {len(got)} rows, not the {len(want)} matching ones: narrow the "
                    "read there too (self.kinds, self.device_ids), and return the filters")

    def push_on_spark():
        from pyspark.sql.functions import col

        reader_class = PushdownReader

        class PushdownSource(PracticeDataSource):
            short_name = "lab10_pushdown_check"
            pushdown_reader = reader_class

        spark.dataSource.register(PushdownSource)
        before = spark.conf.get(PUSHDOWN_CONF, "false")
        spark.conf.set(PUSHDOWN_CONF, "true")
        try:
            frame = (spark.read.format("lab10_pushdown_check").option("url", url).option("start", WINDOW[0])
                     .option("end", WINDOW[1]).option("filterPushdown", "true").option("logLevel", "WARNING").load())
            rows = frame.filter(col("kind") == "click").filter(col("device_id").isin(*devices)).filter(col("value") > threshold).collect()
        except Exception as error:
            return f"the read failed: {spark_error_text(error)}"
        finally:
            spark.conf.set(PUSHDOWN_CONF, before)
        want = expected_records(value_over=threshold)
        got = [to_json_record(row) for row in rows]
        if len(got) != len(want) or checksum(got) != checksum(want):
            extra = len(got) - len(want)
            how = (f"{extra} rows too many: a filter pushFilters kept was not applied, and Spark does not apply it again"
                   if extra > 0 else "rows are missing")
            return f"kind = 'click' AND device_id IN {devices} AND value > {threshold} returned {len(got)} rows, not {len(want)}: {how}"

    report.require(LOG_FORMAT, log_format)
    report.require(NO_SECRETS, no_secrets)
    report.require(LOG_IN_TASKS, log_in_tasks)
    report.require(TASK_METRICS, task_metrics)
    report.require(DRIVER_SUM, driver_sum)
    report.require(METRICS_ON_SPARK, metrics_on_spark)
    report.require(VALIDATION, validation)
    report.require(VALIDATION_ON_SPARK, validation_on_spark)
    if hasattr(DataSourceReader, "pushFilters"):
        report.require(PUSH_SPLIT, push_split)
        report.require(PUSH_ON_SPARK, push_on_spark)
    else:
        why = "this PySpark has no DataSourceReader.pushFilters (filter pushdown needs Spark 4.1+)"
        report.skip(PUSH_SPLIT, why)
        report.skip(PUSH_ON_SPARK, why)
