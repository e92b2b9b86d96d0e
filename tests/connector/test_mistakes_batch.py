"""COURSE_DESIGN section 8, batch side: one test per mistake seen in public material.

Each test checks that the reference connector does it right and, where it is cheap, that the
wrong way really gives wrong results.
"""
import datetime
import decimal
import glob
import os
import re
import sys
import uuid
from unittest import mock

import pytest
from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter, InputPartition
from pyspark.sql.types import DecimalType, LongType, StructField, StructType

from solutions import PracticeDataSource
from solutions.client import PracticeClient, WindowTooLargeError
from solutions.conversion import format_timestamp, parse_timestamp, to_spark_converter
from solutions.options import parse_options
from solutions.partitioning import EmptyPartition, plan_id_ranges, plan_token_ranges
from solutions.reader import PracticeBatchReader
from solutions.writer import PracticeBatchWriter, PracticeCommitMessage

UTC = datetime.timezone.utc
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/


@pytest.fixture
def registered(spark):
    """Spark with this module's small data sources registered (pickled by value: Spark's
    Python workers cannot import test modules)."""
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spark.dataSource.register(PracticeDataSource)
    spark.dataSource.register(WriteReturnsNoneSource)
    spark.dataSource.register(EmptyPartitionListSource)
    return spark


# -- 1. write() returning None or a dict --------------------------------------------------------


class ReturnsNoneWriter(DataSourceWriter):
    def write(self, iterator):
        for _ in iterator:
            pass
        return None  # the mistake (a dict is refused the same way)


class WriteReturnsNoneSource(DataSource):
    @classmethod
    def name(cls):
        return "mistake_write_returns_none"

    def writer(self, schema, overwrite):
        return ReturnsNoneWriter()


def test_write_returns_a_writer_commit_message(service):
    from pyspark.sql.datasource import WriterCommitMessage

    options = parse_options({"url": service.url, "table": "t_" + uuid.uuid4().hex[:8]})
    writer = PracticeBatchWriter(options, StructType([StructField("id", LongType())]), False)
    message = writer.write(iter([(1,), (2,)]))
    assert isinstance(message, WriterCommitMessage) and isinstance(message, PracticeCommitMessage)
    assert message.rows == 2


@pytest.mark.spark
def test_spark_refuses_a_write_that_returns_none(registered):
    with pytest.raises(Exception, match="WriterCommitMessage"):
        registered.range(3).write.format("mistake_write_returns_none").mode("append").save()


# -- 2. option strings treated as booleans ------------------------------------------------------


def test_the_string_false_is_false():
    raw = {"arrow": "false", "gzip": "False"}
    assert bool(raw["arrow"]) is True, "the mistake: any non-empty string is true"
    options = parse_options(raw)
    assert options["arrow"] is False and options["gzip"] is False


# -- 3. Decimal through float -------------------------------------------------------------------


def test_decimals_never_go_through_float():
    text = "12345678901234.5678"  # fits decimal(18,4), as entity balances do
    assert decimal.Decimal(float(text)) != decimal.Decimal(text), "the mistake loses digits"
    assert decimal.Decimal(str(float(text))) != decimal.Decimal(text)
    assert to_spark_converter(DecimalType(18, 4))(text) == decimal.Decimal(text)


@pytest.mark.spark
def test_decimals_read_on_spark_keep_every_digit(registered, spark_service_url, service):
    df = registered.read.format("practice").option("url", spark_service_url).option("resource", "entities").load()
    got = {row.id: format(row.balance, "f") for row in df.select("id", "balance").collect()}
    assert got == {r["id"]: r["balance"] for r in service.truth.records("entities")}


# -- 4. datetime.fromtimestamp without a zone ---------------------------------------------------



def test_timestamps_are_never_read_as_local_time(non_utc_timezone):
    epoch_seconds = 1767243600  # 2026-01-01T05:00:00Z
    wrong = datetime.datetime.fromtimestamp(epoch_seconds)  # naive, New York wall clock
    assert wrong.isoformat() + "Z" == "2026-01-01T00:00:00Z", "the mistake is five hours off"
    right = datetime.datetime.fromtimestamp(epoch_seconds, tz=UTC)
    assert format_timestamp(right) == "2026-01-01T05:00:00.000000Z"
    assert parse_timestamp("2026-01-01T05:00:00Z") == right
    assert parse_timestamp("2026-01-01T05:00:00") == right  # no zone: UTC, not New York


# -- 5. bool(response) to detect HTTP errors ----------------------------------------------------


def test_http_errors_are_detected_by_status_not_by_bool(service):
    import requests

    window = {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    response = requests.get(service.url + "/v1/events", params=window, timeout=10)
    # the mistake: `if not response: return []` -- a 413 becomes "no events"
    items = response.json()["items"] if response else []
    assert response.status_code == 413 and items == [] and service.truth.count("events") > 0
    # the reference raises a specific error, which the reader answers by splitting the window
    with PracticeClient(parse_options({"url": service.url})) as client:
        with pytest.raises(WindowTooLargeError, match="HTTP 413 window_too_large"):
            client.get("/v1/events", window)


# -- 6. id-range pages that overlap the next partition ------------------------------------------


def read_ids(url, ranges):
    with PracticeClient(parse_options({"url": url, "pageSize": "500"})) as client:
        return [
            record["id"]
            for id_gte, id_lt in ranges
            for page in client.pages("/v1/entities", {"id_gte": id_gte, "id_lt": id_lt})
            for record in page
        ]


def test_id_ranges_never_overlap(service):
    ids = [r["id"] for r in service.truth.records("entities")]
    low, high = ids[0], ids[-1]
    # the mistake: inclusive bounds on both sides, [lo, mid] then [mid, hi], read with
    # id_gte=lo, id_lt=mid+1 -- the boundary ids come back twice
    step = (high - low) // 4
    bounds = [low + step * i for i in range(4)] + [high]
    overlapping = [(a, b + 1) for a, b in zip(bounds, bounds[1:])]
    wrong = read_ids(service.url, overlapping)
    assert len(wrong) > len(set(wrong)), "inclusive bounds read boundary ids twice"
    # the reference: half-open [id_gte, id_lt)
    partitions = plan_id_ranges(low, high + 1, 4)
    right = read_ids(service.url, [(p.id_gte, p.id_lt) for p in partitions])
    assert sorted(right) == ids and len(right) == len(set(right))


# -- 7. an empty partition list -----------------------------------------------------------------


class EmptyListReader(DataSourceReader):
    def partitions(self):
        return []  # the mistake

    def read(self, partition):
        yield (repr(partition),)


class EmptyPartitionListSource(DataSource):
    @classmethod
    def name(cls):
        return "mistake_empty_partition_list"

    def schema(self):
        return "partition string"

    def reader(self, schema):
        return EmptyListReader()


@pytest.mark.spark
def test_spark_turns_an_empty_partition_list_into_input_partition_none(registered):
    rows = registered.read.format("mistake_empty_partition_list").load().collect()
    # read() is still called, once, with a partition the reader never planned: None on Spark 4.0
    # and 4.1, InputPartition(None) from 4.2 (pyspark/sql/worker/plan_data_source_read.py)
    major, minor = map(int, registered.version.split(".")[:2])
    assert [row.partition for row in rows] == (["None"] if (major, minor) < (4, 2) else ["InputPartition(value=None)"])


def test_the_reference_plans_one_partition_that_reads_nothing(service):
    assert plan_token_ranges([], 4) == [EmptyPartition()]
    reader = PracticeBatchReader(parse_options({"url": service.url}), StructType([StructField("seq", LongType())]))
    assert list(reader.read(EmptyPartition())) == []
    # and Spark's stand-ins for an empty list are harmless too
    assert list(reader.read(InputPartition(None))) == [] and list(reader.read(None)) == []


# -- 8. mocking requests around df.write --------------------------------------------------------


@pytest.mark.spark
def test_a_mock_in_the_test_process_never_reaches_spark_workers(registered, spark_service_url, service):
    table = "t_" + uuid.uuid4().hex[:8]
    refuse = mock.Mock(side_effect=AssertionError("the mock was called"))
    with mock.patch("requests.Session.request", refuse):
        registered.range(5).write.format("practice").option("url", spark_service_url).option("table", table).mode(
            "append"
        ).save()
    # The write ran in Spark's Python workers, where requests is not patched: the rows are
    # there and the mock saw nothing. A test built on such a mock proves nothing.
    assert refuse.call_count == 0
    assert sorted(row["id"] for row in service.truth.table(table)) == [0, 1, 2, 3, 4]


# -- 9. df.rdd and sparkContext in tests that must also run on Spark Connect ----------------------

def test_no_test_uses_connect_incompatible_calls():
    # Every Spark test runs on Spark Connect too (CI): none may reach for the RDD API or the SparkContext.
    pattern = re.compile(r"\.rdd\b|\bsparkContext\b")
    names = sorted(glob.glob(os.path.join(TESTS, "**", "*.py"), recursive=True))
    assert len(names) > 40
    for name in names:
        with open(name, encoding="utf-8") as source:
            for number, line in enumerate(source, 1):
                if line.lstrip().startswith("#") or "pattern = re.compile" in line or "# classic only" in line:
                    continue
                assert not pattern.search(line), f"{os.path.relpath(name, TESTS)}:{number} does not run on Spark Connect: {line.strip()}"
