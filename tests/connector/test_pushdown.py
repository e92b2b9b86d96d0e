"""Filter pushdown (Spark 4.1+): what the service can filter is pushed, the rest stays with Spark,
and a pushed filter must really be applied, because Spark does not check it again."""
import datetime
import sys

import pytest
from pyspark.sql.datasource import DataSourceReader
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from solutions import PracticeDataSource
from solutions.options import parse_options
from solutions.partitioning import EmptyPartition
from solutions.reader import EVENT_KINDS, PracticePushdownReader
from workshop.truth import checksum, to_json_record

pytestmark = [
    pytest.mark.version_matrix,  # what Spark pushes depends on the PySpark version
    pytest.mark.skipif(not hasattr(DataSourceReader, "pushFilters"),
                       reason="filter pushdown needs PySpark 4.1+ (DataSourceReader.pushFilters)"),
]

UTC = datetime.timezone.utc
PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"
EVENTS = StructType(
    [StructField("seq", LongType()), StructField("event_time", TimestampType()), StructField("device_id", LongType()),
     StructField("kind", StringType())]
)


def events_reader(service, resource="events", mode="DROPMALFORMED"):
    options = parse_options({"url": service.url, "resource": resource, "mode": mode})
    return PracticePushdownReader(options, EVENTS if resource == "events" else StructType([StructField("id", LongType())]))


# -- pushFilters, called directly ---------------------------------------------------------------


def test_the_connector_pushes_exactly_the_kinds_the_service_knows():
    from workshop.service.events import KINDS

    assert EVENT_KINDS == set(KINDS)


def test_what_the_service_can_filter_is_kept_and_the_rest_returned(service):
    from pyspark.sql.datasource import EqualTo, GreaterThan, GreaterThanOrEqual, In, LessThan, Not, StringStartsWith

    reader = events_reader(service)
    start = datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    end = datetime.datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    kept = [
        EqualTo(("device_id",), 7),
        In(("kind",), ("click", "view")),
        GreaterThanOrEqual(("event_time",), start),
        LessThan(("event_time",), end),
    ]
    returned = [
        GreaterThan(("value",), 0.5),  # the service cannot filter on value
        StringStartsWith(("kind",), "cl"),
        Not(EqualTo(("device_id",), 3)),
        EqualTo(("device_id",), "seven"),  # not a device id: leave it to Spark
        EqualTo(("kind",), "view,click"),  # the service would read this as two kinds
        In(("kind",), ("view", " click")),  # ... and strip the space
        EqualTo(("kind",), "clik"),  # the service refuses kinds it does not know (400)
    ]
    remaining = list(reader.pushFilters(kept + returned))
    assert all(any(r is f for r in remaining) for f in returned) and len(remaining) == len(returned)
    assert reader.device_ids == {7} and reader.kinds == {"click", "view"}
    assert (reader.start, reader.end) == (start, end)


def test_in_permissive_mode_every_filter_is_returned_and_still_narrows_the_read(service):
    # A malformed record's row has nulls where the service saw values: Spark must check again.
    from pyspark.sql.datasource import EqualTo, GreaterThanOrEqual, In

    reader = events_reader(service, mode="PERMISSIVE")
    start = datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    filters = [EqualTo(("device_id",), 7), In(("kind",), ("click", "view")), GreaterThanOrEqual(("event_time",), start)]
    remaining = list(reader.pushFilters(filters))
    assert len(remaining) == len(filters) and all(any(r is f for r in remaining) for f in filters)
    assert reader.device_ids == {7} and reader.kinds == {"click", "view"} and reader.start == start
    entities = events_reader(service, "entities", mode="PERMISSIVE")
    assert len(list(entities.pushFilters([GreaterThanOrEqual(("id",), 10)]))) == 1 and entities.id_gte == 10


def test_exclusive_bounds_become_half_open_ranges(service):
    from pyspark.sql.datasource import GreaterThan, LessThanOrEqual

    reader = events_reader(service, "entities")
    assert list(reader.pushFilters([GreaterThan(("id",), 10), LessThanOrEqual(("id",), 20)])) == []
    assert (reader.id_gte, reader.id_lt) == (11, 21)


def test_contradicting_filters_plan_one_empty_partition(service):
    from pyspark.sql.datasource import EqualTo

    reader = events_reader(service)
    reader.pushFilters([EqualTo(("device_id",), 1), EqualTo(("device_id",), 2)])
    assert reader.partitions() == [EmptyPartition()]


# -- on Spark -----------------------------------------------------------------------------------


@pytest.fixture
def pushdown(spark, spark_service_url, worker_features):
    """Spark with filter pushdown on (it is off by default), restored afterwards."""
    skip_without_worker_pushdown(worker_features)
    spark.dataSource.register(PracticeDataSource)
    before = spark.conf.get(PUSHDOWN_CONF, "false")
    spark.conf.set(PUSHDOWN_CONF, "true")
    yield spark.read.format("practice").option("url", spark_service_url).option("filterPushdown", "true")
    spark.conf.set(PUSHDOWN_CONF, before)


def skip_without_worker_pushdown(worker_features):
    if "pushFilters" not in worker_features:
        pytest.skip("the Spark server's PySpark has no filter pushdown (4.1+; DBR 17.3 has it)")


def assert_rows_equal(rows, expected_records):
    assert len(rows) == len(expected_records)
    assert checksum(to_json_record(row) for row in rows) == checksum(expected_records)


@pytest.mark.spark
def test_pushed_event_filters_return_exactly_the_matching_events(pushdown, service):
    from pyspark.sql.functions import col, lit

    start = datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    end = datetime.datetime(2026, 1, 1, 0, 0, 50, tzinfo=UTC)
    df = (
        pushdown.option("resource", "events").load()
        .filter(col("device_id").isin(7, 8, 9))
        .filter(col("kind") == "click")
        .filter((col("event_time") >= lit(start)) & (col("event_time") < lit(end)))
    )
    expected = service.truth.records(
        "events", device_id="7,8,9", kind="click", start="2026-01-01T00:00:05Z", end="2026-01-01T00:00:50Z"
    )
    assert expected, "the filters match some events"
    assert_rows_equal(df.collect(), expected)


@pytest.mark.spark
def test_filters_the_service_cannot_apply_are_applied_by_spark(pushdown, service):
    from pyspark.sql.functions import col

    df = pushdown.option("resource", "events").load().filter((col("kind") == "view") & (col("value") > 50))
    expected = [r for r in service.truth.records("events", kind="view") if r["value"] > 50]
    assert expected
    assert_rows_equal(df.collect(), expected)


@pytest.mark.spark
def test_a_kind_the_service_does_not_know_matches_nothing(pushdown, service):
    from pyspark.sql.functions import col

    frame = pushdown.option("resource", "events").load()
    assert frame.filter(col("kind") == "clik").collect() == []
    assert_rows_equal(frame.filter(col("kind").isin("click", "clik")).collect(), service.truth.records("events", kind="click"))


@pytest.mark.spark
def test_pushed_id_ranges(pushdown, service):
    from pyspark.sql.functions import col

    ids = [r["id"] for r in service.truth.records("entities")]
    low, high = ids[100], ids[300]
    df = pushdown.option("resource", "entities").option("numPartitions", "3").load()
    rows = df.filter((col("id") > low) & (col("id") <= high)).collect()
    assert_rows_equal(rows, service.truth.records("entities", id_gte=low + 1, id_lt=high + 1))


@pytest.mark.spark
def test_the_option_without_the_spark_setting_is_refused(spark, spark_service_url, worker_features):
    skip_without_worker_pushdown(worker_features)
    # Why filterPushdown is an option: Spark refuses a reader with pushFilters while
    # spark.sql.python.filterPushdown.enabled is off, and a data source cannot read that setting.
    spark.dataSource.register(PracticeDataSource)
    assert spark.conf.get(PUSHDOWN_CONF, "false") == "false"
    df = spark.read.format("practice").option("url", spark_service_url).option("filterPushdown", "true").load()
    with pytest.raises(Exception, match="DATA_SOURCE_PUSHDOWN_DISABLED|filter pushdown is disabled"):
        df.filter("device_id = 7").collect()


# -- a reader that claims a filter without applying it returns wrong rows -----------------------


class ClaimsButIgnoresReader(PracticePushdownReader):
    def pushFilters(self, filters):
        return []  # "all pushed" -- but nothing is recorded, so nothing is applied


class ClaimsButIgnoresSource(PracticeDataSource):
    short_name = "practice_claims_but_ignores"
    batch_reader = ClaimsButIgnoresReader


@pytest.mark.spark
def test_a_claimed_filter_that_is_not_applied_gives_wrong_rows(pushdown, spark, spark_service_url, service):
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Spark's workers cannot import tests
    spark.dataSource.register(ClaimsButIgnoresSource)
    wrong = (
        spark.read.format("practice_claims_but_ignores").option("url", spark_service_url)
        .option("resource", "kv").load().filter("version = 1")
    )
    rows = wrong.collect()
    # Spark trusted the reader and did not filter: every row came back, most with version != 1.
    assert len(rows) == service.truth.count("kv")
    assert any(row.version != 1 for row in rows)
    right = pushdown.option("resource", "kv").load().filter("version = 1").collect()
    assert len(right) == sum(1 for r in service.truth.records("kv") if r["version"] == 1)
    assert all(row.version == 1 for row in right)
