"""Lab 00's check accepts the reference and rejects the plausible mistakes, saying why."""
import pytest
import requests

from workshop import labs
from workshop.checks import check_lab


def no_status_check(base_url, path, params=None, timeout=(5, 30)):
    return requests.get(base_url + path, params=params, timeout=timeout).json()


def truthiness_check(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response:  # False for 4xx/5xx: the error becomes None, not an exception
        return response.json()


def no_timeout(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params)
    response.raise_for_status()
    return response.json()


def message_dropped(base_url, path, params=None, timeout=(5, 30)):
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code}")
    return response.json()


def test_reference_passes(service):
    report = check_lab("00", get_json=labs.solution_namespace("00")["get_json"], url=service.url)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "wrong, requirement, says",
    [
        (no_status_check, "raises on 404, with the service's message", "instead of raising"),
        (truthiness_check, "raises on 404, with the service's message", "returned None instead of raising"),
        (no_timeout, "gives up on a slow server after the timeout", "pass timeout=timeout"),
        (message_dropped, "raises on 400, naming the bad parameter", "should carry the service's message"),
    ],
)
def test_mistakes_fail_with_the_reason(service, wrong, requirement, says):
    report = check_lab("00", get_json=wrong, url=service.url)
    assert not report.passed
    assert says in report.failures[requirement]


def test_unfinished_todo_is_reported_not_crashed(service):
    def todo(*args, **kwargs):
        raise NotImplementedError("call requests.get")

    report = check_lab("00", get_json=todo, url=service.url)
    assert not report.passed and "not implemented yet" in report.failures["returns the decoded JSON of /health"]
