"""Lab 03 check: id ranges, token ranges and time windows: each record in exactly one partition.

The planning functions are tried on many bounds and rings (pure calls, no Spark), and the first
id, token or time that lies in two partitions or in none is named. Then the plans for a small
practice service of the check's own are read on Spark, all three in one job, and compared with
its ground truth.

The rules the lab states, and the requirement that tests each, with inputs where breaking the
rule changes the outcome:

Id ranges, `plan_id_ranges(id_gte, id_lt, num_partitions)`:
1. Every id in exactly one range; half-open `[id_gte, id_lt)`, each end the next start.
   `id_ranges_cover_every_id`: (0, 10, 3), (0, 10, 4) (a fixed floor step leaves ids 8..9
   out), (-100, 1000, 7), (5, 7, 4), (0, 1, 3), bounds near +-2**62 (floats lose ids there: named),
   and the service's own ids; the first id in two ranges or in none is named, and so is a range
   that reaches outside `[id_gte, id_lt)` (it would read ids not asked for).
2. `num_partitions` ranges, fewer only when there are fewer ids; widths equal give or take one id.
   `id_ranges_count_and_width`: the same cases; (0, 10, 4) gives widths 3, 3, 3, 1 with a ceiling
   step and 2, 2, 2, 4 with the remainder piled on the last range, both named.
3. Nothing to read (a bound None, or `id_gte >= id_lt`) is `[EmptyPartition()]`, never `[]`, and
   `partitions()` returns a list (Spark refuses a tuple or a generator).
   `nothing_to_read_is_one_partition`: (None, None), each bound None alone (an empty resource
   answers both; a test of one only, or `None >= 50`, breaks on the other), (50, 50), (60, 50); the list rule is part
   of every plan's check.
Token ranges, `plan_token_ranges(ring_ranges, num_partitions)` with `split_token_range`:
4. Every token in exactly one partition, wrap-around included; modulo 2**64; `start == end` is the
   whole ring; bounds stay in -2**63 .. 2**63-1 (`wrap_token`).
   `token_ranges_cover_the_ring`: the service's 4-node ring (numPartitions 1, 4, 10), a one-node
   ring, a ring wrapping exactly at the largest token, a two-node ring, and a ring with a range
   two tokens wide split 3 ways and one a single token wide asked for 2 pieces (a piece with
   token_gt == token_le would read the whole ring: named); a bound outside the signed range is named.
5. Each ring range in ceil(num_partitions / len(ring_ranges)) pieces, none across two nodes.
   `token_ranges_per_node`: the 4-node ring with numPartitions 6 (ceiling 2 pieces each, 8 in
   all; floor gives 4) and 10 (12; floor 8), a 3-node ring with 4 (6; floor 3), 8 for the
   nodes check, and a one-node ring with 3 (its whole-ring range in 3 pieces, not 1).
6. An empty ring is `[EmptyPartition()]`, never `[]`.  `empty_ring_is_one_partition`.
7. Partitions are numbered 0, 1, 2, ... in plan order (the index names a partition in logs,
   metrics and dead letters).  `partitions_are_numbered`: id plans and the 4-node ring with 6
   (numbering within each node gives 0, 1, 0, 1, ...).
Time windows, `fit_windows(windows, count, max_rows)`:
8. Adjacent windows, in time order, covering the same time, no overlap; aware UTC datetimes.
   `windows_tile_the_range`: two windows over 10 s of the service's events, max_rows 200.
9. None holds more than max_rows events.  `windows_fit_the_service`: each window counted again.
10. A window that fits (count <= max_rows, at any width, even one microsecond) is kept as it is.
   `fitting_windows_are_kept`: windows holding 3 and exactly 5 events with max_rows 5 come back
   unchanged; 5 + 5 events in two adjacent microseconds split into those two (a width test made
   before counting raises here; `<` instead of `<=` splits the 5).
11. A one-microsecond window that holds too many cannot be split: raise ValueError.
   `unsplittable_window_raises`: 11 events share one microsecond, max_rows 10; splitting forever
   and another exception type are named.
On Spark:
12. The plans read every record once.  `reads_on_spark`, three times (entities, kv, events), from
   one Spark job over the three plans (a task per plan, reading its partitions one by one) (when it fails, each plan is read alone, to pin the failure
   on one), compared key by key with ground truth; a plan whose coverage failed above is not read.
"""
import base64
import bisect
import collections
import dataclasses
import datetime
import pickle

from pyspark.sql.datasource import DataSource, InputPartition

from solutions.reader import PracticeBatchReader
from workshop.checks import spark_error_text

MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = datetime.timedelta(microseconds=1)

SERVICE = dict(seed=3, events=1000, entities=600, ring_rows=600, ring_nodes=4)  # the check's own, small
WINDOW_START = datetime.datetime(2026, 1, 1, tzinfo=UTC)  # ingest starts here, 100 events a second
WINDOW_END = WINDOW_START + datetime.timedelta(seconds=10)  # about 700 events (the rest arrive late)
MAX_ROWS = 200  # fit_windows's limit for them: each of two windows must be split
SPARK_ID_PARTITIONS, SPARK_TOKEN_PARTITIONS = 4, 6

ID_CASES = [(0, 10, 3), (0, 10, 4), (-100, 1000, 7), (5, 7, 4), (0, 1, 3), (-(2**62), 2**62 + 3, 5)]
HUGE = 2**53  # beyond this a float cannot hold every integer

ID_COVER = "id ranges: every id in exactly one partition"
TOKEN_COVER = "token ranges: every token in exactly one partition, wrap-around included"
WINDOW_COVER = "time windows: adjacent, in time order, covering the range, no overlap"

HINTS = {
    "plan_id_ranges": [
        "Cut [id_gte, id_lt) at integer bounds, one more bound than partitions, from id_gte up to id_lt: each "
        "partition runs from one bound to the next, so each end is the next start and no id falls between two.",
        "A fixed step (id_lt - id_gte) // num_partitions drops the remainder or piles it on the last range; "
        "floats lose ids near 2**62; with fewer ids than partitions plan fewer; nothing to read is "
        "[EmptyPartition()], never [].",
        "parts = min(num_partitions, id_lt - id_gte); bounds = [id_gte + (id_lt - id_gte) * i // parts for i in "
        "range(parts + 1)]; IdRangePartition(i, bounds[i], bounds[i + 1]) for i in range(parts)",
    ],
    "split_token_range": [
        "Measure the range's width around the ring (modulo RING_SIZE), cut that width into parts like an id "
        "range, and bring every bound back into the signed token range.",
        "token_le - token_gt is negative for the range that wraps and 0 for a one-node ring, whose range is "
        "the whole ring (width RING_SIZE); a range narrower than parts gives fewer pieces, because a piece "
        "with token_gt == token_le would mean the whole ring.",
        "width = (token_le - token_gt) % RING_SIZE or RING_SIZE; parts = min(parts, width); bounds = "
        "[wrap_token(token_gt + width * i // parts) for i in range(parts + 1)]; return list(zip(bounds, bounds[1:]))",
    ],
    "plan_token_ranges": [
        "Give every node's range the same number of pieces, enough that all the pieces together are at least "
        "num_partitions, and number the partitions in the order you make them.",
        "num_partitions // len(ring_ranges) rounds down: 6 partitions over 4 nodes would give 4; round up. "
        "Number across the whole plan, not within each node; an empty ring is [EmptyPartition()].",
        "per_range = -(-num_partitions // len(ring_ranges)); for each ring range, for token_gt, token_le in "
        "split_token_range(r['start'], r['end'], per_range): append TokenRangePartition(len(partitions), token_gt, token_le)",
    ],
    "fit_windows": [
        "Go through the windows in time order: keep one that count says fits, otherwise put its two halves "
        "(split at midpoint) in its place and look at each of them the same way.",
        "Count first: a window that fits is kept, even one microsecond wide; only a window that is too large "
        "and one microsecond wide cannot be halved (a half would be the window itself): raise ValueError, "
        "or the loop never ends. Keep the output in time order.",
        "pending = list(reversed(windows)); while pending: start, end = pending.pop(); if count(start, end) <= "
        "max_rows: fitted.append((start, end)) elif end - start <= MICROSECOND: raise ValueError(...) else: "
        "middle = midpoint(start, end); pending += [(middle, end), (start, middle)]",
    ],
}


def check(report, plan_id_ranges, plan_token_ranges, fit_windows):
    from workshop.service import PracticeService

    with PracticeService(**SERVICE) as service:
        facts = ServiceFacts(service)
        windows = FittedWindows(fit_windows, facts)
        spark = SparkRead(report, facts, plan_id_ranges, plan_token_ranges, windows)

        report.require(ID_COVER, id_ranges_cover_every_id, plan_id_ranges, facts)
        report.require("id ranges: numPartitions ranges (fewer only when there are fewer ids), widths within one id",
                       id_ranges_count_and_width, plan_id_ranges, facts)
        report.require("id ranges: nothing to read plans one partition that reads nothing, never []",
                       nothing_to_read_is_one_partition, plan_id_ranges)
        report.require(TOKEN_COVER, token_ranges_cover_the_ring, plan_token_ranges, facts)
        report.require("token ranges: each node's range in ceil(numPartitions / nodes) pieces, none across nodes",
                       token_ranges_per_node, plan_token_ranges, facts)
        report.require("token ranges: an empty ring plans one partition, never []", empty_ring_is_one_partition, plan_token_ranges)
        report.require("id and token ranges: partitions numbered 0, 1, 2, ... in plan order",
                       partitions_are_numbered, plan_id_ranges, plan_token_ranges, facts)
        report.require(WINDOW_COVER, windows_tile_the_range, windows)
        report.require("time windows: none holds more than max_rows events", windows_fit_the_service, windows, facts)
        report.require("time windows: a window that fits is kept as it is, even one microsecond wide",
                       fitting_windows_are_kept, fit_windows)
        report.require("time windows: a window that cannot be split raises ValueError", unsplittable_window_raises, fit_windows)
        report.require("id ranges on Spark: the entities, each once", reads_on_spark, spark, "entities")
        report.require("token ranges on Spark: the kv rows, each once", reads_on_spark, spark, "kv")
        report.require("time windows on Spark: the events, each once", reads_on_spark, spark, "events")


# -- what the check knows of its service -----------------------------------------------------------


class ServiceFacts:
    """The check's own service: its entity ids, its ring, and counts of events, asked once each."""

    def __init__(self, service):
        from solutions.client import PracticeClient
        from solutions.options import parse_options

        self.service = service
        self.options = parse_options({"url": service.url, "logLevel": "ERROR"})
        with PracticeClient(self.options) as client:
            stats = client.get("/v1/entities/stats")
            self.ring = client.get("/v1/ring")["ranges"]
        self.min_id, self.id_lt = stats["min_id"], stats["max_id"] + 1
        self.counts = {}

    def count(self, start, end):
        """Events with start <= event_time < end, as /v1/events/count says (asked once per window)."""
        from solutions.client import PracticeClient
        from solutions.conversion import format_timestamp

        key = (start, end)
        if key not in self.counts:
            with PracticeClient(self.options) as client:
                params = {"start": format_timestamp(start), "end": format_timestamp(end)}
                self.counts[key] = client.get("/v1/events/count", params)["count"]
        return self.counts[key]


class TooManyCounts(Exception):
    """fit_windows called count() far more often than splitting could need."""


class FittedWindows:
    """The learner's fit_windows on two windows over WINDOW_START..WINDOW_END, called once."""

    call = f"fit_windows(<2 windows of 5 s>, count, max_rows={MAX_ROWS})"

    def __init__(self, fit_windows, facts):
        self.fit_windows = fit_windows
        self.facts = facts
        self.result = None

    def windows(self):
        """(the windows as (start, end) pairs, None), or (None, what is wrong with them)."""
        if self.result is None:
            from solutions.partitioning import split_time_range

            calls = []

            def count(start, end):
                calls.append(1)
                if len(calls) > 2000:
                    raise TooManyCounts()
                return self.facts.count(start, end)

            try:
                self.result = self.fit_windows(split_time_range(WINDOW_START, WINDOW_END, 2), count, MAX_ROWS)
            except TooManyCounts:
                return None, f"{self.call} asked count() more than 2000 times: does it keep splitting the same window?"
        problem = window_pairs_problem(self.result, self.call)
        if problem:
            return None, problem
        return [tuple(window) for window in self.result], None


# -- id ranges -------------------------------------------------------------------------------------


def id_plans(plan_id_ranges, facts):
    """(id_gte, id_lt, parts, call, plan, pieces, problem) for each case of the id-range requirements:
    the learner's plan, its pieces, and what is wrong with its form (None when nothing)."""
    for id_gte, id_lt, parts in ID_CASES + [(facts.min_id, facts.id_lt, SPARK_ID_PARTITIONS)]:
        call = f"plan_id_ranges({id_gte}, {id_lt}, {parts})"
        plan = plan_id_ranges(id_gte, id_lt, parts)
        pieces, problem = None, plan_problem(plan, call)
        if not problem:
            pieces, problem = id_pieces(plan, call)
        yield id_gte, id_lt, parts, call, plan, pieces, problem


def id_ranges_cover_every_id(plan_id_ranges, facts):
    for id_gte, id_lt, _, call, _, pieces, problem in id_plans(plan_id_ranges, facts):
        if not problem:
            problem = coverage_problem(pieces, id_gte, id_lt, "id") or outside_problem(pieces, id_gte, id_lt)
            if problem and max(abs(id_gte), abs(id_lt)) > HUGE:
                problem += " (at ids this large a float cannot hold every integer: use integers and //)"
        if problem:
            return problem if problem.startswith(call) else f"{call}: {problem}"
    return None


def id_ranges_count_and_width(plan_id_ranges, facts):
    for id_gte, id_lt, parts, call, plan, pieces, problem in id_plans(plan_id_ranges, facts):
        if problem:
            return problem
        wanted = min(parts, id_lt - id_gte)
        if len(plan) != wanted:
            fewer = " (fewer only when there are fewer ids than numPartitions)" if len(plan) < wanted else ""
            return f"{call} planned {len(plan)} partitions; expected {wanted}{fewer}"
        widths = [high - low for _, low, high in pieces]
        if max(widths) - min(widths) > 1:
            narrow = (id_lt - id_gte) // wanted
            if max(abs(id_gte), abs(id_lt)) > HUGE:
                return (
                    f"{call} planned ranges whose widths differ by {max(widths) - min(widths)} ids; equal widths differ "
                    "by at most one id: at ids this large a float cannot hold every integer, use integers and //"
                )
            shown = ", ".join(str(width) for width in widths) if len(widths) <= 8 else f"from {min(widths)} to {max(widths)}"
            return (
                f"{call} planned ranges of widths {shown}; equal widths differ by at most one id (here {narrow} or "
                f"{narrow + 1}): spread the remainder over the ranges instead of giving it to one"
            )
    return None


def nothing_to_read_is_one_partition(plan_id_ranges):
    from solutions.partitioning import EmptyPartition

    for id_gte, id_lt in ((None, None), (None, 50), (10, None), (50, 50), (60, 50)):
        call = f"plan_id_ranges({id_gte}, {id_lt}, 4)"
        try:
            plan = plan_id_ranges(id_gte, id_lt, 4)
        except NotImplementedError:
            raise
        except Exception as error:
            return (f"{call} raised {type(error).__name__}: {error}: a bound None (an empty resource) means "
                    "nothing to read, whichever bound it is: plan [EmptyPartition()]")
        problem = plan_problem(plan, call)
        if problem:
            return problem
        for partition in plan:
            if isinstance(partition, EmptyPartition):
                continue
            low, high = getattr(partition, "id_gte", None), getattr(partition, "id_lt", None)
            if low is None or high is None or low < high:
                return f"{call} planned {partition!r}, which reads entities; there is nothing to read: plan [EmptyPartition()]"
    return None


# -- token ranges ----------------------------------------------------------------------------------

_TOKEN = 2**62 + 12345


def token_rings(facts):
    """(description, ring ranges, numPartitions values) that the coverage is tried on."""
    return [
        ("the service's 4-node ring", facts.ring, (1, 4, 10)),
        ("a one-node ring (start == end: the whole ring)", [{"start": _TOKEN, "end": _TOKEN}], (1, 3)),
        ("a ring wrapping exactly at the largest token", [{"start": MIN_TOKEN, "end": 0}, {"start": 0, "end": MIN_TOKEN}], (2, 5)),
        ("a two-node ring", [{"start": -_TOKEN, "end": _TOKEN}, {"start": _TOKEN, "end": -_TOKEN}], (3,)),
        ("a ring with a range 2 tokens wide", [{"start": 10, "end": 12}, {"start": 12, "end": 10}], (6,)),
        ("a ring with a range 1 token wide", [{"start": 10, "end": 11}, {"start": 11, "end": 10}], (4,)),
    ]


def token_ranges_cover_the_ring(plan_token_ranges, facts):
    for name, ranges, counts in token_rings(facts):
        for parts in counts:
            call = f"plan_token_ranges(<{name}>, {parts})"
            plan = plan_token_ranges(ranges, parts)
            problem = plan_problem(plan, call)
            if not problem:
                pieces, problem = token_pieces(plan, call)
            if not problem:
                # The token -2**63 never holds a row (ranges exclude their start): a plan may leave it out.
                problem = coverage_problem(pieces, MIN_TOKEN + 1, MAX_TOKEN + 1, "token")
            if problem:
                return problem if problem.startswith(call) else f"{call}: {problem}"
    return None


def token_ranges_per_node(plan_token_ranges, facts):
    three_nodes = [{"start": -(2**62), "end": 0}, {"start": 0, "end": 2**62}, {"start": 2**62, "end": -(2**62)}]
    cases = [("the service's 4-node ring", facts.ring, 6), ("the service's 4-node ring", facts.ring, 10),
             ("a 3-node ring", three_nodes, 4), ("the service's 4-node ring", facts.ring, 2 * len(facts.ring)),
             ("a one-node ring (start == end: the whole ring)", [{"start": _TOKEN, "end": _TOKEN}], 3)]
    for name, ring, parts in cases:
        call = f"plan_token_ranges(<{name}>, {parts})"
        plan = plan_token_ranges(ring, parts)
        problem = plan_problem(plan, call)
        if problem:
            return problem
        per_node = -(-parts // len(ring))
        wanted = per_node * len(ring)
        if len(plan) != wanted:
            floor = parts // len(ring)
            rounded = (
                f" (rounding down gives {floor} each, {floor * len(ring)} in all, fewer than asked)"
                if len(plan) == floor * len(ring) else ""
            )
            return (
                f"{call} planned {len(plan)} partitions; expected {wanted}: each of the {len(ring)} ring ranges in "
                f"ceil({parts} / {len(ring)}) = {per_node} pieces, so there are at least numPartitions{rounded}"
            )
        for partition in plan:
            gt, le = getattr(partition, "token_gt", None), getattr(partition, "token_le", None)
            if not any(token_piece_inside(gt, le, r["start"], r["end"]) for r in ring):
                return f"{call} planned {partition!r}, which reaches across two nodes' ring ranges: split each ring range on its own"
    return None


def empty_ring_is_one_partition(plan_token_ranges):
    return plan_problem(plan_token_ranges([], 4), "plan_token_ranges([], 4) (an empty ring)")


def partitions_are_numbered(plan_id_ranges, plan_token_ranges, facts):
    calls = [(f"plan_id_ranges({low}, {high}, {parts})", plan_id_ranges, (low, high, parts)) for low, high, parts in ID_CASES[:3]]
    calls.append(("plan_token_ranges(<the service's 4-node ring>, 6)", plan_token_ranges, (facts.ring, 6)))
    for call, plan_function, args in calls:
        plan = plan_function(*args)
        problem = plan_problem(plan, call)
        if problem:
            return problem
        numbers = [getattr(partition, "index", None) for partition in plan]
        if numbers != list(range(len(plan))):
            shown = ", ".join(str(number) for number in numbers[:8]) + (", ..." if len(numbers) > 8 else "")
            return (
                f"{call} numbered its partitions {shown}: number them 0, 1, 2, ... in plan order (the index names "
                "the partition in logs, metrics and dead letters)"
            )
    return None


# -- time windows ----------------------------------------------------------------------------------


def windows_tile_the_range(windows):
    pairs, problem = windows.windows()
    if problem:
        return problem
    if not pairs:
        return f"{windows.call} returned no windows"
    pieces = [(position, micros(start), micros(end)) for position, (start, end) in enumerate(pairs)]
    problem = coverage_problem(pieces, micros(WINDOW_START), micros(WINDOW_END), "event time", timestamp, owners="windows")
    if problem:
        return f"{windows.call}: {problem}"
    for position in range(len(pairs) - 1):
        if pairs[position][1] != pairs[position + 1][0]:
            return (
                f"{windows.call} returned windows out of time order: window {position} ends at "
                f"{timestamp(micros(pairs[position][1]))}, window {position + 1} starts at "
                f"{timestamp(micros(pairs[position + 1][0]))}; return them in time order, each end the next start"
            )
    return None


def windows_fit_the_service(windows, facts):
    from solutions.conversion import format_timestamp

    pairs, problem = windows.windows()
    if problem:
        return problem
    for start, end in pairs:
        held = facts.count(start, end)
        if held > MAX_ROWS:
            return (
                f"the window {format_timestamp(start)} .. {format_timestamp(end)} holds {held} events, more than "
                f"max_rows={MAX_ROWS}: halve it at its midpoint and look at both halves again"
            )
    return None


def fitting_windows_are_kept(fit_windows):
    base = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    at = [base + n * MICROSECOND for n in range(21)]
    # Two windows holding 3 and exactly 5 events, max_rows 5: both fit as they are.
    fitting = [(at[0], at[10]), (at[10], at[20])]
    count = EventCount([at[1]] * 3 + [at[12]] * 5)
    call = "fit_windows(<2 windows holding 3 and 5 events>, count, max_rows=5)"
    try:
        got = fit_windows(list(fitting), count, 5)
    except TooManyCounts:
        return f"{call} kept splitting: both windows fit as they are (5 <= 5), so they are kept"
    except ValueError as error:
        return (
            f"{call} raised ValueError ({error}), but both windows fit as they are: a window holding at most "
            "max_rows events fits (5 <= 5) and is kept"
        )
    problem = window_pairs_problem(got, call)
    if problem:
        return problem
    got = [tuple(window) for window in got]
    if got != fitting:
        if sorted(got) == fitting:
            return f"{call} returned the 2 windows out of time order; keep them in time order"
        return (
            f"{call} returned {len(got)} window(s) instead of the 2 it was given: a window holding at most max_rows "
            "events fits (5 <= 5) and is kept as it is"
        )
    # 5 + 5 events in two adjacent microseconds, max_rows 5: the halves are one microsecond wide, and fit.
    call = "fit_windows(<a 2-microsecond window holding 5 + 5 events>, count, max_rows=5)"
    try:
        got = fit_windows([(at[0], at[2])], EventCount([at[0]] * 5 + [at[1]] * 5), 5)
    except TooManyCounts:
        return f"{call} kept splitting: a window that holds at most max_rows events fits, whatever its width"
    except ValueError as error:
        return (
            f"{call} raised ValueError ({error}), but each half is one microsecond wide and holds 5 events, "
            "which fits max_rows=5: ask count first; only a window that is too large and one microsecond wide cannot be split"
        )
    problem = window_pairs_problem(got, call)
    if problem:
        return problem
    if [tuple(window) for window in got] == [(at[0], at[2])]:
        return f"{call} returned the window as it was, though it holds 10 events, more than max_rows=5: halve it"
    if [tuple(window) for window in got] != [(at[0], at[1]), (at[1], at[2])]:
        return f"{call} returned {[tuple(timestamp(micros(t)) for t in window) for window in got]}; expected its two halves"
    return None


def unsplittable_window_raises(fit_windows):
    base = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    call = "fit_windows(<11 events sharing one microsecond>, count, max_rows=10)"
    try:
        windows = fit_windows([(base, base + 4 * MICROSECOND)], EventCount([base + 2 * MICROSECOND] * 11), 10)
    except TooManyCounts:
        return f"{call} kept splitting: a window one microsecond wide cannot be halved; raise ValueError for it"
    except ValueError:
        return None
    except Exception as error:
        return f"{call} raised {type(error).__name__}: {error}; raise ValueError, which says the input cannot be served"
    return f"{call} returned {len(windows)} window(s) instead of raising ValueError; the service would refuse the crowded one"


class EventCount:
    """count(start, end) over events at the given times (a stand-in for /v1/events/count)."""

    def __init__(self, times):
        self.times = sorted(times)
        self.calls = 0

    def __call__(self, start, end):
        self.calls += 1
        if self.calls > 1000:
            raise TooManyCounts()
        return bisect.bisect_left(self.times, end) - bisect.bisect_left(self.times, start)


# -- on Spark: the three plans read in one job ---------------------------------------------------


def reads_on_spark(spark, resource):
    return spark.problem(resource)


class SparkRead:
    """The learner's three plans for the check's service, read on Spark in one job (only those
    whose coverage passed above), and each resource's records compared with ground truth."""

    def __init__(self, report, facts, plan_id_ranges, plan_token_ranges, windows):
        self.report = report
        self.facts = facts
        self.plan_id_ranges = plan_id_ranges
        self.plan_token_ranges = plan_token_ranges
        self.windows = windows
        self.read = None

    def plans(self):
        from solutions.partitioning import TimeWindowPartition

        plans = {}
        if ID_COVER not in self.report.failures:
            plans["entities"] = self.plan_id_ranges(self.facts.min_id, self.facts.id_lt, SPARK_ID_PARTITIONS)
        if TOKEN_COVER not in self.report.failures:
            plans["kv"] = self.plan_token_ranges(self.facts.ring, SPARK_TOKEN_PARTITIONS)
        if WINDOW_COVER not in self.report.failures:
            pairs, _ = self.windows.windows()
            plans["events"] = [TimeWindowPartition(i, start, end) for i, (start, end) in enumerate(pairs)]
        return plans

    def problem(self, resource):
        if self.read is None:
            self.read = self.read_plans()
        if resource not in self.read:
            return "not run: fix the overlap or gap named above first"
        if isinstance(self.read[resource], str):
            return self.read[resource]
        return self.compare(resource, self.read[resource])

    def read_plans(self):
        """{resource: Counter of keys read, or why Spark could not read that plan}."""
        from pyspark import cloudpickle

        from workshop.spark import get_spark

        plans = self.plans()
        if not plans:
            return {}
        spark = get_spark()
        spark.dataSource.register(PlannedSource)

        def collect(chosen):
            text = base64.b64encode(cloudpickle.dumps(chosen)).decode("ascii")
            return spark.read.format(PlannedSource.name()).option("url", self.facts.service.url).option("plan", text).load().collect()

        try:
            rows = collect(plans)
        except Exception:  # read each plan alone, to say which one Spark cannot read
            read = {}
            for resource, plan in plans.items():
                try:
                    read[resource] = collections.Counter(row["key"] for row in collect({resource: plan}))
                except Exception as error:
                    read[resource] = f"reading your plan on Spark failed: {spark_error_text(error)}"
            return read
        read = {resource: collections.Counter() for resource in plans}
        for row in rows:
            read[row["resource"]][row["key"]] += 1
        return read

    def compare(self, resource, keys):
        truth = self.facts.service.truth
        key = PlannedReader.keys[resource]
        query = {"entities": {"id_gte": self.facts.min_id, "id_lt": self.facts.id_lt}, "kv": {},
                 "events": {"start": WINDOW_START, "end": WINDOW_END}}[resource]
        want = [str(record[key]) for record in truth.records(resource, **query)]
        twice = [k for k in want if keys.get(k, 0) > 1]
        if twice:
            return f"{sum(keys.values()) - len(keys)} records were read twice (e.g. {key} {twice[0]})"
        missing = [k for k in want if k not in keys]
        if missing:
            return f"{len(missing)} of {len(want)} records were never read (e.g. {key} {missing[0]})"
        extra = sorted(set(keys) - set(want))
        if extra:
            return f"{len(extra)} records outside the range were read (e.g. {key} {extra[0]})"
        return None


class PlannedSource(DataSource):
    """A source for the check: reads the plans in option `plan` ({resource: plan}, pickled, base64)
    from the service at option `url`, one row (resource, key) per record."""

    @classmethod
    def name(cls):
        return "lab03_plans"

    def schema(self):
        return "resource string, key string"

    def reader(self, schema):
        from solutions.options import parse_options

        plan = pickle.loads(base64.b64decode(self.options["plan"]))
        return PlannedReader(parse_options({"url": self.options["url"], "logLevel": "ERROR"}), schema, plan)


@dataclasses.dataclass(frozen=True)
class PlanOfOneResource(InputPartition):
    """One Spark task's share of the check's read: a whole plan of one resource, read partition by
    partition. A task costs far more than a page of this small service, so the three plans take
    three tasks, not one each per planned partition (the plans' shapes are checked above)."""

    index: int
    resource: str
    partitions: tuple


class PlannedReader(PracticeBatchReader):
    """The reference reader, reading plans it is given: `_pages` picks each partition's endpoint by
    its type (events, entities or kv), and each record yields its resource and key."""

    keys = {"entities": "id", "kv": "key", "events": "seq"}  # the key field of each resource's records

    def __init__(self, options, schema, plans):
        super().__init__(options, schema)
        self.plans = plans

    def partitions(self):
        return [PlanOfOneResource(index, resource, tuple(plan)) for index, (resource, plan) in enumerate(self.plans.items())]

    def read(self, partition):
        from solutions.partitioning import EmptyPartition

        key = self.keys[partition.resource]
        with self.client_class(self.options) as client:
            for planned in partition.partitions:
                if isinstance(planned, EmptyPartition):
                    continue
                for items in self._pages(client, planned):
                    for record in items:
                        yield partition.resource, str(record[key])


# -- plans as pieces of a line, and their coverage -------------------------------------------------


def plan_problem(plan, call):
    """What is wrong with a plan's shape: Spark wants a non-empty list of InputPartitions."""
    from pyspark.sql.datasource import InputPartition

    if not isinstance(plan, list):
        if isinstance(plan, (tuple, set)) or hasattr(plan, "__iter__"):
            return (
                f"{call} returned a {type(plan).__name__}; return a list: Spark refuses anything else from "
                "partitions() (DATA_SOURCE_TYPE_MISMATCH)"
            )
        return f"{call} returned {plan!r}; return a list of partitions"
    if not plan:
        return (
            f"{call} returned []: Spark turns an empty list into one partition it invents and calls read() with "
            "None (Spark 4.0, 4.1) or InputPartition(None) (4.2+); return [EmptyPartition()], which reads nothing"
        )
    for partition in plan:
        if not isinstance(partition, InputPartition):
            return f"{call} returned {partition!r}, which is not an InputPartition"
    return None


def id_pieces(plan, call):
    """([(position, low, high)], None) of IdRangePartitions (None bounds: unbounded), or (None, why not)."""
    from solutions.partitioning import EmptyPartition

    pieces = []
    for position, partition in enumerate(plan):
        if isinstance(partition, EmptyPartition):
            continue
        if not hasattr(partition, "id_gte") or not hasattr(partition, "id_lt"):
            return None, f"{call} returned {partition!r}; plan IdRangePartition(index, id_gte, id_lt)"
        low = MIN_TOKEN if partition.id_gte is None else partition.id_gte
        high = MAX_TOKEN if partition.id_lt is None else partition.id_lt
        pieces.append((position, low, high))
    return pieces, None


def token_pieces(plan, call):
    """([(position, low, high)], None): half-open integer pieces of the ring for TokenRangePartitions
    (token_gt, token_le], a wrapping one in two; or (None, why not)."""
    from solutions.partitioning import EmptyPartition

    pieces = []
    real = [partition for partition in plan if not isinstance(partition, EmptyPartition)]
    for position, partition in enumerate(plan):
        if isinstance(partition, EmptyPartition):
            continue
        if not hasattr(partition, "token_gt") or not hasattr(partition, "token_le"):
            return None, f"{call} returned {partition!r}; plan TokenRangePartition(index, token_gt, token_le)"
        gt, le = partition.token_gt, partition.token_le
        for bound in (gt, le):
            if bound is not None and not MIN_TOKEN <= bound <= MAX_TOKEN:
                return None, (
                    f"{call} planned {partition!r}, with a bound outside the ring's tokens -2**63 .. 2**63-1: "
                    "bring every bound back with wrap_token"
                )
        if gt is not None and gt == le and len(real) > 1:
            return None, (
                f"{call} planned {partition!r}: token_gt == token_le means the whole ring (a one-node ring's range), "
                "so it overlaps every other partition; never plan an empty piece (a range 2 tokens wide gives at most 2)"
            )
        if gt is None and le is None:
            pieces.append((position, MIN_TOKEN, MAX_TOKEN + 1))
        elif gt is None:
            pieces.append((position, MIN_TOKEN, le + 1))
        elif le is None:
            pieces.append((position, gt + 1, MAX_TOKEN + 1))
        elif gt < le:
            pieces.append((position, gt + 1, le + 1))
        else:  # wraps (gt == le: the whole ring)
            pieces.append((position, gt + 1, MAX_TOKEN + 1))
            pieces.append((position, MIN_TOKEN, le + 1))
    return pieces, None


def outside_problem(pieces, low, high):
    """The first id range of `pieces` that reaches outside [low, high): it would read ids not asked for."""
    for position, start, end in pieces:
        if start < low or end > high:
            return (f"partition {position} is [{start}, {end}), beyond [{low}, {high}): it would read ids outside "
                    "the range asked for; the ranges split [id_gte, id_lt) and nothing more")
    return None


def coverage_problem(pieces, low, high, unit, show=str, owners="partitions"):
    """The first overlap or gap of `pieces` over the integers [low, high), in plain words.

    `pieces` are (partition position, start, end) with start inclusive, end exclusive.
    """
    pieces = sorted((max(start, low), min(end, high), position) for position, start, end in pieces)
    cursor, owner = low, None
    for start, end, position in pieces:
        if start >= end:
            continue
        if start > cursor:
            return gap(cursor, start, unit, show, owners)
        if start < cursor:
            first, second = sorted((owner, position))
            return f"{owners} {first} and {second} overlap at {unit} {show(start)}"
        cursor, owner = end, position
    if cursor < high:
        return gap(cursor, high, unit, show, owners)
    return None


def gap(start, end, unit, show, owners):
    where = owners.rstrip("s")
    if end - start == 1:
        return f"{unit} {show(start)} is in no {where}"
    return f"{unit}s {show(start)}..{show(end - 1)} are in no {where}"


def token_piece_inside(gt, le, range_start, range_end):
    """True when the piece (gt, le] lies within the ring range (range_start, range_end].

    Offsets are measured from range_start around the ring; an end at offset 0 is a full turn.
    """
    if gt is None or le is None:
        return False
    ring = 2**64
    width = (range_end - range_start) % ring or ring
    low = (gt - range_start) % ring
    high = (le - range_start) % ring or ring
    return low < high <= width


# -- windows as microseconds -----------------------------------------------------------------------


def window_pairs_problem(windows, call):
    if not isinstance(windows, (list, tuple)):
        return f"{call} returned {type(windows).__name__} {windows!r:.60}; return a list of (start, end) windows"
    for window in windows:
        if not isinstance(window, (tuple, list)) or len(window) != 2:
            shown = f"a {type(window).__name__}" if not isinstance(window, (tuple, list)) else repr(window)[:80]
            return (
                f"{call} returned {shown} among its windows; return (start, end) pairs, like its input "
                "(plan_time_windows numbers them)"
            )
        for value in window:
            if not isinstance(value, datetime.datetime):
                return f"{call} returned a window holding {value!r:.60}; windows are (start, end) datetimes"
            if value.tzinfo is None:
                return f"{call} returned a window with a naive datetime ({value!r}); keep them aware, in UTC"
    return None


def micros(value):
    return (value - EPOCH) // MICROSECOND


def timestamp(micros_):
    return (EPOCH + datetime.timedelta(microseconds=micros_)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
