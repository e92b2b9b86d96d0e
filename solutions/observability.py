"""The observability layer: JSON logs, per-task metrics, and keeping secrets out of both.

Logs. The connector logs with the standard library (`logging.getLogger(__name__)` in each
module, all under the `solutions` logger). `configure_logging(options)` runs when a client
opens, on the driver and in every Python worker, and is cheap after the first time in a process:

- where nothing handles the `solutions` logger yet (a Spark Python worker), it adds a handler
  that writes one JSON object per line to stderr, which Spark shows as the executor's stderr;
- with option `logFile`, it also appends the same JSON lines to that file (on the machine where
  the code runs: on a local or single-node cluster, driver and executors write the same file);
- option `logLevel` (INFO by default) sets the level of the `solutions` logger unless the
  application set one itself.

Each line carries `ts`, `level`, `logger`, `message`, `pid` and the fields the call passes with
`extra=`: inside a Spark task `partition_id`, `task_attempt`, `spark_stage` and, in a streaming
query, `batch_id` (see `task_fields`), and per request `request`, `attempt`, `status`,
`latency_ms`, or a task's metrics.

Metrics. Each task counts rows, bytes, requests, retries, dead letters and seconds. Writers
return them in their commit messages and the driver sums them (`sum_metrics`), logs the sums
and keeps them on the writer as `last_metrics`; readers log theirs when a partition is done.

Secrets. Option values of secret options and OAuth2 tokens are registered with
`remember_secret`; `redact` replaces them (in their raw, JSON-escaped, repr and URL-encoded
forms, and an `api_key=` query value) with `***` in every value the JSON formatter writes, before
it encodes the line, and in the connector's error messages.
"""
import datetime
import json
import logging
import re
import sys
import threading
import urllib.parse

LOGGER_NAME = "solutions"
_STANDARD_FIELDS = set(vars(logging.LogRecord("x", logging.INFO, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_API_KEY_IN_QUERY = re.compile(r"(api_key=)[^&\s'\"]+", re.IGNORECASE)
_secrets = set()
_lock = threading.Lock()
_handlers = {}  # "stderr" or a file path -> the handler this module added
_level_set_here = None  # the level configure_logging gave the logger, if it did


# -- secrets ------------------------------------------------------------------------------------


def remember_secret(value):
    """Register a secret value so `redact` hides it (short values would hide too much).

    Also the forms text gives it when it holds quotes, backslashes, control or non-ASCII
    characters: repr() (exception messages quote values with %r, bytes too), JSON and URL
    encoding. A secret can reach a log line in any of them, e.g. in an exception's text.
    """
    if isinstance(value, str) and len(value) >= 6:
        forms = {
            value,
            repr(value)[1:-1],
            repr(value.encode("utf-8"))[2:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value, safe=""),
        }
        with _lock:
            _secrets.update(forms)


def redact(text):
    """`text` without any registered secret or `api_key=` query value."""
    text = _API_KEY_IN_QUERY.sub(r"\1***", str(text))
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


# -- logs ---------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, pid and every `extra` field."""

    def format(self, record):
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_FIELDS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Redact before encoding: json.dumps escapes `"`, `\` and control characters, and the
        # escaped form of a secret holding one of them no longer matches the secret.
        return json.dumps(redact_values(entry), ensure_ascii=False)


def redact_values(value):
    """`value` (a log entry) made JSON-ready, with `redact` applied to every string in it, keys too.

    Numbers, booleans and None stay as they are; anything else becomes its redacted `str()`.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {redact(str(key)): redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(item) for item in value]
    return redact(str(value))


def configure_logging(options):
    """JSON handlers for the `solutions` logger in this process (see the module docstring)."""
    global _level_set_here
    logger = logging.getLogger(LOGGER_NAME)
    level = getattr(logging, options["logLevel"])
    with _lock:
        if logger.level in (logging.NOTSET, _level_set_here):  # never override the application's level
            logger.setLevel(level)
            _level_set_here = level
        path = options["logFile"]
        if path and path not in _handlers:
            handler = logging.FileHandler(path, mode="a", encoding="utf-8", delay=True)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            _handlers[path] = handler
        if "stderr" not in _handlers and not _has_other_handlers(logger):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            _handlers["stderr"] = handler


def _has_other_handlers(logger):
    """True when a handler not added here would already see the connector's records."""
    while logger is not None:
        if any(handler not in _handlers.values() for handler in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


# What Spark tells the tasks of a streaming query's micro-batch (TaskContext local properties).
# Both are kept in the checkpoint, so a batch run again after a restart has the same ids.
BATCH_ID_PROPERTY = "streaming.sql.batchId"
QUERY_ID_PROPERTY = "sql.streaming.queryId"


def micro_batch():
    """(query id, batch id) in a task of a streaming micro-batch, else (None, None)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None, None
    context = TaskContext.get()
    if context is None:
        return None, None  # the driver, or code running outside a task
    batch_id = context.getLocalProperty(BATCH_ID_PROPERTY)
    return context.getLocalProperty(QUERY_ID_PROPERTY), None if batch_id is None else int(batch_id)


def micro_batch_id(query_id, batch_id):
    """`<query id>:<batch id>`: names a micro-batch across restarts (commit ids, write ids, dead letters)."""
    return f"{query_id}:{batch_id}"


def task_fields():
    """Where a log line comes from inside Spark: partition, task attempt, stage, streaming batch."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return {}
    context = TaskContext.get()
    if context is None:
        return {}  # the driver, or code running outside a task
    fields = {"partition_id": context.partitionId(), "task_attempt": context.attemptNumber(), "spark_stage": context.stageId()}
    batch_id = micro_batch()[1]
    if batch_id is not None:
        fields["batch_id"] = batch_id
    return fields


# -- metrics ------------------------------------------------------------------------------------

METRIC_NAMES = ("rows", "bytes", "requests", "retries", "dead_letters", "seconds")


def sum_metrics(messages):
    """The metrics of every commit message summed (None messages, from failed tasks, skipped)."""
    totals = dict.fromkeys(METRIC_NAMES, 0)
    totals["tasks"] = 0
    for message in messages:
        if message is None:
            continue
        totals["tasks"] += 1
        for name in METRIC_NAMES:
            totals[name] += getattr(message, name, 0) or 0
    totals["seconds"] = round(totals["seconds"], 3)
    return totals
