"""Lab 09 check: backoff with full jitter and Retry-After, retryable vs fatal, budgets, the
circuit breaker fed by the retry helper, and reads on Spark while the service fails.

First the learner's pieces are called directly: `RetryPolicy.delay` many times, `classify` with
every status, `Retrier.call` with scripted attempts (a function that fails the given ways, then
answers), waiting through a recorded `sleep` instead of real time. Then a practice service of the
check's own fails 30 % of requests (429, 500, 503, connection resets) while a read on Spark runs
with the learner's retry helper, and the rows must equal ground truth; then the service goes
down for good, and the read must stop with the circuit breaker's message.

`client_with` and `data_source_with` put a retry helper into the reference client and reader;
the lab notebook uses them too.
"""
import json
import os
import tempfile
import threading

from workshop.checks import spark_error_text

FAST = {"retryDelay": "5ms", "maxRetryDelay": "50ms"}  # the defaults are for real services
OUTAGE_SECONDS = 30  # a read against a dead service must have stopped by then

DELAY = "delay(n, retry_after): random in [0, min(maxRetryDelay, retryDelay * 2**(n-1))] (full jitter), never before Retry-After"
CLASSIFY = "classify: 429 and 503 always retryable, 500/502/504 only if idempotent, other statuses fatal"
RETRIES = "call() retries transient failures after the policy's wait, and never a fatal one or a non-idempotent 500"
BUDGETS = "call() gives up after maxRetries retries of a request and retryBudget retries of a task"
BREAKER = "call() feeds the circuit breaker: it opens after breakerThreshold failed attempts in a row"
ON_SPARK = "on Spark, a read while 30 % of requests fail equals ground truth"
OUTAGE = "on Spark, a read from a service that stays down stops quickly with the circuit breaker's message"


def client_with(policy_class, retrier_class):
    """The reference `PracticeClient`, retrying with `retrier_class` and `policy_class`."""
    from solutions.client import PracticeClient

    learners = policy_class, retrier_class

    class CheckedClient(PracticeClient):
        retry_policy_class, retrier_class = learners

    return CheckedClient


def data_source_with(policy_class, retrier_class, name="practice_lab09"):
    """A data source whose reader's clients (planning and every task) retry with the given classes."""
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader

    checked_client = client_with(policy_class, retrier_class)

    class CheckedReader(PracticeBatchReader):
        client_class = checked_client

    class CheckedSource(PracticeDataSource):
        short_name = name
        batch_reader = CheckedReader

    return CheckedSource


class StopChecking(BaseException):
    """Ends a call() that would retry for ever (a BaseException, so `except Exception` lets it through)."""


class Script:
    """An attempt that fails with the given errors, then answers "ok"; stops a call() after 60 attempts."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls > 60:
            raise StopChecking()
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def check(report, RetryPolicy, classify, Retrier):
    from solutions import resilience
    from solutions.client import ServiceError
    from solutions.resilience import FATAL, RETRY, RETRY_IF_IDEMPOTENT, CircuitBreaker, CircuitOpenError
    from workshop.service import PracticeService
    from workshop.spark import get_spark
    from workshop.truth import checksum, to_json_record

    def error(status, **extra):
        return ServiceError(f"HTTP {status} (the check's doing)", status=status, **extra)

    def retrier(waits=None, threshold=1000, **policy):
        """The learner's Retrier with the reference policy (so a wrong delay() cannot confuse these tests)."""
        settings = {"base_delay": 0.01, "max_delay": 5.0, "max_retries": 10, "task_budget": 100,
                    "breaker_threshold": threshold, "breaker_cooldown": 60.0, **policy}
        reference_policy = resilience.RetryPolicy(**settings)
        breaker = CircuitBreaker("http://lab09-check", threshold, 60.0)
        sleep = waits.append if waits is not None else (lambda seconds: None)
        return Retrier(reference_policy, breaker, sleep=sleep)

    # -- the pieces, called directly ----------------------------------------------------------

    def delay():
        policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
        for retry in (1, 2, 3, 8):
            ceiling = min(30.0, 0.5 * 2 ** (retry - 1))
            waits = [policy.delay(retry) for _ in range(400)]
            outside = [wait for wait in waits if not 0 <= wait <= ceiling + 1e-9]
            if outside:
                return (
                    f"delay({retry}) with retryDelay=0.5s, maxRetryDelay=30s returned {outside[0]:.3f} s, outside "
                    f"[0, {ceiling:g}]: the ceiling is min(maxRetryDelay, retryDelay * 2**(n-1))"
                )
            if max(waits) - min(waits) < 1e-6:
                return (
                    f"delay({retry}) returned {waits[0]:g} s every time: no jitter, so tasks that failed together "
                    f"retry together; wait a random time between 0 and {ceiling:g} s"
                )
            if max(waits) < 0.8 * ceiling or min(waits) > 0.2 * ceiling:
                return (
                    f"400 calls of delay({retry}) waited between {min(waits):.3f} and {max(waits):.3f} s: full jitter "
                    f"spreads the waits over the whole range 0 to {ceiling:g} s"
                )
        early = min(policy.delay(1, retry_after=5) for _ in range(50))
        if early < 5:
            return f"delay(1, retry_after=5) waited only {early:.3f} s: never retry sooner than the service's Retry-After"
        capped = max(policy.delay(1, retry_after=120) for _ in range(10))
        if capped > 30.0 + 1e-9:
            return f"delay(1, retry_after=120) waited {capped:g} s: cap Retry-After at maxRetryDelay (30 s)"

    def classifies():
        want = dict.fromkeys((400, 401, 403, 404, 409, 413, 422), FATAL)  # retrying these is the worst mistake: first
        want.update({429: RETRY, 503: RETRY, 500: RETRY_IF_IDEMPOTENT, 502: RETRY_IF_IDEMPOTENT, 504: RETRY_IF_IDEMPOTENT})
        for status, verdict in want.items():
            got = classify(error(status))
            got = got[0] if isinstance(got, tuple) else got
            if got == verdict:
                continue
            if verdict == FATAL:
                return f"HTTP {status} is classified {got!r}: sending the same request again cannot fix a {status}; it is fatal"
            if verdict == RETRY:
                return (
                    f"HTTP {status} is classified {got!r}: a {status} means the service did not carry the request out, "
                    "so any request may be sent again (RETRY)"
                )
            return (
                f"HTTP {status} is classified {got!r}: the service may have carried the request out, so only an "
                "idempotent request may be sent again (RETRY_IF_IDEMPOTENT)"
            )

    def retries():
        waits = []
        runner = retrier(waits)
        script = Script(error(429, retry_after=0.5), error(503))
        try:
            answer = runner.call(script, "GET /check")
        except StopChecking:
            return "call() kept retrying a request that had succeeded: return the attempt's answer"
        except Exception as failure:
            return f"call() gave up after a 429 and a 503 ({failure}): both are transient; retry them"
        if answer != "ok" or script.calls != 3:
            return f"after a 429 and a 503 call() made {script.calls} attempts and returned {answer!r}, not 3 attempts and the answer"
        if len(waits) != 2:
            return f"call() retried twice but waited {len(waits)} time(s): wait with self.sleep(policy.delay(...)) before each retry"
        if waits[0] < 0.5:
            return f"after a 429 with Retry-After 0.5 s call() waited only {waits[0]:.3f} s: pass the error's retry_after to policy.delay"
        if runner.retries != 2:
            return f"call() retried twice but self.retries is {runner.retries}: count the retries (budget and metrics use it)"
        for status, idempotent, what in ((400, True, "a fatal error"), (500, False, "a 500 of a request that is not idempotent")):
            script = Script(error(status))
            try:
                retrier().call(script, "POST /check", idempotent=idempotent)
            except StopChecking:
                return f"call() kept retrying {what} (HTTP {status})"
            except ServiceError as failure:
                if failure.status != status:
                    return f"call() raised HTTP {failure.status} for {what}, not the HTTP {status} error itself"
            else:
                return f"call() returned after {what} (HTTP {status}) and a retry"
            if script.calls != 1:
                return (
                    f"call() sent the request again after {what} (HTTP {status}): "
                    + ("fatal errors fail at once" if status == 400 else "the service may have carried it out already")
                )
        script = Script(error(429))
        if retrier().call(script, "POST /check", idempotent=False) != "ok" or script.calls != 2:
            return "a 429 of a request that is not idempotent was not retried: a 429 was not carried out, so resending is safe"

    def budgets():
        script = Script(*[error(503) for _ in range(70)])
        try:
            retrier(max_retries=3).call(script, "GET /check")
        except StopChecking:
            return "call() kept retrying a request that always fails: 60 attempts with maxRetries=3; stop after maxRetries retries"
        except ServiceError as failure:
            if failure.status != 503:
                return f"call() gave up with HTTP {failure.status}, not with the last error (HTTP 503)"
        else:
            return "call() returned although every attempt failed"
        if script.calls != 4:
            return f"with maxRetries=3 call() made {script.calls} attempts, not 4 (the first and 3 retries)"
        runner = retrier(task_budget=3)
        runner.call(Script(error(503), error(503)), "GET /first")
        second = Script(error(503), error(503))
        try:
            runner.call(second, "GET /second")
        except StopChecking:
            return "call() kept retrying after the task's retry budget was used up"
        except ServiceError:
            if second.calls != 2:
                return f"with retryBudget=3 and 2 retries used, the next request made {second.calls} attempts, not 2"
            return None
        return (
            "with retryBudget=3, a task retried 4 times over two requests: count retries over all requests of the "
            "client (self.retries) and stop at policy.task_budget"
        )

    def breaker():
        runner = retrier(threshold=3)
        script = Script(*[error(503) for _ in range(20)])
        try:
            runner.call(script, "GET /check")
        except StopChecking:
            return "call() kept retrying a request that always fails, and the breaker never opened"
        except CircuitOpenError:
            if script.calls != 3:
                return f"the breaker (threshold 3) opened after {script.calls} failed attempts, not 3"
        except Exception as failure:
            return (
                f"{script.calls} failed attempts in a row did not open the breaker (threshold 3), the call ended with "
                f"{type(failure).__name__}: record_failure() every transient failure, and when it returns True raise "
                "self.breaker.open_error()"
            )
        untouched = Script()
        try:
            runner.call(untouched, "GET /next")
        except CircuitOpenError:
            pass
        if untouched.calls:
            return "with the breaker open a request still went out: check self.breaker.before_attempt() before every attempt"
        runner = retrier(threshold=3)
        try:
            runner.call(Script(error(503), error(503), error(404)), "GET /missing")
        except CircuitOpenError:
            return "the breaker opened on a 404: a fatal answer is not a failure of the service"
        except ServiceError:
            pass
        try:
            runner.call(Script(error(503), error(503)), "GET /check")
        except CircuitOpenError:
            return (
                "two 503s, a 404, then two 503s opened the breaker (threshold 3): the 404 shows the service is up, so "
                "call record_success() for a fatal error that has a status (record_neutral() when there was no answer)"
            )

    # -- on Spark ------------------------------------------------------------------------------

    spark = get_spark()
    spark.dataSource.register(data_source_with(RetryPolicy, Retrier, name="lab09_check"))
    with PracticeService(seed=19, events=1200, entities=40, ring_rows=10, fault_rate=0.3,
                         fault_kinds=["429", "500", "503", "reset"], retry_after=0) as service:

        def read(resource, **options):
            reader = spark.read.format("lab09_check").option("url", service.url).option("resource", resource)
            for name, value in {**FAST, "logLevel": "ERROR", **options}.items():
                reader = reader.option(name, str(value))
            return reader.load()

        def on_spark():
            log_file = os.path.join(tempfile.mkdtemp(prefix="lab09-"), "connector.jsonl")
            before = sum(service.faults.injected.values())
            try:
                rows = read("events", numPartitions=3, pageSize=50, logFile=log_file, logLevel="INFO").collect()
            except Exception as failure:
                return f"the read failed: {spark_error_text(failure)}"
            faults = sum(service.faults.injected.values()) - before
            want = service.truth.count("events")
            if len(rows) != want:
                return f"the read returned {len(rows)} rows, not {want} ({faults} faults were injected)"
            if checksum(to_json_record(row) for row in rows) != service.truth.checksum("events"):
                return "the read returned the right number of rows, but not the service's events"
            if not faults:
                return "the service injected no faults during the read, so nothing was checked (run the check again)"
            with open(log_file) as lines:
                finished = [json.loads(line) for line in lines if '"read partition' in line]
            if finished and not sum(entry.get("retries", 0) for entry in finished):
                return f"{faults} faults were injected, but the tasks' metrics count no retries: count them in self.retries"

        def outage():
            service.set_faults(rate=1.0, kinds=["503"])  # /health and /v1/schema never fault: planning works
            outcome = {}

            def run():
                try:
                    # partitioning=none plans without a request, so the outage meets the task.
                    read("entities", partitioning="none", maxRetries=20, breakerThreshold=5, breakerCooldown="1s").collect()
                    outcome["error"] = None
                except Exception as failure:
                    outcome["error"] = spark_error_text(failure) + " " + str(failure)

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            worker.join(OUTAGE_SECONDS)
            if worker.is_alive():
                service.set_faults(rate=0.0)  # let the stuck read finish
                worker.join(60)
                return f"a read from a service that answers every request with 503 was still retrying after {OUTAGE_SECONDS} s"
            text = outcome["error"]
            if text is None:
                return "a read from a service that answers every request with 503 succeeded?"
            if "circuit breaker open" not in text:
                return (
                    "a read from a service that stays down ended without the circuit breaker's message (it should open "
                    f"after breakerThreshold=5 failed attempts): {text.split(' ', 1)[0] if not text.strip() else text.strip()[:300]}"
                )

        report.require(DELAY, delay)
        report.require(CLASSIFY, classifies)
        report.require(RETRIES, retries)
        report.require(BUDGETS, budgets)
        report.require(BREAKER, breaker)
        report.require(ON_SPARK, on_spark)
        report.require(OUTAGE, outage)
