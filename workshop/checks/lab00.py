"""Lab 00 check: `get_json` is safe (timeouts, errors raised with the service's message)."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request


def service_message(url, path, params):
    """What the service itself says about a failing request."""
    query = "?" + urllib.parse.urlencode(params) if params else ""
    try:
        urllib.request.urlopen(url + path + query, timeout=10)
    except urllib.error.HTTPError as error:
        return json.load(error)["message"]
    raise AssertionError(f"GET {path} was expected to fail")


def check(report, get_json, url):
    from workshop.service import PracticeService

    def answers_health():
        body = get_json(url, "/health")
        if not isinstance(body, dict) or body.get("status") != "ok":
            return f"expected the decoded /health body with status 'ok', got {body!r:.120}"

    def answers_with_params():
        page = get_json(url, "/v1/entities", params={"limit": 3})
        if not isinstance(page, dict) or len(page.get("items", [])) != 3:
            return f"GET /v1/entities with params={{'limit': 3}} should give 3 items, got {page!r:.120}"

    def raises(path, params):
        def test():
            needle = service_message(url, path, params)
            try:
                body = get_json(url, path, params=params)
            except NotImplementedError:
                raise
            except Exception as error:
                if needle not in str(error):
                    return f"the error for GET {path} should carry the service's message ({needle!r}); it says {str(error)!r:.160}"
                return None
            return f"GET {path} answered an HTTP error but get_json returned {body!r:.80} instead of raising"

        return test

    def times_out():
        with PracticeService(events=100, fault_rate=1.0, fault_kinds=["slow"], slow_seconds=3.0) as slow:
            started = time.time()
            try:
                get_json(slow.url, "/v1/entities/stats", timeout=(1, 1))
            except NotImplementedError:
                raise
            except Exception:
                pass
            took = time.time() - started
            if took > 2.5:
                return f"with timeout=(1, 1) a slow server kept get_json waiting {took:.1f} s; pass timeout=timeout to requests.get"

    report.require("returns the decoded JSON of /health", answers_health)
    report.require("passes query parameters", answers_with_params)
    report.require("raises on 404, with the service's message", raises("/v1/nothing-here", None))
    report.require("raises on 400, naming the bad parameter", raises("/v1/entities", {"limit": "lots"}))
    report.require("gives up on a slow server after the timeout", times_out)
