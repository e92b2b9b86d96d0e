"""The partitioning layer: what each Spark task reads, planned on the driver.

Three strategies, one per resource, each split into ranges that are non-overlapping and
gap-free (every record falls in exactly one partition; the tests check this over many random
bounds):

- time windows `[start, end)` over event time, holding about as many events each, split
  further where the service says a window holds too many events;
- id ranges `[id_gte, id_lt)`, half-open so a page can never spill into the next partition;
- token ranges `(token_gt, token_le]` over a Cassandra-style ring, including the range that
  wraps around from the largest token to the smallest.

Planning never returns an empty list: Spark replaces an empty list with one partition of
its own, `None` on Spark 4.0 and 4.1 and `InputPartition(None)` from 4.2, which a reader would
then have to understand. When there is nothing
to read we return one `EmptyPartition`, which reads nothing.

The planning functions are pure (numbers in, ranges out); the reader feeds them the
service's stats, counts and ring.
"""
import datetime
from dataclasses import dataclass

from pyspark.sql.datasource import InputPartition

MICROSECOND = datetime.timedelta(microseconds=1)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------
# Partitions: small, picklable values sent to the executors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindowPartition(InputPartition):
    """Events with `start <= event_time < end` (aware UTC datetimes)."""

    index: int
    start: datetime.datetime
    end: datetime.datetime


@dataclass(frozen=True)
class IdRangePartition(InputPartition):
    """Entities with `id_gte <= id < id_lt`; None means unbounded on that side."""

    index: int
    id_gte: int = None
    id_lt: int = None


@dataclass(frozen=True)
class TokenRangePartition(InputPartition):
    """kv rows with `token_gt < token <= token_le`; None means unbounded on that side.

    When `token_gt >= token_le` the range wraps around the ring:
    `token > token_gt or token <= token_le` (the service's convention, as in Cassandra).
    """

    index: int
    token_gt: int = None
    token_le: int = None


@dataclass(frozen=True)
class EmptyPartition(InputPartition):
    """Nothing to read (an empty resource or an empty ring): the reader yields no rows."""

    index: int = 0


# ---------------------------------------------------------------------------------------------
# Time windows
# ---------------------------------------------------------------------------------------------


def split_time_range(start, end, parts):
    """Split `[start, end)` into up to `parts` adjacent windows of (nearly) equal length.

    Works in whole microseconds (Spark's timestamp precision), so boundaries are exact and
    each window's end is the next window's start.
    """
    first, last = _micros(start), _micros(end)
    parts = max(1, min(parts, last - first))
    bounds = [first + (last - first) * i // parts for i in range(parts + 1)]
    return [(_from_micros(low), _from_micros(high)) for low, high in zip(bounds, bounds[1:])]


def fit_windows(windows, count, max_rows):
    """Split each window in halves until `count(start, end)` is at most `max_rows`.

    `count` asks the service (`/v1/events/count`, which is never refused for size). A window
    one microsecond wide cannot be split: its events share one timestamp, so we say so.
    """
    # BEGIN SOLUTION: halve each window that count says is too large until all fit; keep time order
    fitted = []
    pending = list(reversed(windows))  # a stack, so windows come out in time order
    while pending:
        start, end = pending.pop()
        if count(start, end) <= max_rows:
            fitted.append((start, end))
            continue
        if end - start <= MICROSECOND:
            raise ValueError(
                f"more than {max_rows} events share event_time {start.isoformat()}; "
                "the service cannot return them in one window"
            )
        middle = midpoint(start, end)
        pending.append((middle, end))
        pending.append((start, middle))
    return fitted
    # END SOLUTION


def midpoint(start, end):
    """The microsecond halfway between two datetimes (used again when a read gets a 413)."""
    return _from_micros((_micros(start) + _micros(end)) // 2)


def balanced_windows(start, end, parts, count):
    """Split `[start, end)` into up to `parts` adjacent windows holding about as many events each.

    Equal lengths of time are not equal work: late events stretch the range back, while most
    events sit near its end, so equal windows can leave one task all the rows. Each inner edge
    is found by bisection on time, asking `count(start, t)`, to within 2 % of a window's share.
    Without events to go by, the windows are of equal length.
    """
    parts = max(1, parts)
    total = count(start, end)
    if total < parts:
        return split_time_range(start, end, parts)
    slack = total // (parts * 50)
    edges = [start]
    for part in range(1, parts):
        target = total * part // parts
        low, high = edges[-1], end
        while high - low > MICROSECOND:
            middle = midpoint(low, high)
            found = count(start, middle)
            if abs(found - target) <= slack:
                high = middle
                break
            low, high = (middle, high) if found < target else (low, middle)
        edges.append(high)
    edges.append(end)
    return [(low, high) for low, high in zip(edges, edges[1:]) if low < high]


def plan_time_windows(start, end, num_partitions, count, max_rows):
    """TimeWindowPartitions covering `[start, end)`, balanced by events, each small enough for the service."""
    if start is None or end is None or start >= end:
        return [EmptyPartition()]
    windows = fit_windows(balanced_windows(start, end, num_partitions, count), count, max_rows)
    return [TimeWindowPartition(index, low, high) for index, (low, high) in enumerate(windows)]


def _micros(value):
    return (value - EPOCH) // MICROSECOND


def _from_micros(micros):
    return EPOCH + datetime.timedelta(microseconds=micros)


# ---------------------------------------------------------------------------------------------
# Id ranges
# ---------------------------------------------------------------------------------------------


def plan_id_ranges(id_gte, id_lt, num_partitions):
    """IdRangePartitions splitting `[id_gte, id_lt)` into equal-width half-open ranges.

    Half-open matters: with inclusive ends on both sides (`id <= 100` here, `id >= 100` in the
    next partition) the boundary id would be read twice.
    """
    # BEGIN SOLUTION: num_partitions adjacent ranges of near-equal width; nothing to read: EmptyPartition
    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = max(1, min(num_partitions, id_lt - id_gte))
    bounds = [id_gte + (id_lt - id_gte) * i // parts for i in range(parts + 1)]
    return [IdRangePartition(index, low, high) for index, (low, high) in enumerate(zip(bounds, bounds[1:]))]
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Token ranges
# ---------------------------------------------------------------------------------------------

RING_SIZE = 2**64  # signed 64-bit tokens: -2**63 .. 2**63-1


def plan_token_ranges(ring_ranges, num_partitions):
    """TokenRangePartitions for the ring's ranges (`[{"start", "end"}, ...]` from /v1/ring).

    One or more partitions per ring range, so no task reads across two nodes' ranges; each
    range is split into ceil(num_partitions / ranges) pieces. An empty ring reads nothing.
    """
    # BEGIN SOLUTION: every ring range in the same number of pieces, at least num_partitions in all
    if not ring_ranges:
        return [EmptyPartition()]
    pieces_per_range = -(-num_partitions // len(ring_ranges))  # ceiling division
    partitions = []
    for ring_range in ring_ranges:
        for token_gt, token_le in split_token_range(ring_range["start"], ring_range["end"], pieces_per_range):
            partitions.append(TokenRangePartition(len(partitions), token_gt, token_le))
    return partitions
    # END SOLUTION


def split_token_range(token_gt, token_le, parts):
    """Split the ring range `(token_gt, token_le]` into up to `parts` adjacent ranges.

    Arithmetic is modulo the ring size, so a wrapping range (`token_gt >= token_le`) splits
    like any other; `token_gt == token_le` is the whole ring (a one-node ring). A piece that
    crosses from the largest token to the smallest simply wraps again.
    """
    # BEGIN SOLUTION: up to parts adjacent pieces of (token_gt, token_le], measured modulo RING_SIZE
    width = (token_le - token_gt) % RING_SIZE or RING_SIZE
    parts = max(1, min(parts, width))
    bounds = [wrap_token(token_gt + width * i // parts) for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))
    # END SOLUTION


def token_in_range(token, token_gt, token_le):
    """True when `token` is in `(token_gt, token_le]`, with the service's wrap-around rule."""
    if token_gt is None and token_le is None:
        return True
    if token_gt is None:
        return token <= token_le
    if token_le is None:
        return token > token_gt
    if token_gt < token_le:
        return token_gt < token <= token_le
    return token > token_gt or token <= token_le  # wraps (token_gt == token_le: whole ring)


def wrap_token(token):
    """Bring a token back into -2**63 .. 2**63-1."""
    return (token + 2**63) % RING_SIZE - 2**63
