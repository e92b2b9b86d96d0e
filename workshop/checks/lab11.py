"""Lab 11 check: tests that can fail, and the pipeline's query functions against ground truth.

A test is only worth something if it fails when the code is wrong. The learner's unit test runs
against the reference `plan_id_ranges` (it must pass) and against broken versions (each must
make it fail); the learner's integration test runs on Spark against the reference data source
(pass) and against broken data sources (fail). Then the pipeline's `read_events` and
`count_by_kind` run on Spark. The integration test and the queries read from a small practice
service of the check's own (3000 events, 400 entities) and are compared with its ground truth. The broken plans, readers and data sources live here, at module level, so Spark's Python
workers import them by name.

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

UNIT_PASSES: the learner's unit test passes on the reference `plan_id_ranges` (a test that fails
  on correct code is wrong too).
UNIT_CATCHES: the learner's unit test fails on a `plan_id_ranges` that breaks each rule the lab
  gives for a plan, each shown by the smallest plan that breaks it:
- every id of [id_gte, id_lt) exactly once: ranges that overlap (inclusive ends), a gap between
  ranges (each stops one id short), the last ids left out when the range does not divide evenly
  (integer-division widths: (0, 10, 3) never reads id 9);
- at most num_partitions ranges: one range too many; more than one when there is room: one range
  whatever numPartitions says;
- bounds that chain (each `id_lt` the next `id_gte`): empty ranges [0, 0) added up to
  numPartitions (every id is still read once, so only a test of the chain sees it: (5, 6, 4));
- numbered 0, 1, 2, ...: numbered from 1;
- [EmptyPartition()], never [], when there is nothing to read: [] for (5, 5) and a bound None.
INTEGRATION_PASSES: the learner's integration test passes with the reference data source.
INTEGRATION_CATCHES: it fails with a data source that loses the rows of its last partition (only a
  read in more than one partition shows it) and with one that reads every row but sets `score` to
  null (only a comparison of the rows, not their count, shows it): the rule "the same number and the
  same checksum as service.truth".
PIPELINE_ROWS (`read_events`)
- The events of a window exactly as the data source reads them: the rows of [start, end) equal
  ground truth by count and checksum (a `dropna()` drops the events whose `note` is null; a filter
  of its own changes the rows).
- start and end only when given: a start alone (the last 3 s of events to the end of the log) and an
  end alone (from the first event, some hours before 2026, to 00:00:05) each give ground truth's count (passing None on, or
  a default window, does not). Both are counted in one Spark job.
PIPELINE_COUNTS (`count_by_kind`): columns kind, events and amount; one row per kind; events is the
  number of rows of the kind (not of distinct devices), amount their sum, compared with ground truth
  per kind. Not tested: "nulls count as nothing" (the practice service's amounts are never null).
"""
import datetime
import decimal

from solutions.datasource import PracticeDataSource
from solutions.partitioning import EmptyPartition, IdRangePartition, plan_id_ranges
from solutions.reader import PracticeBatchReader
from workshop.checks import spark_error_text

SERVICE = dict(seed=11, events=3000, entities=400)  # the check's own practice service: small, so fast
WINDOW = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:20Z")
EARLY_END = "2026-01-01T00:00:05Z"  # read_events(end=...) alone: from the first event (late ones: 2025) on
FAR_PAST, FAR_FUTURE = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"  # ground truth needs both bounds
INTEGRATION_PARTITIONS = 4  # what the lab asks for ("a few partitions")

UNIT_PASSES = "your unit test passes on the reference plan_id_ranges"
UNIT_CATCHES = "your unit test fails on each broken plan_id_ranges (overlaps, gaps, lost ids, counts, chains, numbering, [])"
INTEGRATION_PASSES = "your integration test passes on Spark with the reference data source"
INTEGRATION_CATCHES = "your integration test fails on Spark with a data source that loses a partition or a column"
PIPELINE_ROWS = "read_events returns exactly the service's events of the window, and start or end alone when given"
PIPELINE_COUNTS = "count_by_kind gives the events and the amount per kind"

HINTS = {
    "test_plan_id_ranges": [
        "Call plan_id_ranges with a few bounds and assert what every correct plan must be (which ids it covers, "
        "how many ranges, how they are numbered), not what one plan happens to look like.",
        "Try a range that does not divide evenly, negative bounds, more partitions than ids, and nothing to read "
        "((5, 5), a bound None): a test that only asserts 'it returned something' passes on every bug.",
        "For each (id_gte, id_lt, num_partitions): ids = [i for p in plan for i in range(p.id_gte, p.id_lt)]; "
        "assert ids == list(range(id_gte, id_lt)); assert 1 <= len(plan) <= num_partitions; assert the indexes "
        "are 0..n-1; and assert plan_id_ranges(5, 5, 3) == [EmptyPartition()].",
    ],
    "test_read_entities": [
        "Read the way a user does, spark.read.format(source) on this session, and compare what comes back with "
        "the service's own answer, service.truth.",
        "A count alone passes a reader that loses a column; a read in one partition passes a reader that loses a "
        "partition. Read in a few partitions and compare the checksum too.",
        'rows = spark.read.format(source).option("url", url).option("resource", "entities").option('
        '"numPartitions", 4).load().collect(); assert len(rows) == service.truth.count("entities"); assert '
        'checksum(to_json_record(row) for row in rows) == service.truth.checksum("entities").',
    ],
    "read_events": [
        "Return the practice data source's read of the events as it is: the pipeline keeps what the function "
        "returns.",
        "start and end are optional: set each option only when it is given (None means no bound), and leave the "
        "rows alone: no filter, no dropna.",
        'reader = spark.read.format("practice").option("url", url).option("resource", "events"); if start: '
        'reader = reader.option("start", start); the same for end; return reader.load().',
    ],
    "count_by_kind": [
        "Group the events by kind, and compute two aggregates per group.",
        "events is the number of rows (count every row, not distinct devices or non-null values), amount a "
        "sum; name the columns kind, events and amount.",
        'events.groupBy("kind").agg(F.count("*").alias("events"), F.sum("amount").alias("amount")) with '
        "from pyspark.sql import functions as F.",
    ],
}


# -- broken plan_id_ranges -----------------------------------------------------------------------


def nothing_to_read(id_gte, id_lt):
    return id_gte is None or id_lt is None or id_gte >= id_lt


def overlapping_ranges(id_gte, id_lt, num_partitions):
    """Inclusive ends: each range also reads the first id of the next."""
    planned = plan_id_ranges(id_gte, id_lt, num_partitions)
    if len(planned) < 2:
        return planned
    return [IdRangePartition(p.index, p.id_gte, p.id_lt + 1) for p in planned[:-1]] + planned[-1:]


def gaps_between_ranges(id_gte, id_lt, num_partitions):
    """Each range but the last stops one id short of the next: those ids are never read."""
    planned = plan_id_ranges(id_gte, id_lt, num_partitions)
    if len(planned) < 2:
        return planned
    return [IdRangePartition(p.index, p.id_gte, p.id_lt - 1) for p in planned[:-1]] + planned[-1:]


def empty_list_for_nothing(id_gte, id_lt, num_partitions):
    """[] when there is nothing to read (Spark turns it into one partition: None on 4.0 and 4.1,
    InputPartition(None) on 4.2+)."""
    if nothing_to_read(id_gte, id_lt):
        return []
    return plan_id_ranges(id_gte, id_lt, num_partitions)


def loses_the_remainder(id_gte, id_lt, num_partitions):
    """Equal widths by integer division: the last few ids are never read."""
    if nothing_to_read(id_gte, id_lt):
        return [EmptyPartition()]
    parts = max(1, min(num_partitions, id_lt - id_gte))
    width = (id_lt - id_gte) // parts
    return [IdRangePartition(i, id_gte + i * width, id_gte + (i + 1) * width) for i in range(parts)]


def one_partition_always(id_gte, id_lt, num_partitions):
    """Covers everything, but in one task: numPartitions is ignored."""
    if nothing_to_read(id_gte, id_lt):
        return [EmptyPartition()]
    return [IdRangePartition(0, id_gte, id_lt)]


def one_range_too_many(id_gte, id_lt, num_partitions):
    """Splits into num_partitions + 1 ranges: more tasks, and more requests at once, than the user allowed."""
    return plan_id_ranges(id_gte, id_lt, num_partitions + 1)


def numbered_from_one(id_gte, id_lt, num_partitions):
    """The right ranges, numbered 1, 2, 3, ..."""
    planned = plan_id_ranges(id_gte, id_lt, num_partitions)
    if planned == [EmptyPartition()]:
        return planned
    return [IdRangePartition(p.index + 1, p.id_gte, p.id_lt) for p in planned]


def pads_with_empty_ranges(id_gte, id_lt, num_partitions):
    """Fills up to num_partitions with empty ranges [0, 0): every id still read once, but the bounds
    no longer chain, and Spark runs tasks that read nothing."""
    planned = plan_id_ranges(id_gte, id_lt, num_partitions)
    if planned == [EmptyPartition()]:
        return planned
    return planned + [IdRangePartition(index, 0, 0) for index in range(len(planned), num_partitions)]


# (what the broken plan does, the smallest call that shows it, the rule a test must assert)
BROKEN_PLANS = {
    overlapping_ranges: ("ranges that overlap (inclusive ends)", (0, 10, 3),
                         "every id of [id_gte, id_lt) is in exactly one range"),
    gaps_between_ranges: ("gaps between the ranges", (0, 10, 3), "every id of [id_gte, id_lt) is in exactly one range"),
    loses_the_remainder: ("the last ids left out (integer-division widths)", (0, 10, 3),
                          "every id of [id_gte, id_lt) is in exactly one range, for a range that does not divide evenly"),
    one_range_too_many: ("one range more than numPartitions", (0, 10, 3), "there are at most num_partitions ranges"),
    one_partition_always: ("one range whatever numPartitions says", (0, 10, 3),
                           "there is more than one range when there is room"),
    numbered_from_one: ("ranges numbered from 1", (0, 10, 3), "the ranges are numbered 0, 1, 2, ..."),
    empty_list_for_nothing: ("an empty list when there is nothing to read", (5, 5, 3),
                             "nothing to read gives [EmptyPartition()], never []"),
    pads_with_empty_ranges: ("empty ranges [0, 0) added up to numPartitions", (5, 6, 4),
                             "the bounds chain: each range's id_lt is the next one's id_gte"),
}


def shown(plan):
    """A plan in a few characters: '#0 [0, 4) #1 [4, 7)' (or its repr when it holds something else)."""
    if plan and all(isinstance(p, IdRangePartition) for p in plan):
        return " ".join(f"#{p.index} [{p.id_gte}, {p.id_lt})" for p in plan)
    return repr(plan)


# -- broken data sources --------------------------------------------------------------------------


class DropsTheLastPartition(PracticeBatchReader):
    """Plans all partitions but the last: rows go missing on Spark."""

    def partitions(self):
        planned = super().partitions()
        return planned[:-1] if len(planned) > 1 else planned


class LosesOneColumn(PracticeBatchReader):
    """The right number of rows, one column lost on the way (a conversion bug)."""

    def read(self, partition):
        position = self.schema.names.index("score") if "score" in self.schema.names else 0
        for row in super().read(partition):
            row = list(row)
            row[position] = None
            yield tuple(row)


class DropsTheLastPartitionSource(PracticeDataSource):
    short_name = "lab11_drops_a_partition"
    batch_reader = DropsTheLastPartition


class LosesOneColumnSource(PracticeDataSource):
    short_name = "lab11_loses_a_column"
    batch_reader = LosesOneColumn


# (the broken data source, what it does, what a test must do to notice)
BROKEN_SOURCES = (
    (DropsTheLastPartitionSource, "loses the rows of its last partition",
     f"read in a few partitions (numPartitions={INTEGRATION_PARTITIONS}: in one, no partition is lost) and compare "
     'the count with service.truth.count("entities")'),
    (LosesOneColumnSource, "reads every row, with the `score` column lost",
     "compare the rows themselves, checksum(to_json_record(row) for row in rows) == "
     'service.truth.checksum("entities"), not only how many there are'),
)


# -- the requirements ------------------------------------------------------------------------------


class Context:
    """What the requirements share: the learner's code, the session and the check's practice service."""

    def __init__(self, spark, url, service, test_plan_id_ranges, test_read_entities, read_events, count_by_kind):
        self.spark = spark
        self.url = url
        self.service = service
        self.test_plan_id_ranges = test_plan_id_ranges
        self.test_read_entities = test_read_entities
        self.read_events = read_events
        self.count_by_kind = count_by_kind


def outcome(test, *args):
    """None when `test(*args)` passed, else the one-line reason it failed."""
    try:
        test(*args)
    except AssertionError as error:
        return f"AssertionError: {error}" if str(error) else "AssertionError"
    except Exception as error:
        return f"{type(error).__name__}: {spark_error_text(error)}"
    return None


def unit_passes(context):
    failed = outcome(context.test_plan_id_ranges, plan_id_ranges)
    if failed:
        return f"on the correct plan_id_ranges your test failed: {failed}. A test must pass on correct code"


def unit_catches(context):
    for broken, (what, call, rule) in BROKEN_PLANS.items():
        if outcome(context.test_plan_id_ranges, broken) is None:
            return (
                f"your test passed on a plan_id_ranges with {what}: plan_id_ranges{call} returned "
                f"{shown(broken(*call))}; assert {rule}"
            )


def integration_passes(context):
    failed = outcome(context.test_read_entities, context.spark, "practice", context.url, context.service)
    if failed:
        return f"with the reference data source your test failed: {failed}"


def integration_catches(context):
    for source, what, notice in BROKEN_SOURCES:
        if outcome(context.test_read_entities, context.spark, source.short_name, context.url, context.service) is None:
            return f"your test passed with a data source that {what} (format {source.short_name!r}): {notice}"


def pipeline_rows(context):
    from pyspark.sql import functions as F

    from workshop.truth import checksum, to_json_record

    truth = context.service.truth
    start, end = WINDOW
    got = [to_json_record(row) for row in context.read_events(context.spark, context.url, start, end).collect()]
    want = truth.records("events", start=start, end=end)
    if len(got) != len(want):
        how = "rows were dropped" if len(got) < len(want) else "rows outside the window were read"
        return f"read_events(spark, url, {start!r}, {end!r}) returned {len(got)} rows, the service has {len(want)}: {how}"
    if checksum(got) != checksum(want):
        return (
            f"read_events(spark, url, {start!r}, {end!r}) returned {len(got)} rows, but not the service's rows: return "
            "what the data source reads, unchanged"
        )
    last = context.service.events.time_range()[1] // 1_000_000 - 3  # the last 3 s of the log, to its end
    late_start = f"{datetime.datetime.fromtimestamp(last, datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
    calls = {  # one bound each: (the call, as shown, and its frame; ground truth's count)
        "start": (f"read_events(spark, url, start={late_start!r})",
                  context.read_events(context.spark, context.url, start=late_start),
                  truth.count("events", start=late_start, end=FAR_FUTURE)),
        "end": (f"read_events(spark, url, end={EARLY_END!r})",
                context.read_events(context.spark, context.url, end=EARLY_END),
                truth.count("events", start=FAR_PAST, end=EARLY_END)),
    }
    tagged = [frame.select(F.lit(bound).alias("bound")) for bound, (_, frame, _) in calls.items()]
    try:
        counts = {row["bound"]: row["count"] for row in tagged[0].unionByName(tagged[1]).groupBy("bound").count().collect()}
    except Exception as failure:
        return (
            f"{calls['start'][0]} or {calls['end'][0]} failed: {spark_error_text(failure)}: set option start or end only "
            "when it is given"
        )
    for bound, (call, _, want) in calls.items():
        if counts.get(bound, 0) != want:
            return (
                f"{call} returned {counts.get(bound, 0)} rows, the service has {want} with {bound} alone: set option "
                f"{bound} only when it is given, and no other bound"
            )


def pipeline_counts(context):
    truth = context.service.truth
    frame = context.count_by_kind(context.read_events(context.spark, context.url, WINDOW[0], WINDOW[1]))
    missing = [name for name in ("kind", "events", "amount") if name not in frame.columns]
    if missing:
        return f"count_by_kind's columns are {frame.columns}; it needs {', '.join(missing)}"
    got = {row["kind"]: (row["events"], decimal.Decimal(row["amount"] or 0)) for row in frame.collect()}
    want = {}
    for record in truth.records("events", start=WINDOW[0], end=WINDOW[1]):
        events, amount = want.get(record["kind"], (0, decimal.Decimal(0)))
        want[record["kind"]] = (events + 1, amount + decimal.Decimal(record["amount"] or 0))
    for kind, (events, amount) in sorted(want.items()):
        if kind not in got:
            return f"count_by_kind has no row for kind {kind!r}"
        if got[kind][0] != events:
            return (
                f"count_by_kind says {got[kind][0]} events of kind {kind!r} in [{WINDOW[0]}, {WINDOW[1]}), the service "
                f"has {events}: count the rows of each kind"
            )
        if got[kind][1] != amount:
            return f"count_by_kind says amount {got[kind][1]} for kind {kind!r}, the service's sum is {amount}: sum amount"
    if len(got) != len(want):
        return f"count_by_kind has {len(got)} rows for {len(want)} kinds: one row per kind"


def register_sources(spark):
    """The reference data source and the broken ones, in this session; returns the session."""
    for source in (PracticeDataSource, DropsTheLastPartitionSource, LosesOneColumnSource):
        spark.dataSource.register(source)
    return spark


def check(report, test_plan_id_ranges, test_read_entities, read_events, count_by_kind):
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    spark = register_sources(get_spark())
    with PracticeService(**SERVICE) as service:
        context = Context(spark, service.url, service, test_plan_id_ranges, test_read_entities, read_events,
                          count_by_kind)
        report.require(UNIT_PASSES, unit_passes, context)
        report.require(UNIT_CATCHES, unit_catches, context)
        report.require(INTEGRATION_PASSES, integration_passes, context)
        report.require(INTEGRATION_CATCHES, integration_catches, context)
        report.require(PIPELINE_ROWS, pipeline_rows, context)
        report.require(PIPELINE_COUNTS, pipeline_counts, context)
