"""The options layer: one table of every option, a parser driven by it, and its docs page.

Spark hands a data source its options as strings (`.option("gzip", "false")` arrives as the
string "false", which Python treats as True). The parser turns each into its type, fills in
defaults and refuses bad values with an error that names the option, the value and what is
allowed. It runs on the driver, in `DataSource.reader()`/`writer()`, so a bad option stops
the query before any task starts.

`python -m solutions.options` prints docs/options.md, generated from the same table.
"""
import datetime
import difflib
import logging
import re
from dataclasses import dataclass

from solutions.conversion import MalformedValueError, parse_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Option:
    name: str  # the canonical spelling; users may write it in any case
    kind: str  # one of PARSERS below
    default: object
    meaning: str
    allowed: tuple = ()  # for kind "choice"
    minimum: int = None  # for kind "int"
    secret: bool = False  # never shown in reprs, logs or errors


# The table. Spark's own names where Spark has one (mode, columnNameOfCorruptRecord,
# numPartitions), camelCase like Spark's options otherwise.
OPTIONS = (
    # connection
    Option("url", "string", None, "Base URL of the practice service, e.g. `http://127.0.0.1:8765`. Required."),
    Option("connectTimeout", "duration", 10.0, "Time to wait for a TCP connection to the service."),
    Option("readTimeout", "duration", 60.0, "Time to wait for the service to answer a request."),
    Option("gzip", "boolean", True, "Ask for gzip-compressed responses (`Accept-Encoding: gzip`)."),
    Option("verifyTls", "boolean", True, "Check the service's TLS certificate. Turn off only for local experiments."),
    Option("caFile", "string", None, "PEM file of the CA that signed the service's certificate (the practice service's `service.ca_file`)."),
    # auth (docs/auth.md)
    Option(
        "apiToken", "string", None,
        "API key, sent as `X-API-Key` (or `api_key`, see `apiKeyLocation`). Named *Token* so Spark's default `spark.redaction.regex` "
        "matches it (see above); `apiKey` would not.",
        secret=True,
    ),
    Option("username", "string", None, "User name for HTTP Basic auth (with `password`)."),
    Option("password", "string", None, "Password for HTTP Basic auth; its name matches Spark's default `spark.redaction.regex`.", secret=True),
    Option(
        "authMethod", "choice", "auto",
        "How to authenticate (docs/auth.md). `auto` takes the first method whose options are set, in this order: "
        "`databricks` (serviceCredential), `cloud` (cloudCredential), `oauth` (clientId, clientSecret), "
        "`apiKey` (apiToken), `basic` (username, password), else `none`.",
        allowed=("auto", "databricks", "cloud", "oauth", "apiKey", "basic", "none"),
    ),
    Option(
        "serviceCredential", "string", None,
        "Databricks: name of a Unity Catalog service credential. The connector calls "
        "`databricks.service_credentials.getServiceCredentialsProvider(name).get_token(tokenScope)` on the driver "
        "and the executors and sends the token as a bearer token. Needs `tokenScope`.",
    ),
    Option(
        "cloudCredential", "boolean", False,
        "Use the cloud's default credential: Azure `DefaultAzureCredential` (managed identity, workload identity, "
        "environment variables, Azure CLI) for the sovereign cloud `azureCloud`, asking for a token for `tokenScope`.",
    ),
    Option(
        "azureCloud", "choice", "public",
        "Azure cloud of the cloud credential and of `tenantId` token URLs: `public` (login.microsoftonline.com), "
        "`government` (login.microsoftonline.us) or `china` (login.chinacloudapi.cn).",
        allowed=("public", "government", "china"),
    ),
    Option("tokenScope", "string", None, "Scope of the bearer token to ask for, e.g. `api://<application id>/.default`. Required by `serviceCredential` and `cloudCredential`; sent as `scope` by OAuth2 client credentials."),
    Option("clientId", "string", None, "OAuth2 client credentials: the client id (with `clientSecret`)."),
    Option(
        "clientSecret", "string", None,
        "OAuth2 client credentials: the client secret; its name matches Spark's default `spark.redaction.regex`. Tokens are "
        "cached per Python process (each of Spark's Python workers, and the driver's), fetched again before they expire and "
        "once after a 401.",
        secret=True,
    ),
    Option("tokenUrl", "string", None, "OAuth2 token endpoint. Default: Microsoft Entra ID's for `tenantId` (in `azureCloud`), else the service's own `<url>/oauth/token`."),
    Option("tenantId", "string", None, "Microsoft Entra ID tenant: the token URL becomes `https://<authority of azureCloud>/<tenantId>/oauth2/v2.0/token`."),
    Option("apiKeyLocation", "choice", "header", "Where the API key (`apiToken`) goes: the `X-API-Key` header or the `api_key` query parameter (`query`; it is hidden in the connector's logs and errors, but proxies may log URLs).", allowed=("header", "query")),
    Option(
        "credentialModule", "string", None,
        "A module that stands in for the platform's credential API (`databricks.service_credentials` for "
        "`serviceCredential`, `azure.identity` for `cloudCredential`) with the same functions, e.g. "
        "`workshop.standin_credentials` for local practice and tests. It must import on the driver and the executors.",
    ),
    # reading
    Option("resource", "choice", "events", "What to read: time-series `events`, `entities` with numeric ids, or the token-ring table `kv`.", allowed=("events", "entities", "kv")),
    Option(
        "partitioning", "choice", None,
        "How the read is split into Spark partitions: event-time windows (`time`, events only), id ranges "
        "(`id`, entities only), token ranges (`token`, kv only) or one partition (`none`). "
        "Default: `time` for events, `id` for entities, `token` for kv.",
        allowed=("time", "id", "token", "none"),
    ),
    Option("numPartitions", "int", 4, "Number of partitions to plan (time windows that are too large are split further; token ranges are split per ring range).", minimum=1),
    Option("start", "timestamp", None, "Events only: read events with `event_time >= start`. ISO-8601; no zone means UTC. Default: the earliest event."),
    Option("end", "timestamp", None, "Events only: read events with `event_time < end`. ISO-8601; no zone means UTC. Default: after the latest event."),
    Option("pageSize", "int", 1000, "Items per page (`limit`); the service allows at most its `max_page_size` (10000 by default).", minimum=1),
    Option(
        "mode", "choice", "PERMISSIVE",
        "Malformed records, as Spark's JSON reader treats them: PERMISSIVE keeps the fields that fit and nulls the others "
        "(inside structs too; a list or map with an element that does not fit is null whole; a record that is not a JSON "
        "object is all nulls), with the raw record in `columnNameOfCorruptRecord`; DROPMALFORMED skips the record; FAILFAST "
        "fails the read, naming the record. PERMISSIVE needs nullable columns (Spark's file sources make a user schema "
        "nullable; a Python data source cannot, so a NOT NULL column is refused); in the other modes a null in a NOT NULL "
        "column makes the record malformed. Stricter than Spark's JSON reader, on purpose (the service's contract is ISO "
        "text and decimal strings): a JSON number is no timestamp (Spark: epoch seconds) and no decimal (Spark: its digits), "
        "a string column takes only JSON strings (Spark: any value's text), a decimal keeps its scale (Spark rounds), a "
        "date is `YYYY-MM-DD` (Spark also reads `2026-1-1` and a timestamp's date), a double's specials are `NaN`, "
        "`Infinity`, `-Infinity` (Spark also `+INF`), a `tinyint` is -128..127 (Spark wraps 128..255 around), and text "
        "without a zone is UTC (Spark: the session time zone). With `filterPushdown`, records the service filters out "
        "are never read, so FAILFAST does not see them (Spark's JSON reader with its own pushdown does the same).",
        allowed=("PERMISSIVE", "DROPMALFORMED", "FAILFAST"),
    ),
    Option(
        "columnNameOfCorruptRecord", "string", "_corrupt_record",
        "Column that receives the raw record of a malformed record in PERMISSIVE mode; add it to your schema as a nullable "
        "string column. It holds the record as compact JSON (the JSON value served, not always its bytes), and a record "
        "the service sent as a JSON string (a truncated record) as that string's text; Spark's JSON reader keeps the "
        "input line itself.",
    ),
    Option(
        "filterPushdown", "boolean", False,
        "Let the service filter rows (Spark 4.1+): events by `device_id`, `kind` and `event_time`, entities by `id`. "
        "Needs `spark.sql.python.filterPushdown.enabled=true` too: Spark refuses a reader that implements "
        "`pushFilters` while that setting is off, and a data source cannot see Spark settings. Spark does not check a "
        "filter the reader keeps (`explain(\"formatted\")` lists it in `PushedFilters`); the reader keeps one only in "
        "DROPMALFORMED and FAILFAST mode, where each row is its record. In PERMISSIVE mode a malformed record's row has "
        "nulls the service never saw, so the filters narrow the read and all go back to Spark as well. Spark 4.0 has no "
        "`pushFilters`: the option is ignored there (Spark filters every row).",
    ),
    Option("arrow", "boolean", False, "Read: yield `pyarrow.RecordBatch`es instead of rows. Write: take `RecordBatch`es (`DataSourceArrowWriter`). Same data either way."),
    Option(
        "wireFormat", "choice", "json",
        "What travels between the service and the connector in batch reads and writes. `json`: JSON pages and bodies, "
        "each value converted in Python. `arrow`: Arrow IPC streams (`Accept: application/vnd.apache.arrow.stream`); a "
        "read hands the service's RecordBatches to Spark as they are (the columns the schema asks for, checked once per "
        "partition; no value passes through Python), with the same partitions, pages, retries and pushdown, and `mode` "
        "applied to the rows the service marks malformed (its `_corrupt_record` column), so the rows equal those of `json`. "
        "With `arrow=false` the batches are turned into rows for Spark. A write needs `arrow=true`: the Arrow writer "
        "sends Spark's RecordBatches as Arrow IPC bodies, timestamps in UTC, columns in the table's types. Streaming "
        "reads and writes use `json`.",
        allowed=("json", "arrow"),
    ),
    # writing
    Option("table", "string", None, "Table to write to; created from the DataFrame's schema when missing. Required for writes."),
    Option("writeProtocol", "choice", "staged", "`staged`: each task stages its rows, the driver publishes all stages at once (nothing visible if any task fails). `idempotent`: each batch of rows is posted with an `Idempotency-Key` and is visible at once; rerunning the same write adds nothing twice (see `idempotencyKey`).", allowed=("staged", "idempotent")),
    Option("idempotencyKey", "string", None, "`idempotent` protocol: the key of this write; each request sends `<key>-<partition>-<batch>`. Rerun a write with the same key over the same rows (same data, partitions and `batchSize`) and it adds nothing twice: batches the service already has are logged and counted as already present, the others written, so a failed run is completed. The service remembers the rows sent with each key: when a rerun sends other rows under a key used before (the source grew or changed, or is partitioned or batched differently), that task fails with an error naming this option instead of dropping the rows; batches of the run with keys not used before (for example rows appended at the end of a partition) are written, and may be visible by then. Use a new key for new data, or `writeProtocol=staged` with mode `overwrite` for data that changes. Required with `writeProtocol=idempotent`."),
    Option("batchSize", "int", 1000, "Rows per write request.", minimum=1),
    # streaming (docs/streaming.md)
    Option("startingOffsets", "string", "latest", "Streaming reads: where a new query starts in the events feed: `earliest`, `latest` (only events appended after the start) or a seq number N (start after seq N). A restarted query continues from its checkpoint instead."),
    Option("startingTimestamp", "timestamp", None, "Streaming reads: start with the first event ingested at or after this time (the service's `/v1/events/seq_at`). Takes precedence over `startingOffsets`."),
    Option("maxRecordsPerTrigger", "int", None, "Streaming reads: at most this many events per micro-batch (admission control), on PySpark 4.2+. Ignored, with a warning, on 4.0/4.1: they end Trigger.AvailableNow and Trigger.Once at the reader's first latestOffset(), so a cap there would end those runs early. Default: all available.", minimum=1),
    Option("streamReader", "choice", "full", "Streaming reads: `full` (`DataSourceStreamReader`: parallel partitions, admission control) or `simple` (`SimpleDataSourceStreamReader`: reads on the driver, for low volumes).", allowed=("full", "simple")),
    Option("exactlyOnce", "boolean", True, "Streaming writes: publish each micro-batch with commit id `<query id>:<batch id>`, so a batch replayed after a restart is not published twice. `false` gives at-least-once delivery."),
    # resilience (docs/resilience.md)
    Option("maxRetries", "int", 10, "Retries of one request after a transient failure (429, 500, 502, 503, 504, connection refused or reset, read timeout).", minimum=0),
    Option("retryDelay", "duration", 0.5, "Base of the exponential backoff: retry n waits a random time between 0 and `retryDelay * 2**(n-1)` (full jitter), at least the service's `Retry-After`."),
    Option("maxRetryDelay", "duration", 30.0, "The longest wait before one retry, `Retry-After` included."),
    Option("retryBudget", "int", 100, "Retries one task may make over all its requests; then it fails with the last error.", minimum=0),
    Option("breakerThreshold", "int", 10, "Failed attempts in a row (per service URL, per Python process: each of Spark's Python workers has its own breaker) that open the circuit breaker: requests then fail at once with a message saying so.", minimum=1),
    Option("breakerCooldown", "duration", 30.0, "How long an open circuit breaker fails requests at once before it lets one trial request through (half-open)."),
    Option("deadLetterTable", "string", None, "Table of the practice service that receives bad records with the reason: malformed records read in PERMISSIVE or DROPMALFORMED mode, and rows the service refuses (422) on write instead of failing the write. Written through the service, so it survives the loss of an executor."),
    # observability
    Option("logLevel", "choice", "INFO", "Level of the connector's `solutions` logger (unless the application sets one). Logs are JSON lines on stderr in Spark's Python workers.", allowed=("DEBUG", "INFO", "WARNING", "ERROR")),
    Option("logFile", "string", None, "Also append the connector's JSON log lines to this file, on the machine where the code runs (driver and executors; for local runs and tests)."),
)

BY_LOWER_NAME = {option.name.lower(): option for option in OPTIONS}

TRUE_WORDS = ("true",)
FALSE_WORDS = ("false",)
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class OptionError(ValueError):
    """A bad option value; the message names the option, the value and what is allowed."""


# ---------------------------------------------------------------------------------------------
# One parser per kind. Each takes the option and its string and returns the typed value.
# ---------------------------------------------------------------------------------------------


def parse_string(option, text):
    # A secret goes into an HTTP header, where a line break or control character is refused with
    # an error that quotes the value (http.client): refuse it here, without showing it.
    if option.secret and any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise _bad(option, text, "no line breaks or control characters (it is sent in an HTTP header)")
    return text


def parse_boolean(option, text):
    # bool("false") is True in Python: compare the words instead.
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _bad(option, text, "true or false")


def parse_int(option, text):
    try:
        value = int(text.strip())
    except ValueError:
        raise _bad(option, text, "a whole number") from None
    if option.minimum is not None and value < option.minimum:
        raise _bad(option, text, f"a whole number of at least {option.minimum}")
    return value


def parse_duration(option, text):
    """ "250ms", "30s", "5m", "1h" or a plain number of seconds -> seconds as float."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text.lower())
    if not match:
        raise _bad(option, text, "a duration such as 250ms, 30s, 5m or 1h")
    number, unit = match.groups()
    return float(number) * DURATION_UNITS[unit or "s"]


def parse_timestamp_option(option, text):
    try:
        return parse_timestamp(text)
    except MalformedValueError:
        raise _bad(option, text, "an ISO-8601 timestamp such as 2026-01-01T00:00:00Z (no zone means UTC)") from None


def parse_choice(option, text):
    for allowed in option.allowed:
        if text.strip().lower() == allowed.lower():
            return allowed
    raise _bad(option, text, "one of " + ", ".join(option.allowed))


PARSERS = {
    "string": parse_string,
    "boolean": parse_boolean,
    "int": parse_int,
    "duration": parse_duration,
    "timestamp": parse_timestamp_option,
    "choice": parse_choice,
}


def _bad(option, text, allowed):
    shown = "<redacted>" if option.secret else repr(text)
    return OptionError(f"option {option.name}={shown} is not valid: expected {allowed}")


# ---------------------------------------------------------------------------------------------
# Parsing a whole option map
# ---------------------------------------------------------------------------------------------


class Options:
    """Parsed options: `options["pageSize"]` -> 1000. Keys are case-insensitive.

    Picklable (readers and writers carry it to the executors). The repr shows every option
    but never a secret's value.
    """

    def __init__(self, values):
        self._values = values  # canonical name -> typed value, for every option in OPTIONS

    def __getitem__(self, name):
        return self._values[BY_LOWER_NAME[name.lower()].name]

    def __repr__(self):
        shown = []
        for option in OPTIONS:
            value = self._values[option.name]
            if value is None or value == option.default:
                continue
            shown.append(f"{option.name}={'***' if option.secret else repr(value)}")
        return f"Options({', '.join(shown)})"


def parse_options(raw):
    """Typed, validated options from Spark's option map (string keys and values, any case)."""
    values = {option.name: option.default for option in OPTIONS}
    for key, text in raw.items():
        option = BY_LOWER_NAME.get(key.lower())
        if option is None:
            continue  # reported by warn_unknown_options
        values[option.name] = PARSERS[option.kind](option, str(text))
    if values["partitioning"] is None:
        values["partitioning"] = DEFAULT_PARTITIONING[values["resource"]]
    _check_combinations(values)
    warn_unknown_options(raw)
    return Options(values)


DEFAULT_PARTITIONING = {"events": "time", "entities": "id", "kv": "token"}


def _check_combinations(values):
    resource, partitioning = values["resource"], values["partitioning"]
    if partitioning not in ("none", DEFAULT_PARTITIONING[resource]):
        raise OptionError(
            f"option partitioning={partitioning!r} does not apply to resource={resource!r}: "
            f"use {DEFAULT_PARTITIONING[resource]} or none"
        )
    start, end = values["start"], values["end"]
    if start is not None and end is not None and start >= end:
        raise OptionError(f"option start={_iso(start)} must be before end={_iso(end)}")


def _iso(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else repr(value)


# Keys Spark itself adds to a streaming sink's options (from writeStream's settings).
SPARK_SET_OPTIONS = ("checkpointlocation", "queryname")


def unknown_options(raw):
    """A message for each key that is not an option, naming close matches."""
    known = list(BY_LOWER_NAME)
    messages = []
    for key in raw:
        if key.lower() in BY_LOWER_NAME or key.lower() in SPARK_SET_OPTIONS:
            continue
        close = difflib.get_close_matches(key.lower(), known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(BY_LOWER_NAME[name].name for name in close)}?" if close else ""
        messages.append(f"unknown option {key!r} is ignored{hint}")
    return messages


def warn_unknown_options(raw):
    for message in unknown_options(raw):
        log.warning(message)


def require(options, name, why):
    """Raise a clear error when a required option is missing."""
    if options[name] is None:
        raise OptionError(f"option {name} is required {why}")


# ---------------------------------------------------------------------------------------------
# The docs page
# ---------------------------------------------------------------------------------------------

KIND_NAMES = {
    "string": "string",
    "boolean": "boolean (`true`/`false`, any case)",
    "int": "integer",
    "duration": "duration (`250ms`, `30s`, `5m`, `1h`; a plain number is seconds)",
    "timestamp": "timestamp (ISO-8601; no zone means UTC)",
    "choice": "one of the allowed values (any case)",
}


def markdown():
    """docs/options.md, generated from OPTIONS."""
    lines = [
        "# Options of the `practice` data source",
        "",
        "<!-- Generated by `python -m solutions.options` from solutions/options.py; do not edit by hand. -->",
        "",
        "Pass options with `.option(name, value)`. Names are case-insensitive; values are strings",
        "that the connector parses into the types below. A bad value stops the query on the driver",
        "with an error naming the option, the value and what is allowed; an unknown option is",
        "logged as a warning naming close matches.",
        "",
        "The connector never puts a secret option's value in logs, reprs or errors. Spark's plans of a",
        "Python data source's batch reads and writes (`explain()`, the SQL tab of the Spark UI) list no",
        "options at all; the plan of a stream read lists every option, and prints its value unless the",
        "name matches `spark.redaction.regex` or `spark.sql.redaction.options.regex` (default `(?i)url`)",
        "(checked on 4.0.1 and 4.3.0). So secret options are named to match Spark's default",
        "`spark.redaction.regex`: `(?i)secret|password|token|access[.]?key` in Spark 4.0,",
        "`(?i)secret|password|token|access[.]?key|credential` from 4.1 (read from a running Spark of",
        "each version).",
        "",
        "| option | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        allowed = ", ".join(f"`{value}`" for value in option.allowed)
        if option.minimum is not None:
            allowed = f">= {option.minimum}"
        name = f"`{option.name}`" + (" (secret)" if option.secret else "")
        lines.append(f"| {name} | {option.kind} | {_default_text(option)} | {allowed} | {option.meaning} |")
    lines += ["", "Types:", ""]
    lines += [f"- **{kind}**: {text}" for kind, text in KIND_NAMES.items()]
    return "\n".join(lines) + "\n"


def _default_text(option):
    if option.default is None:
        return ""
    if option.kind == "boolean":
        return f"`{str(option.default).lower()}`"
    if option.kind == "duration":
        return f"`{option.default:g}s`"
    return f"`{option.default}`"


if __name__ == "__main__":
    print(markdown(), end="")
