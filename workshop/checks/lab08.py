"""Lab 08 check: the auth resolver's priority order, OAuth2 tokens cached per process and
refreshed, no secret in reprs, errors or logs, and a read on Spark with the learner's code.

The check starts a practice service of its own that accepts OAuth2 bearer tokens only, with a
distinctive client secret. The learner's `Authenticator` is called directly (as a client in
this process would call it, against the real token endpoint), then used by every client of a
read on Spark (planning and every task).

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

PRIORITY (`resolve_method`)
- `authMethod` wins unless it is "auto": forced `basic` with every method's options set, forced
  `none` with an API key set.
- Else the first method whose options are set, in the order databricks, cloud, oauth, apiKey,
  basic: each method with the options of every lower method set too (a wrong order picks a
  lower one), and each method alone.
- One option is enough: `clientId` alone, `clientSecret` alone, `username` alone, `password` alone.
- `cloudCredential=false` is not set (with `apiToken`: apiKey). Nothing set: none.
TOKEN_REQUEST (`_new_token` through `ensure_token`)
- The form: grant_type=client_credentials, client_id, client_secret, scope=tokenScope (compared
  field by field as the check's token endpoint received it).
- Posted to `token_url(options)`: with option `tokenUrl` naming another address, the request
  must go there.
- The answer's `access_token` goes to `self.token`, and the service accepts it.
- `expires_in` is optional in OAuth2: an answer without it still gives a token, kept for later
  requests (3600 s assumed).
- Each new token is registered with `remember_secret` (`redact` hides it).
TOKEN_ERROR: an answer without `access_token` is an `AuthError` that names the token URL and never
  the form (the form holds the client secret): an error object, and a JSON list (not an object).
CACHE (`ensure_token`)
- One token per process: a second authenticator with the same options gets the first one's token
  without a request.
- Keyed by `cache_key()`: an authenticator with another `tokenScope` gets a token of its own.
- Not fetched again while it is valid: at 60 % of a 1 s lifetime the cached token is used.
- Fetched again before it expires (10 % of the lifetime early): at 95 % a new one is fetched.
- At most 60 s early: a token answer without expires_in (3600 s) is used again at 3539.5 s and
  fetched again at 3540.5 s (the check moves forward the `time.monotonic()` and `time.time()`
  that the learner's `ensure_token` reads, in its module only; 10 % early would refetch from
  3240 s, a default lifetime of 3599 s from 3539 s, one of 3601 s only from 3541 s).
- Not tested: the lock (CPython's dict operations are atomic, so no input shows a difference),
  the instant `now == refresh after` exactly (no input makes two float clock readings equal).
REFRESH (`refresh`)
- `refresh()` drops the token from `self.token` too (called directly).
- After a 401 (the service revokes the token early) the client's one retry fetches exactly one
  new token and gets its answer: the token must leave the process cache and `self.token`.
- Only that token leaves: a token cached under another scope is still used afterwards.
- False for methods without tokens (apiKey, basic): asking again cannot fix a key or a password.
NO_SECRET (`__repr__`): the method only; neither the client secret nor the token (oauth), the API
  key (apiKey) or the password (basic) in repr() or str().
ON_SPARK: a read of 8 partitions on Spark whose clients use the learner's `Authenticator`, with
  OAuth2, API key and Basic options all set:
- OAuth2 wins (the service accepts nothing else): the rows equal ground truth.
- One token per Python process, shared by every task the process runs: no Python worker fetches
  more than one token. The read names its schema, so no token fetched on the driver travels with
  the pickled reader: a dict of the learner's own (a notebook global, a class attribute) reaches
  each task as a copy of its state when Spark pickled the reader, and then every task of a worker
  fetches its own (tests/labs/test_claims_lab08.py shows this on Spark).
- No secret or token in the connector's DEBUG logs or in `explain(True)`.
"""
import collections
import contextlib
import io
import json
import os
import tempfile
import time

from workshop.checks import spark_error_text

SECRET = "lab08-client-secret-NEVER-SHOWN"
API_KEY = "lab08-api-key-NEVER-SHOWN"
PASSWORD = "lab08-password-NEVER-SHOWN"
LIFETIME = 1.0  # seconds: the lifetime the check's token answers claim in the cache test
ELSEWHERE = "https://login.example.test/lab08/oauth2/token"  # a tokenUrl that is not the service's
SPARK_TASKS = 8

PRIORITY = "resolve_method: authMethod, else the first method whose options are set (databricks, cloud, oauth, apiKey, basic)"
TOKEN_REQUEST = "a token comes from token_url(options) with grant_type=client_credentials, and the service accepts it"
TOKEN_ERROR = "an answer without an access_token is an AuthError naming the token URL, never the form"
CACHE = "one token per process and cache key, shared by every client, fetched again shortly before it expires"
REFRESH = "after a 401 the cached token is dropped and a new one fetched, once (bearer methods only)"
NO_SECRET = "the authenticator's repr shows the method and no secret or token"
ON_SPARK = "on Spark, a read equals ground truth with at most one token per Python process, and no secret in logs or plans"

HINTS = {
    "resolve_method": [
        "A forced authMethod wins; otherwise walk the methods in priority order and stop at the first one "
        "whose options are present.",
        "One option is enough to choose a method (clientSecret alone means oauth), and cloudCredential is a "
        "bool: false means not set. Platform methods (serviceCredential, cloudCredential) come before secrets.",
        'if options["authMethod"] != "auto": return it; then one `if` per method in the order databricks '
        "(serviceCredential), cloud, oauth (clientId or clientSecret), apiKey (apiToken), basic (username or "
        'password); finally return "none".',
    ],
    "Authenticator._new_token": [
        "Build the client-credentials form from the options and post it with post_form to token_url(options); "
        "the answer is the parsed JSON.",
        "The form holds the client secret: an error about a bad answer names the URL only. expires_in may be "
        "missing (OAuth2 makes it optional): assume an hour.",
        'form = {"grant_type": "client_credentials", "client_id": ..., "client_secret": ...} (plus "scope" when '
        'tokenScope is set); raise AuthError when the answer has no "access_token"; return (token, lifetime).',
    ],
    "Authenticator.ensure_token": [
        "process_tokens() gives this Python process's cache and its lock: look up self.cache_key(); use the "
        "cached token while its refresh time has not come, else fetch one with self._new_token(post_form).",
        "Store the token in process_tokens(), never in a dict of your own: a notebook's dict reaches every Spark "
        "task as a copy, so the next task would fetch again. Register each new token with remember_secret.",
        "refresh_after = time.monotonic() + lifetime - min(60, lifetime / 10); under the lock: "
        "tokens[self.cache_key()] = (token, refresh_after); then self.token = token.",
    ],
    "Authenticator.refresh": [
        "Called after a 401: make the next attempt fetch a new token, and say whether that can help.",
        "An API key or a password does not get better by asking again: return False when not "
        "self.uses_tokens. Drop only this authenticator's entry, not the whole cache.",
        "with lock: tokens.pop(self.cache_key(), None); then self.token = None and return True.",
    ],
    "Authenticator.__repr__": [
        "A repr ends up in logs and error messages: show what helps (the method) and nothing secret.",
        "Options, self.token and vars(self) all lead to a secret or a token.",
        'return f"Authenticator(method={self.method})"',
    ],
}


class Context:
    """What the requirements share: the learner's code and the check's own OAuth2-only service."""

    def __init__(self, service, resolve_method, Authenticator):  # noqa: N803 - the learner's class
        self.service = service
        self.resolve_method = resolve_method
        self.Authenticator = Authenticator
        self.credentials = service.credentials
        self.token_url = service.url + "/oauth/token"

    def options(self, scope, **extra):
        """OAuth2 options; each test asks for its own scope, so their cached tokens never mix."""
        from solutions.options import parse_options

        raw = {"url": self.service.url, "clientId": self.credentials["client_id"], "clientSecret": SECRET,
               "tokenScope": f"api://lab08/{scope}", "logLevel": "WARNING", **extra}
        return parse_options({name: str(value) for name, value in raw.items()})

    def endpoint(self, **answer):
        return TokenEndpoint(self.token_url, **answer)

    def accepted(self, token):
        import requests

        answer = requests.get(self.service.url + "/v1/entities/stats", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        return answer.status_code == 200

    def tokens_issued(self):
        """Every access token the service has issued so far (it remembers them to check them)."""
        return self.service.auth.issued_tokens()


class TokenEndpoint:
    """`post_form` for ensure_token: the service's real token endpoint, recording each request.

    Whatever URL it is asked to post to, it posts to the service's (so an option tokenUrl naming
    another host still gets a real token); `lifetime` replaces the answer's expires_in, and
    `expiry=False` drops it.
    """

    def __init__(self, real_url, lifetime=None, expiry=True, answer=None):
        self.real_url = real_url
        self.lifetime = lifetime
        self.expiry = expiry
        self.answer = answer
        self.asked = []

    def __call__(self, url, form):
        import requests

        self.asked.append((url, dict(form)))
        if self.answer is not None:
            return dict(self.answer) if isinstance(self.answer, dict) else self.answer
        answer = requests.post(self.real_url, data=form, timeout=10)
        if answer.status_code >= 400:
            raise RuntimeError(f"the token endpoint answered HTTP {answer.status_code}")
        body = answer.json()
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        if not self.expiry:
            body.pop("expires_in", None)
        return body


# -- the resolver ------------------------------------------------------------------------------


def priority(context):
    from solutions.options import parse_options

    everything = {"serviceCredential": "cred", "cloudCredential": "true", "tokenScope": "s", "clientId": "c",
                  "clientSecret": "cs", "apiToken": "k", "username": "u", "password": "p"}
    below_cloud = {k: v for k, v in everything.items() if k != "serviceCredential"}
    below_oauth = {k: v for k, v in below_cloud.items() if k != "cloudCredential"}
    below_api = {k: v for k, v in below_oauth.items() if k not in ("clientId", "clientSecret")}
    cases = [
        ({}, "none"),
        ({"username": "u", "password": "p"}, "basic"),
        ({"password": "p"}, "basic"),
        ({"username": "u"}, "basic"),
        (below_api, "apiKey"),
        ({"apiToken": "k"}, "apiKey"),
        ({**below_api, "cloudCredential": "false"}, "apiKey"),
        (below_oauth, "oauth"),
        ({"clientSecret": "cs", "apiToken": "k"}, "oauth"),
        ({"clientId": "c", "username": "u", "password": "p"}, "oauth"),
        (below_cloud, "cloud"),
        ({"cloudCredential": "true", "tokenScope": "s"}, "cloud"),
        (everything, "databricks"),
        ({"serviceCredential": "cred", "tokenScope": "s"}, "databricks"),
        ({**everything, "authMethod": "basic"}, "basic"),
        ({"apiToken": "k", "authMethod": "none"}, "none"),
        ({**below_api, "authMethod": "auto"}, "apiKey"),
    ]
    for raw, want in cases:
        got = context.resolve_method(parse_options({"url": context.service.url, **raw}))
        if got != want:
            shown = ", ".join(f"{k}={v}" for k, v in raw.items()) or "no auth options"
            return (
                f"with {shown}, resolve_method chose {got!r}, not {want!r}: authMethod wins unless it is auto; "
                "else take the first whose options are set, in the order databricks (serviceCredential), "
                "cloud (cloudCredential true), oauth (clientId or clientSecret), apiKey (apiToken), basic "
                "(username or password), then none"
            )


# -- tokens ------------------------------------------------------------------------------------


def token_request(context):
    from solutions.observability import redact

    endpoint = context.endpoint()
    authenticator = context.Authenticator(context.options("request"))
    try:
        authenticator.ensure_token(endpoint)
    except Exception as error:
        failed = f"{type(error).__name__}: {error}"
    else:
        failed = None
    if not endpoint.asked:
        return "ensure_token() asked the token endpoint nothing" + (f" and failed: {failed}" if failed else "")
    url, form = endpoint.asked[0]
    if url != context.token_url:
        return f"the token was asked of {url}, not of the token endpoint {context.token_url} (token_url(options))"
    want = {"grant_type": "client_credentials", "client_id": context.credentials["client_id"], "client_secret": SECRET,
            "scope": "api://lab08/request"}
    wrong = sorted(name for name in want if form.get(name) != want[name])
    if wrong:
        return (
            f"the token request's form has wrong or missing {', '.join(wrong)}: send grant_type=client_credentials, "
            "client_id, client_secret and scope (tokenScope, when set)"
        )
    if failed:
        return f"ensure_token() failed after the token endpoint answered: {failed}"
    if not authenticator.token or not context.accepted(authenticator.token):
        return "after ensure_token(), self.token is not a token the service accepts: keep the answer's access_token"
    if redact(f"token {authenticator.token}") != "token ***":
        return "a new token was not registered with remember_secret(token): a log line or error that holds it would show it"
    elsewhere = context.endpoint()
    context.Authenticator(context.options("elsewhere", tokenUrl=ELSEWHERE)).ensure_token(elsewhere)
    if [url for url, _ in elsewhere.asked] != [ELSEWHERE]:
        asked = elsewhere.asked[0][0] if elsewhere.asked else "nothing"
        return (
            f"with option tokenUrl={ELSEWHERE} the token was asked of {asked}: post to token_url(options), which "
            "honours tokenUrl and tenantId"
        )
    endless = context.endpoint(expiry=False)
    authenticator = context.Authenticator(context.options("no-expiry"))
    try:
        authenticator.ensure_token(endless)
        authenticator.ensure_token(endless)
    except Exception as error:
        return (
            f"a token answer without expires_in failed: {type(error).__name__}: {error}. OAuth2 makes expires_in "
            "optional: assume 3600 s"
        )
    if not authenticator.token or not context.accepted(authenticator.token) or len(endless.asked) != 1:
        return (
            f"after a token answer without expires_in, two requests fetched {len(endless.asked)} tokens: keep the "
            "token (for 3600 s, OAuth2's usual lifetime) and use it for the next request"
        )


def token_error(context):
    from solutions.auth import AuthError

    # An error object, and a JSON answer that is not an object at all (a proxy's list or string).
    for answer in ({"error": "invalid_scope"}, ["invalid_scope"]):
        refused = context.endpoint(answer=answer)
        authenticator = context.Authenticator(context.options("broken"))
        what = f"an answer without an access_token ({json.dumps(answer)})"
        try:
            authenticator.ensure_token(refused)
        except Exception as error:
            text = f"{error!r} {error}"
            if SECRET in text:
                return f"when the token endpoint gave {what}, the error showed the client secret: name the token URL, never the form"
            if not isinstance(error, AuthError):
                return (
                    f"{what} raised {type(error).__name__}: {error}; raise an AuthError naming the token URL, so the "
                    "user learns which credential failed (the answer may not even be a JSON object)"
                )
            if context.token_url not in str(error):
                return f"the AuthError for {what} does not name the token URL: {error}"
        else:
            return f"ensure_token() accepted {what}: raise an AuthError naming the token URL"


def cache(context):
    first, second = context.Authenticator(context.options("cache")), context.Authenticator(context.options("cache"))
    endpoint = context.endpoint(lifetime=LIFETIME)
    first.ensure_token(endpoint)
    started = time.monotonic()
    first.ensure_token(endpoint)
    if len(endpoint.asked) > 1:
        return f"ensure_token() fetched a new token for the next request although the cached one is valid for {LIFETIME:g} s"
    second.ensure_token(endpoint)
    if len(endpoint.asked) > 1:
        return (
            "a second authenticator (another client, another task in this Python process) fetched its own "
            "token: keep tokens in the process's cache (process_tokens()), not on self"
        )
    if second.token != first.token:
        return "the second authenticator did not get the cached token in self.token"
    other = context.Authenticator(context.options("cache-other-scope"))
    other_endpoint = context.endpoint()
    other.ensure_token(other_endpoint)
    if not other_endpoint.asked or other.token == first.token:
        return (
            "an authenticator with another tokenScope got the token cached for the first scope: key the cache by "
            "self.cache_key() (method, token URL, client, secret, scope)"
        )
    for share, must_fetch in ((0.6, False), (0.95, True)):
        time.sleep(max(0.0, started + share * LIFETIME - time.monotonic()))
        before = len(endpoint.asked)
        second.ensure_token(endpoint)
        fetched = len(endpoint.asked) > before
        if fetched and not must_fetch:
            return (
                f"at {share:.0%} of a {LIFETIME:g} s lifetime a new token was fetched: use the cached one until "
                "10 % of its lifetime is left (at most 60 s)"
            )
        if must_fetch and not fetched:
            return (
                f"with {1 - share:.0%} of a {LIFETIME:g} s lifetime left the cached token was used again: fetch a new "
                "one before it expires (10 % of the lifetime early, at most 60 s), or requests meet expired tokens"
            )
    # An hour's token (no expires_in: 3600 s) is fetched again 60 s before it expires (10 % would be 360 s).
    from solutions.auth import forget_tokens

    forget_tokens()  # a token of an earlier run of the check would be due at another moment
    hourly = context.Authenticator(context.options("cache-hour"))
    endpoint = context.endpoint(answer={"access_token": "lab08-hour-token", "token_type": "Bearer"})
    with clock_moved(type(hourly).ensure_token) as clock:
        hourly.ensure_token(endpoint)
        for clock.by, must_fetch in ((3539.5, False), (3540.5, True)):
            before = len(endpoint.asked)
            hourly.ensure_token(endpoint)
            fetched = len(endpoint.asked) > before
            if fetched != must_fetch:
                did = "fetched a new token" if fetched else "used the cached token"
                return (
                    f"{clock.by:g} s after a token answer without expires_in, ensure_token() {did}: assume a lifetime "
                    "of 3600 s and refresh 60 s before it ends (min(60 s, 10 % of the lifetime)), at 3540 s"
                    " (the check moves the clock your ensure_token reads, time.monotonic() or time.time(), forward)"
                )


class MovedTime:
    """The `time` module, with monotonic() and time() `by` seconds ahead."""

    def __init__(self):
        self.by = 0.0

    def monotonic(self):
        return time.monotonic() + self.by

    def time(self):
        return time.time() + self.by

    def __getattr__(self, name):
        return getattr(time, name)


@contextlib.contextmanager
def clock_moved(function):
    """A clock that can move forward, seen by `function` (the learner's ensure_token) only: its
    module's `time` (and `monotonic` or `time` imported from it) is replaced for the block, so a
    token's hour passes at once while every other thread of the process keeps the real clock."""
    namespace = getattr(function, "__globals__", {})
    clock = MovedTime()
    replaced = {name: namespace[name] for name in ("time", "monotonic") if name in namespace}
    for name, value in replaced.items():
        if value is time:
            namespace[name] = clock
        elif value is time.monotonic:
            namespace[name] = clock.monotonic
        elif value is time.time:
            namespace[name] = clock.time
    try:
        yield clock
    finally:
        namespace.update(replaced)


def refresh(context):
    from solutions.auth import forget_tokens
    from solutions.client import PracticeClient
    from solutions.options import parse_options

    learners = context.Authenticator

    class CheckedClient(PracticeClient):
        authenticator_class = learners

    forget_tokens()
    dropped = context.Authenticator(context.options("refresh-drop"))
    dropped.ensure_token(context.endpoint())
    refused = dropped.token
    dropped.refresh()
    if refused is not None and dropped.token == refused:
        return ("refresh() left the refused token in self.token: drop it from the process cache (under "
                "self.cache_key()) and from self.token, so no request sends it again")
    kept = context.endpoint()
    for _ in range(2):
        context.Authenticator(context.options("refresh-other")).ensure_token(kept)
    other_was_cached = len(kept.asked) == 1  # if not, the cache requirement says why
    with CheckedClient(context.options("refresh")) as client:
        client.get("/v1/entities/stats")
        token = client.authenticator.token
        before = len(context.tokens_issued())
        context.service.auth.expire(token)  # revoked early: the service answers 401 token_expired
        try:
            count = client.get("/v1/entities/stats")["count"]
        except Exception as error:
            return (
                f"after the service refused the token (401), the request failed: {error}. refresh() must drop "
                "the token from the process cache and self.token, so the next attempt fetches a new one"
            )
        fetched = len(context.tokens_issued()) - before
        if count != context.service.truth.count("entities") or fetched != 1:
            return f"after a 401 the client fetched {fetched} tokens, not 1"
    context.Authenticator(context.options("refresh-other")).ensure_token(kept)
    if other_was_cached and len(kept.asked) != 1:
        return (
            "after a 401 for one token, a token cached under another scope was fetched again: refresh() drops only "
            "self.cache_key(), the token that was refused"
        )
    for raw in ({"apiToken": API_KEY}, {"username": "u", "password": PASSWORD}):
        other = context.Authenticator(parse_options({"url": context.service.url, **raw}))
        if other.refresh():
            return (
                f"refresh() returned True for auth method {other.method}: a new attempt cannot fix a wrong "
                "key or password; return False for methods without tokens"
            )


def no_secret(context):
    from solutions.options import parse_options

    authenticator = context.Authenticator(context.options("repr"))
    authenticator.ensure_token(context.endpoint())
    shown = {
        "oauth": (authenticator, {"the client secret": SECRET, "the access token": authenticator.token}),
        "apiKey": (context.Authenticator(parse_options({"url": context.service.url, "apiToken": API_KEY})),
                   {"the API key": API_KEY}),
        "basic": (context.Authenticator(parse_options({"url": context.service.url, "username": "u", "password": PASSWORD})),
                  {"the password": PASSWORD}),
    }
    for method, (each, secrets) in shown.items():
        for what, text in (("repr", repr(each)), ("str", str(each))):
            for name, secret in secrets.items():
                if secret and secret in text:
                    return f"the {method} authenticator's {what} shows {name}: show the method only"
        if method not in repr(each):
            return f"the {method} authenticator's repr, {repr(each)!r}, does not name its method: show the method"


# -- on Spark ----------------------------------------------------------------------------------


def on_spark(context):
    from solutions.client import PracticeClient
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader
    from workshop.service.schemas import schema
    from workshop.spark import get_spark
    from workshop.truth import checksum, to_json_record

    learners = context.Authenticator

    class CheckedClient(PracticeClient):
        authenticator_class = learners  # the learner's, in planning and in every task

    class CheckedReader(PracticeBatchReader):
        client_class = CheckedClient

    class CheckedSource(PracticeDataSource):
        short_name = "lab08_check"
        batch_reader = CheckedReader

    spark = get_spark()
    spark.dataSource.register(CheckedSource)
    service, credentials = context.service, context.credentials
    log_file = os.path.join(tempfile.mkdtemp(prefix="lab08-"), "connector.jsonl")
    # The schema is given, so Spark asks no schema() on the driver: no token fetched there
    # travels to the tasks inside the pickled reader, and each task's cache starts as it is.
    reader = spark.read.format("lab08_check").schema(schema("entities")["ddl"])
    raw = {"url": service.url, "resource": "entities", "numPartitions": SPARK_TASKS, "clientId": credentials["client_id"],
           "clientSecret": SECRET, "tokenScope": "api://lab08/spark", "apiToken": credentials["api_key"],
           "username": credentials["username"], "password": credentials["password"],
           "logFile": log_file, "logLevel": "DEBUG"}
    for name, value in raw.items():
        reader = reader.option(name, str(value))
    before = len(context.tokens_issued())
    try:
        frame = reader.load()
        rows = frame.collect()
        plan = io.StringIO()
        with contextlib.redirect_stdout(plan):
            frame.explain(True)
    except Exception as error:
        if "pickle" in str(error).lower():
            return (
                f"Spark could not pickle the reader with your Authenticator: {spark_error_text(error)}. Spark ships "
                "notebook classes with everything they hold, class attributes too: a lock or a session cannot "
                "travel; keep such state in process_tokens()"
            )
        return f"the read failed: {spark_error_text(error)}"
    if len(rows) != service.truth.count("entities"):
        return f"the read returned {len(rows)} rows, not {service.truth.count('entities')}"
    if checksum(to_json_record(row) for row in rows) != service.truth.checksum("entities"):
        return "the read returned the right number of rows, but not the service's entities"
    with open(log_file) as lines:
        log_text = lines.read()
    entries = [json.loads(line) for line in log_text.splitlines() if line.strip()]
    tasks = collections.Counter(entry["pid"] for entry in entries if entry["message"].startswith("read partition"))
    fetches = collections.Counter(
        entry["pid"] for entry in entries
        if entry.get("request") == f"POST {context.token_url}" and entry.get("status") == 200 and "partition_id" in entry
    )
    for pid, fetched in sorted(fetches.items(), key=lambda item: -item[1]):
        ran = tasks.get(pid, 0)
        if fetched > max(1, ran):
            return (
                f"Python worker {pid} fetched {fetched} tokens in {ran} task(s), more than one per task: the "
                "cache is not used; keep tokens in process_tokens() under self.cache_key()"
            )
        if fetched > 1:
            return (
                f"Python worker {pid} ran {ran} of the read's {SPARK_TASKS} tasks and fetched {fetched} tokens, not one "
                "for the process: no token outlived its task. Keep tokens in process_tokens(): a cache on self dies "
                "with its client, and a dict of your own (a notebook global, a class attribute) reaches each task as "
                "a copy of the one Spark pickled with the reader, so a token one task fetched is gone in the next"
            )
    fetched = len(context.tokens_issued()) - before
    # Planning runs in up to a few more Python processes (the reader, the partitions).
    if fetched > len(tasks) + 3:
        return (
            f"the read's {SPARK_TASKS} tasks ran in {len(tasks)} Python worker process(es) and fetched {fetched} "
            "tokens: keep tokens in the process's cache (process_tokens())"
        )
    secrets = [SECRET, API_KEY, PASSWORD] + context.tokens_issued()
    leaked = [secret for secret in secrets if secret in log_text or secret in plan.getvalue()]
    if leaked:
        where = "the connector's logs" if leaked[0] in log_text else "explain(True)"
        return f"a secret or token appears in {where}: register tokens with remember_secret and never log options"


def check(report, resolve_method, Authenticator):  # noqa: N803 - the learner's class
    from solutions.auth import forget_tokens
    from workshop.service import PracticeService

    forget_tokens()  # start from an empty token cache in this process
    with PracticeService(seed=18, events=200, entities=400, ring_rows=20, auth="oauth", client_secret=SECRET,
                         api_key=API_KEY, password=PASSWORD) as service:
        context = Context(service, resolve_method, Authenticator)
        report.require(PRIORITY, priority, context)
        report.require(TOKEN_REQUEST, token_request, context)
        report.require(TOKEN_ERROR, token_error, context)
        report.require(CACHE, cache, context)
        report.require(REFRESH, refresh, context)
        report.require(NO_SECRET, no_secret, context)
        report.require(ON_SPARK, on_spark, context)
    forget_tokens()
