"""Lab 03's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why."""
import collections
import dataclasses
import datetime

import pytest
from pyspark.sql.datasource import InputPartition

from solutions.partitioning import (
    RING_SIZE,
    EmptyPartition,
    IdRangePartition,
    TimeWindowPartition,
    TokenRangePartition,
    fit_windows,
    midpoint,
    plan_id_ranges,
    plan_token_ranges,
    split_token_range,
    wrap_token,
)
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab03 import ID_COVER, TOKEN_COVER, WINDOW_COVER

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]

ID_COUNT = "id ranges: numPartitions ranges (fewer only when there are fewer ids), widths within one id"
ID_EMPTY = "id ranges: nothing to read plans one partition that reads nothing, never []"
PER_NODE = "token ranges: each node's range in ceil(numPartitions / nodes) pieces, none across nodes"
EMPTY_RING = "token ranges: an empty ring plans one partition, never []"
NUMBERED = "id and token ranges: partitions numbered 0, 1, 2, ... in plan order"
WINDOW_FIT = "time windows: none holds more than max_rows events"
KEPT = "time windows: a window that fits is kept as it is, even one microsecond wide"
UNSPLITTABLE = "time windows: a window that cannot be split raises ValueError"
IDS_ON_SPARK = "id ranges on Spark: the entities, each once"
MICROSECOND = datetime.timedelta(microseconds=1)


def run(ids=plan_id_ranges, tokens=plan_token_ranges, windows=fit_windows):
    return check_lab("03", plan_id_ranges=ids, plan_token_ranges=tokens, fit_windows=windows)


# -- right, written differently ------------------------------------------------------------------


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


def unsigned_token_ranges(ring_ranges, num_partitions):
    """Everything in unsigned offsets 0 .. 2**64-1, converted back at the end."""
    if len(ring_ranges) == 0:
        return [EmptyPartition()]
    pieces = (num_partitions + len(ring_ranges) - 1) // len(ring_ranges)
    plan = []
    for ring_range in ring_ranges:
        start = ring_range["start"] + 2**63
        width = (ring_range["end"] + 2**63 - start) % 2**64 or 2**64
        count = min(pieces, width)
        edges = [(start + width * k // count) % 2**64 - 2**63 for k in range(count + 1)]
        plan += [TokenRangePartition(len(plan) + k, edges[k], edges[k + 1]) for k in range(count)]
    return plan


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


def breadth_first_fit_windows(windows, count, max_rows):
    """Splits level by level, then sorts: a different order of work, the same windows."""
    queue, fitted = collections.deque(windows), []
    while queue:
        start, end = queue.popleft()
        if count(start, end) <= max_rows:
            fitted.append((start, end))
        elif end - start == MICROSECOND:
            raise ValueError(f"{count(start, end)} events at {start}")
        else:
            queue.extend([(start, midpoint(start, end)), (midpoint(start, end), end)])
    return sorted(fitted)


# -- mistakes: id ranges ---------------------------------------------------------------------------


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


def ceiling_step_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = min(num_partitions, id_lt - id_gte)
    step = -(-(id_lt - id_gte) // parts)  # the mistake: the last range gets what is left, maybe little
    bounds = [min(id_gte + i * step, id_lt) for i in range(parts + 1)]
    return [IdRangePartition(i, low, high) for i, (low, high) in enumerate(zip(bounds, bounds[1:]))]


def last_takes_the_rest(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = min(num_partitions, id_lt - id_gte)
    step = (id_lt - id_gte) // parts
    plan = [IdRangePartition(i, id_gte + i * step, id_gte + (i + 1) * step) for i in range(parts - 1)]
    return plan + [IdRangePartition(parts - 1, id_gte + (parts - 1) * step, id_lt)]  # the mistake: up to parts-1 more


def float_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = min(num_partitions, id_lt - id_gte)
    width = (id_lt - id_gte) / parts  # the mistake: a float cannot hold ids near 2**62
    bounds = [int(id_gte + width * i) for i in range(parts)] + [id_lt]
    return [IdRangePartition(i, low, high) for i, (low, high) in enumerate(zip(bounds, bounds[1:]))]


def empty_list_id_ranges(id_gte, id_lt, num_partitions):
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return []  # the mistake
    return plan_id_ranges(id_gte, id_lt, num_partitions)


def both_bounds_or_neither(id_gte, id_lt, num_partitions):
    if id_gte is None or id_gte >= id_lt:  # the mistake: (10, None) compares 10 >= None
        return [EmptyPartition()]
    return plan_id_ranges(id_gte, id_lt, num_partitions)


def stretched_id_ranges(id_gte, id_lt, num_partitions):
    plan = plan_id_ranges(id_gte, id_lt, num_partitions)
    if isinstance(plan[-1], IdRangePartition):  # the mistake: the last range runs on past id_lt
        plan[-1] = IdRangePartition(plan[-1].index, plan[-1].id_gte, plan[-1].id_lt + 10)
    return plan


def tuple_id_ranges(id_gte, id_lt, num_partitions):
    return tuple(plan_id_ranges(id_gte, id_lt, num_partitions))  # the mistake: Spark wants a list


@dataclasses.dataclass(frozen=True)
class OwnRange(InputPartition):
    index: int
    id_gte: int
    id_lt: int


def own_partition_class(id_gte, id_lt, num_partitions):
    # the mistake: a partition class of its own, which the reader does not know
    return [OwnRange(p.index, p.id_gte, p.id_lt) if isinstance(p, IdRangePartition) else p
            for p in plan_id_ranges(id_gte, id_lt, num_partitions)]


# -- mistakes: token ranges ------------------------------------------------------------------------


def split_without_modulo(token_gt, token_le, parts):
    width = token_le - token_gt  # the mistake: negative for the wrapping range, 0 for one node
    parts = max(1, min(parts, abs(width) or 1))
    bounds = [token_gt + width * i // parts for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


def split_without_clamp(token_gt, token_le, parts):
    width = (token_le - token_gt) % RING_SIZE or RING_SIZE  # the mistake: parts is not capped at width
    bounds = [wrap_token(token_gt + width * i // parts) for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


def split_without_wrap_token(token_gt, token_le, parts):
    width = (token_le - token_gt) % RING_SIZE or RING_SIZE
    parts = max(1, min(parts, width))
    bounds = [token_gt + width * i // parts for i in range(parts + 1)]  # the mistake: past 2**63 - 1
    return list(zip(bounds, bounds[1:]))


def plan_tokens_with(ring_ranges, num_partitions, split, per_range=None, number_within_node=False):
    """A token plan made like the reference's, with one piece swapped for a mistake."""
    if not ring_ranges:
        return [EmptyPartition()]
    pieces = per_range if per_range is not None else -(-num_partitions // len(ring_ranges))
    plan = []
    for ring_range in ring_ranges:
        for i, (low, high) in enumerate(split(ring_range["start"], ring_range["end"], pieces)):
            plan.append(TokenRangePartition(i if number_within_node else len(plan), low, high))
    return plan


def token_ranges_without_wrap(ring_ranges, num_partitions):
    return plan_tokens_with(ring_ranges, num_partitions, split_without_modulo)


def token_ranges_without_clamp(ring_ranges, num_partitions):
    return plan_tokens_with(ring_ranges, num_partitions, split_without_clamp)


def token_ranges_without_wrap_token(ring_ranges, num_partitions):
    return plan_tokens_with(ring_ranges, num_partitions, split_without_wrap_token)


def floor_token_ranges(ring_ranges, num_partitions):
    # the mistake: pieces per range rounded down
    per_range = max(1, num_partitions // len(ring_ranges)) if ring_ranges else 1
    return plan_tokens_with(ring_ranges, num_partitions, split_token_range, per_range=per_range)


def numbered_per_node(ring_ranges, num_partitions):
    return plan_tokens_with(ring_ranges, num_partitions, split_token_range, number_within_node=True)  # the mistake


def across_nodes(ring_ranges, num_partitions):
    if not ring_ranges:
        return [EmptyPartition()]
    # the mistake: the whole ring in as many pieces, ignoring where the nodes' ranges end
    start, per_range = ring_ranges[0]["start"], -(-num_partitions // len(ring_ranges))
    pieces = split_token_range(start, start, per_range * len(ring_ranges))
    return [TokenRangePartition(i, low, high) for i, (low, high) in enumerate(pieces)]


def empty_ring_empty_list(ring_ranges, num_partitions):
    return plan_token_ranges(ring_ranges, num_partitions) if ring_ranges else []  # the mistake


# -- mistakes: time windows ------------------------------------------------------------------------


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
    fitted, pending = [], list(reversed(windows))
    while pending:
        start, end = pending.pop()
        if count(start, end) <= max_rows or end - start <= MICROSECOND:
            fitted.append((start, end))
            continue
        middle = midpoint(start, end)
        # the mistake: the second half starts a millisecond early
        pending += [(middle - datetime.timedelta(milliseconds=1), end), (start, middle)]
    return fitted


def width_before_count(windows, count, max_rows):
    fitted, pending = [], list(reversed(windows))
    while pending:
        start, end = pending.pop()
        if end - start <= MICROSECOND:  # the mistake: refused before asking whether it fits
            raise ValueError(f"cannot split the window at {start}")
        if count(start, end) <= max_rows:
            fitted.append((start, end))
            continue
        middle = midpoint(start, end)
        pending += [(middle, end), (start, middle)]
    return fitted


def strictly_fewer(windows, count, max_rows):
    fitted, pending = [], list(reversed(windows))
    while pending:
        start, end = pending.pop()
        if count(start, end) < max_rows:  # the mistake: exactly max_rows fits too
            fitted.append((start, end))
        elif end - start <= MICROSECOND:
            raise ValueError("too many events in one microsecond")
        else:
            middle = midpoint(start, end)
            pending += [(middle, end), (start, middle)]
    return fitted


def out_of_order(windows, count, max_rows):
    fitted, pending = [], list(windows)  # the mistake: a stack of the windows as given pops the last first
    while pending:
        start, end = pending.pop()
        if count(start, end) <= max_rows:
            fitted.append((start, end))
        elif end - start <= MICROSECOND:
            raise ValueError("too many events in one microsecond")
        else:
            middle = midpoint(start, end)
            pending += [(start, middle), (middle, end)]
    return fitted


def wrong_exception(windows, count, max_rows):
    fitted = []
    for start, end in windows:
        if count(start, end) <= max_rows:
            fitted.append((start, end))
        elif end - start <= MICROSECOND:
            raise RuntimeError("too many events in one microsecond")  # the mistake: not ValueError
        else:
            middle = midpoint(start, end)
            fitted += wrong_exception([(start, middle), (middle, end)], count, max_rows)
    return fitted


def partitions_not_pairs(windows, count, max_rows):
    # the mistake: plan_time_windows numbers (start, end) pairs; these are partitions already
    return [TimeWindowPartition(i, start, end) for i, (start, end) in enumerate(fit_windows(windows, count, max_rows))]


# -- the tests -------------------------------------------------------------------------------------


def test_reference_passes(spark):
    solution = labs.solution_namespace("03")
    report = run(solution["plan_id_ranges"], solution["plan_token_ranges"], solution["fit_windows"])
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "right",
    [
        dict(ids=remainder_first_id_ranges, tokens=unsigned_token_ranges, windows=recursive_fit_windows),
        dict(windows=breadth_first_fit_windows),
    ],
)
def test_other_right_answers_pass(spark, right):
    report = run(**right)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistake, requirement, says",
    [
        (dict(ids=inclusive_id_ranges), ID_COVER, "plan_id_ranges(0, 10, 3): partitions 0 and 1 overlap at id 3"),
        (dict(ids=floor_step_id_ranges), ID_COVER, "plan_id_ranges(0, 10, 3): id 9 is in no partition"),
        (dict(ids=ceiling_step_id_ranges), ID_COUNT,
         "plan_id_ranges(0, 10, 3) planned ranges of widths 4, 4, 2; equal widths differ by at most one id (here 3 or 4)"),
        (dict(ids=last_takes_the_rest), ID_COUNT, "plan_id_ranges(0, 10, 4) planned ranges of widths 2, 2, 2, 4"),
        (dict(ids=float_id_ranges), ID_COUNT, "a float cannot hold every integer, use integers and //"),
        (dict(ids=empty_list_id_ranges), ID_EMPTY, "returned []: Spark turns an empty list into one partition"),
        (dict(ids=both_bounds_or_neither), ID_EMPTY, "plan_id_ranges(10, None, 4) raised TypeError"),
        (dict(ids=stretched_id_ranges), ID_COVER, "partition 2 is [6, 20), beyond [0, 10): it would read ids outside"),
        (dict(ids=tuple_id_ranges), ID_COVER, "returned a tuple; return a list: Spark refuses anything else"),
        (dict(ids=own_partition_class), IDS_ON_SPARK, "reading your plan on Spark failed: TypeError: the practice reader cannot read a OwnRange"),
        (dict(tokens=token_ranges_without_wrap), TOKEN_COVER, "overlap at token"),
        (dict(tokens=token_ranges_without_clamp), TOKEN_COVER,
         "token_gt == token_le means the whole ring (a one-node ring's range), so it overlaps every other partition"),
        (dict(tokens=token_ranges_without_wrap_token), TOKEN_COVER, "outside the ring's tokens -2**63 .. 2**63-1"),
        (dict(tokens=floor_token_ranges), PER_NODE,
         "plan_token_ranges(<the service's 4-node ring>, 6) planned 4 partitions; expected 8: each of the 4 ring ranges in "
         "ceil(6 / 4) = 2 pieces, so there are at least numPartitions (rounding down gives 1 each, 4 in all"),
        (dict(tokens=across_nodes), PER_NODE, "which reaches across two nodes' ring ranges"),
        (dict(tokens=numbered_per_node), NUMBERED, "plan_token_ranges(<the service's 4-node ring>, 6) numbered its partitions 0, 1, 0, 1"),
        (dict(tokens=empty_ring_empty_list), EMPTY_RING, "returned []"),
        (dict(windows=never_split), WINDOW_FIT, "more than max_rows=200: halve it at its midpoint"),
        (dict(windows=split_forever), UNSPLITTABLE, "kept splitting"),
        (dict(windows=overlapping_halves), WINDOW_COVER, "windows 0 and 1 overlap at event time 2026-01-01T00:00:01.249000Z"),
        (dict(windows=width_before_count), KEPT, "which fits max_rows=5: ask count first"),
        (dict(windows=strictly_fewer), KEPT, "but both windows fit as they are: a window holding at most max_rows events fits (5 <= 5)"),
        (dict(windows=out_of_order), WINDOW_COVER, "returned windows out of time order: window 0 ends at"),
        (dict(windows=out_of_order), KEPT, "returned the 2 windows out of time order"),
        (dict(windows=never_split), KEPT, "returned the window as it was, though it holds 10 events"),
        (dict(windows=wrong_exception), UNSPLITTABLE, "raised RuntimeError: too many events in one microsecond; raise ValueError"),
        (dict(windows=partitions_not_pairs), WINDOW_COVER, "return (start, end) pairs, like its input"),
    ],
)
def test_mistakes_fail_with_the_reason(spark, mistake, requirement, says):
    report = run(**mistake)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


def test_spark_reads_wait_for_a_correct_plan(spark):
    report = run(ids=inclusive_id_ranges)
    assert report.failures[IDS_ON_SPARK].startswith("not run")
    assert "token ranges on Spark: the kv rows, each once" not in report.failures  # the other plans are still read


def test_a_plan_spark_cannot_read_is_told_apart_from_the_others(spark):
    report = run(ids=own_partition_class)
    assert "cannot read a OwnRange" in report.failures[IDS_ON_SPARK]
    assert "token ranges on Spark: the kv rows, each once" not in report.failures
    assert "time windows on Spark: the events, each once" not in report.failures
