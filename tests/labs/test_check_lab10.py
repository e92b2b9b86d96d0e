"""Lab 10's check accepts the reference and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each breaks different requirements), to keep Spark work down.
"""
import dataclasses
import json

import pytest
from pyspark.sql.datasource import DataSourceReader, WriterCommitMessage

from solutions.observability import JsonFormatter as ReferenceFormatter
from solutions.observability import sum_metrics, task_fields
from solutions.options import PARSERS
from solutions.reader import PracticeBatchReader, PracticePushdownReader
from solutions.writer import PracticeCommitMessage
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab10 import (
    DRIVER_SUM,
    LOG_IN_TASKS,
    METRICS_ON_SPARK,
    NO_SECRETS,
    PUSH_ON_SPARK,
    PUSH_SPLIT,
    TASK_METRICS,
    VALIDATION,
    VALIDATION_ON_SPARK,
)

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]
HAS_PUSHDOWN = hasattr(DataSourceReader, "pushFilters")


@pytest.fixture(scope="module")
def solution():
    return labs.solution_namespace("10")


def run(service, url, solution, **mine):
    code = {
        "JsonFormatter": solution["JsonFormatter"],
        "task_fields": solution["task_fields"],
        "metered_message": solution["metered_message"],
        "sum_task_metrics": solution["sum_task_metrics"],
        "parse_value": solution["parse_value"],
        "PushdownReader": solution["Lab10PushdownReader"],
    }
    code.update(mine)
    return check_lab("10", url=url, service=service, **code)


# -- correct, written differently ---------------------------------------------------------------


class SortedKeysFormatter(ReferenceFormatter):
    """The reference's formatter (it redacts), with keys sorted."""

    def format(self, record):
        return json.dumps(json.loads(super().format(record)), sort_keys=True)


@dataclasses.dataclass
class TaskCounts(WriterCommitMessage):
    partition_id: int
    rows: int
    requests: int
    retries: int
    bytes: int
    seconds: float


def counts_message(partition_id, rows, client):
    counts = client.metrics()
    return TaskCounts(partition_id, rows, counts["requests"], counts["retries"], counts["bytes_sent"], counts["seconds"])


def parse_with_the_reference(option, text):
    return PARSERS[option.kind](option, text)


class YieldingPushdown(PracticeBatchReader):
    """pushFilters as a generator that yields what it returns to Spark."""

    exact = {"kind": lambda v: isinstance(v, str) and v and "," not in v and v == v.strip(),
             "device_id": lambda v: type(v) is int}

    def pushFilters(self, filters):
        from pyspark.sql.datasource import EqualTo, In

        for condition in filters:
            column = condition.attribute[0] if len(getattr(condition, "attribute", ())) == 1 else None
            values = set(condition.value) if isinstance(condition, In) else {getattr(condition, "value", None)}
            if column in self.exact and isinstance(condition, (EqualTo, In)) and all(map(self.exact[column], values)):
                name = "kinds" if column == "kind" else "device_ids"
                setattr(self, name, values if getattr(self, name) is None else getattr(self, name) & values)
                if self.options["mode"] == "PERMISSIVE":
                    yield condition  # narrowed, and checked by Spark again
            else:
                yield condition


# -- mistakes -----------------------------------------------------------------------------------


class LeaksSecrets(ReferenceFormatter):
    def format(self, record):
        entry = {"ts": "2026-01-01T00:00:00+00:00", "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k in ("partition_id", "task_attempt", "latency_ms", "authorization")})
        return json.dumps(entry, default=str)  # the mistake: no redact()


def counts_but_keeps(partition_id, rows, client):
    client.metrics()  # counted ...
    return PracticeCommitMessage(partition_id=partition_id, rows=rows)  # ... the mistake: not returned


def accepts_any_number(option, text):
    if option.kind == "int":
        return int(text)  # the mistake: no minimum
    return PARSERS[option.kind](option, text)


class ClaimsEverything(PracticePushdownReader):
    def pushFilters(self, filters):
        list(super().pushFilters(filters))  # narrows what the service can filter ...
        return []  # the mistake: claims the rest too, so Spark applies nothing


class KeepsInPermissive(PracticePushdownReader):
    def pushFilters(self, filters):
        return [condition for condition in filters if not self._narrow(condition)]  # the mistake: in every mode


def fields_without_a_context():
    from pyspark import TaskContext

    context = TaskContext.get()  # the mistake: None on the driver
    return {"partition_id": context.partitionId(), "task_attempt": context.attemptNumber()}


def sums_none_too(messages):
    return {"tasks": len(messages), **{name: sum(getattr(m, name) for m in messages)  # the mistake: None fails
                                       for name in ("rows", "bytes", "requests", "retries", "seconds")}}


def test_reference_passes(spark, spark_service_url, service, solution):
    report = run(service, spark_service_url, solution)
    assert report.passed, report.failures


def test_another_correct_implementation_passes(spark, spark_service_url, service, solution):
    report = run(service, spark_service_url, solution, JsonFormatter=SortedKeysFormatter, task_fields=task_fields,
                 metered_message=counts_message, sum_task_metrics=sum_metrics, parse_value=parse_with_the_reference,
                 PushdownReader=YieldingPushdown)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(JsonFormatter=LeaksSecrets, metered_message=counts_but_keeps),
            {NO_SECRETS: "a registered secret appears in the log line", TASK_METRICS: "only what is in the commit message",
             METRICS_ON_SPARK: "must travel in their commit messages"},
        ),
        (
            dict(parse_value=accepts_any_number, PushdownReader=ClaimsEverything),
            {VALIDATION: "numPartitions='0' was accepted", VALIDATION_ON_SPARK: "a read with numPartitions=0 ran",
             PUSH_SPLIT: "Spark does not check the rows against a filter you keep", PUSH_ON_SPARK: "rows too many"},
        ),
        (
            dict(task_fields=fields_without_a_context, sum_task_metrics=sums_none_too, PushdownReader=KeepsInPermissive),
            {LOG_IN_TASKS: "AttributeError", DRIVER_SUM: "Spark passes None for a failed task",
             PUSH_SPLIT: "in mode PERMISSIVE pushFilters kept"},
        ),
    ],
    ids=["secret-in-log-and-metrics-not-returned", "accepts-bad-value-and-claims-all-filters",
         "no-context-sums-none-and-keeps-filters-in-permissive"],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, solution, mistakes, expected, worker_features):
    if not HAS_PUSHDOWN:  # Spark 4.0: the check skips the pushdown requirements
        expected = {req: says for req, says in expected.items() if req not in (PUSH_SPLIT, PUSH_ON_SPARK)}
    if "pushFilters" not in worker_features:  # a Connect server without pushdown never calls pushFilters
        expected = {req: says for req, says in expected.items() if req != PUSH_ON_SPARK}
    report = run(service, spark_service_url, solution, **mistakes)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
