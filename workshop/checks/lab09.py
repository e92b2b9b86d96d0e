"""Lab 09 check: backoff with full jitter and Retry-After, retryable vs fatal, budgets, the
circuit breaker fed by the retry helper, and reads on Spark while the service fails.

First the learner's pieces are called directly: `RetryPolicy.delay` many times (and in two
copies shipped the way Spark ships them to two tasks), `classify` with every status,
`Retrier.call` with scripted attempts (a function that fails the given ways, then answers),
waiting through a recorded `sleep` instead of real time. Then a practice service of the check's
own fails 30 % of requests (429, 500, 503, connection resets) while a read on Spark runs with the
learner's retry helper, and the rows must equal ground truth; then the service goes down for
good, and the read must stop with the circuit breaker's message.

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

DELAY (`RetryPolicy.delay`)
- Retry n waits in [0, min(maxRetryDelay, retryDelay * 2**(n-1))]: retries 1, 2, 3 and 8 with
  retryDelay=0.5s, maxRetryDelay=30s (an exponent off by one leaves the range at retry 1; retry 8
  meets the cap), 400 draws each.
- Full jitter: the draws differ, and spread over the whole range (the largest above 80 % of the
  ceiling, the smallest below 20 %).
- Never sooner than Retry-After: retry_after=5 waits at least 5 s; capped at maxRetryDelay:
  retry_after=120 waits at most 30 s.
SPREAD: the waits differ between tasks. The policy is pickled once and unpickled twice, as Spark
  ships a notebook's classes to two tasks: a random.Random of the learner's own (a class
  attribute, a notebook global) reaches both with the same state and draws the same waits in
  both (tests/labs/test_claims_lab09.py shows it on Spark); random's functions and
  random.SystemRandom() do not.
CLASSIFY (`classify`): returns (verdict, reason); 429 and 503 RETRY; 500, 502 and 504
  RETRY_IF_IDEMPOTENT; every other status FATAL: 400, 401, 403, 404, 409, 413, 422, and the 5xx
  outside the list (501, 505), where "every 5xx" would be wrong.
RETRIES (`Retrier.call`)
- Transient failures are retried until an answer, which is returned: a 429 (Retry-After 0.5 s)
  then a 503 then an answer makes 3 attempts.
- Before retry n it waits policy.delay(n, the error's retry_after): the check's recording policy
  must see (1, 0.5) then (2, None); each wait goes to self.sleep, is counted in self.retries and
  added to self.seconds_waiting.
- Fatal errors are raised at once, unchanged (a 400: one attempt); a 500 of a request that is not
  idempotent is not resent; a 429 of one is (it was not carried out).
BUDGETS
- maxRetries retries per request: with maxRetries=3 an always-failing request makes 4 attempts,
  with maxRetries=0 one; call(max_retries=1) overrides the policy's 10 (2 attempts).
- retryBudget retries per client over all its requests: with retryBudget=3 and 2 retries used,
  the next request makes 2 attempts.
- Giving up raises the last error with its message saying why (gave_up).
BREAKER
- Every transient failure is recorded: threshold 3 opens after exactly 3 failed attempts, with
  the breaker's error; with it open no attempt goes out.
- A fatal answer with a status counts as success (the service is up): 503, 503, 404, 503, 503
  does not open it at threshold 3.
- A fatal failure without an answer (a TLS error) says nothing (record_neutral): after 503, 503 and
  one, the next 503 opens it; counted as a success it would not, as a failure it opens too soon.
  And as the half-open trial (threshold 1, a clock moved past the cooldown) it frees the trial:
  the next request goes out (without record_neutral every later request is refused).
- The breaker's error is raised as soon as record_failure() says it opened: 2 waits, not 3,
  for threshold 3.
ON_SPARK: a read of 3 partitions while 30 % of requests fail (429, 500, 503, resets) equals ground
  truth, and the tasks' metrics count the retries.
OUTAGE: a read from a service that answers every request with 503 stops within 30 s with the
  circuit breaker's message (breakerThreshold=5, maxRetries=20: without the breaker, far slower).

Not tested: the retry's log line (the lab asks for none; the tasks' metrics count retries), the
reason classify gives for a fatal status (call() re-raises the error unchanged, so it is never
shown).
"""
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field

from solutions import resilience
from workshop.checks import spark_error_text

FAST = {"retryDelay": "5ms", "maxRetryDelay": "50ms"}  # the defaults are for real services
OUTAGE_SECONDS = 30  # a read against a dead service must have stopped by then

DELAY = "delay(n, retry_after): random in [0, min(maxRetryDelay, retryDelay * 2**(n-1))] (full jitter), never before Retry-After"
SPREAD = "delay() draws different waits in different tasks (no random generator of your own shipped to every task)"
CLASSIFY = "classify: 429 and 503 always retryable, 500/502/504 only if idempotent, other statuses fatal"
RETRIES = "call() retries transient failures after the policy's wait, and never a fatal one or a non-idempotent 500"
BUDGETS = "call() gives up after maxRetries retries of a request and retryBudget retries of a task, saying why"
BREAKER = "call() feeds the circuit breaker: it opens after breakerThreshold failed attempts in a row"
ON_SPARK = "on Spark, a read while 30 % of requests fail equals ground truth"
OUTAGE = "on Spark, a read from a service that stays down stops quickly with the circuit breaker's message"

HINTS = {
    "RetryPolicy.delay": [
        "The wait before retry n is random between zero and a ceiling that doubles with every retry and stops "
        "at maxRetryDelay; the service's Retry-After is a floor.",
        "Draw from the whole range (full jitter), and draw with random.uniform or random.SystemRandom(): a "
        "random.Random of your own reaches every Spark task as a copy with the same state.",
        "ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)); wait = a uniform draw in "
        "[0, ceiling]; with retry_after: max(wait, min(retry_after, self.max_delay)).",
    ],
    "classify": [
        "Ask whether the service carried the request out: if it surely did not, anything may be sent again; "
        "if it may have, only an idempotent request.",
        "429 and 503 say 'not done'; 500, 502 and 504 may have been done; every other status (501 too) cannot "
        "get better by asking again. Return a pair: the verdict and the reason.",
        "if status in NOT_CARRIED_OUT_STATUSES: return RETRY, reason; if status in RETRYABLE_STATUSES: return "
        "RETRY_IF_IDEMPOTENT, reason; return FATAL, reason.",
    ],
    "Retrier.call": [
        "For each failed attempt: classify it, tell the breaker what it says about the service, then either "
        "give up with the last error or wait and go round again.",
        "A fatal answer that has a status means the service is up (record_success); a fatal failure without an "
        "answer says nothing (record_neutral). Count retries on self, over all requests of this client.",
        "verdict, reason = classify(error); FATAL: record_success()/record_neutral() and raise; "
        "record_failure(reason) True: raise self.breaker.open_error() from error; give up with "
        "raise gave_up(error, why); else wait = self.policy.delay(number, getattr(error, 'retry_after', None)), "
        "count, self.sleep(wait), continue.",
    ],
}


class Context:
    """What the requirements share: the learner's three pieces."""

    def __init__(self, RetryPolicy, classify, Retrier):  # noqa: N803 - the learner's classes
        self.RetryPolicy = RetryPolicy
        self.classify = classify
        self.Retrier = Retrier

    def retrier(self, waits=None, threshold=1000, policy=None, clock=None, **settings):
        """The learner's Retrier with the reference policy (so a wrong delay() cannot confuse these tests);
        `clock` replaces the breaker's (a 60 s cooldown), so a test can let the cooldown pass at once."""
        settings = {"base_delay": 0.01, "max_delay": 5.0, "max_retries": 10, "task_budget": 100,
                    "breaker_threshold": threshold, "breaker_cooldown": 60.0, **settings}
        breaker = resilience.CircuitBreaker("http://lab09-check", threshold, 60.0, **({"clock": clock} if clock else {}))
        sleep = waits.append if waits is not None else (lambda seconds: None)
        return self.Retrier(policy or resilience.RetryPolicy(**settings), breaker, sleep=sleep)


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


def error(status, **extra):
    from solutions.client import ServiceError

    return ServiceError(f"HTTP {status} (the check's doing)", status=status, **extra)


def no_answer():
    """A failure without an answer that classify calls fatal (like a TLS error)."""
    from solutions.client import ServiceError

    return ServiceError("no answer (the check's doing)")


@dataclass(frozen=True)
class RecordingPolicy(resilience.RetryPolicy):
    """The reference policy, whose delay() records (retry_number, retry_after) and waits 0.01 s."""

    calls: list = field(default_factory=list)

    def delay(self, retry_number, retry_after=None):
        self.calls.append((retry_number, retry_after))
        return 0.01


# -- delay -------------------------------------------------------------------------------------


def delay(context):
    policy = context.RetryPolicy(base_delay=0.5, max_delay=30.0)
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


def spread(context):
    from pyspark import cloudpickle

    shipped = cloudpickle.dumps(context.RetryPolicy(base_delay=0.5, max_delay=30.0))  # once, on the driver
    draws = []
    for _ in range(2):  # two tasks, one after the other, as in one Python worker
        policy = cloudpickle.loads(shipped)
        draws.append([round(policy.delay(4), 9) for _ in range(5)])
    first, second = draws
    if len(set(first)) > 1 and first == second:
        shown = ", ".join(f"{wait:.3f}" for wait in first)
        return (
            f"two tasks' copies of your RetryPolicy (pickled once and unpickled per task, as Spark ships them) "
            f"waited the same 'random' times, {shown} s: a random.Random of your own (a class attribute or a notebook "
            "global) reaches every task with the same state, so tasks that failed together retry together. Use "
            "random.uniform or random.SystemRandom()"
        )


# -- classify ----------------------------------------------------------------------------------


def classifies(context):
    from solutions.resilience import FATAL, RETRY, RETRY_IF_IDEMPOTENT

    want = dict.fromkeys((400, 401, 403, 404, 409, 413, 422), FATAL)  # retrying these is the worst mistake: first
    want.update({429: RETRY, 503: RETRY, 500: RETRY_IF_IDEMPOTENT, 502: RETRY_IF_IDEMPOTENT, 504: RETRY_IF_IDEMPOTENT,
                 501: FATAL, 505: FATAL})
    for status, verdict in want.items():
        answer = context.classify(error(status))
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return (
                f"classify(HTTP {status}) returned {answer!r}, not a pair (verdict, reason): the retry loop unpacks "
                "both (the reason is given above the TODO)"
            )
        got = answer[0]
        if got == verdict:
            continue
        if verdict == FATAL and status >= 500:
            return (
                f"HTTP {status} is classified {got!r}: only 500, 502 and 504 (RETRYABLE_STATUSES) may have been "
                f"transient; a {status} is not in the list, so it is fatal"
            )
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


# -- the retry loop ----------------------------------------------------------------------------


def retries(context):
    from solutions.client import ServiceError

    waits = []
    policy = RecordingPolicy(base_delay=0.01, max_delay=5.0)
    runner = context.retrier(waits, policy=policy)
    script = Script(error(429, retry_after=0.5), error(503))
    try:
        answer = runner.call(script, "GET /check")
    except StopChecking:
        return "call() kept retrying a request that had succeeded: return the attempt's answer"
    except Exception as failure:
        return f"call() gave up after a 429 and a 503 ({failure}): both are transient; retry them"
    if answer != "ok" or script.calls != 3:
        return f"after a 429 and a 503 call() made {script.calls} attempts and returned {answer!r}, not 3 attempts and the answer"
    if policy.calls != [(1, 0.5), (2, None)]:
        return (
            f"for a 429 with Retry-After 0.5 s and then a 503, call() asked the policy for {policy.calls}, not "
            "delay(1, 0.5) then delay(2, None): pass the retry's number and the error's retry_after"
        )
    if len(waits) != 2 or waits != [0.01, 0.01]:
        return (
            f"call() retried twice and slept {waits}, not the policy's two waits of 0.01 s: wait with "
            "self.sleep(self.policy.delay(...)) before each retry"
        )
    if runner.retries != 2:
        return f"call() retried twice but self.retries is {runner.retries}: count the retries (budget and metrics use it)"
    if abs(runner.seconds_waiting - sum(waits)) > 1e-9:
        return (
            f"call() waited {sum(waits):.2f} s but self.seconds_waiting is {runner.seconds_waiting:.2f}: add each "
            "wait (the task's metrics report it)"
        )
    for status, idempotent, what in ((400, True, "a fatal error"), (500, False, "a 500 of a request that is not idempotent")):
        script = Script(error(status))
        why = "fatal errors fail at once" if status == 400 else "the service may have carried it out already"
        try:
            context.retrier().call(script, "POST /check", idempotent=idempotent)
        except StopChecking:
            return f"call() kept retrying {what} (HTTP {status}): {why}"
        except ServiceError as failure:
            if failure.status != status:
                return f"call() raised HTTP {failure.status} for {what}, not the HTTP {status} error itself"
        if script.calls != 1:
            return f"call() sent the request again after {what} (HTTP {status}): {why}"
    script = Script(error(429))
    if context.retrier().call(script, "POST /check", idempotent=False) != "ok" or script.calls != 2:
        return "a 429 of a request that is not idempotent was not retried: a 429 was not carried out, so resending is safe"


def budgets(context):
    from solutions.client import ServiceError

    for max_retries, override, attempts in ((3, None, 4), (0, None, 1), (10, 1, 2)):
        script = Script(*[error(503) for _ in range(70)])
        given = "maxRetries" if override is None else "call(max_retries=...)"
        limit = max_retries if override is None else override
        try:
            context.retrier(max_retries=max_retries).call(script, "GET /check", max_retries=override)
        except StopChecking:
            return f"call() kept retrying a request that always fails: 60 attempts with {given}={limit}; stop after that many retries"
        except ServiceError as failure:
            if failure.status != 503:
                return f"call() gave up with HTTP {failure.status}, not with the last error (HTTP 503)"
            if str(failure) == "HTTP 503 (the check's doing)":
                return (
                    "call() gave up with the last error but its message does not say why: raise gave_up(error, why), "
                    "so the user learns which budget ended the task"
                )
        else:
            return "call() returned although every attempt failed"
        if script.calls != attempts:
            extra = "" if override is None else " (the max_retries argument replaces the policy's maxRetries=10)"
            return f"with {given}={limit} call() made {script.calls} attempts, not {attempts} (the first and {limit} retries){extra}"
    runner = context.retrier(task_budget=3)
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
        "with retryBudget=3, a task retried 4 times over two requests (2 retries, then 2 more): give up when "
        "self.retries, counted over all requests of the client, has reached policy.task_budget"
    )


def breaker(context):
    from solutions.client import ServiceError
    from solutions.resilience import CircuitOpenError

    waits = []
    runner = context.retrier(waits=waits, threshold=3)
    script = Script(*[error(503) for _ in range(20)])
    try:
        runner.call(script, "GET /check")
    except StopChecking:
        return "call() kept retrying a request that always fails, and the breaker never opened"
    except CircuitOpenError:
        if script.calls != 3:
            return f"the breaker (threshold 3) opened after {script.calls} failed attempts, not 3"
        if len(waits) != 2:
            return (
                f"the breaker (threshold 3) opened at the 3rd failed attempt, and call() waited {len(waits)} times, "
                "not 2: when record_failure() returns True, raise self.breaker.open_error() at once, without waiting "
                "to retry (no request may go out anyway)"
            )
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
    runner = context.retrier(threshold=3)
    try:
        runner.call(Script(error(503), error(503), error(404)), "GET /missing")
    except CircuitOpenError:
        return ("the breaker opened on a 404: a fatal answer (classify says FATAL for a 404) is not a failure of the "
                "service; tell the breaker record_success()")
    except ServiceError:
        pass
    try:
        runner.call(Script(error(503), error(503)), "GET /check")
    except CircuitOpenError:
        return (
            "two 503s, a 404, then two 503s opened the breaker (threshold 3): the 404 shows the service is up, so "
            "call record_success() for a fatal error that has a status"
        )
    except ServiceError:
        pass
    runner = context.retrier(threshold=3)
    try:
        runner.call(Script(error(503), error(503), no_answer()), "GET /tls")
    except CircuitOpenError:
        return (
            "two 503s and then a fatal failure without an answer (a TLS error) opened the breaker (threshold 3): "
            "such a failure says nothing about the service; call record_neutral(), not record_failure()"
        )
    except ServiceError:
        pass
    after = Script(*[error(503) for _ in range(20)])
    try:
        runner.call(after, "GET /after-tls")
    except CircuitOpenError:
        if after.calls != 1:
            return (
                "after two 503s and a fatal failure without an answer (a TLS error), the breaker (threshold 3) took "
                f"{after.calls} more failures to open, not 1: that failure reset its count; it says nothing about the "
                "service: call record_neutral(), record_success() only when the service answered (error.status)"
            )
    except ServiceError:
        return "after two 503s, a TLS error and more 503s, the breaker (threshold 3) never opened"
    now = [0.0]
    runner = context.retrier(threshold=1, clock=lambda: now[0])
    try:
        runner.call(Script(error(503)), "GET /down")  # opens the breaker (threshold 1)
    except (ServiceError, CircuitOpenError):
        pass
    now[0] = 61.0  # past the 60 s cooldown: the next request is the half-open trial
    try:
        runner.call(Script(no_answer()), "GET /tls-trial")
    except CircuitOpenError:
        return "after the cooldown the breaker let no trial request out (before_attempt() was not given the chance)"
    except ServiceError:
        pass
    try:
        runner.call(Script(), "GET /after-the-trial")
    except CircuitOpenError:
        return (
            "a half-open trial that failed without an answer (a TLS error) left the breaker refusing every later "
            "request: call record_neutral() for such a failure, which frees the trial for the next request"
        )


# -- on Spark ----------------------------------------------------------------------------------


def register_checked_source(context):
    from solutions.client import PracticeClient
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader
    from workshop.spark import get_spark

    learners = context.RetryPolicy, context.Retrier

    class CheckedClient(PracticeClient):
        retry_policy_class, retrier_class = learners  # the learner's, in planning and in every task

    class CheckedReader(PracticeBatchReader):
        client_class = CheckedClient

    class CheckedSource(PracticeDataSource):
        short_name = "lab09_check"
        batch_reader = CheckedReader

    spark = get_spark()
    spark.dataSource.register(CheckedSource)
    return spark


def read(spark, service, resource, **options):
    reader = spark.read.format("lab09_check").option("url", service.url).option("resource", resource)
    for name, value in {**FAST, "logLevel": "ERROR", **options}.items():
        reader = reader.option(name, str(value))
    return reader.load()


def on_spark(spark, service):
    from workshop.truth import checksum, to_json_record

    log_file = os.path.join(tempfile.mkdtemp(prefix="lab09-"), "connector.jsonl")
    before = sum(service.faults.injected.values())
    try:
        rows = read(spark, service, "events", numPartitions=3, pageSize=100, logFile=log_file, logLevel="INFO").collect()
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


def outage(spark, service):
    service.set_faults(rate=1.0, kinds=["503"])  # /health and /v1/schema never fault: planning works
    outcome = {}

    def run():
        try:
            # partitioning=none plans without a request, so the outage meets the task.
            read(spark, service, "entities", partitioning="none", maxRetries=20, breakerThreshold=5,
                 breakerCooldown="1s").collect()
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
            f"after breakerThreshold=5 failed attempts): {text.strip()[:300]}"
        )


def check(report, RetryPolicy, classify, Retrier):  # noqa: N803 - the learner's classes
    from workshop.service import PracticeService

    context = Context(RetryPolicy, classify, Retrier)
    report.require(DELAY, delay, context)
    report.require(SPREAD, spread, context)
    report.require(CLASSIFY, classifies, context)
    report.require(RETRIES, retries, context)
    report.require(BUDGETS, budgets, context)
    report.require(BREAKER, breaker, context)
    spark = register_checked_source(context)
    with PracticeService(seed=19, events=1200, entities=40, ring_rows=10, fault_rate=0.3,
                         fault_kinds=["429", "500", "503", "reset"], retry_after=0) as service:
        report.require(ON_SPARK, on_spark, spark, service)
        report.require(OUTAGE, outage, spark, service)
