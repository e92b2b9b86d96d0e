"""Lab 11 check: tests that can fail, and the pipeline's query functions against ground truth.

A test is only worth something if it fails when the code is wrong. The learner's unit test runs
against the reference `plan_id_ranges` (it must pass) and against broken versions (each must
make it fail); the learner's integration test runs on Spark against the reference data source
(pass) and against broken data sources registered under other names (fail). Then the pipeline's
`read_events` and `count_by_kind` run on Spark and are compared with the service's ground truth.

The broken readers live here, at module level, so Spark's Python workers import them by name.
"""
import decimal

from solutions.reader import PracticeBatchReader
from workshop.checks import new_name, practice_service, spark_error_text

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:40Z")

UNIT_PASSES = "your unit test passes on the reference plan_id_ranges"
UNIT_CATCHES = "your unit test fails on each broken plan_id_ranges"
INTEGRATION_PASSES = "your integration test passes on Spark with the reference data source"
INTEGRATION_CATCHES = "your integration test fails on Spark with each broken data source"
PIPELINE_ROWS = "read_events returns exactly the service's events of the window"
PIPELINE_COUNTS = "count_by_kind gives the events and the amount per kind"


# -- broken plan_id_ranges -----------------------------------------------------------------------


def overlapping_ranges(id_gte, id_lt, num_partitions):
    """Inclusive ends: each range also reads the first id of the next."""
    from solutions.partitioning import IdRangePartition, plan_id_ranges

    planned = plan_id_ranges(id_gte, id_lt, num_partitions)
    if len(planned) < 2:
        return planned
    return [IdRangePartition(p.index, p.id_gte, p.id_lt + 1) for p in planned[:-1]] + planned[-1:]


def empty_list_for_nothing(id_gte, id_lt, num_partitions):
    """[] when there is nothing to read (Spark turns it into one partition: None on 4.0 and 4.1,
    InputPartition(None) on 4.2+)."""
    from solutions.partitioning import plan_id_ranges

    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return []
    return plan_id_ranges(id_gte, id_lt, num_partitions)


def loses_the_remainder(id_gte, id_lt, num_partitions):
    """Equal widths by integer division: the last few ids are never read."""
    from solutions.partitioning import EmptyPartition, IdRangePartition

    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    parts = max(1, min(num_partitions, id_lt - id_gte))
    width = (id_lt - id_gte) // parts
    return [IdRangePartition(i, id_gte + i * width, id_gte + (i + 1) * width) for i in range(parts)]


def one_partition_always(id_gte, id_lt, num_partitions):
    """Covers everything, but in one task: numPartitions is ignored."""
    from solutions.partitioning import EmptyPartition, IdRangePartition

    if id_gte is None or id_lt is None or id_gte >= id_lt:
        return [EmptyPartition()]
    return [IdRangePartition(0, id_gte, id_lt)]


BROKEN_PLANS = {
    "ranges that overlap (inclusive ends)": overlapping_ranges,
    "an empty list when there is nothing to read": empty_list_for_nothing,
    "the last ids left out (integer division)": loses_the_remainder,
    "one partition whatever numPartitions says": one_partition_always,
}


# -- broken data sources --------------------------------------------------------------------------


def _broken_source(source_name, reader_class):
    from solutions.datasource import PracticeDataSource

    class Broken(PracticeDataSource):
        short_name = source_name
        batch_reader = reader_class

    return Broken


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


BROKEN_READERS = {
    "loses the rows of one partition": DropsTheLastPartition,
    "reads every row, with the `score` column lost": LosesOneColumn,
}


# -- the check ------------------------------------------------------------------------------------


def outcome(test, *args):
    """None when `test(*args)` passed, else the one-line reason it failed."""
    try:
        test(*args)
    except AssertionError as error:
        return f"AssertionError: {error}" if str(error) else "AssertionError"
    except Exception as error:
        return f"{type(error).__name__}: {spark_error_text(error)}"
    return None


def check(report, test_plan_id_ranges, test_read_entities, read_events, count_by_kind, url, service=None):
    from solutions.datasource import PracticeDataSource
    from solutions.partitioning import plan_id_ranges
    from workshop.spark import get_spark
    from workshop.truth import checksum, to_json_record

    service = practice_service(url, service)
    truth = service.truth
    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)

    # -- the unit test ---------------------------------------------------------------------------

    def unit_passes():
        failed = outcome(test_plan_id_ranges, plan_id_ranges)
        if failed:
            return f"on the correct plan_id_ranges your test failed: {failed}. A test must pass on correct code"

    def unit_catches():
        for what, broken in BROKEN_PLANS.items():
            if outcome(test_plan_id_ranges, broken) is None:
                return (f"your test passed on a plan_id_ranges with {what}: assert what the plan must be (every id "
                        "of [id_gte, id_lt) in exactly one range, bounds chaining, [EmptyPartition()] for nothing, "
                        "up to numPartitions ranges), not just that it runs")

    # -- the integration test -----------------------------------------------------------------------

    def integration_passes():
        failed = outcome(test_read_entities, spark, "practice", url, service)
        if failed:
            return f"with the reference data source your test failed: {failed}"

    def integration_catches():
        for what, reader in BROKEN_READERS.items():
            name = new_name("lab11_broken")
            spark.dataSource.register(_broken_source(name, reader))
            if outcome(test_read_entities, spark, name, url, service) is None:
                hint = ("compare the rows themselves with ground truth (e.g. checksum(to_json_record(row) ...) == "
                        "service.truth.checksum(...)), not only how many there are"
                        if "column" in what else
                        "read with spark.read.format(source) and compare with the service's ground truth")
                return f"your test passed with a data source that {what} (registered as {name!r}): {hint}"

    # -- the pipeline's queries ----------------------------------------------------------------------

    def pipeline_rows():
        frame = read_events(spark, url, WINDOW[0], WINDOW[1])
        got = [to_json_record(row) for row in frame.collect()]
        want = truth.records("events", start=WINDOW[0], end=WINDOW[1])
        if len(got) != len(want):
            how = "rows were dropped" if len(got) < len(want) else "rows outside the window were read"
            return f"read_events for [{WINDOW[0]}, {WINDOW[1]}) returned {len(got)} rows, the service has {len(want)}: {how}"
        if checksum(got) != checksum(want):
            return f"read_events returned {len(got)} rows, but not the service's rows: return what the data source reads, unchanged"
        everything = read_events(spark, url).count()
        if everything != truth.count("events"):
            return f"read_events without a window returned {everything} rows, not all {truth.count('events')} events"

    def pipeline_counts():
        frame = count_by_kind(read_events(spark, url, WINDOW[0], WINDOW[1]))
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
                return f"count_by_kind says {got[kind][0]} events of kind {kind!r}, the service has {events}: count rows"
            if got[kind][1] != amount:
                return f"count_by_kind says amount {got[kind][1]} for kind {kind!r}, the service's sum is {amount}"
        if len(got) != len(want):
            return f"count_by_kind has {len(got)} rows for {len(want)} kinds: one row per kind"

    report.require(UNIT_PASSES, unit_passes)
    report.require(UNIT_CATCHES, unit_catches)
    report.require(INTEGRATION_PASSES, integration_passes)
    report.require(INTEGRATION_CATCHES, integration_catches)
    report.require(PIPELINE_ROWS, pipeline_rows)
    report.require(PIPELINE_COUNTS, pipeline_counts)
