"""The auth layer: one resolver picks how the connector proves who it is, in a fixed order.

`resolve_method(options)` returns the first method whose options are set (or the one option
`authMethod` names):

1. `databricks` - a Unity Catalog service credential (option `serviceCredential`): on a
   Databricks cluster, `databricks.service_credentials.getServiceCredentialsProvider(name)`
   gives a provider whose `get_token(scope)` returns a bearer token for `tokenScope`;
2. `cloud` - the cloud's default credential (option `cloudCredential=true`): Azure's
   `DefaultAzureCredential(authority=<sovereign cloud>).get_token(scope)`, which finds a managed
   identity, workload identity, environment variables or the Azure CLI login;
3. `oauth` - OAuth2 client credentials (`clientId`, `clientSecret`; `tokenUrl`, or `tenantId`
   for Microsoft Entra ID, else the service's own `/oauth/token`);
4. `apiKey` - an API key (`apiToken`), as the `X-API-Key` header or the `api_key` query parameter
   (`apiKeyLocation`);
5. `basic` - HTTP Basic (`username`, `password`);
6. `none`.

Bearer tokens (methods 1-3) are cached per Python process (module-level), shared by every task
a Python worker runs, fetched again shortly before they expire and once after a 401.

Sovereign clouds (public, government, China) come from one table, `AZURE_CLOUDS`.

Secrets travel to the executors as options, named to match Spark's default
`spark.redaction.regex` (`apiToken`, `password`, `clientSecret`: a stream read's plan prints its
options, hiding only the values of matching names, docs/auth.md); the platform APIs are imported inside the methods that
call them, on whichever machine needs a token.
"""
import hashlib
import importlib
import logging
import threading
import time

from solutions.observability import remember_secret
from solutions.options import OptionError

log = logging.getLogger(__name__)

METHODS = ("databricks", "cloud", "oauth", "apiKey", "basic", "none")  # the priority order

# Microsoft Entra ID authority hosts (azure.identity.AzureAuthorityHosts) per cloud.
AZURE_CLOUDS = {
    "public": {"authority": "login.microsoftonline.com"},
    "government": {"authority": "login.microsoftonline.us"},
    "china": {"authority": "login.chinacloudapi.cn"},
}

# The real platform APIs; option credentialModule names a stand-in with the same shape.
DATABRICKS_CREDENTIALS_MODULE = "databricks.service_credentials"
AZURE_IDENTITY_MODULE = "azure.identity"

_tokens = {}  # cache key -> (token, refresh after: time.monotonic())
_providers = {}  # (method, name, cloud, module) -> credential provider object
_tokens_lock = threading.Lock()
_said = set()  # (method, ignored options) already logged in this process


def process_tokens():
    """This Python process's token cache, {cache key: (token, refresh after)}, and its lock.

    Reached through this function, not imported as a name: code defined in a notebook is
    pickled by value, so a dict it names would reach every Spark task as a copy of its own.
    """
    return _tokens, _tokens_lock


class AuthError(PermissionError):
    """No credential could be obtained (the provider failed, or the token endpoint said no)."""


def resolve_method(options):
    """The auth method to use: `authMethod`, or the first in METHODS whose options are set."""
    # BEGIN SOLUTION: the forced authMethod, else the first method in priority order whose options are set
    forced = options["authMethod"]
    if forced != "auto":
        return forced
    if options["serviceCredential"]:
        return "databricks"
    if options["cloudCredential"]:
        return "cloud"
    if options["clientId"] or options["clientSecret"]:
        return "oauth"
    if options["apiToken"]:
        return "apiKey"
    if options["username"] or options["password"]:
        return "basic"
    return "none"
    # END SOLUTION


def check_auth_options(options, method):
    """Raise OptionError when the chosen method lacks an option; warn about ignored ones."""
    needed = {
        "databricks": ("serviceCredential", "tokenScope"),
        "cloud": ("tokenScope",),
        "oauth": ("clientId", "clientSecret"),
        "apiKey": ("apiToken",),
        "basic": ("username", "password"),
        "none": (),
    }
    missing = [name for name in needed[method] if not options[name]]
    if method == "basic" and missing:
        raise OptionError("HTTP Basic auth needs both options username and password")
    if missing:
        raise OptionError(f"auth method {method} needs option{'s' if len(missing) > 1 else ''} {' and '.join(missing)}")
    ignored = [
        name
        for other in METHODS[METHODS.index(method) + 1:]
        for name in needed[other]
        if options[name] and name not in needed[method]
    ]
    if ignored and (method, tuple(ignored)) not in _said:  # once per process, not once per task
        _said.add((method, tuple(ignored)))
        log.info("auth method %s chosen; options %s are ignored", method, ", ".join(ignored))


def token_url(options):
    """Where OAuth2 client credentials get a token: tokenUrl, Entra ID for tenantId, else the service."""
    if options["tokenUrl"]:
        return options["tokenUrl"]
    if options["tenantId"]:
        authority = AZURE_CLOUDS[options["azureCloud"]]["authority"]
        return f"https://{authority}/{options['tenantId']}/oauth2/v2.0/token"
    return options["url"].rstrip("/") + "/oauth/token"


def _fingerprint(secret):
    return hashlib.sha256((secret or "").encode()).hexdigest()[:16]  # a cache key that holds no secret


class Authenticator:
    """Adds the credentials of the chosen method to each request of one client.

    Used as the `requests` session's `auth`: requests calls it with every prepared request.
    Bearer tokens come from `ensure_token`, which the client calls before each attempt (so a
    token fetch is itself a request with retries), and are cached per process.
    """

    def __init__(self, options):
        self.options = options
        self.method = resolve_method(options)
        check_auth_options(options, self.method)
        for name in ("apiToken", "password", "clientSecret"):
            remember_secret(options[name])
        self.token = None

    def __repr__(self):
        # BEGIN SOLUTION: show the method only: never a secret or a token
        return f"Authenticator(method={self.method})"
        # END SOLUTION

    @property
    def uses_tokens(self):
        return self.method in ("databricks", "cloud", "oauth")

    def describe(self):
        """The method and the options it reads, for error messages (never values)."""
        return {
            "databricks": "auth method databricks (options serviceCredential, tokenScope)",
            "cloud": "auth method cloud (options cloudCredential, tokenScope, azureCloud)",
            "oauth": "auth method oauth (options clientId, clientSecret, tokenUrl)",
            "apiKey": "auth method apiKey (option apiToken)",
            "basic": "auth method basic (options username, password)",
            "none": "no credentials (set apiToken, username/password, clientId/clientSecret, cloudCredential or serviceCredential)",
        }[self.method]

    # -- tokens ------------------------------------------------------------------------------

    def cache_key(self):
        options = self.options
        if self.method == "oauth":
            return ("oauth", token_url(options), options["clientId"], _fingerprint(options["clientSecret"]), options["tokenScope"])
        if self.method == "databricks":
            return ("databricks", options["serviceCredential"], options["tokenScope"], options["credentialModule"])
        return ("cloud", options["azureCloud"], options["tokenScope"], options["credentialModule"])

    def ensure_token(self, post_form):
        """A valid bearer token in self.token: the cached one, or a new one when it is due.

        `post_form(url, form)` posts a form with the client's retries and returns the JSON answer.
        """
        if not self.uses_tokens:
            return
        # BEGIN SOLUTION: reuse this process's cached token while it is fresh, else fetch and cache a new one
        key = self.cache_key()
        now = time.monotonic()
        tokens, lock = process_tokens()
        with lock:
            cached = tokens.get(key)
        if cached is not None and now < cached[1]:
            self.token = cached[0]
            return
        token, lifetime = self._new_token(post_form)
        remember_secret(token)
        # Refresh before expiry: 60 s early, or 10 % of the lifetime for short-lived tokens.
        refresh_after = now + max(0.0, lifetime - min(60.0, lifetime * 0.1))
        with lock:
            tokens[key] = (token, refresh_after)
        self.token = token
        log.info("got a new access token (auth method %s, valid for %.0f s)", self.method, lifetime,
                 extra={"auth_method": self.method, "expires_in": lifetime})
        # END SOLUTION

    def refresh(self):
        """After a 401: forget the cached token so the next attempt fetches a new one.

        True when that can help (bearer-token methods); an API key or password stays wrong.
        """
        # BEGIN SOLUTION: forget this cache key's token; say whether a new token can help
        if not self.uses_tokens:
            return False
        tokens, lock = process_tokens()
        with lock:
            tokens.pop(self.cache_key(), None)
        self.token = None
        log.warning("the service refused the access token (401); fetching a new one", extra={"auth_method": self.method})
        return True
        # END SOLUTION

    def _new_token(self, post_form):
        """(token, lifetime in seconds) from the method's source."""
        options = self.options
        if self.method == "oauth":
            # BEGIN SOLUTION: post the client-credentials form to token_url(options); return (token, lifetime)
            form = {"grant_type": "client_credentials", "client_id": options["clientId"], "client_secret": options["clientSecret"]}
            if options["tokenScope"]:
                form["scope"] = options["tokenScope"]
            answer = post_form(token_url(options), form)
            if not isinstance(answer, dict) or not answer.get("access_token"):
                raise AuthError(f"the token endpoint {token_url(options)} answered without an access_token")
            return answer["access_token"], float(answer.get("expires_in") or 3600)
            # END SOLUTION
        provider = self._provider()
        try:
            access = provider.get_token(options["tokenScope"])
        except Exception as problem:  # the provider's own error; its text names no secret we hold
            raise AuthError(
                f"{self.describe()}: the credential provider could not get a token for scope "
                f"{options['tokenScope']!r}: {type(problem).__name__}: {problem}"
            ) from None
        # azure.core.credentials.AccessToken: (token, expires_on in epoch seconds)
        return access.token, max(0.0, float(access.expires_on) - time.time())

    def _provider(self):
        """The platform's credential provider, created once per process (they are costly to build)."""
        options = self.options
        cloud = options["azureCloud"]
        key = (self.method, options["serviceCredential"], cloud, options["credentialModule"])
        with _tokens_lock:
            provider = _providers.get(key)
        if provider is not None:
            return provider
        if self.method == "databricks":
            module = self._import(options["credentialModule"] or DATABRICKS_CREDENTIALS_MODULE,
                                  "a Databricks runtime (Unity Catalog service credentials work on Databricks clusters only)")
            create = lambda: module.getServiceCredentialsProvider(options["serviceCredential"])  # noqa: E731
        else:
            module = self._import(options["credentialModule"] or AZURE_IDENTITY_MODULE, "the package azure-identity")
            create = lambda: module.DefaultAzureCredential(authority=AZURE_CLOUDS[cloud]["authority"])  # noqa: E731
        try:
            provider = create()
        except Exception as problem:
            raise AuthError(f"{self.describe()}: no credential provider: {type(problem).__name__}: {problem}") from None
        with _tokens_lock:
            _providers[key] = provider
        return provider

    def _import(self, name, needs):
        try:
            return importlib.import_module(name)
        except ImportError as problem:
            raise OptionError(f"{self.describe()} needs {needs}: cannot import {name} ({problem})") from None

    # -- requests' auth hook -----------------------------------------------------------------

    def __call__(self, request):
        """Add the credentials to a prepared `requests` request."""
        options = self.options
        if self.uses_tokens:
            if self.token:
                request.headers["Authorization"] = f"Bearer {self.token}"
        elif self.method == "apiKey":
            if options["apiKeyLocation"] == "query":
                request.prepare_url(request.url, {"api_key": options["apiToken"]})
            else:
                request.headers["X-API-Key"] = options["apiToken"]
        elif self.method == "basic":
            import base64

            pair = f"{options['username']}:{options['password']}".encode("utf-8")
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return request


def forget_tokens():
    """Drop this process's cached tokens and providers (tests; or after rotating a secret)."""
    with _tokens_lock:
        _tokens.clear()
        _providers.clear()
