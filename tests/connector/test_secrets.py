"""Every auth method on real Spark, and no secret anywhere: logs (this process and the Python
workers' JSON logs), exception messages, reprs of readers, writers, partitions and commit
messages, `df.explain(True)`, and a streaming query's explain and progress.

The Databricks service credential and the cloud default credential cannot reach a real cloud
here: they run the connector's real code path with `credentialModule=workshop.standin_credentials`,
whose providers get tokens from the practice service (docs/auth.md says what that covers).
Every secret is a distinctive string, and so is every token the service issued.
"""
import json
import logging
import re
import uuid

import pytest
from streaming_job import register, start_feed_to_table

from solutions.datasource import PracticeDataSource
from solutions.options import OPTIONS
from workshop import standin_credentials

SECRETS = {
    "api_key": "apikey-7Hq2Vd-NEVER-SHOWN",
    "password": "passw0rd-9XkTe-NEVER-SHOWN",
    "client_secret": "clientsecret-4LmRz-NEVER-SHOWN",
}
WRONG = "wrongsecret-3PzQa-NEVER-SHOWN"
SCOPE = "api://practice-service/.default"
STANDIN = "workshop.standin_credentials"


def method_options(method, credentials, secret_override=None):
    """The options of one auth method; `secret_override` replaces its secret (a wrong one)."""
    secret = secret_override
    if method == "databricks":
        return {"serviceCredential": "wrong-credential" if secret else "practice-credential", "tokenScope": SCOPE,
                "credentialModule": STANDIN}
    if method == "cloud":
        return {"cloudCredential": "true", "tokenScope": SCOPE, "azureCloud": "government", "credentialModule": STANDIN}
    if method == "oauth":
        return {"clientId": credentials["client_id"], "clientSecret": secret or credentials["client_secret"]}
    if method.startswith("apiKey"):
        return {"apiToken": secret or credentials["api_key"], "apiKeyLocation": method.split("-")[1]}
    return {"username": credentials["username"], "password": secret or credentials["password"]}


METHODS = ["databricks", "cloud", "oauth", "apiKey-header", "apiKey-query", "basic"]


@pytest.fixture(scope="module")
def guarded(spark, own_service):
    register(spark)
    running = own_service(seed=41, events=300, entities=120, ring_rows=40, auth="any", **SECRETS)
    standin_credentials.register("practice-credential", running.url, **running.credentials)
    standin_credentials.register("wrong-credential", running.url, **{**running.credentials, "client_secret": WRONG})
    standin_credentials.register_default(running.url, **running.credentials)
    yield running
    standin_credentials.unregister("practice-credential")
    standin_credentials.unregister("wrong-credential")
    standin_credentials.unregister(standin_credentials.DEFAULT)


def options_for(service, method, log_file, **extra):
    return {"url": service.url, **method_options(method, service.credentials), "logFile": str(log_file),
            "logLevel": "DEBUG", **extra}


def apply(builder, options):
    for name, value in options.items():
        builder = builder.option(name, str(value))
    return builder


def test_secret_options_are_named_for_sparks_redaction_regex():
    default_regex = re.compile(r"(?i)secret|password|token|access[.]?key")
    secret_names = [option.name for option in OPTIONS if option.secret]
    assert set(secret_names) == {"apiToken", "password", "clientSecret"}
    assert all(default_regex.search(name) for name in secret_names)


@pytest.mark.spark
@pytest.mark.parametrize("method", METHODS)
def test_no_secret_in_any_output(spark, guarded, method, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="solutions")
    standin_credentials.clear_calls()
    log_file = tmp_path / "connector.jsonl"
    options = options_for(guarded, method, log_file)
    table = f"sec_{uuid.uuid4().hex[:8]}"
    outputs = []

    # A batch read and its plan.
    frame = apply(spark.read.format("practice"), {**options, "resource": "entities", "numPartitions": 2}).load()
    assert frame.count() == guarded.truth.count("entities")
    frame.explain(True)

    # A batch write; the summed metrics come back in the driver's log line.
    apply(frame.write.format("practice").mode("append"), {**options, "table": table}).save()
    assert len(guarded.truth.table(table)) == guarded.truth.count("entities")

    # A stream: its explain and its progress.
    stream_options = {name: value for name, value in options.items() if name != "url"}
    query = start_feed_to_table(spark, guarded.url, f"{table}_stream", str(tmp_path / "checkpoint"),
                                reader_options={**stream_options, "numPartitions": 2}, writer_options=stream_options,
                                available_now=False)
    try:
        query.processAllAvailable()
        query.explain(True)
        outputs += [json.dumps(json.loads(progress.json)) for progress in query.recentProgress]
        outputs.append(str(query.lastProgress))
    finally:
        query.stop()
    assert len(guarded.truth.table(f"{table}_stream")) == guarded.truth.count("events")

    # The same connector code in this process: reprs of everything Spark pickles, and its logs.
    source = PracticeDataSource({**options, "resource": "entities", "table": f"{table}_direct"})
    reader = source.reader(frame.schema)
    partitions = reader.partitions()
    rows = list(reader.read(partitions[0]))
    writer = source.writer(frame.schema, False)
    message = writer.write(iter(rows))
    writer.commit([message])
    outputs += [repr(reader), repr(partitions), repr(writer), repr(message), repr(source.parsed_options())]

    # A wrong secret: the error names the problem, never the secret (right or wrong).
    if method != "cloud":  # the cloud credential has no secret option; the Databricks one reads a wrong registration
        wrong = {**options, **method_options(method, guarded.credentials, secret_override=WRONG), "resource": "entities"}
        with pytest.raises(Exception) as failure:
            apply(spark.read.format("practice"), wrong).load().collect()
        assert re.search(r"401|could not get a token", str(failure.value))
        outputs.append(str(failure.value))

    captured = capsys.readouterr()
    outputs += [captured.out, captured.err, caplog.text, log_file.read_text()]
    text = "\n".join(outputs)
    assert "BatchScan" in text and "read partition" in text  # the outputs are real, not empty
    secrets = list(SECRETS.values()) + [WRONG] + guarded.auth.issued_tokens()  # every token issued so far
    leaked = [secret[:12] + "..." for secret in secrets if secret in text]
    assert leaked == [], f"secrets in the output of auth method {method}"

    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(line.get("request", "").startswith("GET /v1/") for line in lines)  # DEBUG request lines were written
    fetches = [line["pid"] for line in lines if line["message"].startswith("got a new access token")]
    assert len(fetches) == len(set(fetches))  # a token is fetched at most once per Python process (cached)
    if method == "cloud":
        # The sovereign cloud's authority, from the connector's one table, reached the credential.
        assert {call["authority"] for call in standin_credentials.calls() if call["api"] == "DefaultAzureCredential"} \
            == {"login.microsoftonline.us"}
    if method == "databricks":
        assert {call["scope"] for call in standin_credentials.calls() if call["api"] == "get_token"} == {SCOPE}


@pytest.mark.spark
def test_the_priority_order_picks_the_first_method_whose_options_are_set(spark, guarded, tmp_path):
    # All methods' options at once: the Databricks service credential wins, and works.
    everything = {}
    for method in METHODS[::-1]:
        everything.update(method_options(method, guarded.credentials))
    standin_credentials.clear_calls()
    frame = apply(spark.read.format("practice"), {"url": guarded.url, "resource": "kv", **everything}).load()
    assert frame.count() == guarded.truth.count("kv")
    assert any(call["api"] == "getServiceCredentialsProvider" for call in standin_credentials.calls())
