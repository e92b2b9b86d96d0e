"""Lab 00 check: `get_json` is safe: the caller's timeout, an error for every error status, the service's words.

The rules the lab states, and the requirement that tests each, with inputs where breaking the
rule changes the outcome:

1. "Return the decoded JSON body of GET base_url + path."
   `returns_decoded_json`: /health comes back as the dict {"status": "ok", ...}; the Response,
   its text or None fail, each named.
2. The query parameters are sent.
   `sends_params`: /v1/entities with params={"limit": 3} holds 3 items (the service's default
   page holds 1000, so ignored params show).
3. "Always pass a timeout" (the caller's: `timeout=timeout`).
   `gives_up_after_the_timeout`: a server of the check's own answers after 2 s; called with
   timeout=(0.25, 0.25), get_json must raise a timeout well before that. No timeout, or a fixed
   one such as (5, 30), waits the 2 s; a timeout caught and turned into a return value, and an
   error that is not a timeout (e.g. a signature without `timeout`), are named.
4. "Any 4xx or 5xx must raise"; "never test `if response:`".
   `raises_on_error_status`, three times: 404 (a missing path), 400 (a bad parameter) and 500 (a
   fault of the check's own service, failing every request). A test of one status code passes
   one of them at most; "4xx only" misses the 500; `if response:` returns None (named).
5. "Put the service's own message in the error."
   The same three: the error's text must hold the message the service sent for that request.
6. "A proxy ... may answer with an HTML page: the error carries the body's text, and still says
   the status (never a JSON decoding error in its place)."
   `raises_on_a_body_that_is_not_json`: a server of the check's own answers 502 with an HTML
   page; get_json must raise an error holding 502, not the JSON decoding error (or a NameError)
   of code that decodes every error body.
"""
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from workshop.checks import FixedAnswer

SLOW_SECONDS = 2.0  # how long the slow service waits before it answers
TIMEOUT = (0.25, 0.25)  # the timeout the check passes: far below SLOW_SECONDS
WAITED = 1.2  # seconds after which get_json clearly waited for the slow answer

HINTS = {
    "get_json": [
        "Three steps: send the GET with the caller's params and timeout; decide from the status code "
        "whether it failed; on a failure, raise an error that carries the service's own message "
        "(error bodies are JSON with a \"message\").",
        "`if response:` is False for every 4xx and 5xx, so code that tests it returns None on errors "
        "and loses rows quietly; `response.raise_for_status()` raises, but its text lacks the service's "
        "message; and a `timeout=` that is not the parameter ignores the caller's.",
        "response = requests.get(base_url + path, params=params, timeout=timeout); if "
        "response.status_code >= 400: take response.json()['message'] (response.text when the body is not "
        "JSON: catch the ValueError) and raise RuntimeError(f\"GET {path}: HTTP {response.status_code}: "
        "{message}\"); else return response.json()",
    ],
}


def check(report, get_json, url):
    from workshop.service import PracticeService

    failing = PracticeService(seed=0, events=100, entities=50, ring_rows=10, fault_rate=1.0, fault_kinds="500")
    slow = PracticeService(seed=0, events=100, entities=50, ring_rows=10, fault_rate=1.0, fault_kinds="slow",
                           slow_seconds=SLOW_SECONDS)
    with failing, slow:
        report.require("returns the decoded JSON of /health", returns_decoded_json, get_json, url)
        report.require("sends the query parameters", sends_params, get_json, url)
        report.require("raises on 404 (a missing path), with the service's message",
                       raises_on_error_status, get_json, url, "/v1/nothing-here", None)
        report.require("raises on 400 (a bad parameter), with the service's message",
                       raises_on_error_status, get_json, url, "/v1/entities", {"limit": "lots"})
        report.require("raises on 500 (a server fault), with the service's message",
                       raises_on_error_status, get_json, failing.url, "/v1/entities/stats", None)
        report.require("gives up on a slow server after the caller's timeout, raising",
                       gives_up_after_the_timeout, get_json, slow.url)
    report.require("raises on 502 with an HTML body (a proxy's page), saying the status",
                   raises_on_a_body_that_is_not_json, get_json)


# -- the requirements ------------------------------------------------------------------------------


def returns_decoded_json(get_json, url):
    body = get_json(url, "/health")
    if isinstance(body, dict) and body.get("status") == "ok":
        return None
    if body is None:
        return "get_json(url, '/health') returned None; return response.json(), the decoded body"
    if isinstance(body, (str, bytes)):
        return f"get_json(url, '/health') returned the text {body[:60]!r}; return response.json(), the decoded body"
    return f"get_json(url, '/health') returned {body!r:.80}; expected the decoded body, a dict with status 'ok'"


def sends_params(get_json, url):
    page = get_json(url, "/v1/entities", params={"limit": 3})
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        return f"GET /v1/entities with params={{'limit': 3}} gave {page!r:.100}; expected the page (items, next_cursor)"
    if len(items) != 3:
        return (
            f"GET /v1/entities with params={{'limit': 3}} gave {len(items)} items, not 3: the params never reached "
            "the service; pass params=params to requests.get"
        )
    return None


def raises_on_error_status(get_json, url, path, params):
    status, message = service_answer(url, path, params)
    request = f"GET {path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        body = get_json(url, path, params=params)
    except NotImplementedError:
        raise
    except Exception as error:
        if message not in str(error):
            return (
                f"{request} (HTTP {status}) raised {type(error).__name__}: {str(error)[:120]!r}, without the service's "
                f"message {message!r}: put response.json()['message'] in the error"
            )
        return None
    if body is None:
        return (
            f"{request} answered HTTP {status}, but get_json returned None instead of raising: check "
            "response.status_code (>= 400 is an error); never `if response:`"
        )
    if params and not (isinstance(body, dict) and "error" in body):
        return (
            f"the service refuses {request} with HTTP {status}, yet get_json returned a normal answer "
            f"({body!r:.60}): the params never reached the service; pass params=params to requests.get"
        )
    return (
        f"{request} answered HTTP {status}, but get_json returned the error body ({body!r:.60}) instead of "
        "raising: check response.status_code (>= 400 is an error) before using the body"
    )


def gives_up_after_the_timeout(get_json, slow_url):
    started = time.monotonic()
    try:
        body = get_json(slow_url, "/v1/entities/stats", timeout=TIMEOUT)
        error = None
    except NotImplementedError:
        raise
    except Exception as raised:
        error = raised
    took = time.monotonic() - started
    call = f"get_json(url, '/v1/entities/stats', timeout={TIMEOUT})"
    if took >= WAITED:
        return (
            f"{call} waited {took:.1f} s for a server that answers after {SLOW_SECONDS:.0f} s: pass the caller's "
            "timeout to requests.get (timeout=timeout); without one, or with a fixed one, a stuck server holds the task"
        )
    if error is None:
        return (
            f"{call} gave up in time but returned {body!r:.60} instead of raising: let the timeout error "
            "propagate (or raise your own), so the caller never takes a timeout for an answer"
        )
    if isinstance(error, TypeError) and "timeout" in str(error):
        return f"{call} raised TypeError: {error}: keep the signature get_json(base_url, path, params=None, timeout=(5, 30))"
    if not timed_out(error):
        return f"{call} raised {type(error).__name__}: {str(error)[:120]}, which is not a timeout"
    return None


def raises_on_a_body_that_is_not_json(get_json):
    with FixedAnswer(502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>") as proxy_url:
        try:
            body = get_json(proxy_url, "/v1/entities/stats", timeout=(5, 5))
        except NotImplementedError:
            raise
        except Exception as error:
            if "502" in str(error) and not isinstance(error, (json.JSONDecodeError, NameError)):
                return None
            return (
                f"a 502 answered with an HTML page raised {type(error).__name__}: {str(error)[:120]!r}: decode the "
                "body as JSON only where it is JSON (catch the ValueError), else put response.text in the error, "
                "with the status code"
            )
    return f"a 502 answered with an HTML page returned {body!r:.60} instead of raising: check response.status_code"


# -- helpers ---------------------------------------------------------------------------------------


def service_answer(url, path, params):
    """(status, message) of the service's error answer to GET path: what get_json must pass on."""
    query = "?" + urllib.parse.urlencode(params) if params else ""
    try:
        urllib.request.urlopen(url + path + query, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)["message"]
    raise AssertionError(f"GET {path} was expected to fail")


def timed_out(error):
    """True when `error`, or an error it was raised from, is a timeout."""
    import requests

    for _ in range(10):  # the error and what it was raised from, a few levels deep
        if error is None:
            return False
        if isinstance(error, (requests.exceptions.Timeout, TimeoutError)) or "timed out" in str(error).lower():
            return True
        error = error.__cause__ or error.__context__
    return False
