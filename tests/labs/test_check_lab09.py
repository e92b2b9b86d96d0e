"""Lab 09's check accepts the reference and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each breaks different requirements), to keep Spark work down.
"""
import itertools
import random

import pytest

from solutions import resilience
from solutions.resilience import FATAL, RETRY, classify, may_retry
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab09 import BREAKER, BUDGETS, CLASSIFY, DELAY, ON_SPARK, OUTAGE, RETRIES

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]


def run(policy=resilience.RetryPolicy, classifier=classify, retrier=resilience.Retrier):
    return check_lab("09", RetryPolicy=policy, classify=classifier, Retrier=retrier)


# -- correct, written differently ---------------------------------------------------------------


class ScaledPolicy(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        floor = min(retry_after or 0.0, self.max_delay)
        return max(floor, random.SystemRandom().random() * ceiling)


class LoopRetrier(resilience.Retrier):
    """A for-loop; the class flags switch parts off for the mistakes below."""

    budgets = True
    feeds_breaker = True

    def call(self, attempt, what, idempotent=True, max_retries=None):
        limit = self.policy.max_retries if max_retries is None else max_retries
        for number in itertools.count(1):
            self.breaker.before_attempt()
            self.attempts += 1
            try:
                result = attempt()
            except Exception as error:
                verdict, reason = classify(error)
                if verdict == FATAL:
                    if self.feeds_breaker:
                        (self.breaker.record_success if getattr(error, "status", None) else self.breaker.record_neutral)()
                    raise
                if self.feeds_breaker and self.breaker.record_failure(reason):
                    raise self.breaker.open_error() from error
                spent = number > limit or self.retries >= self.policy.task_budget
                if not may_retry(verdict, idempotent) or (self.budgets and spent):
                    raise
                self.retries += 1
                wait = self.policy.delay(number, getattr(error, "retry_after", None))
                self.seconds_waiting += wait
                self.sleep(wait)
            else:
                if self.feeds_breaker:
                    self.breaker.record_success()
                return result


# -- mistakes -----------------------------------------------------------------------------------


def retries_everything(error):
    verdict, reason = classify(error)
    return (RETRY, reason) if getattr(error, "status", None) else (verdict, reason)  # the mistake: 4xx too


class NoJitter(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        wait = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))  # the mistake: always the ceiling
        return max(wait, min(retry_after or 0.0, self.max_delay))


class IgnoresRetryAfter(resilience.RetryPolicy):
    def delay(self, retry_number, retry_after=None):
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry_number - 1)))  # the mistake


class NoBudget(LoopRetrier):
    budgets = False  # the mistake: retries until the breaker stops it, or for ever


class NoBreaker(LoopRetrier):
    feeds_breaker = False  # the mistake: the breaker never hears of a failure, so it never opens


def solution_retrier_with(classifier):
    """The lab's reference Retrier, whose call() uses `classifier` (its globals are the lab's namespace)."""
    namespace = labs.solution_namespace("09")
    namespace["classify"] = classifier
    return namespace["Retrier"]


def test_reference_passes(spark):
    solution = labs.solution_namespace("09")
    report = run(solution["RetryPolicy"], solution["classify"], solution["Retrier"])
    assert report.passed, report.failures


def test_another_correct_implementation_passes(spark):
    report = run(policy=ScaledPolicy, retrier=LoopRetrier)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(policy=NoJitter, classifier=retries_everything, retrier="solution with the classifier"),
            {DELAY: "no jitter", CLASSIFY: "HTTP 400 is classified 'retry'", RETRIES: "after a fatal error (HTTP 400)"},
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
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
    assert ON_SPARK not in report.failures, report.failures  # transient faults are still retried
