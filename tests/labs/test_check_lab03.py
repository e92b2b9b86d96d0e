"""Lab 03's check accepts the reference and rejects the plausible mistakes, saying why."""

import pytest

from solutions.partitioning import (
    EmptyPartition,
    IdRangePartition,
    TokenRangePartition,
    fit_windows,
    midpoint,
    plan_id_ranges,
    plan_token_ranges,
)
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab03 import ID_COVER, TOKEN_COVER, WINDOW_COVER

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]


def run(service, url, ids=plan_id_ranges, tokens=plan_token_ranges, windows=fit_windows):
    return check_lab("03", plan_id_ranges=ids, plan_token_ranges=tokens, fit_windows=windows, url=url, service=service)


# -- correct, written differently ---------------------------------------------------------------


def remainder_first_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_lt <= id_gte:
        return [EmptyPartition()]
    parts = min(num_partitions, id_lt - id_gte)
    size, extra = divmod(id_lt - id_gte, parts)
    partitions, low = [], id_gte
    for index in range(parts):
        high = low + size + (1 if index < extra else 0)
        partitions.append(IdRangePartition(index, low, high))
        low = high
    return partitions


def recursive_fit_windows(windows, count, max_rows):
    fitted = []
    for start, end in windows:
        if count(start, end) <= max_rows:
            fitted.append((start, end))
        elif (end - start).total_seconds() * 1e6 <= 1:
            raise ValueError("too many events share one timestamp")
        else:
            middle = midpoint(start, end)
            fitted += recursive_fit_windows([(start, middle), (middle, end)], count, max_rows)
    return fitted


# -- mistakes -----------------------------------------------------------------------------------


def inclusive_id_ranges(id_gte, id_lt, num_partitions):
    partitions = plan_id_ranges(id_gte, id_lt, num_partitions)
    if isinstance(partitions[0], EmptyPartition):
        return partitions
    # the mistake: each range also takes the next one's first id (id <= bound)
    return [IdRangePartition(p.index, p.id_gte, p.id_lt + 1) for p in partitions]


def floor_step_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = min(num_partitions, id_lt - id_gte)
    step = (id_lt - id_gte) // parts  # the mistake: the remainder after the last range is lost
    return [IdRangePartition(i, id_gte + i * step, id_gte + (i + 1) * step) for i in range(parts)]


def empty_list_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return []  # the mistake
    return plan_id_ranges(id_gte, id_lt, num_partitions)


def split_without_modulo(token_gt, token_le, parts):
    width = token_le - token_gt  # the mistake: negative for the wrapping range, 0 for one node
    parts = max(1, min(parts, abs(width) or 1))
    bounds = [token_gt + width * i // parts for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


def token_ranges_without_wrap(ring_ranges, num_partitions):
    if not ring_ranges:
        return [EmptyPartition()]
    per_range = -(-num_partitions // len(ring_ranges))
    partitions = []
    for ring_range in ring_ranges:
        for low, high in split_without_modulo(ring_range["start"], ring_range["end"], per_range):
            partitions.append(TokenRangePartition(len(partitions), low, high))
    return partitions


def empty_ring_empty_list(ring_ranges, num_partitions):
    return plan_token_ranges(ring_ranges, num_partitions) if ring_ranges else []  # the mistake


def never_split(windows, count, max_rows):
    return list(windows)  # the mistake: the service will refuse the large windows


def split_forever(windows, count, max_rows):
    fitted, pending = [], list(reversed(windows))
    while pending:
        start, end = pending.pop()
        if count(start, end) <= max_rows:
            fitted.append((start, end))
            continue
        middle = midpoint(start, end)  # the mistake: a 1-microsecond window is "split" forever
        pending += [(middle, end), (start, middle)]
    return fitted


def overlapping_halves(windows, count, max_rows):
    import datetime

    fitted, pending = [], list(reversed(windows))
    while pending:
        start, end = pending.pop()
        if count(start, end) <= max_rows or end - start <= datetime.timedelta(microseconds=1):
            fitted.append((start, end))
            continue
        middle = midpoint(start, end)
        # the mistake: the second half starts a millisecond early
        pending += [(middle - datetime.timedelta(milliseconds=1), end), (start, middle)]
    return fitted


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("03")
    report = run(service, spark_service_url, solution["plan_id_ranges"], solution["plan_token_ranges"], solution["fit_windows"])
    assert report.passed, report.failures


def test_other_correct_implementations_pass(spark, spark_service_url, service):
    report = run(service, spark_service_url, ids=remainder_first_id_ranges, windows=recursive_fit_windows)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistake, requirement, says",
    [
        (dict(ids=inclusive_id_ranges), ID_COVER, "partitions 0 and 1 overlap at id 3751"),
        (dict(ids=floor_step_id_ranges), ID_COVER, "ids 14998..14999 are in no partition"),
        (dict(ids=empty_list_id_ranges), "id ranges: nothing to read plans one partition that reads nothing, never []",
         "returned []: Spark turns an empty list into one partition"),
        (dict(tokens=token_ranges_without_wrap), TOKEN_COVER, "overlap at token"),
        (dict(tokens=empty_ring_empty_list), "token ranges: an empty ring plans one partition, never []", "returned []"),
        (dict(windows=never_split), "time windows: none holds more than max_rows events", "more than max_rows=700"),
        (dict(windows=split_forever), "time windows: a window that cannot be split raises ValueError", "kept splitting"),
        (dict(windows=overlapping_halves), WINDOW_COVER, "windows 0 and 1 overlap at event time 2026-01-01T00:00:04.999000Z"),
    ],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, mistake, requirement, says):
    report = run(service, spark_service_url, **mistake)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


def test_spark_reads_wait_for_a_correct_plan(spark, spark_service_url, service):
    report = run(service, spark_service_url, ids=inclusive_id_ranges)
    assert report.failures["id ranges on Spark: the entities, each once"].startswith("not run")
