"""Lab 00's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why."""
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import requests

from workshop import labs
from workshop.checks import check_lab

HEALTH = "returns the decoded JSON of /health"
PARAMS = "sends the query parameters"
ON_404 = "raises on 404 (a missing path), with the service's message"
ON_400 = "raises on 400 (a bad parameter), with the service's message"
ON_500 = "raises on 500 (a server fault), with the service's message"
TIMEOUT = "gives up on a slow server after the caller's timeout, raising"
NOT_JSON = "raises on 502 with an HTML body (a proxy's page), saying the status"


# -- right, written differently ------------------------------------------------------------------


def with_urllib(base_url, path, params=None, timeout=(5, 30)):
    """The standard library: urlopen raises HTTPError for 4xx/5xx; one number is its timeout."""
    query = "?" + urllib.parse.urlencode(params) if params else ""
    try:
        with urllib.request.urlopen(base_url + path + query, timeout=max(timeout)) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(text).get("message")
        except ValueError:  # a proxy's HTML page
            message = text
        raise ValueError(f"{path}: HTTP {error.code}: {message}") from None


def with_session_and_raise_for_status(base_url, path, params=None, timeout=(5, 30)):
    with requests.Session() as session:
        response = session.get(f"{base_url}{path}", params=params or {}, timeout=timeout)
        try:
            response.raise_for_status()
        except requests.HTTPError as error:
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            raise requests.HTTPError(f"{error}: {response.json()['message'] if is_json else response.text}") from error
        return response.json()


# -- mistakes ------------------------------------------------------------------------------------


def no_status_check(base_url, path, params=None, timeout=(5, 30)):
    return requests.get(base_url + path, params=params, timeout=timeout).json()


def truthiness_check(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response:  # False for 4xx/5xx: the error becomes None, not an exception
        return response.json()


def no_timeout(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params)
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.json()


def fixed_timeout(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=(5, 30))  # not the caller's
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.json()


def timeout_swallowed(base_url, path, params=None, timeout=(5, 30)):
    try:
        response = requests.get(base_url + path, params=params, timeout=timeout)
    except requests.Timeout:
        return None  # the caller cannot tell a timeout from an empty answer
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.json()


def no_timeout_parameter(base_url, path, params=None):
    response = requests.get(base_url + path, params=params, timeout=30)
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.json()


def message_dropped(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code}")
    return response.json()


def raise_for_status_only(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    response.raise_for_status()  # raises, but "404 Client Error: Not Found for url: ...", not the service's words
    return response.json()


def client_errors_only(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if 400 <= response.status_code < 500:  # the mistake: a 5xx passes as an answer
        raise RuntimeError(response.json()["message"])
    return response.json()


def only_404(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code == 404:
        raise RuntimeError(response.json()["message"])
    return response.json()


def returns_text(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.text


def decodes_every_error_body(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code >= 400:  # a proxy's HTML page makes .json() raise instead
        raise RuntimeError(f"HTTP {response.status_code}: {response.json().get('message', response.text)}")
    return response.json()


def params_dropped(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, timeout=timeout)
    if response.status_code >= 400:
        raise RuntimeError(response.json()["message"])
    return response.json()


def test_reference_passes(service):
    report = check_lab("00", get_json=labs.solution_namespace("00")["get_json"], url=service.url)
    assert report.passed, report.failures


@pytest.mark.parametrize("get_json", [with_urllib, with_session_and_raise_for_status])
def test_other_right_answers_pass(service, get_json):
    report = check_lab("00", get_json=get_json, url=service.url)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "wrong, requirement, says",
    [
        (no_status_check, ON_404, "get_json returned the error body ({'error': 'not_found'"),
        (truthiness_check, ON_404, "returned None instead of raising: check response.status_code"),
        (truthiness_check, ON_500, "answered HTTP 500, but get_json returned None"),
        (no_timeout, TIMEOUT, "waited 2.0 s for a server that answers after 2 s: pass the caller's timeout"),
        (fixed_timeout, TIMEOUT, "waited 2.0 s"),
        (timeout_swallowed, TIMEOUT, "gave up in time but returned None instead of raising"),
        (no_timeout_parameter, TIMEOUT, "keep the signature get_json(base_url, path, params=None, timeout=(5, 30))"),
        (message_dropped, ON_400, "without the service's message \"limit: must be an integer, got 'lots'\""),
        (raise_for_status_only, ON_404, "raised HTTPError: '404 Client Error"),
        (client_errors_only, ON_500, "GET /v1/entities/stats answered HTTP 500, but get_json returned the error body"),
        (only_404, ON_400, "GET /v1/entities?limit=lots answered HTTP 400, but get_json returned"),
        (returns_text, HEALTH, "returned the text '{\"status\":\"ok\""),
        (params_dropped, PARAMS, "gave 1000 items, not 3: the params never reached the service"),
        (params_dropped, ON_400, "yet get_json returned a normal answer"),  # not "check the status code"
        (decodes_every_error_body, NOT_JSON, "a 502 answered with an HTML page raised JSONDecodeError"),
    ],
)
def test_mistakes_fail_with_the_reason(service, wrong, requirement, says):
    report = check_lab("00", get_json=wrong, url=service.url)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


def test_unfinished_todo_is_reported_not_crashed(service):
    def todo(*args, **kwargs):
        raise NotImplementedError("your code here: see the TODO above")

    report = check_lab("00", get_json=todo, url=service.url)
    assert not report.passed and "not implemented yet" in report.failures[HEALTH]
