# Lab 08 source: authentication and secrets. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 08 · Authentication and secrets
#
# **Goal:** let the connector prove who it is to a service that wants credentials: pick the auth
# method from the options in a fixed priority order, get OAuth2 client-credentials tokens once per
# Python process (each of Spark's Python workers, and the driver's), refresh them before they
# expire and once after a 401, and keep every secret out of reprs, errors, logs and plans.
#
# **Time:** 40 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Secrets go from the driver to the executors as options; each Python worker keeps one token](images/08_auth.svg)
#
# **One resolver, a fixed order.** The connector supports six methods, and a user may set options
# of several (a job template with an API key, plus a service credential on the cluster).
# `resolve_method(options)` returns `authMethod` when the user forces one, else the **first**
# method whose options are set: `databricks` (a Unity Catalog service credential), `cloud` (the
# cloud's default credential), `oauth` (client credentials), `apiKey`, `basic`, else `none`. The
# platform-managed methods come first because the job holds no secret at all; then the secret-based
# ones, strongest first. Options of lower methods are ignored (and the connector logs which).
#
# **Bearer tokens, once per process.** With OAuth2 client credentials the connector posts
# `grant_type=client_credentials&client_id=...&client_secret=...` to the token endpoint and gets
# `{"access_token": ..., "expires_in": 3600}`; every request then carries
# `Authorization: Bearer <token>`. Spark runs each partition as a task, and each task opens its own
# client: fetching a token per task (or per request) floods the token endpoint, which rate-limits
# it. Spark's Python workers are reused for many tasks, so the token is cached **per Python
# process**, in module-level state of an installed module (`process_tokens()` in
# `solutions/auth.py`). Why a function of an installed module, and not a dict of your own? Spark
# pickles the reader on the driver and every task unpickles it. Code defined in a notebook is
# pickled **by value**, and with it every dict it holds or names (a notebook global, a class
# attribute): each task unpickles its own copy, as the dict was when Spark pickled the reader, so a
# token one task puts in it is gone when the next task of the same worker starts (on Spark 4.0 to
# 4.3; `tests/labs/test_claims_lab08.py` shows it). The copy is not even always empty: it holds
# whatever the driver had cached by then, which hides the mistake until that token expires. A
# function of an installed module is pickled **by reference**: in a worker it returns that
# process's own cache, shared by every task the process runs.
#
# **Refresh before expiry, and once on a 401.** A token is fetched again when its time is nearly
# up (60 s early, or 10 % of its lifetime for short-lived tokens), so a request never leaves with
# a token that expires on the way. A service may still revoke a token early: the client (given,
# `PracticeClient.request`) calls `refresh()` after a 401, which drops the cached token, and sends
# the request again with a new one, **once**; a second 401 is an error naming the method and its
# options. An API key or a password cannot get better by asking again: `refresh()` says so.
#
# **Secrets.** On Databricks, read secrets on the **driver** and pass them as options:
#
# ```python
# client_secret = dbutils.secrets.get(scope="practice", key="client-secret")  # notebook or job, on the driver
# spark.read.format("practice").option("clientId", "practice-client").option("clientSecret", client_secret)
# ```
#
# Spark pickles the options with the reader and ships them to the executors; `dbutils` does not
# exist in a Python worker on an executor, so the connector never calls it. Name secret options so
# Spark's default `spark.redaction.regex` matches them: `clientSecret`, `password`, `apiToken` (an
# option named `apiKey` would **not** match). The default is `(?i)secret|password|token|access[.]?key`
# on Spark 4.0 (DBR 17.3) and adds `|credential` from 4.1: the setup cell printed which Spark this
# is. Spark hides the values of matching
# options and settings where it shows them (the Spark UI's environment page, the option maps in
# the plans of its own sources, such as a file write, and of a Python data source's stream read,
# which lists every option and prints the value of any whose name does not match). A batch read or
# write of a Python data source lists no options at all (Spark 4.0 to 4.3; see `explain(True)`
# below). The connector guards the rest itself: reprs show no credentials, errors name options but never their
# values, and every secret and token is registered with `remember_secret`, so the JSON logs print
# `***` in its place. Databricks notebooks also print `[REDACTED]` for values read with
# `dbutils.secrets.get`, but only in notebook output.
#
# For the Databricks (`serviceCredential`) and cloud (`cloudCredential`) methods the connector asks
# the platform for a token on whichever machine needs one
# (`databricks.service_credentials.getServiceCredentialsProvider(name).get_token(scope)`, DBR 16.2+;
# `azure.identity.DefaultAzureCredential(...)`); `docs/auth.md` has the details and what can and
# cannot be tried without a real cloud.
#
# This lab's service wants OAuth2 bearer tokens and nothing else. By hand: a request without a
# token, a token, and a request with it.

# %%
import requests

from workshop.service import PracticeService

secured = PracticeService(seed=8, events=500, entities=600, ring_rows=50, auth="oauth", token_ttl=600).start()
credentials = secured.credentials
refused = requests.get(f"{secured.url}/v1/entities/stats", timeout=10)
print("without a token:", refused.status_code, refused.json()["error"])
issued = requests.post(
    f"{secured.url}/oauth/token",
    data={"grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": credentials["client_secret"]},
    timeout=10,
).json()
print("the token endpoint answered with", sorted(issued), "expires_in =", issued["expires_in"])
bearer = {"Authorization": "Bearer " + issued["access_token"]}
print("with the token:", requests.get(f"{secured.url}/v1/entities/stats", headers=bearer, timeout=10).json())

# %% [markdown]
# ## Your task 1: the priority order
#
# `resolve_method(options)` gets the parsed options (`options["clientId"]`, ...; unset options are
# `None`, `cloudCredential` is a bool) and returns one of `"databricks"`, `"cloud"`, `"oauth"`,
# `"apiKey"`, `"basic"`, `"none"`: `options["authMethod"]` unless it is `"auto"`, else the first
# method whose options are set. One option of a method is enough to choose it (`clientSecret`
# alone means oauth): the validation that follows then says which option is missing. Stuck?
# `lab.hint("resolve_method")` prints the next of three hints each time you run it.

# %%
# %include solutions.auth:resolve_method


# %%
from solutions.options import parse_options

for raw in (
    {"username": "learner", "password": "pw"},
    {"apiToken": "key", "username": "learner", "password": "pw"},
    {"clientId": "c", "clientSecret": "s", "apiToken": "key"},
    {"cloudCredential": "false", "apiToken": "key"},
    {"serviceCredential": "practice-api", "tokenScope": "api://x/.default", "clientId": "c", "clientSecret": "s"},
    {"authMethod": "basic", "apiToken": "key", "username": "learner", "password": "pw"},
):
    print(f"{resolve_method(parse_options({'url': secured.url, **raw})):10} <- {sorted(raw)}")

# %% [markdown]
# ## Your task 2: tokens, secrets
#
# Your `Authenticator` is the reference one (`solutions/auth.py`) with four methods left to you.
# Its `__init__` (given) resolves the method with your `resolve_method`, checks the options and
# registers the secret option values with `remember_secret`. The client calls `ensure_token` before
# each request and `refresh` after a 401; `requests` calls the authenticator with each request to
# add the `Authorization` header.
#
# - `_new_token(post_form)`, the OAuth2 branch: post the client-credentials form to
#   `token_url(options)` with `post_form(url, form)` (it posts with the client's retries and returns
#   the JSON answer). An answer without `access_token` is an `AuthError` that names the URL and
#   never the form (the form holds the secret). Return `(access_token, lifetime in seconds)`;
#   `expires_in` is optional in OAuth2: without it, assume 3600 s.
# - `ensure_token(post_form)`: `tokens, lock = process_tokens()` is this process's cache. Under the
#   lock, look up `self.cache_key()` (method, token URL, client id, a hash of the secret, scope).
#   A cached token whose refresh time has not come goes to `self.token`. Else fetch one with
#   `_new_token`, register it with `remember_secret`, and store `(token, refresh after)` where
#   refresh after is `time.monotonic()` + lifetime - min(60 s, 10 % of the lifetime).
# - `refresh()`: after a 401. `False` when the method has no tokens (`self.uses_tokens`), else drop
#   this key's cached token (only this one) and `self.token` and return `True`.
# - `__repr__()`: the method only; never the options, the token or `vars(self)`.
#
# Hints, one step at a time: `lab.hint("Authenticator.ensure_token")` (also for `_new_token`,
# `refresh` and `__repr__`).

# %%
import logging
import time

from solutions import auth as reference_auth
from solutions.auth import AuthError, check_auth_options, process_tokens, token_url
from solutions.observability import remember_secret

log = logging.getLogger("solutions.auth")


class Authenticator(reference_auth.Authenticator):
    """The reference authenticator, with your resolver and your token and secret handling."""

    # %include solutions.auth:Authenticator.__init__

    # %include solutions.auth:Authenticator.__repr__

    # %include solutions.auth:Authenticator.ensure_token

    # %include solutions.auth:Authenticator.refresh

    # %include solutions.auth:Authenticator._new_token


# %% [markdown]
# Your authenticator in a client, by hand. The reference `PracticeClient` names its authenticator
# in one class attribute, so a subclass that sets `authenticator_class` plugs yours in: two
# clients, as two tasks of one Python worker would open them, share one token. Then the service
# revokes that token early, and the next request gets a 401, a new token and its answer.

# %%
from solutions.client import PracticeClient


class LabClient(PracticeClient):
    authenticator_class = Authenticator  # yours


options = parse_options({"url": secured.url, "clientId": credentials["client_id"], "clientSecret": credentials["client_secret"]})
reference_auth.forget_tokens()  # start with an empty cache in this process
with LabClient(options) as first, LabClient(options) as second:
    print("entities:", first.get("/v1/entities/stats")["count"], second.get("/v1/entities/stats")["count"])
    print("one token for both clients:", first.authenticator.token == second.authenticator.token)
    print("repr:", first.authenticator, "| options:", options)
    secured.auth.expire(first.authenticator.token)  # the service revokes it before its time
    print("after a 401 and one new token:", first.get("/v1/entities/stats")["count"], "entities")

# %% [markdown]
# ## On Spark
#
# A data source whose clients (planning and every task) use your authenticator: the reader names
# its client (`client_class`), the data source its reader (`batch_reader`). The options name
# three methods: OAuth2 must win, because this service accepts nothing else. `logFile` collects
# the connector's JSON log lines from the driver and the Python workers: count the tokens fetched
# per process (`pid`), and look for the secret.

# %%
import os
import json
import tempfile

from solutions.datasource import PracticeDataSource
from solutions.reader import PracticeBatchReader


class Lab08Reader(PracticeBatchReader):
    client_class = LabClient


class Lab08DataSource(PracticeDataSource):
    short_name = "practice_lab08"
    batch_reader = Lab08Reader


spark.dataSource.register(Lab08DataSource)
log_file = os.path.join(tempfile.mkdtemp(prefix="lab08-"), "connector.jsonl")
entities = (
    spark.read.format("practice_lab08").option("url", secured.url).option("resource", "entities")
    .option("numPartitions", 6).option("logFile", log_file).option("logLevel", "DEBUG")
    .option("clientId", credentials["client_id"]).option("clientSecret", credentials["client_secret"])
    .option("apiToken", credentials["api_key"])  # ignored: oauth comes first
    .load()
)
print(entities.count(), "entities read; the service has", secured.truth.count("entities"))
entities.explain(True)

with open(log_file) as lines:
    logged = [json.loads(line) for line in lines if line.strip()]
fetches = [entry["pid"] for entry in logged  # each token fetched: the client's line for the token request
           if entry.get("request", "").endswith("/oauth/token") and entry.get("status") == 200]
tasks = [entry["pid"] for entry in logged if entry["message"].startswith("read partition")]
print(f"{len(tasks)} tasks ran in {len(set(tasks))} Python worker(s); tokens fetched per process:",
      {pid: fetches.count(pid) for pid in sorted(set(fetches))})
text = open(log_file).read()
print("client secret in the logs:", credentials["client_secret"] in text, "| '***' in the logs:", "***" in text)

# %% [markdown]
# ## Check
#
# The check starts a service of its own that accepts only OAuth2 tokens, with a distinctive
# client secret. It calls your `resolve_method` with many combinations of options, your
# `Authenticator` against the real token endpoint (the form, `tokenUrl`, an answer without
# `expires_in`, one token for two clients and another for another scope, the cached token at 60 %
# of its lifetime and a new one at 95 %, a new one after the service revokes it, reprs and errors
# without secrets), and then reads on Spark with it: the rows must equal ground truth, with at
# most one token per Python process and no secret in the logs or the plan. That read names its
# schema, so no token fetched on the driver travels with the pickled reader: a cache that does not
# outlive a task shows there.

# %%
from workshop.checks import check_lab

check_lab("08", resolve_method=resolve_method, Authenticator=Authenticator)

# %% [markdown]
# ## Stretch
#
# - Put the cache into a dict defined in this notebook instead of `process_tokens()`, run the
#   by-hand cell, and read on Spark twice: as above, and with `.schema(...)` given. Count the
#   tokens fetched per process each time. Why does the first read fetch hardly any (which token do
#   the tasks' copies of your dict hold, and since when?), and when would that stop working?
# - Read with `.option("apiToken", ...)` and `.option("apiKeyLocation", "query")` against a service
#   started with `auth="api_key"`: the key travels in the URL. Which of your outputs could show it,
#   and what does `solutions.observability.redact` do about it?
# - Try the Databricks and cloud methods without a cloud: `workshop.standin_credentials` has the
#   same shape as `databricks.service_credentials` and `azure.identity` (see `docs/auth.md` and
#   `tests/connector/test_secrets.py`). With all methods' options set, which one wins?
# - Set `tokenScope` and read `solutions.auth.Authenticator.cache_key`: why is a hash of the secret
#   in the key, and not the secret?
#
# ## Recap
#
# - One resolver: `authMethod`, else the first of databricks, cloud, oauth, apiKey, basic whose
#   options are set. Platform credentials first: they put no secret in the job.
# - Bearer tokens are cached per Python process in module-level state reached through a function
#   of an installed module; a dict of the notebook's own reaches every task as a copy, so the next
#   task starts without the token the last one fetched.
# - Fetch a new token before the old one expires; after a 401, drop it and try once more.
# - Secrets come from `dbutils.secrets.get` on the driver and travel as options named so that
#   `spark.redaction.regex` matches them; reprs, errors and logs never show them.

# %%
secured.stop()
