"""Lab 10's check accepts the reference and two other correct implementations, and rejects the
plausible mistakes, each with a message that names the cause.

Several mistakes share one check run (each breaks different requirements), to keep Spark work down.
"""
import collections
import dataclasses
import datetime
import json
import logging

import pytest
from pyspark.sql.datasource import DataSourceReader, WriterCommitMessage

from solutions.observability import JsonFormatter as ReferenceFormatter
from solutions.observability import redact_values, sum_metrics, task_fields
from solutions.options import PARSERS, OptionError
from solutions.reader import PracticeBatchReader, PracticePushdownReader
from solutions.writer import PracticeCommitMessage
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab10 import (
    DRIVER_SUM,
    LOG_FORMAT,
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


class StepByStepFormatter(logging.Formatter):
    """Another correct formatter: the standard formatTime in UTC, extras by set difference."""

    PLAIN = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record):
        entry = {"ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f+00:00"), "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({key: getattr(record, key) for key in set(vars(record)) - self.PLAIN})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact_values(entry), separators=(",", ":"))


def fields_from_a_table():
    from pyspark import TaskContext

    context = TaskContext.get()
    names = {"partition_id": "partitionId", "task_attempt": "attemptNumber", "spark_stage": "stageId"}
    return {} if context is None else {field: getattr(context, method)() for field, method in names.items()}


def message_by_replace(partition_id, rows, client):
    counts = client.metrics()
    blank = PracticeCommitMessage(partition_id=partition_id)
    return dataclasses.replace(blank, rows=rows, bytes=counts["bytes_sent"], requests=counts["requests"],
                               retries=counts["retries"], seconds=counts["seconds"])


def sum_with_a_counter(messages):
    totals = collections.Counter(tasks=0, rows=0, bytes=0, requests=0, retries=0, seconds=0.0)
    for message in filter(None, messages):
        totals.update(tasks=1, rows=message.rows, bytes=message.bytes, requests=message.requests,
                      retries=message.retries, seconds=message.seconds)
    return {**totals, "seconds": round(totals["seconds"], 3)}


def parse_by_dispatch(option, text):
    def boolean():
        word = text.strip().lower()
        if word not in ("true", "false"):
            raise OptionError(f"option {option.name}={text!r} is not valid: expected true or false")
        return word == "true"

    def choice():
        matches = [allowed for allowed in option.allowed if allowed.lower() == text.strip().lower()]
        if not matches:
            raise OptionError(f"option {option.name}={text!r} is not valid: expected one of {', '.join(option.allowed)}")
        return matches[0]

    def whole_number():
        if not text.strip().lstrip("-").isdigit() or int(text) < (option.minimum or -(2**63)):
            least = f" of at least {option.minimum}" if option.minimum is not None else ""
            raise OptionError(f"option {option.name}={text!r} is not valid: expected a whole number{least}")
        return int(text)

    parsers = {"boolean": boolean, "choice": choice, "int": whole_number}
    return parsers[option.kind]() if option.kind in parsers else PARSERS[option.kind](option, text)


class ComprehensionPushdown(PracticePushdownReader):
    """pushFilters as two passes: first narrow by the exact filters, then say which go back."""

    def pushFilters(self, filters):
        from pyspark.sql.datasource import EqualTo, In

        def exact(condition):
            column = getattr(condition, "attribute", (None,))[0]
            values = condition.value if isinstance(condition, In) else (getattr(condition, "value", None),)
            checks = {"device_id": lambda v: type(v) is int, "kind": lambda v: v in ("click", "error", "purchase",
                                                                                   "refund", "signup", "view")}
            return (isinstance(condition, (EqualTo, In)) and column in checks
                    and len(condition.attribute) == 1 and all(checks[column](v) for v in values))

        pushed = [condition for condition in filters if exact(condition)]
        for condition in pushed:
            values = set(condition.value) if isinstance(condition, In) else {condition.value}
            if condition.attribute[0] == "kind":
                self.kinds = values & (self.kinds if self.kinds is not None else values)
            else:
                self.device_ids = values & (self.device_ids if self.device_ids is not None else values)
        keep = self.options["mode"] != "PERMISSIVE"
        return [condition for condition in filters if not (keep and condition in pushed)]


# -- mistakes -----------------------------------------------------------------------------------


class LeaksSecrets(ReferenceFormatter):
    def format(self, record):
        entry = {"ts": "2026-01-01T00:00:00+00:00", "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k in ("partition_id", "task_attempt", "latency_ms", "authorization")})
        return json.dumps(entry, default=str)  # the mistake: no redact()


class TemplateAndLocalTime(ReferenceFormatter):
    def format(self, record):
        entry = json.loads(super().format(record))
        entry["message"] = record.msg  # the mistake: the template, without its arguments
        return json.dumps(entry)


class LocalTime(ReferenceFormatter):
    def format(self, record):
        entry = json.loads(super().format(record))
        entry["ts"] = datetime.datetime.fromtimestamp(record.created).astimezone(
            datetime.timezone(datetime.timedelta(hours=2))).isoformat()  # the mistake: a local zone
        return json.dumps(entry)


class RedactsOnlyTheMessage(ReferenceFormatter):
    def format(self, record):
        from solutions.observability import redact

        entry = {"ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
                 "level": record.levelname, "logger": record.name, "message": redact(record.getMessage())}
        entry.update({k: v for k, v in vars(record).items() if k not in self.STANDARD_FIELDS})  # the mistake: not redacted
        return json.dumps(entry, default=str)

    STANDARD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def counts_but_keeps(partition_id, rows, client):
    client.metrics()  # counted ...
    return PracticeCommitMessage(partition_id=partition_id, rows=rows)  # ... the mistake: not returned


def forgets_the_retries(partition_id, rows, client):
    counts = client.metrics()
    return PracticeCommitMessage(partition_id=partition_id, rows=rows, bytes=counts["bytes_sent"],
                                 requests=counts["requests"], seconds=counts["seconds"])  # the mistake: no retries


def accepts_any_number(option, text):
    if option.kind == "int":
        return int(text)  # the mistake: no minimum
    return PARSERS[option.kind](option, text)


def bool_of_the_text(option, text):
    if option.kind == "boolean":
        return bool(text)  # the mistake: bool("false") is True
    return PARSERS[option.kind](option, text)


class ClaimsEverything(PracticePushdownReader):
    def pushFilters(self, filters):
        list(super().pushFilters(filters))  # narrows what the service can filter ...
        return []  # the mistake: claims the rest too, so Spark applies nothing


class KeepsInPermissive(PracticePushdownReader):
    def pushFilters(self, filters):
        return [condition for condition in filters if not self._narrow(condition)]  # the mistake: in every mode


class ReplacesInsteadOfIntersecting(PracticePushdownReader):
    def pushFilters(self, filters):
        from pyspark.sql.datasource import EqualTo, In

        returned = []
        for condition in filters:
            column = getattr(condition, "attribute", (None,))[0]
            if column in ("kind", "device_id") and isinstance(condition, (EqualTo, In)):
                values = set(condition.value) if isinstance(condition, In) else {condition.value}
                if all(type(v) is int if column == "device_id" else "," not in str(v) for v in values):
                    setattr(self, "kinds" if column == "kind" else "device_ids", values)  # the mistake: replaces
                    if self.options["mode"] != "PERMISSIVE":
                        continue
            returned.append(condition)
        return returned


class UnitesDeviceFilters(PracticePushdownReader):
    def _narrow_set(self, column, values):
        if column == "device_id" and self.device_ids is not None:
            self.device_ids = self.device_ids | values  # the mistake: a second filter widens the read
        else:
            super()._narrow_set(column, values)


class CopiesEveryAttribute(ReferenceFormatter):
    def format(self, record):
        entry = json.loads(super().format(record))
        entry.update({name: str(value) for name, value in vars(record).items() if name not in entry})  # the mistake:
        return json.dumps(entry)  # levelno, args, pathname ... every record has them; only extra= fields belong


def minimum_always(option, text):
    value = parse_with_the_reference(option, text)
    if option.kind == "int" and value < option.minimum:  # the mistake: an int option without a minimum has None
        raise ValueError(f"option {option.name}={text} is not valid: expected a whole number of at least {option.minimum}")
    return value


def rounds_to_hundredths(messages):
    totals = sum_with_a_counter(messages)
    return {**totals, "seconds": round(totals["seconds"], 2)}  # the mistake: the lab asks for milliseconds


def fields_without_a_context():
    from pyspark import TaskContext

    context = TaskContext.get()  # the mistake: None on the driver
    return {"partition_id": context.partitionId(), "task_attempt": context.attemptNumber()}


def fields_without_the_stage():
    from pyspark import TaskContext

    context = TaskContext.get()
    return {} if context is None else {"partition_id": context.partitionId(), "task_attempt": context.attemptNumber()}


def sums_none_too(messages):
    return {"tasks": len(messages), **{name: sum(getattr(m, name) for m in messages)  # the mistake: None fails
                                       for name in ("rows", "bytes", "requests", "retries", "seconds")}}


def sums_without_rounding(messages):
    totals = {"tasks": 0, "rows": 0, "bytes": 0, "requests": 0, "retries": 0, "seconds": 0.0}
    for message in filter(None, messages):
        totals["tasks"] += 1
        for name in ("rows", "bytes", "requests", "retries", "seconds"):
            totals[name] += getattr(message, name)
    return totals  # the mistake: seconds not rounded to milliseconds


def test_reference_passes(spark, spark_service_url, service, solution):
    report = run(service, spark_service_url, solution)
    assert report.passed, report.failures


@pytest.mark.parametrize("alternative", [
    dict(JsonFormatter=SortedKeysFormatter, task_fields=task_fields, metered_message=counts_message,
         sum_task_metrics=sum_metrics, parse_value=parse_with_the_reference, PushdownReader=YieldingPushdown),
    dict(JsonFormatter=StepByStepFormatter, task_fields=fields_from_a_table, metered_message=message_by_replace,
         sum_task_metrics=sum_with_a_counter, parse_value=parse_by_dispatch, PushdownReader=ComprehensionPushdown),
], ids=["reference-helpers-and-a-generator", "dispatch-tables-and-two-passes"])
def test_other_correct_implementations_pass(spark, spark_service_url, service, solution, alternative):
    report = run(service, spark_service_url, solution, **alternative)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(JsonFormatter=LeaksSecrets, metered_message=counts_but_keeps, sum_task_metrics=sums_without_rounding),
            {NO_SECRETS: "a registered secret appears in the line's 'message' field",
             TASK_METRICS: "only what is in the commit message", METRICS_ON_SPARK: "must travel in their commit messages",
             DRIVER_SUM: "round the sum to milliseconds"},
        ),
        (
            dict(parse_value=accepts_any_number, PushdownReader=ClaimsEverything, metered_message=forgets_the_retries,
                 JsonFormatter=TemplateAndLocalTime),
            {VALIDATION: "numPartitions='0' was accepted", VALIDATION_ON_SPARK: "a read with numPartitions=0 ran",
             PUSH_SPLIT: "Spark does not check the rows against a filter you keep", PUSH_ON_SPARK: "rows too many",
             TASK_METRICS: "the message has retries=0", LOG_FORMAT: "record.getMessage() puts the arguments in"},
        ),
        (
            dict(task_fields=fields_without_a_context, sum_task_metrics=sums_none_too, PushdownReader=KeepsInPermissive,
                 JsonFormatter=RedactsOnlyTheMessage),
            {LOG_IN_TASKS: "AttributeError", DRIVER_SUM: "Spark passes None for a failed task",
             PUSH_SPLIT: "in mode PERMISSIVE pushFilters kept", NO_SECRETS: "appears in the line's 'request' field"},
        ),
        (
            dict(task_fields=fields_without_the_stage, parse_value=bool_of_the_text,
                 PushdownReader=ReplacesInsteadOfIntersecting, JsonFormatter=LocalTime),
            {LOG_IN_TASKS: "spark_stage=None", VALIDATION: "bool('false') is True",
             PUSH_SPLIT: "it does not replace the first", LOG_FORMAT: "is not in UTC"},
        ),
        (
            dict(JsonFormatter=CopiesEveryAttribute, parse_value=minimum_always, PushdownReader=UnitesDeviceFilters,
                 sum_task_metrics=rounds_to_hundredths),
            {LOG_FORMAT: "which every record has: copy only the attributes the call passed with extra=",
             VALIDATION: "an int option without a minimum refused -3 (TypeError",
             PUSH_SPLIT: "it does not add to the first", DRIVER_SUM: "round the sum to milliseconds, round(seconds, 3)"},
        ),
    ],
    ids=["secret-in-log-metrics-not-returned-seconds-unrounded", "accepts-bad-value-claims-all-no-retries-template",
         "no-context-sums-none-keeps-in-permissive-extras-unredacted", "no-stage-bool-of-text-replaces-local-time",
         "every-attribute-minimum-always-unites-devices-hundredths"],
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
