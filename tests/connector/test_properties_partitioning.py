"""Properties of the planners (hypothesis): every key is read by exactly one partition, and the
partition counts are what the options ask for. The expected answers come from the definitions
(a key is in a range or not), checked key by key, not from the planners' own arithmetic.
"""
import bisect
import datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from solutions.partitioning import (
    RING_SIZE,
    EmptyPartition,
    IdRangePartition,
    TimeWindowPartition,
    TokenRangePartition,
    balanced_windows,
    fit_windows,
    plan_id_ranges,
    plan_time_windows,
    plan_token_ranges,
    split_time_range,
    split_token_range,
)
from solutions.stream_reader import SeqRangePartition, plan_seq_ranges

UTC = datetime.timezone.utc
MICROSECOND = datetime.timedelta(microseconds=1)
MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1

partition_counts = st.integers(1, 64)
ids = st.integers(-(10**12), 10**12)
tokens = st.integers(MIN_TOKEN, MAX_TOKEN)


def keys_to_probe(data, low, high, bounds):
    """Keys worth checking in [low, high]: each bound and its neighbours, the ends, and random ones."""
    probes = {low, high} | {edge + step for edge in bounds for step in (-1, 0, 1)}
    probes |= set(data.draw(st.lists(st.integers(low, high), max_size=20), label="random keys"))
    return sorted(key for key in probes if low <= key <= high)


# -- id ranges: [id_gte, id_lt) ----------------------------------------------------------------


@given(id_gte=st.none() | ids, id_lt=st.none() | ids, parts=partition_counts, data=st.data())
def test_id_ranges_cover_every_id_once(id_gte, id_lt, parts, data):
    planned = plan_id_ranges(id_gte, id_lt, parts)
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        assert planned == [EmptyPartition()]  # never [] (Spark would send InputPartition(None))
        return
    assert [p.index for p in planned] == list(range(len(planned)))
    assert all(isinstance(p, IdRangePartition) for p in planned)
    assert len(planned) == min(parts, id_lt - id_gte)
    widths = [p.id_lt - p.id_gte for p in planned]
    assert min(widths) >= 1 and max(widths) - min(widths) <= 1  # equal widths, none empty
    bounds = [p.id_gte for p in planned] + [planned[-1].id_lt]
    for key in keys_to_probe(data, id_gte - 2, id_lt + 1, bounds):
        holders = [p.index for p in planned if p.id_gte <= key < p.id_lt]
        assert len(holders) == (1 if id_gte <= key < id_lt else 0), f"id {key} is in partitions {holders}"


# -- token ranges: (token_gt, token_le] on a ring of 2**64 signed tokens -------------------------


def on_ring_range(token, token_gt, token_le):
    """Independent of the connector: token is one of the `width` tokens after token_gt, going up
    the ring (token_gt == token_le: the whole ring)."""
    width = (token_le - token_gt) % RING_SIZE or RING_SIZE
    return 0 < (token - token_gt) % RING_SIZE <= width or (width == RING_SIZE and token == token_gt)


def token_probes(data, bounds):
    probes = {MIN_TOKEN, MAX_TOKEN, 0}
    for edge in bounds:
        probes |= {(edge + step + 2**63) % RING_SIZE - 2**63 for step in (-1, 0, 1)}
    return probes | set(data.draw(st.lists(tokens, max_size=20), label="random tokens"))


@given(token_gt=tokens, token_le=tokens | st.just(None), parts=partition_counts, data=st.data())
def test_a_token_range_splits_into_adjacent_pieces_covering_it_once(token_gt, token_le, parts, data):
    if token_le is None:
        token_le = token_gt  # a one-node ring: the whole ring
    pieces = split_token_range(token_gt, token_le, parts)
    width = (token_le - token_gt) % RING_SIZE or RING_SIZE
    assert len(pieces) == min(parts, width)
    assert pieces[0][0] == token_gt and pieces[-1][1] == token_le
    assert all(left[1] == right[0] for left, right in zip(pieces, pieces[1:]))  # adjacent, in ring order
    assert all(MIN_TOKEN <= bound <= MAX_TOKEN for piece in pieces for bound in piece)
    for token in token_probes(data, [piece[0] for piece in pieces]):
        holders = [i for i, (gt, le) in enumerate(pieces) if on_ring_range(token, gt, le)]
        assert len(holders) == (1 if on_ring_range(token, token_gt, token_le) else 0), f"token {token}: {holders}"


rings = st.lists(tokens, unique=True, max_size=8).map(sorted)


def ring_ranges(node_tokens):
    """The ring as /v1/ring describes it: node i owns (previous node's token, its token], the first wrapping."""
    return [{"start": node_tokens[i - 1], "end": node_tokens[i]} for i in range(len(node_tokens))]


@given(node_tokens=rings, parts=partition_counts, data=st.data())
def test_token_partitions_cover_the_ring_once_and_never_span_two_nodes(node_tokens, parts, data):
    ring = ring_ranges(node_tokens)
    planned = plan_token_ranges(ring, parts)
    if not ring:
        assert planned == [EmptyPartition()]
        return
    assert all(isinstance(p, TokenRangePartition) for p in planned)
    assert [p.index for p in planned] == list(range(len(planned)))
    per_node = -(-parts // len(ring))
    widths = [(r["end"] - r["start"]) % RING_SIZE or RING_SIZE for r in ring]
    assert len(planned) == sum(min(per_node, width) for width in widths)  # ceil(parts / nodes) each, where tokens allow
    for token in token_probes(data, node_tokens + [p.token_gt for p in planned]):
        holders = [p for p in planned if on_ring_range(token, p.token_gt, p.token_le)]
        assert len(holders) == 1, f"token {token} is in {len(holders)} partitions"
        nodes = [r for r in ring if on_ring_range(token, r["start"], r["end"])]
        assert len(nodes) == 1
        # the piece lies inside the node's range: no task reads across two nodes
        assert on_ring_range(holders[0].token_le, nodes[0]["start"], nodes[0]["end"])
        assert holders[0].token_gt == nodes[0]["start"] or on_ring_range(holders[0].token_gt, nodes[0]["start"], nodes[0]["end"])


# -- time windows: [start, end) --------------------------------------------------------------------

instants = st.datetimes(min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2030, 1, 1),
                        timezones=st.just(UTC))


def event_set():
    """Event times, some shared by several events (as late events and bursts are)."""
    return st.lists(instants, max_size=80).flatmap(
        lambda times: st.lists(st.sampled_from(times), max_size=40).map(lambda extra: sorted(times + extra))
        if times else st.just([]))


def counter(events):
    """count(start, end): events with start <= time < end (what /v1/events/count answers)."""
    def count(start, end):
        return bisect.bisect_left(events, end) - bisect.bisect_left(events, start)
    return count


def assert_windows_cover(windows, start, end, events):
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(low < high for low, high in windows)
    assert all(left[1] == right[0] for left, right in zip(windows, windows[1:]))
    for event in events:
        holders = [i for i, (low, high) in enumerate(windows) if low <= event < high]
        assert len(holders) == (1 if start <= event < end else 0), f"event at {event} is in windows {holders}"


@given(start=instants, span=st.integers(1, 10**12), parts=partition_counts, data=st.data())
def test_equal_time_windows_cover_the_range_once(start, span, parts, data):
    end = start + span * MICROSECOND
    windows = split_time_range(start, end, parts)
    assert len(windows) == min(parts, span)
    lengths = [(high - low) // MICROSECOND for low, high in windows]
    assert max(lengths) - min(lengths) <= 1
    probes = data.draw(st.lists(st.integers(-1, span), max_size=20), label="offsets")
    assert_windows_cover(windows, start, end, [start + offset * MICROSECOND for offset in probes + [0, span - 1]])


@given(events=event_set(), bounds=st.tuples(instants, instants).filter(lambda b: b[0] < b[1]), parts=partition_counts)
def test_balanced_windows_cover_the_range_once_with_fair_shares(events, bounds, parts):
    start, end = bounds
    count = counter(events)
    windows = balanced_windows(start, end, parts, count)
    assert 1 <= len(windows) <= parts
    assert_windows_cover(windows, start, end, events)
    total = count(start, end)
    if total >= parts:
        # Each edge is within the 2 % slack of its target, or next to an instant holding more events
        # than that: a window holds at most its share plus both edges' errors.
        crowd = max((count(t, t + MICROSECOND) for t in events if start <= t < end), default=0)
        error = max(total // (parts * 50), crowd)
        assert max(count(low, high) for low, high in windows) <= -(-total // parts) + 2 * error + 1


@given(events=event_set(), bounds=st.tuples(instants, instants).filter(lambda b: b[0] < b[1]),
       parts=partition_counts, max_rows=st.integers(1, 40))
def test_fitted_windows_cover_the_same_range_and_each_fits(events, bounds, parts, max_rows):
    start, end = bounds
    count = counter(events)
    crowded = [t for t in events if start <= t < end and count(t, t + MICROSECOND) > max_rows]
    windows = split_time_range(start, end, parts)
    if crowded:
        # more events at one instant than the service serves at once: the planner says so
        with pytest.raises(ValueError, match=f"more than {max_rows} events share event_time"):
            fit_windows(windows, count, max_rows)
        return
    fitted = fit_windows(windows, count, max_rows)
    assert_windows_cover(fitted, start, end, events)
    assert all(count(low, high) <= max_rows for low, high in fitted)


@given(events=event_set(), start=st.none() | instants, end=st.none() | instants, parts=partition_counts,
       max_rows=st.integers(1, 40))
def test_time_window_partitions_cover_every_event_once(events, start, end, parts, max_rows):
    count = counter(events)
    if start is None or end is None or start >= end:
        assert plan_time_windows(start, end, parts, count, max_rows) == [EmptyPartition()]
        return
    assume(not any(start <= t < end and count(t, t + MICROSECOND) > max_rows for t in events))
    planned = plan_time_windows(start, end, parts, count, max_rows)
    assert all(isinstance(p, TimeWindowPartition) for p in planned)
    assert [p.index for p in planned] == list(range(len(planned)))
    assert_windows_cover([(p.start, p.end) for p in planned], start, end, events)
    assert all(count(p.start, p.end) <= max_rows for p in planned)
    if count(start, end) <= max_rows:  # nothing to split for the service: at most the partitions asked for
        assert len(planned) <= parts


# -- streaming: seq ranges (after_seq, until_seq] --------------------------------------------------


@given(after_seq=st.integers(-1, 10**9), until_seq=st.integers(-1, 10**9), parts=partition_counts, data=st.data())
def test_seq_ranges_cover_every_seq_once(after_seq, until_seq, parts, data):
    planned = plan_seq_ranges(after_seq, until_seq, parts)
    if until_seq <= after_seq:
        assert planned == []  # the streaming API asks for an empty list for an empty batch
        return
    assert all(isinstance(p, SeqRangePartition) for p in planned)
    assert len(planned) == min(parts, until_seq - after_seq)
    bounds = [p.after_seq for p in planned] + [planned[-1].until_seq]
    for seq in keys_to_probe(data, after_seq - 1, until_seq + 2, bounds):
        holders = [p for p in planned if p.after_seq < seq <= p.until_seq]
        assert len(holders) == (1 if after_seq < seq <= until_seq else 0), f"seq {seq} is in {len(holders)} partitions"
