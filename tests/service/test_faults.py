"""Transient faults: each kind, at a rate, reproducible from the seed; exempt endpoints never fault."""
import time

import pytest
import requests

from workshop.service import PracticeService


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=21, events=500, auth=["oauth", "api_key"], slow_seconds=0.3, retry_after=2) as running:
        yield running


@pytest.fixture()
def faults(service):
    """Set faults for one test; always switch them off afterwards."""
    yield service.set_faults
    service.set_faults(rate=0.0)


def key(service):
    return {"X-API-Key": service.credentials["api_key"]}


def feed(service, headers=None, **query):
    return requests.get(service.url + "/v1/events/feed", params={"limit": 5, **query},
                        headers=headers or key(service), timeout=10)


def test_429_with_retry_after(service, faults):
    faults(rate=1.0, kinds=["429"])
    answer = feed(service)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    assert answer.json()["error"] == "rate_limited"


@pytest.mark.parametrize("kind, status, error", [("500", 500, "internal_error"), ("503", 503, "unavailable")])
def test_server_errors(service, faults, kind, status, error):
    faults(rate=1.0, kinds=[kind])
    answer = feed(service)
    assert answer.status_code == status and answer.json()["error"] == error


def test_slow(service, faults):
    faults(rate=1.0, kinds=["slow"])
    started = time.perf_counter()
    answer = feed(service)
    assert answer.status_code == 200 and time.perf_counter() - started >= 0.3
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(service.url + "/v1/events/stats", headers=key(service), timeout=0.1)


def test_reset(service, faults):
    faults(rate=1.0, kinds=["reset"])
    with pytest.raises(requests.exceptions.ConnectionError):
        feed(service)


def test_a_reset_write_was_applied_so_only_an_idempotent_retry_is_safe(service, faults):
    table = service.url + "/v1/tables/reset_writes"
    requests.put(table, json={"fields": [{"name": "n", "type": "bigint"}]}, headers=key(service), timeout=10)
    faults(rate=1.0, kinds=["reset"])
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(table + "/rows", json={"rows": [{"n": 1}]}, headers={**key(service), "Idempotency-Key": "a"},
                      timeout=10)
    faults(rate=0.0)
    assert service.truth.table("reset_writes") == [{"n": 1}]
    retry = requests.post(table + "/rows", json={"rows": [{"n": 1}]},
                          headers={**key(service), "Idempotency-Key": "a"}, timeout=10)
    assert retry.json() == {"inserted": 0, "duplicate": True, "same_rows": True, "same_write": False}


def test_expired_token(service, faults):
    issued = requests.post(service.url + "/oauth/token", data={
        "grant_type": "client_credentials", **{k: service.credentials[k] for k in ("client_id", "client_secret")}},
        timeout=10).json()["access_token"]
    bearer = {"Authorization": "Bearer " + issued}
    assert feed(service, bearer).status_code == 200
    faults(rate=1.0, kinds=["expired_token"])
    answer = feed(service, bearer)
    assert answer.status_code == 401 and answer.json()["error"] == "token_expired"
    assert feed(service).status_code == 200  # not a token: nothing to expire
    faults(rate=0.0)
    assert feed(service, bearer).json()["error"] == "token_expired"  # the token really is expired now


def test_health_schema_and_token_endpoints_never_fault(service, faults):
    faults(rate=1.0, kinds=["500", "reset"])
    for _ in range(5):
        assert requests.get(service.url + "/health", timeout=10).status_code == 200
        assert requests.get(service.url + "/v1/schema/events", headers=key(service), timeout=10).status_code == 200
        assert requests.post(service.url + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(service.credentials["client_id"], service.credentials["client_secret"]),
                             timeout=10).status_code == 200


def outcomes(service, count=60):
    """What happens to a fixed sequence of requests, including retries of the same request."""
    seen = []
    with requests.Session() as http:
        for i in range(count):
            try:
                answer = http.get(service.url + "/v1/events/feed", params={"after_seq": i % 7, "limit": 3},
                                  headers=key(service), timeout=10)
                seen.append(answer.status_code)
            except requests.exceptions.ConnectionError:
                seen.append("reset")
    return seen


def fault_settings(seed):
    return dict(seed=seed, events=50, auth=["api_key"], fault_rate=0.4, slow_seconds=0.01,
                fault_kinds=["429", "500", "503", "slow", "reset"], retry_after=0)


def test_same_seed_same_faults_other_seed_other_faults():
    with PracticeService(**fault_settings(1)) as one, PracticeService(**fault_settings(1)) as same, \
            PracticeService(**fault_settings(2)) as other:
        first = outcomes(one)
        assert outcomes(same) == first
        assert outcomes(other) != first
        assert {429, 500, 503, "reset"} <= set(first) and 200 in first
        one.set_faults(rate=0.4)  # occurrence counts start again: the same faults again
        assert outcomes(one) == first


def test_retrying_a_faulted_request_eventually_succeeds_with_the_right_data():
    with PracticeService(**fault_settings(3)) as service:
        for after in range(0, 50, 10):
            for _attempt in range(50):
                try:
                    answer = requests.get(service.url + "/v1/events/feed", params={"after_seq": after, "limit": 10},
                                          headers=key(service), timeout=10)
                except requests.exceptions.ConnectionError:
                    continue
                if answer.status_code == 200:
                    break
            assert answer.json()["items"] == service.truth.records("events", after_seq=after, until_seq=after + 10)
