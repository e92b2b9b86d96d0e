"""Metamorphic: filter pushdown never changes a query's answer.

For every kind of filter Spark hands a Python data source, and combinations, in every mode,
over events with nulls and malformed records: the rows with pushdown on
(`spark.sql.python.filterPushdown.enabled=true` and option filterPushdown=true) are exactly the
rows with pushdown off. The expected answer is the same query without pushdown: Spark itself
applies every filter there.

What reaches `pushFilters` (PySpark 4.1.4, 4.2.1 and 4.3.0 alike, found with a reader that
records its filters): EqualTo, EqualNullSafe, GreaterThan(OrEqual), LessThan(OrEqual), In (its
values may include None), IsNull, IsNotNull (Spark adds one for each column a comparison
uses), StringStartsWith/EndsWith/Contains (from LIKE, startswith, contains), and Not around
EqualTo, EqualNullSafe, In and the string filters (`NOT (value > 5)` arrives as
LessThanOrEqual). Spark splits a top-level AND into one filter per conjunct and never sends
And or Or: a query whose only condition is an OR, or NOT of an AND, does not call pushFilters
at all. A nested field arrives with its path, `("location", "lat")`.

Cheap by design: a few thousand events, one partition per scan, and per mode two Spark jobs:
without pushdown one scan of everything with each case filtered by Spark, with pushdown a
union of one scan per case; each returns a count and a checksum per case. On PySpark 4.0 (no
pushFilters) the option falls back to Spark's filtering, and the same comparison holds.
"""
import contextlib
import io

import pytest

from solutions import PracticeDataSource

pytestmark = [pytest.mark.spark, pytest.mark.version_matrix]  # pushdown depends on the PySpark version
PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"
CORRUPT = "_corrupt_record"
T0, T1 = "TIMESTAMP'2026-01-01 00:00:08'", "TIMESTAMP'2026-01-01 00:00:20'"

# (name, condition): each kind of filter, mostly on the columns the service can filter
# (device_id, kind, event_time), which a malformed record may leave null, alone and combined.
CASES = [
    ("EqualTo", "device_id = 7"),
    ("EqualTo and a time range", f"kind = 'purchase' AND event_time >= {T0}"),
    ("EqualNullSafe", "device_id <=> 7"),
    ("EqualNullSafe with null", "kind <=> NULL"),
    ("GreaterThanOrEqual, LessThan", f"event_time >= {T0} AND event_time < {T1}"),
    ("GreaterThan, LessThanOrEqual", f"event_time > {T0} AND event_time <= {T1}"),
    ("comparisons the service cannot apply", "device_id >= 190 AND value < 100"),
    ("In", "kind IN ('view', 'click')"),
    ("In with ids and a null", "device_id IN (3, 5, 8, 13) AND kind IN ('signup', NULL, 'view')"),
    ("In with values the service would misread", "kind IN ('clik', 'view,click', 'refund')"),
    ("IsNull", "kind IS NULL"),
    ("IsNotNull", "kind IS NOT NULL AND note IS NULL"),
    ("Not EqualTo, Not In", "kind != 'view' AND NOT (device_id IN (1, 2))"),
    ("Not EqualNullSafe", "NOT (device_id <=> 7)"),
    ("StringStartsWith, EndsWith, Contains", "kind LIKE 'p%' AND kind LIKE '%e' AND kind LIKE '%rch%'"),
    ("Not StringStartsWith", "NOT (kind LIKE 'cl%')"),
    ("nested field, decimal, date", "location.lat > 0 AND amount > 100 AND event_date = DATE'2026-01-01'"),
    ("contradiction", "device_id = 7 AND device_id = 8"),
    ("Or", "kind = 'view' OR device_id = 3"),
    ("Not And", "kind = 'click' AND NOT (device_id = 7 AND value > 500)"),
    ("And with Or", "kind = 'view' AND (device_id = 3 OR value > 900)"),
    ("all pushable", f"device_id IN (1, 2, 3, 4, 5, 6) AND kind IN ('view', 'purchase') AND event_time >= {T0}"),
    ("pushable and not", f"kind = 'click' AND value > 300 AND event_time < {T1} AND NOT (device_id IN (1, 2))"),
]
# FAILFAST reads events without malformed records, so its rows are DROPMALFORMED's and it runs
# the same rule in the reader: one case per kind of filter is enough there.
FAILFAST_CASES = [case for case in CASES if case[0] in (
    "EqualTo and a time range", "EqualNullSafe", "GreaterThan, LessThanOrEqual", "In with ids and a null", "IsNotNull",
    "Not EqualTo, Not In", "StringStartsWith, EndsWith, Contains", "Or", "all pushable", "pushable and not")]
# In PERMISSIVE mode, also on the corrupt-record column.
PERMISSIVE_CASES = CASES + [
    ("malformed rows of some kinds", f"{CORRUPT} IS NOT NULL AND kind IN ('view', 'click')"),
    ("malformed rows without a kind", f"{CORRUPT} IS NOT NULL AND kind IS NULL"),
]


@pytest.fixture(scope="module")
def services(spark, own_service):
    """{malformed rate: service}: the same events with nulls (note, payload, location), and 5 %
    of them malformed in one."""
    spark.dataSource.register(PracticeDataSource)
    settings = dict(seed=23, events=3000, entities=0, ring_rows=0, ring_nodes=0)
    return {0.05: own_service(**settings, malformed_rate=0.05), 0: own_service(**settings)}


@pytest.fixture(scope="module")
def quirky(services):
    return services[0.05]


@contextlib.contextmanager
def pushdown(spark, on):
    before = spark.conf.get(PUSHDOWN_CONF, "false")
    spark.conf.set(PUSHDOWN_CONF, str(on).lower())
    try:
        yield
    finally:
        spark.conf.set(PUSHDOWN_CONF, before)


def frame(spark, url, mode, on, condition=None):
    ddl = PracticeDataSource(options={"url": url}).schema() + (f", {CORRUPT} string" if mode == "PERMISSIVE" else "")
    df = (spark.read.format("practice").option("url", url).option("mode", mode).option("partitioning", "none")
          .option("logLevel", "WARNING").option("filterPushdown", str(on).lower()).schema(ddl).load())
    return df if condition is None else df.where(condition)


def row_hash(df):
    from pyspark.sql import functions as F

    return F.xxhash64(F.to_json(F.struct(*df.columns))).cast("decimal(38,0)")


def answers_without_pushdown(spark, url, mode, cases):
    """{case name: (rows, checksum)}: one scan of everything, each case filtered by Spark."""
    from pyspark.sql import functions as F

    df = frame(spark, url, mode, False)
    hashed = row_hash(df)
    columns = []
    for number, (_, condition) in enumerate(cases):
        matches = F.expr(condition)
        columns += [F.count(F.when(matches, 1)).alias(f"rows{number}"), F.sum(F.when(matches, hashed)).alias(f"sum{number}")]
    with pushdown(spark, False):
        (row,) = df.agg(*columns).collect()
    return {name: (row[f"rows{number}"], row[f"sum{number}"]) for number, (name, _) in enumerate(cases)}


def answers_with_pushdown(spark, url, mode, cases):
    """{case name: (rows, checksum)}: one scan per case (each with its own pushFilters), one job."""
    from pyspark.sql import functions as F

    union = None
    for number, (_, condition) in enumerate(cases):
        df = frame(spark, url, mode, True, condition)
        part = df.select(F.lit(number).alias("case"), row_hash(df).alias("h"))
        union = part if union is None else union.unionAll(part)
    with pushdown(spark, True):
        result = union.groupBy("case").agg(F.count("*").alias("rows"), F.sum("h").alias("checksum")).collect()
    found = {cases[row["case"]][0]: (row["rows"], row["checksum"]) for row in result}
    return {name: found.get(name, (0, None)) for name, _ in cases}


def pushed_filters(spark, url, mode, condition):
    """The scan's PushedFilters line of explain("formatted") with pushdown on ('' when none)."""
    printed = io.StringIO()
    with pushdown(spark, True), contextlib.redirect_stdout(printed):
        frame(spark, url, mode, True, condition).explain("formatted")
    return next((line for line in printed.getvalue().splitlines() if line.startswith("PushedFilters")), "")


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED", "FAILFAST"])
def test_pushdown_on_returns_exactly_the_rows_of_pushdown_off(spark, worker_features, services, mode):
    # FAILFAST stops at a malformed record with pushdown off, so it reads the same events
    # without any; their nulls are the data's own (note, payload, location).
    url = services[0 if mode == "FAILFAST" else 0.05].url
    cases = {"PERMISSIVE": PERMISSIVE_CASES, "DROPMALFORMED": CASES, "FAILFAST": FAILFAST_CASES}[mode]
    off = answers_without_pushdown(spark, url, mode, cases)
    on = answers_with_pushdown(spark, url, mode, cases)
    differing = {name: (off[name], on[name]) for name, _ in cases if off[name] != on[name]}
    assert not differing, f"pushdown changed the answer ((rows, checksum) off, on): {differing}"
    assert sum(1 for rows, _ in off.values() if rows) > len(cases) // 2, "most cases match some rows"

    # Not vacuous: the reader really pushed. What it keeps (Spark then checks it no more) shows
    # in explain as PushedFilters; in PERMISSIVE mode it keeps nothing and Spark checks all.
    kept = pushed_filters(spark, url, mode, "kind IN ('view', 'click') AND value > 300")
    if "pushFilters" not in worker_features:  # the Spark that runs the reader's Python
        assert kept == ""  # PySpark 4.0: no pushFilters; the option falls back to Spark's filtering
    elif mode == "PERMISSIVE":
        assert kept == "", "in PERMISSIVE mode every filter goes back to Spark"
    else:
        assert "In(kind, [click,view])" in kept and "value" not in kept


def test_in_permissive_mode_a_pushed_filter_lets_no_null_row_through(spark, quirky):
    # Issue 12, defect 1: with the filter kept, malformed records came back as rows whose kind is
    # NULL, and nothing checked them. The same query, with pushdown on and off.
    condition = "kind IN ('view', 'click')"
    with pushdown(spark, True):
        rows = frame(spark, quirky.url, "PERMISSIVE", True, condition).select("seq", "kind").collect()
    with pushdown(spark, False):
        expected = frame(spark, quirky.url, "PERMISSIVE", False, condition).select("seq", "kind").collect()
    assert rows and all(row.kind in ("view", "click") for row in rows)
    assert sorted(rows, key=str) == sorted(expected, key=str)


def test_failfast_with_pushdown_stops_at_a_malformed_record_the_filter_lets_through(spark, quirky):
    # The service sends the malformed records of matching kinds too (it filters on the true kind).
    for on in (False, True):
        with pushdown(spark, on), pytest.raises(Exception, match="malformed record at"):
            frame(spark, quirky.url, "FAILFAST", on, "kind IN ('view', 'click')").collect()


def test_failfast_with_pushdown_never_sees_the_records_the_service_filters_out(spark, worker_features, quirky):
    # docs/options.md (mode): FAILFAST checks the records that are read; with pushdown the service
    # leaves the others out (as Spark's own JSON reader skips records its pushed filter rejects).
    truth = quirky.truth
    device = next(device for device in range(1, 201)
                  if truth.count("events", device_id=device) == truth.count("events", device_id=device, drop_malformed=True) > 0)
    assert len(truth.malformed_seqs()) > 0
    with pushdown(spark, True):
        read = frame(spark, quirky.url, "FAILFAST", True, f"device_id = {device}")
        if "pushFilters" in worker_features:
            assert read.count() == truth.count("events", device_id=device)
        else:  # PySpark 4.0: no pushdown, every record is read, and a malformed one stops the read
            with pytest.raises(Exception, match="malformed record at"):
                read.count()
