"""Lab 09's check accepts the reference and rejects the plausible mistakes, saying why.

The requirements that run in this process (delay, classify, the retry loop, budgets, the breaker)
are called one by one, one mistake each. The reads on Spark run through `check_lab`; several
mistakes share one run where each breaks different requirements, to keep Spark work down.
"""
import itertools
import random

import pytest

from solutions import resilience
from solutions.resilience import (
    FATAL,
    NOT_CARRIED_OUT_STATUSES,
    RETRY,
    RETRY_IF_IDEMPOTENT,
    RETRYABLE_STATUSES,
    classify,
    gave_up,
    may_retry,
)
from workshop import labs
from workshop.checks import Report, check_lab, lab09
from workshop.checks.lab09 import BREAKER, BUDGETS, CLASSIFY, DELAY, ON_SPARK, OUTAGE, RETRIES, SPREAD


def run(policy=resilience.RetryPolicy, classifier=classify, retrier=resilience.Retrier):
    return check_lab("09", RetryPolicy=policy, classify=classifier, Retrier=retrier)


IN_PROCESS = {DELAY: lab09.delay, SPREAD: lab09.spread, CLASSIFY: lab09.classifies, RETRIES: lab09.retries,
              BUDGETS: lab09.budgets, BREAKER: lab09.breaker}


def reason_of(requirement, policy=resilience.RetryPolicy, classifier=classify, retrier=resilience.Retrier):
    """What the check says about one requirement ("" when it passes), as check_lab would run it."""
    report = Report("09")
    report.require(requirement, IN_PROCESS[requirement], lab09.Context(policy, classifier, retrier))
    return report.failures.get(requirement, "")


# -- correct, written differently ---------------------------------------------------------------


class ScaledPolicy(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        floor = min(retry_after or 0.0, self.max_delay)
        return max(floor, random.SystemRandom().random() * ceiling)


class ModuleRandomPolicy(resilience.RetryPolicy):
    """random's own functions (reseeded in every forked worker, never pickled), and an early return."""

    def delay(self, retry_number, retry_after=None):
        wait = random.random() * min(self.max_delay, self.base_delay * (1 << (retry_number - 1)))
        if retry_after is None:
            return wait
        return max(wait, min(retry_after, self.max_delay))


VERDICTS = {429: RETRY, 503: RETRY, 500: RETRY_IF_IDEMPOTENT, 502: RETRY_IF_IDEMPOTENT, 504: RETRY_IF_IDEMPOTENT}


def classify_by_table(error):
    """The status part as a dict lookup; the rest as the reference."""
    status = getattr(error, "status", None)
    if status is None:
        return classify(error)
    return VERDICTS.get(status, FATAL), f"HTTP {status}"


class LoopRetrier(resilience.Retrier):
    """A for-loop; the class flags switch parts off for the mistakes below."""

    budgets = True
    feeds_breaker = True
    says_why = True
    honours_max_retries_argument = True
    checks_idempotency = True
    counts_waiting = True
    passes_retry_after = True
    delay_number = "attempt"  # or "retries": the mistake of numbering from 0
    no_answer = "neutral"  # what a fatal failure without an answer tells the breaker
    extra_retries = 0  # -1: the mistake of stopping at number >= limit
    extra_budget = 0  # 1: the mistake of stopping at self.retries > task_budget
    fails_fast = True  # False: the mistake of waiting to retry after the breaker opened

    def call(self, attempt, what, idempotent=True, max_retries=None):
        limit = self.policy.max_retries if max_retries is None or not self.honours_max_retries_argument else max_retries
        for number in itertools.count(1):
            self.breaker.before_attempt()
            self.attempts += 1
            try:
                result = attempt()
            except Exception as error:
                verdict, reason = classify(error)
                if verdict == FATAL:
                    if self.feeds_breaker:
                        answered = getattr(error, "status", None) is not None
                        told = "success" if answered else self.no_answer
                        if told == "failure" and self.breaker.record_failure(reason):
                            raise self.breaker.open_error() from error
                        if told in ("success", "neutral"):
                            getattr(self.breaker, f"record_{told}")()
                    raise
                if self.feeds_breaker and self.breaker.record_failure(reason) and self.fails_fast:
                    raise self.breaker.open_error() from error
                spent = number > limit + self.extra_retries or self.retries >= self.policy.task_budget + self.extra_budget
                if (self.checks_idempotency and not may_retry(verdict, idempotent)) or (self.budgets and spent):
                    if self.says_why:
                        raise gave_up(error, "no retry left") from None
                    raise
                self.retries += 1
                retry_number = number if self.delay_number == "attempt" else self.retries - 1
                wait = self.policy.delay(retry_number, getattr(error, "retry_after", None) if self.passes_retry_after else None)
                if self.counts_waiting:
                    self.seconds_waiting += wait
                self.sleep(wait)
            else:
                if self.feeds_breaker:
                    self.breaker.record_success()
                return result


class StepRetrier(resilience.Retrier):
    """A while-loop that asks a helper what to do after each failure."""

    def _after(self, error, number, idempotent, limit):
        """The seconds to wait before the next attempt; raises when there is none."""
        verdict, reason = classify(error)
        if verdict == FATAL:
            (self.breaker.record_success if getattr(error, "status", None) else self.breaker.record_neutral)()
            raise error
        if self.breaker.record_failure(reason):
            raise self.breaker.open_error() from error
        if not may_retry(verdict, idempotent):
            raise gave_up(error, "may have been carried out")
        if number > limit:
            raise gave_up(error, f"maxRetries={limit} used up")
        if self.retries >= self.policy.task_budget:
            raise gave_up(error, "retryBudget used up")
        return self.policy.delay(number, getattr(error, "retry_after", None))

    def call(self, attempt, what, idempotent=True, max_retries=None):
        limit = self.policy.max_retries if max_retries is None else max_retries
        number = 0
        while True:
            self.breaker.before_attempt()
            number += 1
            self.attempts += 1
            try:
                answer = attempt()
            except Exception as error:
                wait = self._after(error, number, idempotent, limit)
                self.retries += 1
                self.seconds_waiting += wait
                self.sleep(wait)
                continue
            self.breaker.record_success()
            return answer


# -- mistakes -----------------------------------------------------------------------------------


def retries_everything(error):
    verdict, reason = classify(error)
    return (RETRY, reason) if getattr(error, "status", None) else (verdict, reason)  # the mistake: 4xx too


def every_5xx_may_be_retried(error):
    status = getattr(error, "status", None)
    if status is not None and status >= 500 and status not in NOT_CARRIED_OUT_STATUSES:
        return RETRY_IF_IDEMPOTENT, f"HTTP {status}"  # the mistake: 501 and 505 are not transient
    return classify(error)


def verdict_only(error):
    return classify(error)[0]  # the mistake: the loop unpacks (verdict, reason)


def always_retry_500(error):
    if getattr(error, "status", None) in RETRYABLE_STATUSES:
        return RETRY, "transient"  # the mistake: a 500 may have been carried out
    return classify(error)


class NoJitter(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))  # the mistake: always the ceiling
        return max(wait, min(retry_after or 0.0, self.max_delay))


class IgnoresRetryAfter(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)))  # the mistake


class ExponentOffByOne(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** retry_number))  # the mistake: 2**n
        return wait if retry_after is None else max(wait, min(retry_after, self.max_delay))


class NoCap(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = random.uniform(0, self.base_delay * 2 ** (retry_number - 1))  # the mistake: no maxRetryDelay
        return wait if retry_after is None else max(wait, min(retry_after, self.max_delay))


class RetryAfterUncapped(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)))
        return wait if retry_after is None else max(wait, retry_after)  # the mistake: a huge Retry-After waits


class NarrowJitter(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        wait = random.uniform(0.5 * ceiling, ceiling)  # the mistake: "equal jitter", never a short wait
        return wait if retry_after is None else max(wait, min(retry_after, self.max_delay))


class OwnGenerator(resilience.RetryPolicy):
    rng = random.Random()  # the mistake: every task gets a copy with the same state

    def delay(self, retry_number, retry_after=None):
        wait = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)))
        return wait if retry_after is None else max(wait, min(retry_after, self.max_delay))


SEEDED = random.Random(42)  # the mistake: a module global of a module pickled by value, like a notebook's


class SeededGenerator(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = SEEDED.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)))
        return wait if retry_after is None else max(wait, min(retry_after, self.max_delay))


class NumbersFromZero(LoopRetrier):
    delay_number = "retries"  # the mistake: the first retry asks for delay(0)


class DropsRetryAfter(LoopRetrier):
    passes_retry_after = False  # the mistake: the service's Retry-After never reaches delay()


class ForgetsTheWaiting(LoopRetrier):
    counts_waiting = False  # the mistake: the task's metrics say it never waited


class ResendsAnything(LoopRetrier):
    checks_idempotency = False  # the mistake: a 500 of a POST is sent again


class GivesUpSilently(LoopRetrier):
    says_why = False  # the mistake: the last error, but not why no attempt follows


class IgnoresMaxRetriesArgument(LoopRetrier):
    honours_max_retries_argument = False  # the mistake: call(max_retries=1) still retries 10 times


class OneRetryTooFew(LoopRetrier):
    extra_retries = -1  # the mistake: `number >= max_retries`, so maxRetries=3 makes 3 attempts


class OneBudgetRetryTooMany(LoopRetrier):
    extra_budget = 1  # the mistake: `self.retries > task_budget`, so retryBudget=3 allows 4


class NoAnswerAsSuccess(LoopRetrier):
    no_answer = "success"  # the mistake: a TLS error resets the breaker's count


class NoAnswerAsFailure(LoopRetrier):
    no_answer = "failure"  # the mistake: a TLS error counts against the service


class NoAnswerTellsNothing(LoopRetrier):
    no_answer = "nothing"  # the mistake: a half-open trial that got no answer is never freed


class WaitsAfterOpening(LoopRetrier):
    fails_fast = False  # the mistake: waits to retry, then before_attempt() raises the breaker's error


class NoBudget(LoopRetrier):
    budgets = False  # the mistake: retries until the breaker stops it, or for ever


class NoBreaker(LoopRetrier):
    feeds_breaker = False  # the mistake: the breaker never hears of a failure, so it never opens


def solution_retrier_with(classifier):
    """The lab's reference Retrier, whose call() uses `classifier` (its globals are the lab's namespace)."""
    namespace = labs.solution_namespace("09")
    namespace["classify"] = classifier
    return namespace["Retrier"]


# -- the requirements that run in this process, one by one ------------------------------------

CORRECT = {
    "reference": dict(),
    "scaled-loop": dict(policy=ScaledPolicy, retrier=LoopRetrier),
    "module-random-table-step": dict(policy=ModuleRandomPolicy, classifier=classify_by_table, retrier=StepRetrier),
}


@pytest.mark.usefixtures("pickled_by_value")  # as a notebook's classes are, so SPREAD sees copies
@pytest.mark.parametrize("code", list(CORRECT))
@pytest.mark.parametrize("requirement", list(IN_PROCESS))
def test_correct_code_meets_each_requirement(requirement, code):
    assert reason_of(requirement, **CORRECT[code]) == ""


@pytest.mark.parametrize(
    "requirement, code, says",
    [
        (DELAY, dict(policy=NoJitter), "no jitter"),
        (DELAY, dict(policy=IgnoresRetryAfter), "never retry sooner than the service's Retry-After"),
        (DELAY, dict(policy=ExponentOffByOne), "outside [0, 0.5]: the ceiling is min(maxRetryDelay"),
        (DELAY, dict(policy=NoCap), "delay(8) with retryDelay=0.5s, maxRetryDelay=30s returned"),
        (DELAY, dict(policy=RetryAfterUncapped), "cap Retry-After at maxRetryDelay"),
        (DELAY, dict(policy=NarrowJitter), "full jitter spreads the waits over the whole range"),
        (SPREAD, dict(policy=OwnGenerator), "a random.Random of your own"),
        (SPREAD, dict(policy=SeededGenerator), "waited the same 'random' times"),
        (CLASSIFY, dict(classifier=retries_everything), "HTTP 400 is classified 'retry'"),
        (CLASSIFY, dict(classifier=every_5xx_may_be_retried), "a 501 is not in the list, so it is fatal"),
        (CLASSIFY, dict(classifier=verdict_only), "not a pair (verdict, reason)"),
        (CLASSIFY, dict(classifier=always_retry_500), "HTTP 500 is classified 'retry': the service may have"),
        (RETRIES, dict(retrier=NumbersFromZero), "asked the policy for [(0, 0.5), (1, None)]"),
        (RETRIES, dict(retrier=DropsRetryAfter), "asked the policy for [(1, None), (2, None)]"),
        (RETRIES, dict(retrier=ForgetsTheWaiting), "self.seconds_waiting is 0.00"),
        (RETRIES, dict(retrier=ResendsAnything), "the service may have carried it out already"),
        (BUDGETS, dict(retrier=NoBudget), "kept retrying"),
        (BUDGETS, dict(retrier=GivesUpSilently), "does not say why"),
        (BUDGETS, dict(retrier=IgnoresMaxRetriesArgument), "replaces the policy's maxRetries=10"),
        (BUDGETS, dict(retrier=OneRetryTooFew), "with maxRetries=3 call() made 3 attempts, not 4"),
        (BUDGETS, dict(retrier=OneBudgetRetryTooMany), "a task retried 4 times over two requests"),
        (BREAKER, dict(retrier=NoBreaker), "did not open the breaker"),
        (BREAKER, dict(retrier=NoAnswerAsSuccess), "took 3 more failures to open, not 1"),
        (BREAKER, dict(retrier=NoAnswerAsFailure), "(a TLS error) opened the breaker (threshold 3)"),
        (BREAKER, dict(retrier=NoAnswerTellsNothing), "call record_neutral() for such a failure, which frees the trial"),
        (BREAKER, dict(retrier=WaitsAfterOpening), "call() waited 3 times, not 2"),
    ],
)
@pytest.mark.usefixtures("pickled_by_value")
def test_a_mistake_fails_its_requirement_with_the_reason(requirement, code, says):
    reason = reason_of(requirement, **code)
    assert says in reason, reason


def test_the_reference_retrier_with_a_wrong_classify_fails_on_fatal_errors():
    retrier = solution_retrier_with(retries_everything)
    assert "after a fatal error (HTTP 400)" in reason_of(RETRIES, classifier=retries_everything, retrier=retrier)


# -- the whole check, with the reads on Spark ----------------------------------------------------

SPARK = pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")


@SPARK
def test_reference_passes(spark):
    solution = labs.solution_namespace("09")
    report = run(solution["RetryPolicy"], solution["classify"], solution["Retrier"])
    assert report.passed, report.failures


@SPARK
@pytest.mark.parametrize("code", ["scaled-loop", "module-random-table-step"])
def test_other_correct_implementations_pass(spark, code):
    report = run(**CORRECT[code])
    assert report.passed, report.failures


@SPARK
@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(policy=NoJitter, classifier=retries_everything, retrier="solution with the classifier"),
            {DELAY: "no jitter", CLASSIFY: "HTTP 400 is classified 'retry'", RETRIES: "after a fatal error (HTTP 400)",
             BREAKER: "the breaker opened on a 404"},
        ),
        (
            dict(policy=IgnoresRetryAfter, retrier=NoBudget),
            {DELAY: "never retry sooner than the service's Retry-After", BUDGETS: "kept retrying"},
        ),
        (
            dict(retrier=NoBreaker),
            {BREAKER: "did not open the breaker", OUTAGE: "without the circuit breaker's message"},
        ),
    ],
    ids=["no-jitter-retries-4xx", "ignores-retry-after-no-budget", "breaker-never-opens"],
)
def test_mistakes_fail_with_the_reason(spark, mistakes, expected):
    if mistakes.get("retrier") == "solution with the classifier":
        mistakes["retrier"] = solution_retrier_with(mistakes["classifier"])
    report = run(**mistakes)
    assert not report.passed
    assert set(report.failures) == set(expected), report.failures
    for requirement, says in expected.items():
        assert says in report.failures[requirement], (requirement, report.failures)
    assert ON_SPARK not in report.failures, report.failures  # transient faults are still retried
