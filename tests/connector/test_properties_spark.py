"""Timestamps written through both writer paths, rows and Arrow, land as the instants they are,
whatever the time zone of the machine the Python workers run on (issue 12, defect 5, and
deliverable 4's DST property).

PySpark's Row path makes TimestampType values naive local time of the Python worker
(`value.astimezone().replace(tzinfo=None)`, pyspark/sql/conversion.py), which drops the DST fold.
The Python workers take the time zone of the process that starts them, not this test process's
(the conftest's non_utc_timezone changes only this process; the workers stay on the machine's zone),
and a Spark session cannot be restarted per zone; so the writers here are the connector's own,
with local time in the zone of option workerTimeZone while they run, as on a machine in that zone.
The Spark session's time zone is set to the same zone. Expected answers come from epoch
microseconds, with no zone involved (dst.utc_text).
"""
import uuid

import dst
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from solutions import PracticeDataSource
from solutions.conversion import local_time_zone
from solutions.options import parse_options
from solutions.writer import PracticeArrowWriter, PracticeBatchWriter

pytestmark = [pytest.mark.usefixtures("pickled_by_value")]
# Spark's timestamp range, 0001-01-01 .. 9999-12-31, in microseconds since the epoch
MIN_MICROS, MAX_MICROS = -62135596800 * 10**6, 253402300799 * 10**6 + 999999
DAY = 86400 * 10**6


class RowsInZone(PracticeBatchWriter):
    zone = "UTC"

    def write(self, iterator):
        with local_time_zone(self.zone):
            return super().write(iterator)


class ArrowInZone(PracticeArrowWriter):
    zone = "UTC"

    def write(self, iterator):
        with local_time_zone(self.zone):
            return super().write(iterator)


class PracticeInZone(PracticeDataSource):
    """The practice connector, its Python writers running with local time in option workerTimeZone."""

    short_name = "practice_in_zone"
    batch_writer = RowsInZone
    arrow_writer = ArrowInZone

    def parsed_options(self):
        return parse_options({key: value for key, value in self.options.items() if key.lower() != "workertimezone"})

    def writer(self, schema, overwrite):
        writer = super().writer(schema, overwrite)
        writer.zone = self.options["workerTimeZone"]
        return writer


@pytest.fixture(scope="module")
def write_in_zone(spark, spark_service_url, service):
    """write_in_zone(micros, zone, arrow) -> {id: the ts text the service stored} for rows (id, timestamp_micros)."""
    spark.dataSource.register(PracticeInZone)

    def write(micros, zone, arrow):
        table = "dst_" + uuid.uuid4().hex[:10]
        frame = spark.createDataFrame(list(enumerate(micros)), "id long, micros long") \
            .selectExpr("id", "timestamp_micros(micros) AS ts")
        session_zone = spark.conf.get("spark.sql.session.timeZone")
        spark.conf.set("spark.sql.session.timeZone", zone)
        try:
            frame.write.format("practice_in_zone").option("url", spark_service_url).option("table", table) \
                .option("workerTimeZone", zone).option("arrow", str(arrow).lower()).mode("append").save()
        finally:
            spark.conf.set("spark.sql.session.timeZone", session_zone)
        return {row["id"]: row["ts"] for row in service.truth.table(table)}

    return write


@pytest.mark.spark
@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow"])
def test_the_repeated_dst_hour_is_written_as_two_instants(write_in_zone, arrow):
    # 2026-11-01 in New York: 01:30 EDT (05:30Z), then the clock goes back, and 01:30 EST (06:30Z)
    micros = [1793511000 * 10**6, 1793514600 * 10**6]
    stored = write_in_zone(micros, "America/New_York", arrow)
    assert stored == {0: "2026-11-01T05:30:00.000000Z", 1: "2026-11-01T06:30:00.000000Z"}


@pytest.mark.spark
@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow"])
@pytest.mark.parametrize("zone", dst.ZONES)
def test_every_dst_fold_and_gap_is_written_exactly(write_in_zone, zone, arrow):
    """Both occurrences of each folded wall-clock time and the edges of each gap, 1900-2040."""
    changes = dst.transitions(zone)
    assert any(after < before for _, before, after in changes)  # the zone has folds to test
    micros = [dst.micros(moment) for change in changes for moment in dst.instants_around(*change)]
    stored = write_in_zone(micros, zone, arrow)
    wrong = {dst.utc_text(micros[i]): text for i, text in stored.items() if text != dst.utc_text(micros[i])}
    assert len(stored) == len(micros) and wrong == {}


@pytest.mark.spark
@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow"])
def test_the_first_and_last_days_of_sparks_range_are_written(write_in_zone, arrow):
    # 0001-01-01 is a common "no date" sentinel; Python's naive astimezone() fails on it
    micros = [MIN_MICROS, MIN_MICROS + DAY // 2, MIN_MICROS + DAY - 1, MAX_MICROS - DAY // 2, MAX_MICROS]
    assert write_in_zone(micros, "UTC", arrow) == {index: dst.utc_text(value) for index, value in enumerate(micros)}


@pytest.mark.spark
@pytest.mark.parametrize("zone, micros", [("America/New_York", MIN_MICROS), ("Asia/Kolkata", MAX_MICROS)],
                         ids=["first-instant-is-year-0-in-new-york", "last-instant-is-year-10000-in-kolkata"])
def test_the_arrow_writers_write_instants_whose_local_time_python_cannot_hold(write_in_zone, zone, micros):
    # The batch holds the session's zone; its wall-clock time there is outside years 1-9999
    # (the Row path fails inside PySpark for these: only the Arrow writers can take them).
    assert write_in_zone([micros], zone, arrow=True) == {0: dst.utc_text(micros)}


# A handful of examples by default (each is two Spark jobs); the large profile runs more. No
# shrinking: each step of it would be a Spark job too; the failing example is printed as found.
SPARK_EXAMPLES = max(3, settings.default.max_examples // 100)
SPARK_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


@pytest.mark.spark
@settings(max_examples=SPARK_EXAMPLES, phases=SPARK_PHASES)
@given(zone=st.sampled_from(dst.ZONES + ("UTC", "Pacific/Chatham", "America/St_Johns")),
       micros=st.lists(st.integers(MIN_MICROS + DAY, MAX_MICROS - DAY), min_size=1, max_size=30))
def test_any_instant_is_written_exactly_in_any_zone(write_in_zone, zone, micros):
    # A day inside Spark's range: an instant whose wall-clock time in the session's zone falls
    # outside years 1-9999 has no Python datetime, and PySpark's Row path fails on it (pyarrow's
    # to_pylist raises OverflowError), whatever the writer does.
    expected = {index: dst.utc_text(value) for index, value in enumerate(micros)}
    assert write_in_zone(micros, zone, arrow=False) == expected
    assert write_in_zone(micros, zone, arrow=True) == expected
