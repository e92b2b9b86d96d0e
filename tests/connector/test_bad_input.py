"""Bad input, table-driven: each case is one mistake a user makes, run on real Spark against the
real service, and answered by an error that names the problem (the test asserts the words).
A failed write leaves every table of the service as it was.

Kinds of case:
- read:   spark.read ... .load().collect() must fail with the message;
- stream: a streaming read (to the noop sink) must fail with the message;
- write:  df.write ... .save() must fail with the message, and no table changes;
- direct: the connector called in this process (rows Spark itself would never produce);
- answer: malformed records in a mode that keeps going: the answer is the corrupt-record column
          and the dead-letter table, whose reason names the problem.
"""
import re
import socket
import uuid
from dataclasses import dataclass, field

import pytest

from solutions.datasource import PracticeDataSource

EVENTS_DDL = (
    "seq bigint, event_id string, event_time timestamp, ingest_time timestamp, event_date date, device_id bigint, "
    "kind string, value double, amount decimal(12,2), tags array<string>, attributes map<string,string>, "
    "location struct<lat:double,lon:double>, payload binary, note string"
)


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Case:
    name: str
    kind: str
    options: object  # dict, or function(ctx) -> dict; "url" defaults to the open service
    expected: str = ""  # a regex searched in the error message
    schema: str = None  # read: a user schema (DDL)
    frame: object = None  # write: function(spark) -> DataFrame (default: a small one)
    mode: str = "append"
    skip_if: object = None  # function() -> reason to skip, or None
    extra: dict = field(default_factory=dict)


def url_of(name):
    return lambda ctx: {"url": ctx[name].url}


def with_url(name, **options):
    return lambda ctx: {"url": ctx[name].url, **options}


def guarded_with(**options):
    return lambda ctx: {"url": ctx["guarded"].url, **{k: (v(ctx) if callable(v) else v) for k, v in options.items()}}


def credential(name):
    return lambda ctx: ctx["guarded"].credentials[name]


def _databricks_importable():
    try:
        import databricks.service_credentials  # noqa: F401
    except ImportError:
        return None
    return "this machine has the real databricks.service_credentials"


CASES = [
    # -- options: missing, malformed, wrong type, out of range ---------------------------------
    Case("missing url", "read", {"url": None}, r"option url is required"),
    Case("url that is not a url", "read", {"url": "not a url"}, r"option url='not a url' is not valid: expected an http:// or https:// URL"),
    Case("url with another scheme", "read", {"url": "ftp://127.0.0.1/data"}, r"option url='ftp://127.0.0.1/data' is not valid"),
    Case("url with a password in it", "read", {"url": "http://ann:hunter22@127.0.0.1:1"}, r"option url must not contain a user name or password"),
    Case("unknown resource", "read", {"resource": "orders"}, r"option resource='orders' is not valid: expected one of events, entities, kv"),
    Case("partitioning for another resource", "read", {"resource": "events", "partitioning": "id"}, r"option partitioning='id' does not apply to resource='events': use time or none"),
    Case("zero partitions", "read", {"numPartitions": "0"}, r"option numPartitions='0' is not valid: expected a whole number of at least 1"),
    Case("a number in words", "read", {"numPartitions": "four"}, r"option numPartitions='four' is not valid: expected a whole number"),
    Case("negative page size", "read", {"pageSize": "-5"}, r"option pageSize='-5' is not valid: expected a whole number of at least 1"),
    Case("yes for a boolean", "read", {"gzip": "yes"}, r"option gzip='yes' is not valid: expected true or false"),
    Case("a duration in words", "read", {"connectTimeout": "soon"}, r"option connectTimeout='soon' is not valid: expected a duration such as 250ms"),
    Case("a timestamp in words", "read", {"start": "yesterday"}, r"option start='yesterday' is not valid: expected an ISO-8601 timestamp"),
    Case("start after end", "read", {"start": "2026-01-02", "end": "2026-01-01"}, r"option start=2026-01-02T00:00:00\+00:00 must be before end"),
    Case("unknown mode", "read", {"mode": "LENIENT"}, r"option mode='LENIENT' is not valid: expected one of PERMISSIVE, DROPMALFORMED, FAILFAST"),
    Case("negative retries", "read", {"maxRetries": "-1"}, r"option maxRetries='-1' is not valid: expected a whole number of at least 0"),
    Case("breaker that never closes", "read", {"breakerThreshold": "0"}, r"option breakerThreshold='0' is not valid: expected a whole number of at least 1"),
    Case("retry delay in words", "read", {"retryDelay": "fast"}, r"option retryDelay='fast' is not valid: expected a duration"),
    Case("unknown log level", "read", {"logLevel": "LOUD"}, r"option logLevel='LOUD' is not valid: expected one of DEBUG, INFO, WARNING, ERROR"),
    # -- auth options ---------------------------------------------------------------------------
    Case("unknown auth method", "read", {"authMethod": "kerberos"}, r"option authMethod='kerberos' is not valid: expected one of auto, databricks, cloud, oauth, apiKey, basic, none"),
    Case("api key in a cookie", "read", {"apiToken": "k" * 12, "apiKeyLocation": "cookie"}, r"option apiKeyLocation='cookie' is not valid: expected one of header, query"),
    Case("unknown sovereign cloud", "read", {"azureCloud": "mars"}, r"option azureCloud='mars' is not valid: expected one of public, government, china"),
    Case("user name without password", "read", {"username": "ann"}, r"HTTP Basic auth needs both options username and password"),
    Case("client id without secret", "read", {"clientId": "practice-client"}, r"auth method oauth needs option clientSecret"),
    Case("oauth forced without a client", "read", {"authMethod": "oauth"}, r"auth method oauth needs options clientId and clientSecret"),
    Case("service credential without scope", "read", {"serviceCredential": "prod-api"}, r"auth method databricks needs option tokenScope"),
    Case("service credential off Databricks", "read", {"serviceCredential": "prod-api", "tokenScope": "api://x/.default"},
         r"auth method databricks .* needs a Databricks runtime .*cannot import databricks.service_credentials", skip_if=_databricks_importable),
    Case("cloud credential without its package", "read", {"cloudCredential": "true", "tokenScope": "api://x/.default", "credentialModule": "no_such_credential_module"},
         r"auth method cloud .* needs the package azure-identity: cannot import no_such_credential_module"),
    Case("unknown service credential", "read", {"serviceCredential": "nope", "tokenScope": "api://x/.default", "credentialModule": "workshop.standin_credentials"},
         r"auth method databricks .*no credential provider: LookupError: no stand-in credential named 'nope'"),
    Case("CA file that does not exist", "read", {"caFile": "/nonexistent/ca.pem"}, r"option caFile='/nonexistent/ca.pem' is not a file here"),
    # -- schema -----------------------------------------------------------------------------------
    Case("unknown column", "read", {"resource": "entities"}, r"column 'colour' is not a field of entities", schema="id bigint, colour string"),
    Case("column of the wrong type", "read", {"resource": "entities"}, r"column 'id' is bigint in entities, the schema asks for string", schema="id string, name string"),
    Case("corrupt-record column not a string", "read", {"resource": "events"}, r"the corrupt-record column '_corrupt_record' must be string, not int", schema="seq bigint, _corrupt_record int"),
    # -- the service: unreachable, wrong address, TLS ---------------------------------------------
    Case("unreachable host", "read", lambda ctx: {"url": f"http://127.0.0.1:{closed_port()}"},
         r"health check failed: GET /health: cannot reach the practice service at http://127\.0\.0\.1:\d+: connection refused \(is the service running, and is option url right\?\)"),
    Case("unknown host", "read", {"url": "http://no-such-host.invalid:8765"}, r"cannot reach the practice service at http://no-such-host.invalid:8765: unknown host"),
    Case("url with a path", "read", lambda ctx: {"url": ctx["open"].url + "/api"},
         r"health check failed: http://127\.0\.0\.1:\d+/api/health answered HTTP 404: option url must be the practice service's base URL"),
    Case("https to a plain HTTP service", "read", lambda ctx: {"url": ctx["open"].url.replace("http://", "https://")},
         r"health check failed: .*the service does not speak TLS at this address \(use an http:// url"),
    Case("http to an HTTPS service", "read", lambda ctx: {"url": ctx["tls"].url.replace("https://", "http://")},
         r"health check failed: .*closed without an answer.*If the service serves HTTPS, option url must start with https://"),
    Case("certificate not trusted", "read", url_of("tls"), r"health check failed: .*TLS certificate not trusted \(set option caFile"),
    # -- credentials ------------------------------------------------------------------------------
    Case("no credentials", "read", url_of("guarded"),
         r"HTTP 401 unauthorized: missing or wrong credentials.*The service refused no credentials .*the service accepts: api_key, basic, oauth"),
    Case("wrong API key", "read", guarded_with(apiToken="wrong-key-value-1"), r"HTTP 401 unauthorized.*The service refused auth method apiKey \(option apiToken\)"),
    Case("wrong API key in the query", "read", guarded_with(apiToken="wrong-key-value-2", apiKeyLocation="query"),
         r"HTTP 401 unauthorized.*The service refused auth method apiKey \(option apiToken\)"),
    Case("wrong password", "read", guarded_with(username=credential("username"), password="wrong-password-1"),
         r"HTTP 401 unauthorized.*The service refused auth method basic \(options username, password\)"),
    Case("wrong client secret", "read", guarded_with(clientId=credential("client_id"), clientSecret="wrong-secret-1"),
         r"HTTP 401 unauthorized: unknown client or wrong client secret\. Getting an OAuth2 access token failed: check options clientId, clientSecret and tokenUrl"),
    Case("wrong token URL", "read", guarded_with(clientId=credential("client_id"), clientSecret=credential("client_secret"),
                                                 tokenUrl=lambda ctx: ctx["guarded"].url + "/oauth/nope"),
         r"HTTP 404 not_found.*Getting an OAuth2 access token failed"),
    Case("expired token", "read", lambda ctx: {"url": ctx["expiring"].url, "clientId": ctx["expiring"].credentials["client_id"],
                                               "clientSecret": ctx["expiring"].credentials["client_secret"]},
         r"HTTP 401 token_expired.*refused auth method oauth .* even with a newly fetched token"),
    Case("a method the service does not accept", "read", lambda ctx: {"url": ctx["keyonly"].url, "username": "learner", "password": "practice-password"},
         r"HTTP 401 unauthorized.*refused auth method basic.*the service accepts: api_key"),
    # -- malformed records, in each mode ----------------------------------------------------------
    Case("malformed record in FAILFAST", "read", with_url("malformed", mode="FAILFAST"),
         r"malformed record at partition \d+, page \d+, item \d+.*mode=FAILFAST stops at the first malformed record"),
    Case("malformed records in PERMISSIVE", "answer", with_url("malformed", mode="PERMISSIVE"), schema=EVENTS_DDL + ", _corrupt_record string"),
    Case("malformed records in DROPMALFORMED", "answer", with_url("malformed", mode="DROPMALFORMED"), schema=EVENTS_DDL),
    # -- streams ----------------------------------------------------------------------------------
    Case("stream of a resource without a feed", "stream", {"resource": "entities"}, r"option resource='entities' cannot be streamed: only `events` has an append feed"),
    Case("stream starting nowhere", "stream", {"startingOffsets": "soonish"}, r"option startingOffsets='soonish' is not valid: expected earliest, latest or a sequence number"),
    # -- writes: nothing may change ---------------------------------------------------------------
    Case("write without a table", "write", {}, r"option table is required to write"),
    Case("idempotent write without a key", "write", {"table": "t_ok", "writeProtocol": "idempotent"}, r"option idempotencyKey is required with writeProtocol=idempotent"),
    Case("overwrite with idempotent posts", "write", {"table": "t_ok", "writeProtocol": "idempotent", "idempotencyKey": "k"},
         r"mode overwrite needs writeProtocol=staged", mode="overwrite"),
    Case("write to a table with other fields", "write", {"table": "existing_kv"}, r"HTTP 409 conflict: table 'existing_kv' exists with other fields"),
    Case("write to a table name with spaces", "write", {"table": "no spaces allowed"}, r"HTTP 400 bad_request: name: a table name is 1-128 letters"),
    Case("write a type Spark has but the connector cannot send", "write", {"table": "t_interval"}, r"cannot write Spark type interval day",
         frame=lambda spark: spark.sql("SELECT 1L AS id, INTERVAL 1 DAY AS wait")),
    Case("write a map with integer keys", "write", {"table": "t_map"}, r"HTTP 400 bad_request: fields\[1\]\.type: map keys must be string",
         frame=lambda spark: spark.sql("SELECT 1L AS id, map(1, 'a') AS m")),
    Case("dead-letter table with other fields", "write", {"table": "t_dlq", "deadLetterTable": "existing_kv"},
         r"option deadLetterTable='existing_kv' cannot be used: table 'existing_kv' exists with other fields"),
    Case("write with wrong credentials", "write", guarded_with(table="t_guarded", apiToken="wrong-key-value-3"),
         r"HTTP 401 unauthorized.*The service refused auth method apiKey"),
    Case("write to an unreachable service", "write", lambda ctx: {"url": f"http://127.0.0.1:{closed_port()}", "table": "t_x"},
         r"health check failed: .*connection refused"),
    Case("rows that do not match the table", "direct", {"table": "key_token"}, r"HTTP 422 invalid_rows: row 1, field 'token': expected an integer.*nothing of the write is published"),
]


@pytest.fixture(scope="module")
def ctx(spark, own_service):
    spark.dataSource.register(PracticeDataSource)
    small = dict(seed=61, events=400, entities=60, ring_rows=30)
    services = {
        "open": own_service(**small),
        "guarded": own_service(**small, auth="any"),
        "keyonly": own_service(**small, auth="api_key"),
        "tls": own_service(**small, tls=True),
        "expiring": own_service(**small, auth="oauth", token_ttl=0.0001),  # tokens are dead on arrival
        "malformed": own_service(**{**small, "seed": 62}, malformed_rate=0.05),
    }
    # A table the writes must not change: the kv rows, with the kv fields.
    import requests

    kv_fields = requests.get(services["open"].url + "/v1/schema/kv", timeout=10).json()["fields"]
    requests.put(services["open"].url + "/v1/tables/existing_kv", json={"fields": kv_fields}, timeout=10)
    requests.post(services["open"].url + "/v1/tables/existing_kv/rows", json={"rows": services["open"].truth.records("kv")[:5]}, timeout=10)
    key_token = [{"name": "key", "type": "string", "nullable": True}, {"name": "token", "type": "bigint", "nullable": True}]
    requests.put(services["open"].url + "/v1/tables/key_token", json={"fields": key_token}, timeout=10)
    return services


def tables(service):
    """Every table of the service with its published rows (to show that nothing changed)."""
    return {name: service.truth.table(name) for name in service.tables.names()}


def options_of(case, ctx):
    options = case.options(ctx) if callable(case.options) else dict(case.options)
    options.setdefault("url", ctx["open"].url)
    return {name: value for name, value in options.items() if value is not None}


def apply(builder, options):
    for name, value in options.items():
        builder = builder.option(name, str(value))
    return builder


def error_of(action):
    with pytest.raises(Exception) as failure:
        action()
    return str(failure.value)


@pytest.mark.spark
@pytest.mark.parametrize("case", CASES, ids=[case.name.replace(" ", "_") for case in CASES])
def test_bad_input_gets_a_clear_error(spark, ctx, case, tmp_path):
    reason = case.skip_if() if case.skip_if else None
    if reason:
        pytest.skip(reason)
    options = options_of(case, ctx)
    if case.kind == "read":
        reader = apply(spark.read.format("practice"), options)
        if case.schema:
            reader = reader.schema(case.schema)
        message = error_of(lambda: reader.load().collect())
    elif case.kind == "stream":
        frame = apply(spark.readStream.format("practice"), options).load()

        def run():
            query = frame.writeStream.format("noop").option("checkpointLocation", str(tmp_path / "cp")).start()
            try:
                query.processAllAvailable()
            finally:
                query.stop()

        message = error_of(run)
    elif case.kind == "write":
        before = {name: tables(service) for name, service in ctx.items()}
        frame = case.frame(spark) if case.frame else spark.sql("SELECT 1L AS id, 'a' AS name")
        message = error_of(lambda: apply(frame.write.format("practice").mode(case.mode), options).save())
        assert {name: tables(service) for name, service in ctx.items()} == before  # nothing written anywhere
    elif case.kind == "direct":
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        before = tables(ctx["open"])
        schema = StructType([StructField("key", StringType()), StructField("token", LongType())])
        writer = PracticeDataSource(options).writer(schema, False)
        message = error_of(lambda: writer.write(iter([("a", 1), ("b", "not a number")])))
        assert tables(ctx["open"]) == before
    else:
        return check_malformed_answer(spark, ctx, case, options)
    assert re.search(case.expected, message, re.DOTALL), f"{case.name}: got {message[:2000]}"


def check_malformed_answer(spark, ctx, case, options):
    """PERMISSIVE keeps each malformed record's raw text, DROPMALFORMED drops it; either way the
    dead-letter table says why, naming the field or the kind of damage."""
    service = ctx["malformed"]
    dead = f"dead_{uuid.uuid4().hex[:8]}"
    rows = apply(spark.read.format("practice"), {**options, "deadLetterTable": dead}).schema(case.schema).load().collect()
    malformed = service.truth.malformed_seqs()
    assert malformed
    if options["mode"] == "PERMISSIVE":
        assert len(rows) == service.truth.count("events")
        assert sum(1 for row in rows if row["_corrupt_record"] is not None) == len(malformed)
    else:
        assert len(rows) == service.truth.count("events") - len(malformed)
    letters = service.truth.table(dead)
    assert len(letters) == len(malformed)
    for letter in letters:
        assert re.search(r"field '\w+': expected|expected a JSON object, got a string", letter["reason"]), letter["reason"]
