"""The resilience layer without Spark: classification, backoff, budgets, the breaker,
idempotent writes under lost answers, dead letters.

The connector code runs in this process against the real practice service; the Spark versions
of these behaviours are in test_faults_spark.py and test_bad_input.py.
"""
import socket
import uuid

import pytest
import requests

from solutions import resilience
from solutions.client import PracticeClient, ServiceError
from solutions.options import parse_options
from solutions.resilience import (
    FATAL,
    RETRY,
    RETRY_IF_IDEMPOTENT,
    CircuitBreaker,
    CircuitOpenError,
    Retrier,
    RetryPolicy,
    classify,
)
from solutions.writer import PracticeBatchWriter
from workshop.service import PracticeService
from workshop.truth import checksum

SMALL = dict(seed=5, events=200, entities=100, ring_rows=50)


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client_for(url, **options):
    return PracticeClient(parse_options({"url": url, **{name: str(value) for name, value in options.items()}}))


# -- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, verdict",
    [(429, RETRY), (503, RETRY), (500, RETRY_IF_IDEMPOTENT), (502, RETRY_IF_IDEMPOTENT), (504, RETRY_IF_IDEMPOTENT),
     (400, FATAL), (401, FATAL), (403, FATAL), (404, FATAL), (409, FATAL), (413, FATAL), (422, FATAL)],
)
def test_statuses_are_classified(status, verdict):
    assert classify(ServiceError("x", status=status))[0] == verdict


def no_answer(call):
    """The ServiceError the client raises for a request that got no answer."""
    with pytest.raises(requests.exceptions.RequestException) as raised:
        call()
    return ServiceError("no answer", cause=raised.value)


def test_exceptions_are_classified():
    with PracticeService(**SMALL, fault_rate=1.0, fault_kinds=["reset"]) as resetting:
        reset = no_answer(lambda: requests.get(resetting.url + "/v1/entities/stats", timeout=5))
    with PracticeService(**SMALL, fault_rate=1.0, fault_kinds=["slow"], slow_seconds=1.0) as slow:
        timeout = no_answer(lambda: requests.get(slow.url + "/v1/entities/stats", timeout=0.1))
        tls = no_answer(lambda: requests.get(slow.url.replace("http:", "https:") + "/health", timeout=5))
    refused = no_answer(lambda: requests.get(f"http://127.0.0.1:{closed_port()}/health", timeout=5))
    unknown = no_answer(lambda: requests.get("http://no-such-host.invalid/health", timeout=5))
    assert classify(refused) == (RETRY, "connection refused")  # never sent: safe to send again
    assert classify(reset) == (RETRY_IF_IDEMPOTENT, "connection reset")  # may have been carried out
    assert classify(timeout) == (RETRY_IF_IDEMPOTENT, "read timeout")
    assert classify(tls) == (FATAL, "TLS error")
    assert classify(unknown) == (FATAL, "unknown host")
    assert classify(ValueError("a bug")) == (FATAL, "ValueError")


# -- backoff ------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    for retry in (1, 2, 3, 8):
        ceiling = min(30.0, 0.5 * 2 ** (retry - 1))
        waits = [policy.delay(retry) for _ in range(300)]
        assert all(0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling * 0.8 and min(waits) < ceiling * 0.2  # spread over the whole range
    assert all(policy.delay(1, retry_after=5) >= 5 for _ in range(50))  # never sooner than Retry-After
    assert all(policy.delay(1, retry_after=120) == 30.0 for _ in range(10))  # capped by maxRetryDelay


def test_retry_after_is_read_from_the_answer():
    with PracticeService(**SMALL, fault_rate=1.0, fault_kinds=["429"], retry_after=3) as limited:
        with client_for(limited.url, maxRetries=0) as client:
            with pytest.raises(ServiceError) as error:
                client.get("/v1/entities/stats")
    assert error.value.status == 429 and error.value.retry_after == 3
    assert "gave up after 1 attempts; option maxRetries=0" in str(error.value)


# -- the retrier, driven by a scripted attempt (no Spark, no HTTP) -------------------------------


class Script:
    """An attempt function that fails with the given errors, then answers "ok"."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def retrier(waits=None, **policy):
    policy = RetryPolicy(**{"base_delay": 0.01, "max_delay": 0.01, **policy})
    breaker = CircuitBreaker("http://scripted", policy.breaker_threshold, policy.breaker_cooldown)
    return Retrier(policy, breaker, sleep=(waits.append if waits is not None else lambda seconds: None))


def test_transient_failures_are_retried_and_retry_after_is_waited():
    waits = []
    script = Script(ServiceError("busy", status=429, retry_after=0.5), ServiceError("down", status=503))
    runner = retrier(waits, max_delay=5.0)
    assert runner.call(script, "GET /x") == "ok"
    assert script.calls == 3 and runner.retries == 2 and waits[0] >= 0.5


def test_a_fatal_error_is_not_retried():
    script = Script(ServiceError("no such table", status=404))
    with pytest.raises(ServiceError, match="no such table"):
        retrier().call(script, "GET /x")
    assert script.calls == 1


def test_a_request_that_is_not_idempotent_is_resent_only_when_it_was_not_carried_out():
    refused = ServiceError("rate limited", status=429)
    assert retrier().call(Script(refused), "POST /commit", idempotent=False) == "ok"
    script = Script(ServiceError("boom", status=500))
    with pytest.raises(ServiceError, match="not retried: POST /commit may have been carried out and is not idempotent"):
        retrier().call(script, "POST /commit", idempotent=False)
    assert script.calls == 1


def test_the_per_request_budget_gives_up_with_the_last_error():
    script = Script(*[ServiceError(f"down {n}", status=503) for n in range(10)])
    with pytest.raises(ServiceError, match=r"down 3 \(gave up after 4 attempts; option maxRetries=3\)"):
        retrier(max_retries=3).call(script, "GET /x")


def test_the_per_task_budget_spans_requests():
    runner = retrier(task_budget=3)
    assert runner.call(Script(ServiceError("a", status=503), ServiceError("b", status=503)), "GET /1") == "ok"
    with pytest.raises(ServiceError, match="used up its retry budget of 3 retries; option retryBudget"):
        runner.call(Script(ServiceError("c", status=503), ServiceError("d", status=503)), "GET /2")


def test_the_breaker_opens_fails_fast_and_closes_after_a_good_trial():
    now = [0.0]
    breaker = CircuitBreaker("http://svc", threshold=3, cooldown=10.0, clock=lambda: now[0])
    runner = Retrier(RetryPolicy(max_retries=10, base_delay=0.0), breaker, sleep=lambda seconds: None)
    with pytest.raises(CircuitOpenError, match="3 failed attempts in a row .* fail fast for the next 10 s"):
        runner.call(Script(*[ServiceError("down", status=503)] * 5), "GET /x")
    untouched = Script()
    with pytest.raises(CircuitOpenError):
        runner.call(untouched, "GET /y")
    assert untouched.calls == 0  # failed fast, without a request
    now[0] = 11.0  # after the cool-down: half-open, one trial goes
    assert runner.call(Script(), "GET /z") == "ok"
    assert breaker.state == "closed" and breaker.failures == 0


def test_a_failed_trial_opens_the_breaker_again():
    now = [0.0]
    breaker = CircuitBreaker("http://svc", threshold=2, cooldown=5.0, clock=lambda: now[0])
    runner = Retrier(RetryPolicy(max_retries=10, base_delay=0.0), breaker, sleep=lambda seconds: None)
    with pytest.raises(CircuitOpenError):
        runner.call(Script(*[ServiceError("down", status=503)] * 3), "GET /x")
    now[0] = 6.0
    with pytest.raises(CircuitOpenError):
        runner.call(Script(ServiceError("still down", status=503)), "GET /x")
    assert breaker.state == "open" and breaker.opened_at == 6.0


def test_the_breaker_is_per_process_and_per_url_and_stops_a_dead_service_quickly():
    url = f"http://127.0.0.1:{closed_port()}"
    options = dict(maxRetries=20, retryDelay="1ms", maxRetryDelay="1ms", breakerThreshold=4, breakerCooldown="1h")
    with client_for(url, **options) as first:
        with pytest.raises(CircuitOpenError, match=f"circuit breaker open for the practice service at {url}"):
            first.get("/v1/entities/stats")
        assert first.retrier.attempts == 4
    with client_for(url, **options) as second:  # another task in the same process: fails at once
        with pytest.raises(CircuitOpenError):
            second.get("/v1/entities/stats")
        assert second.retrier.attempts == 0
    resilience.reset_breakers()


# -- writes under lost answers: idempotency keys keep them exact ---------------------------------


def test_a_staged_row_post_with_a_key_is_staged_once(service):
    table = service.url + f"/v1/tables/keyed_{uuid.uuid4().hex[:8]}"
    requests.put(table, json={"fields": [{"name": "id", "type": "bigint"}]}, timeout=10)
    stage = requests.post(table + "/stages", timeout=10).json()["stage_id"]
    rows = {"rows": [{"id": 1}, {"id": 2}]}
    first = requests.post(f"{table}/stages/{stage}/rows", json=rows, headers={"Idempotency-Key": "k1"}, timeout=10)
    again = requests.post(f"{table}/stages/{stage}/rows", json=rows, headers={"Idempotency-Key": "k1"}, timeout=10)
    assert first.json() == {"staged": 2, "duplicate": False} and again.json() == {"staged": 2, "duplicate": True, "same_rows": True}


@pytest.mark.parametrize("protocol", ["staged", "idempotent"])
def test_writes_stay_exact_when_answers_are_lost(protocol):
    # A `reset` on a write carries the write out, then drops the connection: the client cannot
    # tell whether it happened. Every write request is idempotent, so resending is safe.
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType([StructField("id", LongType()), StructField("name", StringType())])
    rows = [{"id": i, "name": f"n{i}"} for i in range(400)]
    with PracticeService(**{**SMALL, "seed": 11}, fault_rate=0.3, fault_kinds=["reset", "500", "429"], retry_after=0) as flaky:
        options = parse_options({"url": flaky.url, "table": "exact", "batchSize": "25", "writeProtocol": protocol,
                                 "idempotencyKey": "load-1", "retryDelay": "1ms", "maxRetryDelay": "5ms"})
        writer = PracticeBatchWriter(options, schema, False)
        messages = [writer.send(iter(rows))]  # one task (outside Spark every task is partition 0)
        writer.commit(messages)
        published = flaky.truth.table("exact")
    assert len(published) == 400 and checksum(published) == checksum(rows)  # 0 lost, 0 duplicated
    assert sum(message.retries for message in messages) > 0  # faults really happened
    assert writer.last_metrics["rows"] == 400 and writer.last_metrics["retries"] == messages[0].retries


# -- dead letters -------------------------------------------------------------------------------


def test_rows_the_service_refuses_go_to_the_dead_letter_table_once(service):
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType([StructField("id", LongType()), StructField("name", StringType())])
    table, dead = f"dl_{uuid.uuid4().hex[:8]}", f"dead_{uuid.uuid4().hex[:8]}"
    options = parse_options({"url": service.url, "table": table, "batchSize": "4", "deadLetterTable": dead})
    writer = PracticeBatchWriter(options, schema, False)
    rows = [{"id": 1, "name": "a"}, {"id": "two", "name": "b"}, {"id": 3, "name": "c"}, {"id": 4, "name": 5}]
    message = writer.send(iter(rows))
    assert (message.rows, message.dead_letters) == (2, 2)
    writer.commit([message])
    assert [row["id"] for row in service.truth.table(table)] == [1, 3]
    letters = service.truth.table(dead)
    assert [letter["location"] for letter in letters] == [f"table {table}, partition 0, batch 0, row {n}" for n in (1, 3)]
    assert "field 'id'" in letters[0]["reason"] and "field 'name'" in letters[1]["reason"]
    assert letters[0]["record"] == '{"id":"two","name":"b"}' and letters[0]["source"] == f"write {table}"
    # Spark runs the task again (an executor was lost): the same dead letters are not added twice.
    writer.send(iter(rows))
    assert len(service.truth.table(dead)) == 2


def test_without_a_dead_letter_table_a_refused_row_fails_the_task_and_nothing_is_published(service):
    from pyspark.sql.types import LongType, StructField, StructType

    table = f"refused_{uuid.uuid4().hex[:8]}"
    writer = PracticeBatchWriter(parse_options({"url": service.url, "table": table}), StructType([StructField("id", LongType())]), False)
    with pytest.raises(ServiceError, match=r"HTTP 422 invalid_rows: row 1, field 'id'.*set option deadLetterTable"):
        writer.send(iter([{"id": 1}, {"id": "x"}]))
    assert service.truth.table(table) == []
