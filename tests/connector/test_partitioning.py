"""The partitioning layer: every strategy is non-overlapping and gap-free, over many random cases.

Property-style: each test loops over random bounds and counts from `random.Random(seed)`, so
a failure is reproducible from the printed seed.
"""
import datetime
import pickle
import random
from bisect import bisect_left

import pytest

from solutions.partitioning import (
    MICROSECOND,
    RING_SIZE,
    EmptyPartition,
    IdRangePartition,
    TimeWindowPartition,
    TokenRangePartition,
    fit_windows,
    plan_id_ranges,
    plan_time_windows,
    plan_token_ranges,
    split_time_range,
    split_token_range,
    token_in_range,
)

UTC = datetime.timezone.utc
BASE = datetime.datetime(2026, 1, 1, tzinfo=UTC)
MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1
CASES = 300


def at(micros):
    return BASE + datetime.timedelta(microseconds=micros)


# -- time windows -------------------------------------------------------------------------------


def assert_tiles(windows, start, end):
    """Windows are adjacent, non-empty and cover exactly [start, end)."""
    assert windows[0][0] == start and windows[-1][1] == end
    for (_low, high), (next_low, _) in zip(windows, windows[1:]):
        assert high == next_low, "a gap or an overlap between windows"
    assert all(low < high for low, high in windows), "an empty window"


def test_time_ranges_split_into_adjacent_windows():
    rng = random.Random(1)
    for case in range(CASES):
        start = at(rng.randrange(-10**12, 10**12))
        end = start + datetime.timedelta(microseconds=rng.randrange(1, 10**11))
        parts = rng.randrange(1, 50)
        windows = split_time_range(start, end, parts)
        assert_tiles(windows, start, end)
        assert len(windows) == min(parts, (end - start) // MICROSECOND), f"case {case}"


def test_windows_are_split_until_the_service_accepts_them():
    rng = random.Random(2)
    for case in range(CASES // 3):
        # random event times, clustered so some windows need many splits
        events = sorted(
            rng.choice([rng.randrange(0, 10**9), rng.randrange(5 * 10**8, 5 * 10**8 + 1000)])
            for _ in range(rng.randrange(0, 3000))
        )
        max_rows = rng.randrange(50, 1500)

        def count(low, high, events=events):
            first = bisect_left(events, (low - BASE) // MICROSECOND)
            last = bisect_left(events, (high - BASE) // MICROSECOND)
            return last - first

        start, end = at(0), at(10**9)
        windows = fit_windows(split_time_range(start, end, rng.randrange(1, 8)), count, max_rows)
        assert_tiles(windows, start, end)
        assert all(count(low, high) <= max_rows for low, high in windows), f"case {case}"
        assert sum(count(low, high) for low, high in windows) == len(events), f"case {case}"


def test_planned_windows_hold_about_equal_numbers_of_events_when_most_come_late():
    # Like the service's feed: a thin tail of late events far back, most events at the end.
    rng = random.Random(3)
    events = sorted([rng.randrange(0, 9 * 10**8) for _ in range(300)] +
                    [rng.randrange(9 * 10**8, 10**9) for _ in range(30_000)])

    def count(low, high):
        return bisect_left(events, (high - BASE) // MICROSECOND) - bisect_left(events, (low - BASE) // MICROSECOND)

    for parts in (2, 3, 4, 8):
        partitions = plan_time_windows(at(0), at(10**9), parts, count, max_rows=10**6)
        sizes = [count(p.start, p.end) for p in partitions]
        assert len(partitions) == parts and sum(sizes) == len(events)
        assert assert_tiles([(p.start, p.end) for p in partitions], at(0), at(10**9)) is None
        share = len(events) / parts
        assert all(abs(size - share) <= share * 0.05 for size in sizes), (parts, sizes)
    # Fewer than one partition asked for (a lenient option parser): one window, as before.
    assert [(p.start, p.end) for p in plan_time_windows(at(0), at(10**9), 0, count, 10**6)] == [(at(0), at(10**9))]


def test_a_window_that_cannot_be_split_says_why():
    with pytest.raises(ValueError, match="more than 10 events share event_time"):
        fit_windows([(at(0), at(4))], lambda low, high: 11 if low <= at(2) < high else 0, 10)


def test_planned_time_partitions_are_numbered_in_time_order():
    partitions = plan_time_windows(at(0), at(10**6), 4, lambda low, high: 0, 100)
    assert [p.index for p in partitions] == [0, 1, 2, 3]
    assert all(isinstance(p, TimeWindowPartition) for p in partitions)
    assert partitions[0].start == at(0) and partitions[-1].end == at(10**6)


def test_no_events_plan_one_empty_partition_not_an_empty_list():
    assert plan_time_windows(None, None, 4, None, 100) == [EmptyPartition()]
    assert plan_time_windows(at(5), at(5), 4, None, 100) == [EmptyPartition()]


# -- id ranges ----------------------------------------------------------------------------------


def test_id_ranges_are_half_open_and_cover_every_id_once():
    rng = random.Random(3)
    for case in range(CASES):
        low = rng.randrange(-10**6, 10**6)
        high = low + rng.randrange(1, rng.choice([10, 1000, 10**9]))
        parts = rng.randrange(1, 40)
        partitions = plan_id_ranges(low, high, parts)
        assert len(partitions) == min(parts, high - low)
        assert partitions[0].id_gte == low and partitions[-1].id_lt == high, f"case {case}"
        for current, following in zip(partitions, partitions[1:]):
            assert current.id_lt == following.id_gte, f"case {case}: gap or overlap"
            assert current.id_gte < current.id_lt, f"case {case}: empty range"
        # every boundary id and some random ids are in exactly one partition
        probes = {low, high - 1} | {p.id_gte for p in partitions} | {p.id_lt - 1 for p in partitions}
        probes |= {rng.randrange(low, high) for _ in range(20)}
        for id_ in probes:
            owners = [p for p in partitions if p.id_gte <= id_ < p.id_lt]
            assert len(owners) == 1, f"case {case}: id {id_} is in {len(owners)} partitions"


def test_an_empty_id_range_plans_one_empty_partition():
    assert plan_id_ranges(10, 10, 4) == [EmptyPartition()]
    assert plan_id_ranges(None, None, 4) == [EmptyPartition()]


# -- token ranges -------------------------------------------------------------------------------


def random_ring(rng, nodes):
    """Ring ranges as /v1/ring gives them: (start, end] each, the last one wrapping around."""
    tokens = set()
    while len(tokens) < nodes:
        tokens.add(rng.randrange(MIN_TOKEN, MAX_TOKEN))
    tokens = sorted(tokens)
    if nodes > 1 and rng.random() < 0.2:
        tokens[0], tokens[-1] = MIN_TOKEN, MAX_TOKEN  # boundaries on the extremes
    ends = tokens[1:] + tokens[:1]
    return [{"start": start, "end": end, "node": i} for i, (start, end) in enumerate(zip(tokens, ends))]


def assert_covers_ring_once(partitions, probes, case):
    widths = sum((p.token_le - p.token_gt) % RING_SIZE or RING_SIZE for p in partitions)
    assert widths == RING_SIZE, f"case {case}: partitions cover {widths} tokens, not the whole ring"
    for token in probes:
        owners = [p for p in partitions if token_in_range(token, p.token_gt, p.token_le)]
        assert len(owners) == 1, f"case {case}: token {token} is in {len(owners)} partitions"


def test_token_ranges_cover_the_ring_once_including_the_wrap_around():
    rng = random.Random(4)
    for case in range(CASES):
        ring = random_ring(rng, rng.choice([1, 2, 3, 4, 8, rng.randrange(1, 30)]))
        parts = rng.randrange(1, 40)
        partitions = plan_token_ranges(ring, parts)
        pieces = -(-parts // len(ring))
        widths = [(r["end"] - r["start"]) % RING_SIZE or RING_SIZE for r in ring]
        assert len(partitions) == sum(min(pieces, width) for width in widths), f"case {case}"
        assert [p.index for p in partitions] == list(range(len(partitions)))
        boundaries = {p.token_gt for p in partitions}
        probes = {MIN_TOKEN, MAX_TOKEN, 0} | {rng.randrange(MIN_TOKEN, MAX_TOKEN) for _ in range(30)}
        probes |= {t for b in boundaries for t in (b - 1, b, b + 1) if MIN_TOKEN <= t <= MAX_TOKEN}
        assert_covers_ring_once(partitions, probes, case)


def test_the_wrap_around_range_reads_both_ends_of_the_ring():
    ring = [{"start": -100, "end": 100, "node": 0}, {"start": 100, "end": -100, "node": 1}]
    wrap = plan_token_ranges(ring, 2)[1]
    assert (wrap.token_gt, wrap.token_le) == (100, -100)
    assert token_in_range(MAX_TOKEN, wrap.token_gt, wrap.token_le)
    assert token_in_range(MIN_TOKEN, wrap.token_gt, wrap.token_le)
    assert not token_in_range(0, wrap.token_gt, wrap.token_le)


def test_a_one_node_ring_is_one_full_range_or_pieces_of_it():
    ring = [{"start": 42, "end": 42, "node": 0}]
    (whole,) = plan_token_ranges(ring, 1)
    assert (whole.token_gt, whole.token_le) == (42, 42)  # start == end: the whole ring
    assert_covers_ring_once([whole], {MIN_TOKEN, 42, 43, MAX_TOKEN}, "one node")
    pieces = plan_token_ranges(ring, 5)
    assert len(pieces) == 5 and all(p.token_gt != p.token_le for p in pieces)
    assert_covers_ring_once(pieces, {MIN_TOKEN, 41, 42, 43, MAX_TOKEN}, "one node in pieces")


def test_tiny_ranges_are_not_split_into_empty_pieces():
    assert split_token_range(10, 12, 5) == [(10, 11), (11, 12)]


def test_an_empty_ring_plans_one_empty_partition_not_an_empty_list():
    assert plan_token_ranges([], 4) == [EmptyPartition()]


def test_partitions_pickle():
    for partition in (
        TimeWindowPartition(0, at(0), at(1)),
        IdRangePartition(1, 5, 10),
        TokenRangePartition(2, 100, -100),
        EmptyPartition(),
    ):
        assert pickle.loads(pickle.dumps(partition)) == partition
