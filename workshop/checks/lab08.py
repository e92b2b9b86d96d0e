"""Lab 08 check: the auth resolver's priority order, OAuth2 tokens cached per process and
refreshed, no secret in reprs, errors or logs, and a read on Spark with the learner's code.

The check starts a practice service of its own that accepts OAuth2 bearer tokens only, with a
distinctive client secret. The learner's `Authenticator` is called directly (as a client in
this process would call it, against the real token endpoint), then used by every client of a
read on Spark, where its token cache must hold one token per Python process.

`client_with` and `data_source_with` put an `Authenticator` class into the reference client and
reader; the lab notebook uses them too.
"""
import contextlib
import io
import json
import os
import tempfile
import time

from workshop.checks import spark_error_text

SECRET = "lab08-client-secret-NEVER-SHOWN"
LIFETIME = 2.0  # seconds: the lifetime the check's token answers claim in the cache test

PRIORITY = "resolve_method: authMethod, else the first method whose options are set (databricks, cloud, oauth, apiKey, basic)"
TOKEN_REQUEST = "a token comes from the token endpoint with grant_type=client_credentials, and the service accepts it"
CACHE = "one token per process, shared by every client, fetched again shortly before it expires"
REFRESH = "after a 401 the cached token is dropped and a new one fetched, once (bearer methods only)"
NO_SECRET = "no secret or token in the authenticator's repr or in its errors"
ON_SPARK = "on Spark, a read equals ground truth with at most one token per Python process, and no secret in logs or plans"


def client_with(authenticator_class):
    """The reference `PracticeClient`, adding credentials with `authenticator_class`."""
    from solutions.client import PracticeClient

    learners_authenticator = authenticator_class

    class CheckedClient(PracticeClient):
        authenticator_class = learners_authenticator

    return CheckedClient


def data_source_with(authenticator_class, name="practice_lab08"):
    """A data source whose reader's clients (planning and every task) use `authenticator_class`."""
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader

    checked_client = client_with(authenticator_class)

    class CheckedReader(PracticeBatchReader):
        client_class = checked_client

    class CheckedSource(PracticeDataSource):
        short_name = name
        batch_reader = CheckedReader

    return CheckedSource


def tokens_issued(service):
    """Every access token the service has issued so far (it remembers them to check them)."""
    return service.auth.issued_tokens()


def check(report, resolve_method, Authenticator):
    import requests

    from solutions.auth import forget_tokens
    from solutions.options import parse_options
    from workshop.service import PracticeService
    from workshop.spark import get_spark
    from workshop.truth import checksum, to_json_record

    forget_tokens()  # start from an empty token cache in this process
    with PracticeService(seed=18, events=200, entities=400, ring_rows=20, auth="oauth", client_secret=SECRET) as service:
        credentials = service.credentials
        token_url = service.url + "/oauth/token"

        def options(scope, **extra):
            """OAuth2 options; each test asks for its own scope, so their cached tokens never mix."""
            raw = {"url": service.url, "clientId": credentials["client_id"], "clientSecret": SECRET,
                   "tokenScope": f"api://lab08/{scope}", "logLevel": "WARNING", **extra}
            return parse_options({name: str(value) for name, value in raw.items()})

        def token_endpoint(asked, claim_lifetime=None):
            """post_form for ensure_token: the real token endpoint, recording each request."""

            def post_form(url, form):
                asked.append((url, dict(form)))
                answer = requests.post(url, data=form, timeout=10)
                if answer.status_code >= 400:
                    raise RuntimeError(f"the token endpoint answered HTTP {answer.status_code}")
                body = answer.json()
                if claim_lifetime is not None:
                    body["expires_in"] = claim_lifetime
                return body

            return post_form

        def accepted(token):
            answer = requests.get(service.url + "/v1/entities/stats", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            return answer.status_code == 200

        # -- the resolver ------------------------------------------------------------------

        def priority():
            everything = {"serviceCredential": "cred", "cloudCredential": "true", "tokenScope": "s", "clientId": "c",
                          "clientSecret": "cs", "apiToken": "k", "username": "u", "password": "p"}
            below_cloud = {k: v for k, v in everything.items() if k not in ("serviceCredential",)}
            below_oauth = {k: v for k, v in below_cloud.items() if k not in ("cloudCredential",)}
            below_api = {k: v for k, v in below_oauth.items() if k not in ("clientId", "clientSecret")}
            cases = [
                ({}, "none"),
                ({"username": "u", "password": "p"}, "basic"),
                ({"password": "p"}, "basic"),
                (below_api, "apiKey"),
                ({**below_api, "cloudCredential": "false"}, "apiKey"),
                (below_oauth, "oauth"),
                ({"clientSecret": "cs", "apiToken": "k"}, "oauth"),
                (below_cloud, "cloud"),
                (everything, "databricks"),
                ({**everything, "authMethod": "basic"}, "basic"),
                ({"apiToken": "k", "authMethod": "none"}, "none"),
            ]
            for raw, want in cases:
                got = resolve_method(parse_options({"url": service.url, **raw}))
                if got != want:
                    shown = ", ".join(f"{k}={v}" for k, v in raw.items()) or "no auth options"
                    return (
                        f"with {shown}, resolve_method chose {got!r}, not {want!r}: authMethod wins unless it is auto; "
                        "else take the first whose options are set, in the order databricks (serviceCredential), "
                        "cloud (cloudCredential true), oauth (clientId or clientSecret), apiKey (apiToken), basic "
                        "(username or password), then none"
                    )

        # -- tokens ------------------------------------------------------------------------

        def token_request():
            asked = []
            authenticator = Authenticator(options("request"))
            authenticator.ensure_token(token_endpoint(asked))
            if not asked:
                return "ensure_token() asked the token endpoint nothing"
            url, form = asked[0]
            if url != token_url:
                return f"the token was asked of {url}, not of the token endpoint {token_url} (token_url(options))"
            want = {"grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": SECRET,
                    "scope": "api://lab08/request"}
            wrong = sorted(name for name in want if form.get(name) != want[name])
            if wrong:
                return (
                    f"the token request's form has wrong or missing {', '.join(wrong)}: send grant_type=client_credentials, "
                    "client_id, client_secret and scope (tokenScope, when set)"
                )
            if not authenticator.token or not accepted(authenticator.token):
                return "after ensure_token(), self.token is not a token the service accepts: keep the answer's access_token"

        def cache():
            asked = []
            post_form = token_endpoint(asked, claim_lifetime=LIFETIME)
            first, second = Authenticator(options("cache")), Authenticator(options("cache"))
            first.ensure_token(post_form)
            started = time.monotonic()
            first.ensure_token(post_form)
            if len(asked) > 1:
                return "ensure_token() fetched a new token for the next request although the cached one is valid for 2 s"
            second.ensure_token(post_form)
            if len(asked) > 1:
                return (
                    "a second authenticator (another client, another task in this Python process) fetched its own "
                    "token: keep tokens in the process's cache (process_tokens()), not on self"
                )
            if second.token != first.token:
                return "the second authenticator did not get the cached token in self.token"
            time.sleep(max(0.0, started + 0.95 * LIFETIME - time.monotonic()))
            second.ensure_token(post_form)
            if len(asked) < 2:
                return (
                    f"with 5 % of a {LIFETIME:g} s lifetime left the cached token was used again: fetch a new one "
                    "before it expires (10 % of the lifetime early, at most 60 s), or requests meet expired tokens"
                )

        def refresh():
            forget_tokens()
            client_class = client_with(Authenticator)
            with client_class(options("refresh")) as client:
                client.get("/v1/entities/stats")
                token = client.authenticator.token
                before = len(tokens_issued(service))
                service.auth.expire(token)  # revoked early: the service answers 401 token_expired
                try:
                    count = client.get("/v1/entities/stats")["count"]
                except Exception as error:
                    return (
                        f"after the service refused the token (401), the request failed: {error}. refresh() must drop "
                        "the token from the process cache and self.token, so the next attempt fetches a new one"
                    )
                fetched = len(tokens_issued(service)) - before
                if count != service.truth.count("entities") or fetched != 1:
                    return f"after a 401 the client fetched {fetched} tokens, not 1"
            for raw in ({"apiToken": "some-key"}, {"username": "u", "password": "some-password"}):
                other = Authenticator(parse_options({"url": service.url, **raw}))
                if other.refresh():
                    return (
                        f"refresh() returned True for auth method {other.method}: a new attempt cannot fix a wrong "
                        "key or password; return False for methods without tokens"
                    )

        def no_secret():
            authenticator = Authenticator(options("repr"))
            authenticator.ensure_token(token_endpoint([]))
            for what, text in (("repr", repr(authenticator)), ("str", str(authenticator))):
                if SECRET in text:
                    return f"the authenticator's {what} shows the client secret: show the method only"
                if authenticator.token and authenticator.token in text:
                    return f"the authenticator's {what} shows the access token: show the method only"
            broken = Authenticator(options("broken"))

            def no_token(url, form):
                return {"error": "invalid_scope"}

            try:
                broken.ensure_token(no_token)
            except Exception as error:
                text = f"{error!r} {error}"
                if SECRET in text:
                    return (
                        "when the token endpoint answered without an access_token, the error showed the client secret: "
                        "name the token URL, never the form"
                    )
            else:
                return "ensure_token() accepted an answer without an access_token: raise an AuthError naming the token URL"

        # -- on Spark ------------------------------------------------------------------------

        def on_spark():
            spark = get_spark()
            spark.dataSource.register(data_source_with(Authenticator, name="lab08_check"))
            log_file = os.path.join(tempfile.mkdtemp(prefix="lab08-"), "connector.jsonl")
            reader = spark.read.format("lab08_check")
            raw = {"url": service.url, "resource": "entities", "numPartitions": 8, "clientId": credentials["client_id"],
                   "clientSecret": SECRET, "tokenScope": "api://lab08/spark", "apiToken": credentials["api_key"],
                   "username": credentials["username"], "password": credentials["password"],
                   "logFile": log_file, "logLevel": "DEBUG"}
            for name, value in raw.items():
                reader = reader.option(name, str(value))
            before = len(tokens_issued(service))
            try:
                frame = reader.load()
                rows = frame.collect()
                plan = io.StringIO()
                with contextlib.redirect_stdout(plan):
                    frame.explain(True)
            except Exception as error:
                return f"the read failed: {spark_error_text(error)}"
            if len(rows) != service.truth.count("entities"):
                return f"the read returned {len(rows)} rows, not {service.truth.count('entities')}"
            if checksum(to_json_record(row) for row in rows) != service.truth.checksum("entities"):
                return "the read returned the right number of rows, but not the service's entities"
            with open(log_file) as lines:
                log_text = lines.read()
            entries = [json.loads(line) for line in log_text.splitlines() if line.strip()]
            workers = {entry["pid"] for entry in entries if entry["message"].startswith("read partition")}
            fetched = len(tokens_issued(service)) - before
            # Planning runs in up to a few more Python processes (schema, reader, partitions).
            if fetched > len(workers) + 3:
                return (
                    f"the read's 8 tasks ran in {len(workers)} Python worker process(es) and fetched {fetched} tokens: "
                    "keep tokens in the process's cache (process_tokens()). A dict or attribute of your own class "
                    "travels to each task as a copy, so every task starts with an empty cache"
                )
            leaked = [token for token in [SECRET] + tokens_issued(service) if token in log_text or token in plan.getvalue()]
            if leaked:
                where = "the connector's logs" if leaked[0] in log_text else "explain(True)"
                return f"a secret or token appears in {where}: register tokens with remember_secret and never log options"

        report.require(PRIORITY, priority)
        report.require(TOKEN_REQUEST, token_request)
        report.require(CACHE, cache)
        report.require(REFRESH, refresh)
        report.require(NO_SECRET, no_secret)
        report.require(ON_SPARK, on_spark)
        forget_tokens()
