"""Lab 08's check accepts the reference and rejects the plausible mistakes, saying why.

The requirements that run in this process (the resolver, tokens, the cache, refresh, reprs) are
called one by one with a context on the check's own kind of service: fast, one mistake each.
The read on Spark runs through `check_lab`; several mistakes share one run where each breaks
different requirements, to keep Spark work down.
"""
import time
from dataclasses import dataclass

import pytest

from solutions import auth as reference_auth
from solutions.auth import Authenticator, AuthError, forget_tokens, process_tokens, resolve_method, token_url
from solutions.observability import remember_secret
from workshop import labs
from workshop.checks import Report, check_lab, lab08
from workshop.checks.lab08 import (
    API_KEY,
    CACHE,
    NO_SECRET,
    ON_SPARK,
    PASSWORD,
    PRIORITY,
    REFRESH,
    SECRET,
    TOKEN_ERROR,
    TOKEN_REQUEST,
)


def run(resolver=resolve_method, authenticator=Authenticator):
    return check_lab("08", resolve_method=resolver, Authenticator=authenticator)


@pytest.fixture(scope="module")
def lab08_service():
    """A service like the check's own: OAuth2 only, with the check's distinctive secrets."""
    from workshop.service import PracticeService

    with PracticeService(seed=18, events=200, entities=400, ring_rows=20, auth="oauth", client_secret=SECRET,
                         api_key=API_KEY, password=PASSWORD) as service:
        yield service


@pytest.fixture
def context(lab08_service):
    """context(Authenticator, resolver) for calling one requirement; the process cache starts empty."""
    forget_tokens()
    yield lambda authenticator=Authenticator, resolver=resolve_method: lab08.Context(lab08_service, resolver, authenticator)
    forget_tokens()


# -- correct, written differently ---------------------------------------------------------------

ORDER = (("databricks", ("serviceCredential",)), ("cloud", ("cloudCredential",)), ("oauth", ("clientId", "clientSecret")),
         ("apiKey", ("apiToken",)), ("basic", ("username", "password")))


def table_resolver(options):
    """The priority order as a table."""
    if options["authMethod"] != "auto":
        return options["authMethod"]
    return next((method for method, names in ORDER if any(options[name] for name in names)), "none")


RULES = [
    ("databricks", lambda o: bool(o["serviceCredential"])),
    ("cloud", lambda o: o["cloudCredential"] is True),
    ("oauth", lambda o: o["clientId"] is not None or o["clientSecret"] is not None),
    ("apiKey", lambda o: o["apiToken"] is not None),
    ("basic", lambda o: o["username"] is not None or o["password"] is not None),
]


def rules_resolver(options):
    """A list of (method, test) pairs and a loop; a forced method first."""
    forced = options["authMethod"]
    if forced and forced != "auto":
        return forced
    for method, applies in RULES:
        if applies(options):
            return method
    return "none"


class ExpiryAuthenticator(Authenticator):
    """Keeps the expiry time (wall clock) and decides at lookup whether the token is due."""

    def __init__(self, options):
        self.options = options
        self.method = table_resolver(options)
        self.token = None

    def __repr__(self):
        return f"<auth {self.method}>"

    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        tokens, lock = process_tokens()
        key = ("expiry",) + self.cache_key()  # its entries have another shape than the reference's
        with lock:
            entry = tokens.get(key)
        if entry is not None:
            token, expires_at, lifetime = entry
            if time.time() < expires_at - min(60.0, lifetime / 10):
                self.token = token
                return
        token, lifetime = self._new_token(post_form)
        remember_secret(token)
        with lock:
            tokens[key] = (token, time.time() + lifetime, lifetime)
        self.token = token

    def refresh(self):
        if self.method not in ("oauth", "cloud", "databricks"):
            return False
        tokens, lock = process_tokens()
        with lock:
            tokens.pop(("expiry",) + self.cache_key(), None)
        self.token = None
        return True

    def _new_token(self, post_form):
        url = token_url(self.options)
        answer = post_form(url, {"grant_type": "client_credentials", "client_id": self.options["clientId"],
                                 "client_secret": self.options["clientSecret"], "scope": self.options["tokenScope"] or ""})
        if "access_token" not in answer:
            raise AuthError(f"no access token from {url}")
        return answer["access_token"], float(answer.get("expires_in", 3600))


@dataclass
class Entry:
    token: str
    due: float  # time.monotonic() after which the token is fetched again


class LockedAuthenticator(Authenticator):
    """Holds the lock for the whole lookup and fetch (one fetch per key even with threads), keeps
    dataclass entries, and refreshes by marking the entry due instead of removing it."""

    def __repr__(self):
        return "Authenticator(" + self.method + ")"

    def ensure_token(self, post_form):
        if self.method not in ("oauth", "cloud", "databricks"):
            return
        tokens, lock = process_tokens()
        with lock:
            entry = tokens.get(("locked", self.cache_key()))
            if entry is None or time.monotonic() >= entry.due:
                token, lifetime = self._new_token(post_form)
                remember_secret(token)
                entry = tokens[("locked", self.cache_key())] = Entry(token, time.monotonic() + lifetime * 0.9
                                                                     if lifetime < 600 else time.monotonic() + lifetime - 60)
            self.token = entry.token

    def refresh(self):
        if not self.uses_tokens:
            return False
        tokens, lock = process_tokens()
        with lock:
            entry = tokens.get(("locked", self.cache_key()))
            if entry is not None:
                entry.due = 0.0
        self.token = None
        return True

    def _new_token(self, post_form):
        form = {"grant_type": "client_credentials", "client_id": self.options["clientId"],
                "client_secret": self.options["clientSecret"]}
        form.update({"scope": self.options["tokenScope"]} if self.options["tokenScope"] else {})
        where = token_url(self.options)
        answer = post_form(where, form)
        token = answer.get("access_token") if isinstance(answer, dict) else None  # a JSON list is an answer too
        if not token:
            raise AuthError(f"{where} gave no access_token")
        expires_in = answer.get("expires_in")
        return token, 3600.0 if expires_in is None else float(expires_in)


# -- mistakes -----------------------------------------------------------------------------------


def api_key_first(options):
    if options["authMethod"] != "auto":
        return options["authMethod"]
    if options["apiToken"]:  # the mistake: the API key before the platform credentials and OAuth2
        return "apiKey"
    return resolve_method(options)


def oauth_needs_both(options):
    if options["authMethod"] == "auto" and not options["serviceCredential"] and not options["cloudCredential"]:
        if options["clientId"] or options["clientSecret"]:
            if not (options["clientId"] and options["clientSecret"]):  # the mistake: one option is enough
                return "apiKey" if options["apiToken"] else "basic" if options["username"] or options["password"] else "none"
    return resolve_method(options)


def cloud_if_given(options):
    if options["authMethod"] == "auto" and not options["serviceCredential"] and options["cloudCredential"] is not None:
        return "cloud"  # the mistake: cloudCredential is a bool, False when not set
    return resolve_method(options)


class FetchesEveryTime(Authenticator):
    def ensure_token(self, post_form):
        if self.uses_tokens:
            self.token, _ = self._new_token(post_form)  # the mistake: no cache at all


class KeepsForeverAndTells(Authenticator):
    """Four mistakes: the API key comes first, the token is never refreshed, the repr shows it,
    an error shows the form."""

    def __init__(self, options):
        super().__init__(options)
        self.method = api_key_first(options)

    def __repr__(self):
        return f"Authenticator(method={self.method}, token={self.token})"

    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        tokens, lock = process_tokens()
        key = ("forever",) + self.cache_key()
        with lock:
            if key not in tokens:
                tokens[key] = self._new_token(post_form)[0]
            self.token = tokens[key]  # never fetched again

    def _new_token(self, post_form):
        form = {"grant_type": "client_credentials", "client_id": self.options["clientId"],
                "client_secret": self.options["clientSecret"], "scope": self.options["tokenScope"]}
        answer = post_form(token_url(self.options), form)
        if "access_token" not in answer:
            raise AuthError(f"token request {form} failed: {answer}")
        return answer["access_token"], float(answer["expires_in"])


OWN_CACHE = {}  # the mistake: a dict of this module's own, pickled by value into every task


class OwnCacheKeepsTokenOn401(Authenticator):
    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        entry = OWN_CACHE.get(self.cache_key())
        if entry is not None and time.monotonic() < entry[1]:
            self.token = entry[0]
            return
        token, lifetime = self._new_token(post_form)
        remember_secret(token)
        OWN_CACHE[self.cache_key()] = (token, time.monotonic() + 0.9 * lifetime)
        self.token = token

    def refresh(self):
        return True  # the mistake: the cached token is kept, so the retry sends it again


class ClassAttributeCache(Authenticator):
    """Right in one process; on Spark each task gets a copy of the class's dict (the mistake)."""

    tokens = {}

    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        entry = self.tokens.get(self.cache_key())
        if entry is not None and time.monotonic() < entry[1]:
            self.token = entry[0]
            return
        token, lifetime = self._new_token(post_form)
        remember_secret(token)
        self.tokens[self.cache_key()] = (token, time.monotonic() + lifetime - min(60.0, lifetime / 10))
        self.token = token

    def refresh(self):
        if not self.uses_tokens:
            return False
        self.tokens.pop(self.cache_key(), None)
        self.token = None
        return True


class IgnoresTokenUrl(Authenticator):
    def _new_token(self, post_form):
        self.options = _with_token_url(self.options, None)  # the mistake: always the service's endpoint
        return super()._new_token(post_form)


def _with_token_url(options, value):
    from solutions.options import parse_options

    raw = {option: options[option] for option in ("url", "clientId", "clientSecret", "tokenScope") if options[option]}
    return parse_options({**raw, **({"tokenUrl": value} if value else {})})


class NeedsExpiresIn(Authenticator):
    def _new_token(self, post_form):
        form = {"grant_type": "client_credentials", "client_id": self.options["clientId"],
                "client_secret": self.options["clientSecret"], "scope": self.options["tokenScope"]}
        answer = post_form(token_url(self.options), form)
        if "access_token" not in answer:
            raise AuthError(f"no access token from {token_url(self.options)}")
        return answer["access_token"], float(answer["expires_in"])  # the mistake: expires_in is optional


class NotRemembered(Authenticator):
    def ensure_token(self, post_form):
        original = reference_auth.remember_secret
        reference_auth.remember_secret = lambda value: None  # the mistake: the token is not registered
        try:
            super().ensure_token(post_form)
        finally:
            reference_auth.remember_secret = original


class WrongGrant(Authenticator):
    def _new_token(self, post_form):
        answer = post_form(token_url(self.options), {"grant_type": "password", "client_id": self.options["clientId"],
                                                     "client_secret": self.options["clientSecret"]})
        return answer.get("access_token"), 3600.0  # the mistake: the wrong grant, and no scope


class RuntimeErrorWithoutToken(Authenticator):
    def _new_token(self, post_form):
        answer = post_form(token_url(self.options), {"grant_type": "client_credentials", "client_id": self.options["clientId"],
                                                     "client_secret": self.options["clientSecret"]})
        if "access_token" not in answer:
            raise RuntimeError("no token")  # the mistake: not an AuthError, and no URL
        return answer["access_token"], float(answer.get("expires_in") or 3600)


class TellsInErrors(KeepsForeverAndTells):
    __repr__ = Authenticator.__repr__


class OneKeyForAll(Authenticator):
    def cache_key(self):
        return (self.method,)  # the mistake: another scope (or client) gets this one's token


class NoEarlyRefresh(Authenticator):
    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        tokens, lock = process_tokens()
        with lock:
            cached = tokens.get(self.cache_key())
        if cached is not None and time.monotonic() < cached[1]:
            self.token = cached[0]
            return
        token, lifetime = self._new_token(post_form)
        remember_secret(token)
        with lock:
            tokens[self.cache_key()] = (token, time.monotonic() + lifetime)  # the mistake: no margin
        self.token = token


class RefreshesAtHalfLife(NoEarlyRefresh):
    def ensure_token(self, post_form):
        if not self.uses_tokens:
            return
        tokens, lock = process_tokens()
        cached = tokens.get(self.cache_key())
        if cached is not None and time.monotonic() < cached[1]:
            self.token = cached[0]
            return
        token, lifetime = self._new_token(post_form)
        with lock:
            tokens[self.cache_key()] = (token, time.monotonic() + lifetime / 2)  # the mistake: far too early
        remember_secret(token)
        self.token = token


class RefreshClearsEverything(Authenticator):
    def refresh(self):
        if not self.uses_tokens:
            return False
        forget_tokens()  # the mistake: every other cached token goes too
        self.token = None
        return True


class RefreshTrueForKeys(Authenticator):
    def refresh(self):
        super().refresh()
        return True  # the mistake: an API key does not get better by asking again


class ReprOfVars(Authenticator):
    def __repr__(self):
        return f"Authenticator({vars(self)})"  # the mistake: vars holds the token


class ReprWithoutMethod(Authenticator):
    def __repr__(self):
        return "<Authenticator>"  # the mistake: says nothing useful


# -- the requirements that run in this process, one by one ------------------------------------

IN_PROCESS = {
    PRIORITY: lab08.priority, TOKEN_REQUEST: lab08.token_request, TOKEN_ERROR: lab08.token_error,
    CACHE: lab08.cache, REFRESH: lab08.refresh, NO_SECRET: lab08.no_secret,
}


def reason_of(requirement, context):
    """What the check says about one requirement ("" when it passes), as check_lab would run it."""
    report = Report("08")
    report.require(requirement, IN_PROCESS[requirement], context)
    return report.failures.get(requirement, "")


@pytest.mark.parametrize("resolver, authenticator", [(resolve_method, Authenticator), (table_resolver, ExpiryAuthenticator),
                                                      (rules_resolver, LockedAuthenticator)],
                         ids=["reference", "expiry-table", "locked-rules"])
@pytest.mark.parametrize("requirement", list(IN_PROCESS))
def test_correct_code_meets_each_requirement(context, requirement, resolver, authenticator):
    assert reason_of(requirement, context(authenticator, resolver)) == ""


@pytest.mark.parametrize(
    "requirement, resolver, authenticator, says",
    [
        (PRIORITY, api_key_first, Authenticator, "chose 'apiKey', not 'oauth'"),
        (PRIORITY, oauth_needs_both, Authenticator, "with clientSecret=cs, apiToken=k, resolve_method chose 'apiKey'"),
        (PRIORITY, cloud_if_given, Authenticator, "with no auth options, resolve_method chose 'cloud', not 'none'"),
        (TOKEN_REQUEST, resolve_method, WrongGrant, "wrong or missing grant_type, scope"),
        (TOKEN_REQUEST, resolve_method, IgnoresTokenUrl, f"with option tokenUrl={lab08.ELSEWHERE} the token was asked of"),
        (TOKEN_REQUEST, resolve_method, NeedsExpiresIn, "a token answer without expires_in failed: KeyError"),
        (TOKEN_REQUEST, resolve_method, NotRemembered, "not registered with remember_secret"),
        (TOKEN_ERROR, resolve_method, TellsInErrors, "the error showed the client secret"),
        (TOKEN_ERROR, resolve_method, RuntimeErrorWithoutToken, "raised RuntimeError: no token; raise an AuthError"),
        (CACHE, resolve_method, FetchesEveryTime, "fetched a new token for the next request"),
        (CACHE, resolve_method, OneKeyForAll, "another tokenScope got the token cached for the first scope"),
        (CACHE, resolve_method, NoEarlyRefresh, "with 5% of a 1 s lifetime left the cached token was used again"),
        (CACHE, resolve_method, RefreshesAtHalfLife, "at 60% of a 1 s lifetime a new token was fetched"),
        (REFRESH, resolve_method, OwnCacheKeepsTokenOn401, "refresh() left the refused token in self.token"),
        (REFRESH, resolve_method, RefreshClearsEverything, "a token cached under another scope was fetched again"),
        (REFRESH, resolve_method, RefreshTrueForKeys, "refresh() returned True for auth method apiKey"),
        (NO_SECRET, resolve_method, ReprOfVars, "the oauth authenticator's repr shows the access token"),
        (NO_SECRET, resolve_method, ReprWithoutMethod, "does not name its method"),
    ],
)
def test_a_mistake_fails_its_requirement_with_the_reason(context, requirement, resolver, authenticator, says):
    reason = reason_of(requirement, context(authenticator, resolver))
    assert says in reason, reason


# -- the whole check, with the read on Spark -----------------------------------------------------

@pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")
def test_reference_passes(spark):
    solution = labs.solution_namespace("08")
    report = run(solution["resolve_method"], solution["Authenticator"])
    assert report.passed, report.failures


@pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")
@pytest.mark.parametrize("resolver, authenticator", [(table_resolver, ExpiryAuthenticator), (rules_resolver, LockedAuthenticator)],
                         ids=["expiry-table", "locked-rules"])
def test_other_correct_implementations_pass(spark, resolver, authenticator):
    report = run(resolver, authenticator)
    assert report.passed, report.failures


@pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")
@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (dict(authenticator=FetchesEveryTime), {TOKEN_REQUEST: "not registered with remember_secret",
                                                CACHE: "fetched a new token for the next request",
                                                ON_SPARK: "no token outlived its task"}),
        (
            dict(resolver=api_key_first, authenticator=KeepsForeverAndTells),
            {PRIORITY: "chose 'apiKey', not 'oauth'", TOKEN_REQUEST: "not registered with remember_secret",
             TOKEN_ERROR: "the error showed the client secret", CACHE: "with 5% of a 1 s lifetime left",
             REFRESH: "refresh() must drop the token", NO_SECRET: "repr shows the access token",
             ON_SPARK: "the read failed"},
        ),
        (
            dict(authenticator=OwnCacheKeepsTokenOn401),
            # Its cache also refreshes 10 % early whatever the lifetime (360 s of an hour, not 60 s).
            {REFRESH: "refresh() left the refused token in self.token", ON_SPARK: "reaches each task as a copy",
             CACHE: "3539.5 s after a token answer without expires_in, ensure_token() fetched a new token"},
        ),
        # Right in one process, wrong on Spark: only the read on Spark can tell.
        (dict(authenticator=ClassAttributeCache), {ON_SPARK: "a dict of your own (a notebook global, a class attribute)"}),
    ],
    ids=["fetches-every-time", "wrong-order-never-refreshed-repr", "own-cache-keeps-token-on-401", "class-attribute-cache"],
)
def test_mistakes_fail_with_the_reason(spark, mistakes, expected):
    report = run(**mistakes)
    assert not report.passed
    assert set(report.failures) == set(expected), report.failures
    for requirement, says in expected.items():
        assert says in report.failures[requirement], (requirement, report.failures)
