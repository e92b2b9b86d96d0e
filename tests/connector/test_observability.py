"""The observability layer: JSON log lines, per-task metrics, and secrets that never reach a
log line, whatever characters they hold (issue 12, defect 8).

json.dumps escapes `"`, `\\` and control characters (and non-ASCII with ensure_ascii), and
exception messages quote values with repr(): a secret holding such a character reaches a line
in a form that is not the secret's raw text. Every test here looks for each of those forms.
"""
import json
import logging
import uuid

import pytest

from solutions.observability import JsonFormatter, redact, remember_secret, sum_metrics
from solutions.writer import PracticeCommitMessage

# One distinctive secret per kind of character that an encoding rewrites.
SECRETS = {
    "quote": 'quote"Secret-7Hq2',
    "backslash": "back\\slash-Secret-9Xk",
    "newline": "new\nline-Secret-4Lm",
    "control": "ctrl\x01\x1fchar-Secret-3Pz",
    "tab": "tab\tbed-Secret-8Qw",
    "unicode": "ünïcödé-€-Secret-2Rt",
    "astral": "emoji-\U0001f511-Secret-5Vb",
    "everything": 'all"of\\them\n\x7f-é€\U0001f511-6Nc',
}


def written_forms(secret):
    """The forms in which a secret can stand in a log file: raw, JSON-escaped, Python repr (str and UTF-8 bytes)."""
    return {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "repr": repr(secret)[1:-1],
        "bytes-repr": repr(secret.encode("utf-8"))[2:-1],
    }


def leaked_forms(text, secret):
    return sorted(name for name, form in written_forms(secret).items() if form in text)


def log_with_the_secret(logger, secret):
    """One warning carrying the secret in its message, in `extra` fields (flat and nested) and in an exception."""
    try:
        # as http.client words a header it refuses
        raise ValueError(f"Invalid header value {secret.encode('utf-8')!r} and {secret!r}")
    except ValueError:
        logger.warning("token %s was refused", secret, exc_info=True,
                       extra={"authorization": f"Bearer {secret}", "request": {"headers": {"X-API-Key": secret}},
                              "tried": [secret, 3], secret: "a secret as a key"})


@pytest.mark.parametrize("kind", SECRETS)
def test_a_secret_with_any_character_is_redacted_in_a_json_log_file(kind, tmp_path):
    secret = SECRETS[kind]
    remember_secret(secret)
    path = tmp_path / "connector.jsonl"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"solutions.test_redaction.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        log_with_the_secret(logger, secret)
    finally:
        logger.removeHandler(handler)
        handler.close()

    text = path.read_text(encoding="utf-8")
    assert leaked_forms(text, secret) == [], f"the {kind} secret is in the log file"
    [entry] = [json.loads(line) for line in text.splitlines()]  # still one JSON object per line
    assert entry["message"] == "token *** was refused"
    assert entry["authorization"] == "Bearer ***"
    assert entry["request"] == {"headers": {"X-API-Key": "***"}}
    assert entry["tried"] == ["***", 3]
    assert entry["***"] == "a secret as a key"
    assert "Invalid header value b'***' and '***'" in entry["exception"]


def test_plain_values_keep_their_json_types():
    record = logging.LogRecord("solutions.x", logging.INFO, "f.py", 1, "read %d rows", (5,), None)
    record.rows, record.seconds, record.ok, record.stage, record.where = 5, 0.25, True, None, ("p", 2)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["message"], entry["rows"], entry["seconds"], entry["ok"], entry["stage"], entry["where"]) == \
        ("read 5 rows", 5, 0.25, True, None, ["p", 2])


# -- through the connector's own logging, in Spark's Python workers -----------------------------


@pytest.fixture(scope="module")
def keyed_service(own_service):
    """A practice service that wants an API key (the shared one asks for none)."""
    return own_service(seed=43, events=20, entities=20, ring_rows=20, auth="api_key", api_key="right-key-Secret-1Aa")


@pytest.mark.spark
@pytest.mark.usefixtures("pickled_by_value")
def test_no_secret_form_in_the_log_file_of_a_spark_read_with_bad_tokens(spark, keyed_service, tmp_path):
    """A read with a wrong apiToken holding each kind of character, logging at DEBUG to a file;
    and, in the same Python workers, a line that carries the token through the connector's handler."""
    from pyspark.sql.functions import udf

    from solutions import PracticeDataSource

    spark.dataSource.register(PracticeDataSource)
    log_file = str(tmp_path / "connector.jsonl")
    for kind in ("quote", "control", "everything"):  # a read each (one job per read): quotes, controls, all kinds at once
        secret = SECRETS[kind]
        reader = (spark.read.format("practice").schema("id long, name string").option("url", keyed_service.url)
                  .option("resource", "entities").option("apiToken", secret).option("logFile", log_file)
                  .option("logLevel", "DEBUG").option("maxRetries", "0"))
        with pytest.raises(Exception, match="apiToken"):  # refused as an option, or by the service
            reader.load().collect()

    url = keyed_service.url

    def log_in_a_worker(secret):
        # The connector's client sets up its logging (option logFile); the secret is registered as
        # the client registers a token it is given (a provider's token may hold any character, while
        # an option with a control character is refused before it gets this far).
        from solutions.client import PracticeClient
        from solutions.observability import remember_secret
        from solutions.options import parse_options

        with PracticeClient(parse_options({"url": url, "logFile": log_file})):
            remember_secret(secret)
            log_with_the_secret(logging.getLogger("solutions.test_redaction"), secret)
        return "logged"

    secrets = spark.createDataFrame([(secret,) for secret in SECRETS.values()], "secret string").repartition(2)
    assert {row[0] for row in secrets.select(udf(log_in_a_worker)("secret")).collect()} == {"logged"}

    text = open(log_file, encoding="utf-8").read()
    entries = [json.loads(line) for line in text.splitlines()]
    # the file is real: request lines of the failed reads, and the workers' lines with the token redacted
    assert any(entry.get("status") == 401 for entry in entries)
    assert sum(entry["message"] == "token *** was refused" for entry in entries) == len(SECRETS)
    leaked = {kind: leaked_forms(text, secret) for kind, secret in SECRETS.items() if leaked_forms(text, secret)}
    assert leaked == {}


# -- the JSON formatter and the metrics --------------------------------------------------------


def test_redaction_and_the_json_formatter():
    remember_secret("very-secret-value-123")
    assert redact("GET /x?api_key=abc&limit=1 with very-secret-value-123") == "GET /x?api_key=***&limit=1 with ***"
    record = logging.LogRecord("solutions.x", logging.WARNING, "f.py", 1, "token %s", ("very-secret-value-123",), None)
    record.partition_id, record.attempt = 3, 2
    line = JsonFormatter().format(record)
    assert "very-secret-value-123" not in line
    assert '"partition_id": 3' in line and '"attempt": 2' in line and '"level": "WARNING"' in line


def test_metrics_are_summed_over_commit_messages():
    messages = [PracticeCommitMessage(0, rows=3, bytes=10, requests=2, retries=1, seconds=0.5), None,
                PracticeCommitMessage(1, rows=4, bytes=5, requests=3, retries=0, dead_letters=1, seconds=0.25)]
    assert sum_metrics(messages) == {"rows": 7, "bytes": 15, "requests": 5, "retries": 1, "dead_letters": 1,
                                     "seconds": 0.75, "tasks": 2}
