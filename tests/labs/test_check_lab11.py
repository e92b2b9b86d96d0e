"""Lab 11's check accepts the reference and rejects the plausible mistakes, saying why.

The unit-test requirements run in this process, one mistake each. The others run on Spark one
requirement at a time (each a job or two), and the whole check runs for the reference and for the
correct alternatives.
"""
import random

import pytest

from solutions.partitioning import EmptyPartition
from workshop import labs
from workshop.checks import Report, check_lab, lab11
from workshop.checks.lab11 import (
    INTEGRATION_CATCHES,
    INTEGRATION_PASSES,
    PIPELINE_COUNTS,
    PIPELINE_ROWS,
    UNIT_CATCHES,
    UNIT_PASSES,
)
from workshop.truth import checksum, to_json_record

pytestmark = pytest.mark.usefixtures("pickled_by_value")

REQUIREMENTS = {UNIT_PASSES: lab11.unit_passes, UNIT_CATCHES: lab11.unit_catches,
                INTEGRATION_PASSES: lab11.integration_passes, INTEGRATION_CATCHES: lab11.integration_catches,
                PIPELINE_ROWS: lab11.pipeline_rows, PIPELINE_COUNTS: lab11.pipeline_counts}
TASKS = ("test_plan_id_ranges", "test_read_entities", "read_events", "count_by_kind")


@pytest.fixture(scope="module")
def check_service(own_service):
    """A service like the check's own (the check starts its own; the requirements run alone use this one)."""
    return own_service(**lab11.SERVICE)


@pytest.fixture(scope="module")
def solution():
    namespace = labs.solution_namespace("11")
    return {name: namespace[name] for name in TASKS}


def reason_of(requirement, solution, spark=None, service=None, **mine):
    """What the check says about one requirement ("" when it passes), as check_lab would run it."""
    code = {**solution, **mine}
    url = service.url if service else None
    context = lab11.Context(spark and lab11.register_sources(spark), url, service, *(code[name] for name in TASKS))
    report = Report("11")
    report.require(requirement, REQUIREMENTS[requirement], context)
    return report.failures.get(requirement, "")


# -- correct, written differently ---------------------------------------------------------------


def unit_test_by_sets(plan_id_ranges):
    """Checks each id's owner instead of listing ids."""
    for id_gte, id_lt, parts in [(0, 11, 4), (100, 103, 5), (-50, 50, 3)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert 2 <= len(plan) <= parts
        for i in range(id_gte - 2, id_lt + 2):
            owners = [p for p in plan if p.id_gte <= i < p.id_lt]
            assert len(owners) == (1 if id_gte <= i < id_lt else 0), (i, plan)
        assert sorted(p.index for p in plan) == list(range(len(plan)))
        assert {p.id_lt for p in plan[:-1]} == {p.id_gte for p in plan[1:]}, plan  # the bounds chain
    assert plan_id_ranges(3, 3, 2) == [EmptyPartition()]


def unit_test_by_properties(plan_id_ranges):
    """Random bounds from a fixed seed; the sizes of the ranges must add up and each be non-empty."""
    rng = random.Random(11)
    for _ in range(200):
        id_gte = rng.randint(-1000, 1000)
        id_lt = id_gte + rng.randint(1, 500)
        parts = rng.randint(1, 12)
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert len(plan) == min(parts, id_lt - id_gte), (id_gte, id_lt, parts, plan)
        assert plan[0].id_gte == id_gte and plan[-1].id_lt == id_lt
        assert sum(p.id_lt - p.id_gte for p in plan) == id_lt - id_gte
        assert all(p.id_lt > p.id_gte for p in plan) and all(a.id_lt == b.id_gte for a, b in zip(plan, plan[1:]))
        assert [p.index for p in plan] == list(range(len(plan)))
    assert plan_id_ranges(7, None, 4) == [EmptyPartition()] and plan_id_ranges(9, 2, 4) == [EmptyPartition()]


def integration_by_sorted_rows(spark, source, url, service):
    """Compares sorted JSON forms of the rows, read in 3 partitions."""
    import json

    rows = spark.read.format(source).option("url", url).option("resource", "entities").option("numPartitions", 3).load().collect()
    got = sorted(json.dumps(to_json_record(row), sort_keys=True) for row in rows)
    want = sorted(json.dumps(record, sort_keys=True) for record in service.truth.records("entities"))
    assert got == want


def read_events_by_filter(spark, url, start=None, end=None):
    """Reads everything and lets Spark cut the window: slower, same rows."""
    from pyspark.sql.functions import col, lit, to_timestamp

    frame = spark.read.format("practice").option("url", url).load()
    if start:
        frame = frame.filter(col("event_time") >= to_timestamp(lit(start)))
    if end:
        frame = frame.filter(col("event_time") < to_timestamp(lit(end)))
    return frame


def read_events_with_a_dict(spark, url, start=None, end=None):
    """The options as one dict, the bounds left out when None."""
    bounds = {name: value for name, value in (("start", start), ("end", end)) if value is not None}
    return spark.read.format("practice").options(url=url, resource="events", **bounds).load()


def count_by_kind_in_sql(events):
    return events.selectExpr("kind", "amount").groupBy("kind").agg({"*": "count", "amount": "sum"}).withColumnsRenamed(
        {"count(1)": "events", "sum(amount)": "amount"}
    )


CORRECT = {
    "sets-sorted-filter-sql": dict(test_plan_id_ranges=unit_test_by_sets, test_read_entities=integration_by_sorted_rows,
                                   read_events=read_events_by_filter, count_by_kind=count_by_kind_in_sql),
    "properties-dict": dict(test_plan_id_ranges=unit_test_by_properties, read_events=read_events_with_a_dict),
}


# -- mistakes -----------------------------------------------------------------------------------


def unit_test_that_cannot_fail(plan_id_ranges):
    plan = plan_id_ranges(0, 10, 3)
    assert plan is not None  # the mistake: true for every plan


def unit_test_with_sets_of_ids(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (-7, 100, 8)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert 2 <= len(plan) <= parts and [p.index for p in plan] == list(range(len(plan)))
        ids = {i for p in plan for i in range(p.id_gte, p.id_lt)}
        assert ids == set(range(id_gte, id_lt))  # the mistake: a set cannot see an id read twice
    assert plan_id_ranges(5, 5, 3) == [EmptyPartition()]


def unit_test_of_even_ranges_only(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 12, 3), (0, 100, 4)]:  # the mistake: every range divides evenly
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert 2 <= len(plan) <= parts and [p.index for p in plan] == list(range(len(plan)))
        assert all(a.id_lt == b.id_gte for a, b in zip(plan, plan[1:]))
        assert plan[0].id_gte == id_gte and plan[-1].id_lt == id_lt
    assert plan_id_ranges(5, 5, 3) == [EmptyPartition()]


def unit_test_without_the_count(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (-7, 100, 8)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert [i for p in plan for i in range(p.id_gte, p.id_lt)] == list(range(id_gte, id_lt))
        assert len(plan) >= 2 and [p.index for p in plan] == list(range(len(plan)))  # the mistake: no upper bound
    assert plan_id_ranges(5, 5, 3) == [EmptyPartition()]


def unit_test_without_nothing_to_read(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (-7, 100, 8)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert [i for p in plan for i in range(p.id_gte, p.id_lt)] == list(range(id_gte, id_lt))
        assert 2 <= len(plan) <= parts and [p.index for p in plan] == list(range(len(plan)))
    assert len(plan_id_ranges(5, 5, 3)) <= 1  # the mistake: [] passes


def unit_test_without_the_indexes(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (-7, 100, 8)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert [i for p in plan for i in range(p.id_gte, p.id_lt)] == list(range(id_gte, id_lt))
        assert 2 <= len(plan) <= parts  # the mistake: the numbering is never looked at
    assert plan_id_ranges(5, 5, 3) == [EmptyPartition()]


def unit_test_without_the_chain(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (5, 6, 4), (-7, 100, 8)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert [i for p in plan for i in range(p.id_gte, p.id_lt)] == list(range(id_gte, id_lt))
        assert 1 <= len(plan) <= parts and [p.index for p in plan] == list(range(len(plan)))
        assert len(plan) >= 2 or id_lt - id_gte < 2  # the mistake: nothing says each id_lt is the next id_gte
    assert plan_id_ranges(5, 5, 3) == [EmptyPartition()]


def unit_test_that_fails_on_correct_code(plan_id_ranges):
    for id_gte, id_lt, parts in [(0, 10, 3), (5, 6, 4)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert len(plan) == parts, f"{len(plan)} ranges for {parts}"  # the mistake: 1 id cannot fill 4 ranges


def integration_without_spark(spark, source, url, service):
    import requests

    # the mistake: asks the service directly; the data source under test never runs
    items = requests.get(f"{url}/v1/entities", params={"limit": 10}, timeout=10).json()["items"]
    assert len(items) == 10


def integration_that_only_counts(spark, source, url, service):
    frame = spark.read.format(source).option("url", url).option("resource", "entities").option("numPartitions", 4).load()
    assert frame.count() == service.truth.count("entities")  # the mistake: a wrong value passes


def integration_in_one_partition(spark, source, url, service):
    rows = spark.read.format(source).option("url", url).option("resource", "entities").option("numPartitions", 1).load().collect()
    assert len(rows) == service.truth.count("entities")  # the mistake: one partition, nothing to lose
    assert checksum(to_json_record(row) for row in rows) == service.truth.checksum("entities")


def integration_of_the_wrong_source(spark, source, url, service):
    frame = spark.read.format("practice").option("url", url).option("resource", "entities").option("numPartitions", 4).load()
    assert frame.count() == service.truth.count("entities")  # the mistake: not the source under test


def read_events_dropping_nulls(spark, url, start=None, end=None):
    reader = spark.read.format("practice").option("url", url)
    if start:
        reader = reader.option("start", start)
    if end:
        reader = reader.option("end", end)
    return reader.load().dropna()  # the mistake: "cleaning" drops every event with a null field


def read_events_with_both_bounds_or_none(spark, url, start=None, end=None):
    reader = spark.read.format("practice").option("url", url)
    if start and end:  # the mistake: a start alone is ignored
        reader = reader.option("start", start).option("end", end)
    return reader.load()


def read_events_with_a_window_of_its_own(spark, url, start=None, end=None):
    reader = spark.read.format("practice").option("url", url).option("start", start or "2026-01-01T00:00:00Z")
    return reader.option("end", end or "2027-01-01T00:00:00Z").load()  # the mistake: a default start


def count_distinct_devices(events):
    from pyspark.sql import functions as F

    # the mistake: counts devices, not events
    return events.groupBy("kind").agg(F.countDistinct("device_id").alias("events"), F.sum("amount").alias("amount"))


def count_by_kind_named_count(events):
    return events.groupBy("kind").count()  # the mistake: no amount, and the count is called `count`


def count_by_kind_of_the_values(events):
    from pyspark.sql import functions as F

    return events.groupBy("kind").agg(F.count("*").alias("events"), F.sum("value").alias("amount"))  # the mistake


# -- the unit test, in this process ---------------------------------------------------------------


@pytest.mark.parametrize("unit_test", [None, unit_test_by_sets, unit_test_by_properties],
                         ids=["reference", "sets", "properties"])
def test_correct_unit_tests_pass_and_catch_every_broken_plan(solution, unit_test):
    mine = {"test_plan_id_ranges": unit_test} if unit_test else {}
    assert reason_of(UNIT_PASSES, solution, **mine) == ""
    assert reason_of(UNIT_CATCHES, solution, **mine) == ""


def test_every_broken_plan_breaks_its_rule():
    # Independent of the learner: the broken plans do break what the check says they break.
    for broken, (what, call, rule) in lab11.BROKEN_PLANS.items():
        assert broken(*call) != lab11.plan_id_ranges(*call), what


@pytest.mark.parametrize(
    "unit_test, requirement, says",
    [
        (unit_test_that_cannot_fail, UNIT_CATCHES,
         "ranges that overlap (inclusive ends): plan_id_ranges(0, 10, 3) returned #0 [0, 4) #1 [3, 7) #2 [6, 10)"),
        (unit_test_with_sets_of_ids, UNIT_CATCHES, "ranges that overlap (inclusive ends)"),
        (unit_test_of_even_ranges_only, UNIT_CATCHES,
         "the last ids left out (integer-division widths): plan_id_ranges(0, 10, 3) returned #0 [0, 3) #1 [3, 6) "
         "#2 [6, 9); assert every id of [id_gte, id_lt) is in exactly one range, for a range that does not divide evenly"),
        (unit_test_without_the_count, UNIT_CATCHES, "one range more than numPartitions: plan_id_ranges(0, 10, 3) returned"),
        (unit_test_without_nothing_to_read, UNIT_CATCHES,
         "an empty list when there is nothing to read: plan_id_ranges(5, 5, 3) returned []"),
        (unit_test_without_the_indexes, UNIT_CATCHES, "ranges numbered from 1: plan_id_ranges(0, 10, 3) returned #1 [0, 3) #2 [3, 6) #3 [6, 10)"),
        (unit_test_without_the_chain, UNIT_CATCHES,
         "empty ranges [0, 0) added up to numPartitions: plan_id_ranges(5, 6, 4) returned"),
        (unit_test_that_fails_on_correct_code, UNIT_PASSES,
         "on the correct plan_id_ranges your test failed: AssertionError: 1 ranges for 4"),
    ],
)
def test_a_wrong_unit_test_fails_with_the_reason(solution, unit_test, requirement, says):
    reason = reason_of(requirement, solution, test_plan_id_ranges=unit_test)
    assert says in reason, reason


# -- on Spark -------------------------------------------------------------------------------------

SPARK = pytest.mark.usefixtures("spark", "checks_service_reachable")


@SPARK
def test_reference_passes(spark, solution):
    report = check_lab("11", **solution)
    assert report.passed, report.failures


@SPARK
@pytest.mark.parametrize("code", list(CORRECT))
def test_other_correct_implementations_pass(spark, solution, code):
    report = check_lab("11", **{**solution, **CORRECT[code]})
    assert report.passed, report.failures


@SPARK
@pytest.mark.parametrize(
    "mine, requirement, says",
    [
        (dict(test_read_entities=integration_without_spark), INTEGRATION_CATCHES,
         "loses the rows of its last partition (format 'lab11_drops_a_partition'): read in a few partitions"),
        (dict(test_read_entities=integration_of_the_wrong_source), INTEGRATION_CATCHES,
         "loses the rows of its last partition"),
        (dict(test_read_entities=integration_in_one_partition), INTEGRATION_CATCHES,
         "numPartitions=4: in one, no partition is lost"),
        (dict(test_read_entities=integration_that_only_counts), INTEGRATION_CATCHES,
         "with the `score` column lost (format 'lab11_loses_a_column'): compare the rows themselves"),
        (dict(read_events=read_events_dropping_nulls), PIPELINE_ROWS,
         "read_events(spark, url, '2026-01-01T00:00:00Z', '2026-01-01T00:00:20Z') returned"),
        (dict(read_events=read_events_with_both_bounds_or_none), PIPELINE_ROWS,
         "with start alone: set option start only when it is given"),
        (dict(read_events=read_events_with_a_window_of_its_own), PIPELINE_ROWS,
         "with end alone: set option end only when it is given"),
        (dict(count_by_kind=count_distinct_devices), PIPELINE_COUNTS, "count the rows of each kind"),
        (dict(count_by_kind=count_by_kind_named_count), PIPELINE_COUNTS, "it needs events, amount"),
        (dict(count_by_kind=count_by_kind_of_the_values), PIPELINE_COUNTS, "the service's sum is"),
    ],
    ids=["no-spark", "wrong-source", "one-partition", "only-counts", "dropna", "both-or-none", "own-window",
         "distinct-devices", "named-count", "sum-of-values"],
)
def test_a_mistake_on_spark_fails_with_the_reason(spark, check_service, solution, mine, requirement, says):
    reason = reason_of(requirement, solution, spark, check_service, **mine)
    assert says in reason, reason
