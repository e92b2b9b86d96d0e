"""Lab 11's check accepts the reference and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each breaks different requirements), to keep Spark work down.
"""

import pytest

from solutions.partitioning import EmptyPartition
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab11 import (
    INTEGRATION_CATCHES,
    PIPELINE_COUNTS,
    PIPELINE_ROWS,
    UNIT_CATCHES,
    UNIT_PASSES,
)
from workshop.truth import to_json_record

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]


@pytest.fixture(scope="module")
def solution():
    return labs.solution_namespace("11")


def run(service, url, solution, **mine):
    code = {name: solution[name] for name in ("test_plan_id_ranges", "test_read_entities", "read_events", "count_by_kind")}
    code.update(mine)
    return check_lab("11", url=url, service=service, **code)


# -- correct, written differently ---------------------------------------------------------------


def unit_test_by_sets(plan_id_ranges):
    """Checks each id's owner instead of listing ids; random-ish bounds."""
    for id_gte, id_lt, parts in [(0, 11, 4), (100, 103, 5), (-50, 50, 3)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert 2 <= len(plan) <= parts
        for i in range(id_gte - 2, id_lt + 2):
            owners = [p for p in plan if p.id_gte <= i < p.id_lt]
            assert len(owners) == (1 if id_gte <= i < id_lt else 0), (i, plan)
        assert sorted(p.index for p in plan) == list(range(len(plan)))
    assert plan_id_ranges(3, 3, 2) == [EmptyPartition()]


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


def count_by_kind_in_sql(events):
    return events.selectExpr("kind", "amount").groupBy("kind").agg({"*": "count", "amount": "sum"}).withColumnsRenamed(
        {"count(1)": "events", "sum(amount)": "amount"}
    )


# -- mistakes -----------------------------------------------------------------------------------


def unit_test_that_cannot_fail(plan_id_ranges):
    plan = plan_id_ranges(0, 10, 3)
    assert plan is not None  # the mistake: true for every plan


def integration_without_spark(spark, source, url, service):
    import requests

    # the mistake: asks the service directly; the data source under test never runs
    items = requests.get(f"{url}/v1/entities", params={"limit": 10}, timeout=10).json()["items"]
    assert len(items) == 10


def integration_that_only_counts(spark, source, url, service):
    frame = spark.read.format(source).option("url", url).option("resource", "entities").option("numPartitions", 4).load()
    assert frame.count() == service.truth.count("entities")  # the mistake: a wrong value passes


def read_events_dropping_nulls(spark, url, start=None, end=None):
    reader = spark.read.format("practice").option("url", url)
    if start:
        reader = reader.option("start", start)
    if end:
        reader = reader.option("end", end)
    return reader.load().dropna()  # the mistake: "cleaning" drops every event with a null field


def count_distinct_devices(events):
    from pyspark.sql import functions as F

    # the mistake: counts devices, not events
    return events.groupBy("kind").agg(F.countDistinct("device_id").alias("events"), F.sum("amount").alias("amount"))


def test_reference_passes(spark, spark_service_url, service, solution):
    report = run(service, spark_service_url, solution)
    assert report.passed, report.failures


def test_another_correct_implementation_passes(spark, spark_service_url, service, solution):
    report = run(service, spark_service_url, solution, test_plan_id_ranges=unit_test_by_sets,
                 test_read_entities=integration_by_sorted_rows, read_events=read_events_by_filter,
                 count_by_kind=count_by_kind_in_sql)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(test_plan_id_ranges=unit_test_that_cannot_fail, test_read_entities=integration_without_spark,
                 read_events=read_events_dropping_nulls),
            {UNIT_CATCHES: "your test passed on a plan_id_ranges with ranges that overlap",
             INTEGRATION_CATCHES: "loses the rows of one partition",
             PIPELINE_ROWS: "rows were dropped", PIPELINE_COUNTS: "events of kind"},
        ),
        (
            dict(test_read_entities=integration_that_only_counts, count_by_kind=count_distinct_devices),
            {INTEGRATION_CATCHES: "not only how many there are", PIPELINE_COUNTS: "count rows"},
        ),
    ],
    ids=["cannot-fail-no-spark-drops-rows", "only-counts-and-distinct-devices"],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, solution, mistakes, expected):
    report = run(service, spark_service_url, solution, **mistakes)
    assert not report.passed
    assert UNIT_PASSES not in report.failures  # the mistakes pass on correct code, as they should
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
