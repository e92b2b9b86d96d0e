"""Lab 03 check: id ranges, token ranges and time windows: each record in exactly one partition.

The planning functions are tried on many bounds and rings, and the first id, token or time
that lies in two partitions or in none is named. Then entities, kv and events are read on
Spark with the learner's plans (the reference reader reads each planned partition) and
compared with ground truth.
"""
import datetime

from workshop.checks import practice_service, spark_error_text
from workshop.truth import checksum, to_json_record

MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = datetime.timedelta(microseconds=1)
ENTITY_IDS_BELOW = 15000  # about 3,000 entities
WINDOW_SECONDS = 40  # about 4,000 events
MAX_ROWS = 700  # smaller than the service's limit, so windows must be split

ID_COVER = "id ranges: every id in exactly one partition"
TOKEN_COVER = "token ranges: every token in exactly one partition, wrap-around included"
WINDOW_COVER = "time windows: adjacent, covering the range, no overlap"


class TooManyCounts(Exception):
    """fit_windows called count() far more often than splitting could need."""


# -- coverage of a line of integers by half-open pieces ------------------------------------------


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


def _micros(value):
    return (value - EPOCH) // MICROSECOND


def _timestamp(micros):
    return (EPOCH + datetime.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- checks of the returned plans ------------------------------------------------------------------


def not_a_list_problem(plan, call):
    from pyspark.sql.datasource import InputPartition

    if plan is None or not hasattr(plan, "__len__"):
        return f"{call} returned {plan!r}; return a list of partitions"
    if len(plan) == 0:
        return (
            f"{call} returned []: Spark turns an empty list into one partition it invents and calls read() with "
            "None (Spark 4.0, 4.1) or InputPartition(None) (4.2+); return [EmptyPartition()], which reads nothing"
        )
    for partition in plan:
        if not isinstance(partition, InputPartition):
            return f"{call} returned {partition!r}, which is not an InputPartition"
    return None


def id_pieces(plan, call):
    from solutions.partitioning import EmptyPartition

    pieces = []
    for position, partition in enumerate(plan):
        if isinstance(partition, EmptyPartition):
            continue
        if not hasattr(partition, "id_gte") or not hasattr(partition, "id_lt"):
            raise ValueError(f"{call} returned {partition!r}; plan IdRangePartition(index, id_gte, id_lt)")
        low = MIN_TOKEN if partition.id_gte is None else partition.id_gte
        high = MAX_TOKEN if partition.id_lt is None else partition.id_lt
        pieces.append((position, low, high))
    return pieces


def token_pieces(plan, call):
    """Half-open integer pieces of the ring for TokenRangePartitions (token_gt, token_le]."""
    from solutions.partitioning import EmptyPartition

    pieces = []
    for position, partition in enumerate(plan):
        if isinstance(partition, EmptyPartition):
            continue
        if not hasattr(partition, "token_gt") or not hasattr(partition, "token_le"):
            raise ValueError(f"{call} returned {partition!r}; plan TokenRangePartition(index, token_gt, token_le)")
        gt, le = partition.token_gt, partition.token_le
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
    return pieces


def window_pieces(windows, call):
    pieces = []
    for position, window in enumerate(windows):
        start, end = (window.start, window.end) if hasattr(window, "start") else window
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(f"{call} returned a window with a naive datetime ({start!r}); keep them aware, in UTC")
        pieces.append((position, _micros(start), _micros(end)))
    return pieces


# -- reading a plan on Spark -----------------------------------------------------------------------


def read_plan(url, resource, plan, **options):
    """Rows read on Spark by the reference reader, one task per partition of `plan`."""
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader
    from workshop.spark import get_spark

    planned = list(plan)

    class PlannedReader(PracticeBatchReader):
        def partitions(self):
            self.prepare()  # the reference's setup (health probe, schema check), then the learner's plan
            return planned

    class PlannedSource(PracticeDataSource):
        short_name = "lab03_planned"
        batch_reader = PlannedReader

    spark = get_spark()
    spark.dataSource.register(PlannedSource)
    reader = spark.read.format("lab03_planned").option("url", url).option("resource", resource).option("logLevel", "WARNING")
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load().collect()


def compare_with_truth(rows, key, truth, resource, **query):
    import collections

    keys = collections.Counter(row[key] for row in rows)
    twice = sorted(k for k, n in keys.items() if n > 1)
    if twice:
        return f"{len(rows) - len(keys)} records were read twice (e.g. {key} {twice[0]!r})"
    expected = truth.count(resource, **query)
    if len(rows) != expected:
        return f"read {len(rows)} records; ground truth has {expected}"
    if checksum(to_json_record(row) for row in rows) != truth.checksum(resource, **query):
        return "the right number of records, but not the same ones as ground truth"
    return None


def check(report, plan_id_ranges, plan_token_ranges, fit_windows, url, service=None):
    from solutions.client import PracticeClient
    from solutions.conversion import format_timestamp
    from solutions.options import parse_options
    from solutions.partitioning import TimeWindowPartition, split_time_range

    truth = practice_service(url, service).truth
    options = parse_options({"url": url, "logLevel": "WARNING"})
    with PracticeClient(options) as client:
        entity_stats = client.get("/v1/entities/stats")
        ring = client.get("/v1/ring")["ranges"]
    min_id = entity_stats["min_id"]
    # Ingest starts at 2026-01-01T00:00:00Z, 100 events a second (a few arrive hours late).
    start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    end = start + datetime.timedelta(seconds=WINDOW_SECONDS)

    # -- id ranges ---------------------------------------------------------------------------

    id_cases = [(min_id, ENTITY_IDS_BELOW, 4), (0, 10, 3), (-100, 1000, 7), (5, 7, 4), (-(2**62), 2**62 + 3, 5)]

    def id_ranges_cover_every_id():
        for id_gte, id_lt, parts in id_cases:
            call = f"plan_id_ranges({id_gte}, {id_lt}, {parts})"
            plan = plan_id_ranges(id_gte, id_lt, parts)
            problem = not_a_list_problem(plan, call) or coverage_problem(id_pieces(plan, call), id_gte, id_lt, "id")
            if problem:
                return problem if problem.startswith(call) else f"{call}: {problem}"

    def id_ranges_use_num_partitions():
        for id_gte, id_lt, parts in id_cases:
            plan = plan_id_ranges(id_gte, id_lt, parts)
            wanted = min(parts, id_lt - id_gte)
            if len(plan) != wanted:
                return f"plan_id_ranges({id_gte}, {id_lt}, {parts}) planned {len(plan)} partitions; expected {wanted}"

    def nothing_to_read_is_one_partition():
        from solutions.partitioning import EmptyPartition

        for id_gte, id_lt in ((None, None), (50, 50), (60, 50)):
            call = f"plan_id_ranges({id_gte}, {id_lt}, 4)"
            plan = plan_id_ranges(id_gte, id_lt, 4)
            problem = not_a_list_problem(plan, call)
            if problem:
                return problem
            for partition in plan:
                if isinstance(partition, EmptyPartition):
                    continue
                low, high = partition.id_gte, partition.id_lt
                if low is None or high is None or low < high:
                    return f"{call} planned {partition!r}, which reads entities; there is nothing to read: plan [EmptyPartition()]"

    def id_ranges_on_spark():
        if ID_COVER in report.failures:
            return "not run: fix the overlap or gap named above first"
        plan = plan_id_ranges(min_id, ENTITY_IDS_BELOW, 4)
        try:
            rows = read_plan(url, "entities", plan)
        except Exception as error:
            return f"reading entities with your id ranges failed: {spark_error_text(error)}"
        return compare_with_truth(rows, "id", truth, "entities", id_gte=min_id, id_lt=ENTITY_IDS_BELOW)

    # -- token ranges ------------------------------------------------------------------------

    token = 2**62 + 12345
    rings = [
        ("the service's ring", ring, (1, 4, 10)),
        ("a one-node ring (start == end: the whole ring)", [{"start": token, "end": token}], (1, 3)),
        ("a ring wrapping exactly at the largest token", [{"start": MIN_TOKEN, "end": 0}, {"start": 0, "end": MIN_TOKEN}], (2, 5)),
        ("a two-node ring", [{"start": -token, "end": token}, {"start": token, "end": -token}], (3,)),
    ]

    def token_ranges_cover_the_ring():
        for name, ranges, counts in rings:
            for parts in counts:
                call = f"plan_token_ranges(<{name}>, {parts})"
                plan = plan_token_ranges(ranges, parts)
                problem = not_a_list_problem(plan, call)
                if not problem:
                    # The token -2**63 never holds a row: a plan may leave it out.
                    problem = coverage_problem(token_pieces(plan, call), MIN_TOKEN + 1, MAX_TOKEN + 1, "token")
                if problem:
                    return problem if problem.startswith(call) else f"{call}: {problem}"

    def token_ranges_split_per_node():
        plan = plan_token_ranges(ring, 2 * len(ring))
        if len(plan) < 2 * len(ring):
            return f"with {len(ring)} ring ranges and numPartitions={2 * len(ring)}, only {len(plan)} partitions were planned"
        for partition in plan:
            inside = [
                r for r in ring
                if _token_piece_inside(partition.token_gt, partition.token_le, r["start"], r["end"])
            ]
            if not inside:
                return f"{partition!r} reaches across two nodes' ring ranges; split each ring range on its own"

    def empty_ring_is_one_partition():
        plan = plan_token_ranges([], 4)
        return not_a_list_problem(plan, "plan_token_ranges([], 4) (an empty ring)")

    def token_ranges_on_spark():
        if TOKEN_COVER in report.failures:
            return "not run: fix the overlap or gap named above first"
        plan = plan_token_ranges(ring, 6)
        try:
            rows = read_plan(url, "kv", plan)
        except Exception as error:
            return f"reading kv with your token ranges failed: {spark_error_text(error)}"
        return compare_with_truth(rows, "key", truth, "kv")

    # -- time windows ------------------------------------------------------------------------

    counted = {}

    def service_count(window_start, window_end):
        with PracticeClient(options) as http:
            params = {"start": format_timestamp(window_start), "end": format_timestamp(window_end)}
            return http.get("/v1/events/count", params)["count"]

    def count(window_start, window_end):
        counted["calls"] = counted.get("calls", 0) + 1
        if counted["calls"] > 2000:
            raise TooManyCounts()
        return service_count(window_start, window_end)

    def fitted_windows():
        if "windows" not in counted:
            counted["calls"] = 0
            try:
                counted["windows"] = fit_windows(split_time_range(start, end, 2), count, MAX_ROWS)
            except TooManyCounts:
                counted["windows"] = TooManyCounts
        windows = counted["windows"]
        if windows is TooManyCounts:
            raise ValueError("fit_windows asked count() more than 2000 times: does it keep splitting the same window?")
        return windows

    call = f"fit_windows(<2 windows of {WINDOW_SECONDS // 2} s>, count, max_rows={MAX_ROWS})"

    def windows_tile_the_range():
        windows = fitted_windows()
        if not windows:
            return f"{call} returned no windows"
        return coverage_problem(
            window_pieces(windows, call), _micros(start), _micros(end), "event time", _timestamp, owners="windows"
        )

    def windows_fit_the_service():
        for window in fitted_windows():
            low, high = (window.start, window.end) if hasattr(window, "start") else window
            held = service_count(low, high)
            if held > MAX_ROWS:
                return (
                    f"the window {format_timestamp(low)} .. {format_timestamp(high)} holds {held} events, "
                    f"more than max_rows={MAX_ROWS}: halve it at its midpoint and look at both halves again"
                )

    def unsplittable_window_raises():
        base = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        crowded = base + 2 * MICROSECOND  # 11 events share this timestamp
        calls = {"n": 0}

        def crowded_count(low, high):
            calls["n"] += 1
            if calls["n"] > 1000:
                raise TooManyCounts()
            return 11 if low <= crowded < high else 0

        try:
            windows = fit_windows([(base, base + 4 * MICROSECOND)], crowded_count, 10)
        except TooManyCounts:
            return "11 events share one microsecond and max_rows is 10: fit_windows kept splitting; raise ValueError"
        except ValueError:
            return None
        return f"11 events share one microsecond and max_rows is 10: fit_windows returned {len(windows)} windows instead of raising ValueError"

    def windows_on_spark():
        if WINDOW_COVER in report.failures:
            return "not run: fix the overlap or gap named above first"
        windows = fitted_windows()
        plan = []
        for index, window in enumerate(windows):
            low, high = (window.start, window.end) if hasattr(window, "start") else window
            plan.append(TimeWindowPartition(index, low, high))
        try:
            rows = read_plan(url, "events", plan)
        except Exception as error:
            return f"reading events with your windows failed: {spark_error_text(error)}"
        return compare_with_truth(rows, "seq", truth, "events", start=start, end=end)

    report.require(ID_COVER, id_ranges_cover_every_id)
    report.require("id ranges: numPartitions ranges (fewer only when there are fewer ids)", id_ranges_use_num_partitions)
    report.require("id ranges: nothing to read plans one partition that reads nothing, never []", nothing_to_read_is_one_partition)
    report.require("id ranges on Spark: the entities, each once", id_ranges_on_spark)
    report.require(TOKEN_COVER, token_ranges_cover_the_ring)
    report.require("token ranges: split within each node's range", token_ranges_split_per_node)
    report.require("token ranges: an empty ring plans one partition, never []", empty_ring_is_one_partition)
    report.require("token ranges on Spark: the kv rows, each once", token_ranges_on_spark)
    report.require(WINDOW_COVER, windows_tile_the_range)
    report.require("time windows: none holds more than max_rows events", windows_fit_the_service)
    report.require("time windows: a window that cannot be split raises ValueError", unsplittable_window_raises)
    report.require("time windows on Spark: the events, each once", windows_on_spark)


def _token_piece_inside(gt, le, range_start, range_end):
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
