"""The connector against Spark's own JSON reader and writer, on the same records.

The expected answers come from Spark, not from the connector's code: the practice service
dumps a query's records, exactly as served, to a JSON Lines file (`truth.dump`), and
`spark.read.json` reads that file with the schema and mode the connector reads the service
with. Small hand-written files cover every type the course maps, and `df.write.json` the
other direction.

Where the course deliberately differs from Spark's JSON reader (it is stricter: the service's
contract is ISO timestamp strings and decimal strings, and a decimal never passes through a
float), the test pins the difference: the connector's answer must be Spark's answer with
exactly that documented change (docs/options.md, option `mode`; lab 04). Each difference is
also asserted on Spark itself, so a Spark that changes its behaviour fails here.
"""
import datetime
import decimal
import glob
import json
import math

import pytest
from conftest import _cluster_reaches_loopback
from pyspark.sql.types import ArrayType, MapType, StructType, _parse_datatype_string

from solutions import PracticeDataSource
from solutions.conversion import RecordConverter, row_to_json_converter
from workshop.truth import to_json_record

pytestmark = pytest.mark.spark
UTC = datetime.timezone.utc
CORRUPT = "_corrupt_record"


@pytest.fixture(scope="module")
def files(spark, tmp_path_factory):
    """A folder Spark reads with spark.read.json: it must be on the machine Spark runs on."""
    if not _cluster_reaches_loopback():
        pytest.skip("spark.read.json reads files on the cluster; these are on this machine")
    return tmp_path_factory.mktemp("differential")


def spark_json(spark, path, ddl, mode, **options):
    reader = spark.read.schema(ddl).option("mode", mode)
    for name, value in options.items():
        reader = reader.option(name, value)
    return reader.json(str(path))


def as_json(value, data_type):
    """A row or value -- Spark's Row or the connector's tuple, both in field order -- in JSON form."""
    if value is None:
        return None
    if isinstance(data_type, StructType):
        return {field.name: as_json(item, field.dataType) for field, item in zip(data_type.fields, value)}
    if isinstance(data_type, ArrayType):
        return [as_json(item, data_type.elementType) for item in value]
    if isinstance(data_type, MapType):
        return {str(key): as_json(item, data_type.valueType) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # NaN != NaN
    return to_json_record(value)


# -- the service's records, malformed ones included, in each mode -------------------------------


@pytest.fixture(scope="module")
def quirky(spark, own_service, files):
    """A service serving 5 % of its events malformed, and its events dumped as served."""
    spark.dataSource.register(PracticeDataSource)
    running = own_service(seed=11, events=3000, entities=0, ring_rows=0, ring_nodes=0, malformed_rate=0.05)
    path = files / "events.jsonl"
    running.truth.dump(path, "events")
    return running, path, path.read_text(encoding="utf-8").splitlines()


def events_ddl(service):
    return PracticeDataSource(options={"url": service.url}).schema()


def connector(spark, service, ddl, mode, **options):
    reader = (spark.read.format("practice").option("url", service.url).option("mode", mode)
              .option("numPartitions", "3").option("logLevel", "WARNING").schema(ddl))
    for name, value in options.items():
        reader = reader.option(name, value)
    return reader.load()


def variant(served):
    """What a served record is, from the record itself (the service's malformed variants)."""
    if isinstance(served, str):
        return "truncated"  # a JSON string holding a cut-off record
    if isinstance(served["event_time"], int):
        return "epoch event_time"  # a JSON number of epoch seconds
    if isinstance(served["amount"], float):
        return "number amount"  # a decimal sent as a JSON number
    if isinstance(served["value"], str):
        return "string value"  # "n/a" in a double field
    return "well-formed"


def by_record(rows, schema, served_of):
    """{served record's key: (row in JSON form without the corrupt column, the corrupt column)}.

    The key is seq, or for a row without one (a truncated record) the served JSON string,
    which `served_of(corrupt text)` gives back.
    """
    result = {}
    for row in rows:
        record = as_json(row, schema)
        corrupt = record.pop(CORRUPT)
        key = record["seq"] if record["seq"] is not None else served_of(corrupt)
        assert key not in result, f"two rows for {key!r}"
        result[key] = record, corrupt
    return result


@pytest.mark.parametrize("arrow", [False, True])
def test_permissive_equals_sparks_json_reader_but_for_the_documented_differences(spark, quirky, arrow):
    service, path, lines = quirky
    ddl = events_ddl(service) + f", {CORRUPT} string"
    schema = _parse_datatype_string(ddl)
    # The connector keeps a record sent as a JSON string as that string's text; Spark keeps the line.
    ours = by_record(connector(spark, service, ddl, "PERMISSIVE", arrow=str(arrow).lower()).collect(), schema,
                     lambda text: text)
    theirs = by_record(spark_json(spark, path, ddl, "PERMISSIVE", columnNameOfCorruptRecord=CORRUPT).collect(), schema,
                       json.loads)
    assert len(ours) == len(theirs) == len(lines)
    assert ours.keys() == theirs.keys(), "rows that do not keep the records' seq (or Spark's rows are other records)"

    seen = set()
    for line in lines:
        served = json.loads(line)
        kind = variant(served)
        seen.add(kind)
        key = served["seq"] if isinstance(served, dict) else served
        row, corrupt = ours[key]
        expected, spark_corrupt = theirs[key]
        expected = dict(expected)
        if kind == "well-formed":
            assert spark_corrupt is None and corrupt is None
        elif kind == "epoch event_time":
            # Spark reads a JSON number as epoch seconds; the connector takes only ISO text.
            instant = datetime.datetime.fromtimestamp(served["event_time"], UTC)
            assert spark_corrupt is None and expected["event_time"] == instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            expected["event_time"] = None
        elif kind == "number amount":
            # Spark reads a JSON number into a decimal; the connector never takes a decimal from a float.
            assert spark_corrupt is None and decimal.Decimal(expected["amount"]) == decimal.Decimal(repr(served["amount"]))
            expected["amount"] = None
        else:  # malformed for both: the fields that fit are kept (none for a truncated record)
            assert spark_corrupt == line
        assert row == expected, (kind, served)
        if kind != "well-formed":
            # The raw record: the truncated text itself, or the record as JSON (the same value as the line).
            assert corrupt == served if kind == "truncated" else json.loads(corrupt) == served, (kind, corrupt)
    assert seen == {"well-formed", "truncated", "epoch event_time", "number amount", "string value"}
    assert any(row["seq"] is not None for row, corrupt in ours.values() if corrupt is not None), (
        "malformed records keep the fields that fit, seq among them")


def test_dropmalformed_equals_sparks_json_reader_but_for_the_documented_differences(spark, quirky):
    service, path, lines = quirky
    ddl = events_ddl(service)
    schema = _parse_datatype_string(ddl)
    ours = {row["seq"]: as_json(row, schema) for row in connector(spark, service, ddl, "DROPMALFORMED").collect()}
    theirs = {row["seq"]: as_json(row, schema) for row in spark_json(spark, path, ddl, "DROPMALFORMED").collect()}
    stricter = {record["seq"] for record in map(json.loads, lines)
                if variant(record) in ("epoch event_time", "number amount")}
    assert stricter and stricter <= theirs.keys(), "Spark keeps the records whose only fault is a JSON number"
    assert ours == {seq: row for seq, row in theirs.items() if seq not in stricter}


def test_failfast_equals_sparks_json_reader(spark, service, spark_service_url, quirky, files):
    quirky_service, quirky_path, _ = quirky
    ddl = events_ddl(service)
    schema = _parse_datatype_string(ddl)
    path = files / "clean.jsonl"
    service.truth.dump(path, "events")
    ours = {row["seq"]: as_json(row, schema) for row in connector(spark, service, ddl, "FAILFAST").collect()}
    theirs = {row["seq"]: as_json(row, schema) for row in spark_json(spark, path, ddl, "FAILFAST").collect()}
    assert len(ours) == service.truth.count("events") and ours == theirs
    # Through Spark Connect (4.0.1-4.3.0) the client sees only the outer error of this read.
    with pytest.raises(Exception, match="MALFORMED_RECORD_IN_PARSING|FAILED_READ_FILE"):
        spark_json(spark, quirky_path, ddl, "FAILFAST").collect()
    with pytest.raises(Exception, match=r"malformed record at partition \d+, page \d+, item \d+"):
        connector(spark, quirky_service, ddl, "FAILFAST").collect()


def test_sparks_json_reader_in_failfast_skips_a_malformed_record_its_pushed_filter_rejects(spark, files):
    # What the connector does with pushdown too (docs/options.md, option mode): FAILFAST checks
    # the records that are read, not those a pushed filter leaves out.
    path = files / "one_bad.jsonl"
    path.write_text('{"seq":1,"kind":"view"}\n{"seq":2,"kind":"click","value":"n/a"}\n', encoding="utf-8")
    ddl = "seq bigint, kind string, value double"
    assert [row.seq for row in spark_json(spark, path, ddl, "FAILFAST").where("seq = 1").collect()] == [1]
    with pytest.raises(Exception, match="MALFORMED_RECORD_IN_PARSING"):
        spark_json(spark, path, ddl, "FAILFAST").where("seq = 2").collect()


NOT_NULL = {"seq": "bigint", "kind": "string", "note": "string", "location": "struct<lat:double,lon:double>"}


def test_a_not_null_column_in_permissive_mode_is_refused_on_the_driver(spark, quirky):
    # Spark's file sources make a user schema nullable; a Python data source cannot, and a
    # malformed record's null in a NOT NULL column failed the task inside Spark (issue 12, defect 2).
    service, path, _ = quirky
    ddl = ", ".join(f"{name} {type_} NOT NULL" for name, type_ in NOT_NULL.items())
    assert all(field.nullable for field in spark_json(spark, path, ddl, "PERMISSIVE").schema.fields)
    with pytest.raises(Exception) as refused:
        connector(spark, service, ddl, "PERMISSIVE").collect()
    message = str(refused.value)
    assert "column 'seq' is NOT NULL" in message and "mode=DROPMALFORMED" in message and "make the column nullable" in message
    assert "IllegalStateException" not in message


@pytest.mark.parametrize("mode", ["DROPMALFORMED", "FAILFAST"])
@pytest.mark.parametrize("arrow", [False, True])
def test_not_null_columns_never_hold_a_null_on_either_path(spark, quirky, mode, arrow):
    # There a null in a NOT NULL column makes the record malformed: dropped, or the read stops.
    service, path, _ = quirky
    ddl = ", ".join(f"{name} {type_} NOT NULL" for name, type_ in NOT_NULL.items())
    frame = connector(spark, service, ddl, mode, arrow=str(arrow).lower())
    assert [field.nullable for field in frame.schema.fields] == [False] * len(NOT_NULL)
    if mode == "FAILFAST":
        with pytest.raises(Exception, match="null where the schema says NOT NULL"):
            frame.collect()
        return
    nullable = ", ".join(f"{name} {type_}" for name, type_ in NOT_NULL.items())
    schema = _parse_datatype_string(nullable)
    theirs = [as_json(row, schema) for row in spark_json(spark, path, nullable, "DROPMALFORMED").collect()]
    expected = sorted((row for row in theirs if None not in row.values()), key=lambda row: row["seq"])
    ours = sorted((as_json(row, schema) for row in frame.collect()), key=lambda row: row["seq"])
    assert 0 < len(ours) < len(theirs) and ours == expected


# -- every type the course maps, on hand-written records ------------------------------------------

TYPES = (
    "s string, b boolean, t tinyint, sh smallint, i int, l bigint, f float, d double, dec decimal(12,2), "
    "ts timestamp, ntz timestamp_ntz, dt date, bin binary, tags array<string>, nums array<bigint>, "
    "attrs map<string,string>, loc struct<lat:double,lon:double>, "
    "points array<struct<x:bigint,y:bigint>>, named map<string,struct<x:bigint,y:bigint>>, "
    "deep struct<a:bigint,inner:struct<p:bigint,q:string>>"
)

# Records both readers read alike: the service's JSON forms of every type, nulls, and records
# that are malformed for both (with the same fields kept).
ALIKE = [
    # every type in the service's form
    '{"s":"naïve café ☕ \\"q\\" \\\\ \\n","b":true,"t":-128,"sh":32767,"i":-2147483648,"l":9223372036854775807,'
    '"f":0.5,"d":-1.25e-7,"dec":"-9999999999.99","ts":"2026-01-01T00:00:00.250001Z","ntz":"2026-01-01T00:00:00.000007",'
    '"dt":"2026-02-28","bin":"AAH/","tags":["a",null,""],"nums":[1,-2],"attrs":{"k":"v","n":null},'
    '"loc":{"lat":47.3769,"lon":8.5417},"points":[{"x":1,"y":2}],"named":{"a":{"x":1,"y":null}},'
    '"deep":{"a":1,"inner":{"p":2,"q":"x"}}}',
    '{"d":"NaN","f":"Infinity","dec":"0.00","ts":"2026-06-01T12:00:00+02:00","dt":"1970-01-01","bin":"","tags":[],'
    '"attrs":{},"loc":{"lat":null,"lon":null},"points":[],"named":{}}',
    '{"d":"-Infinity","dec":"1e2","ts":"1969-12-31T23:59:59.999999Z","i":7,"d2":"ignored","extra":[1,{"x":2}]}',
    '{"d":3,"f":1,"ts":"2026-01-01T00:00:00Z","ntz":"2026-01-01T00:00:00"}',
    "{}",
    '{"s":null,"b":null,"loc":null,"tags":null}',
    # malformed for both, the same fields kept
    '{"l":"7","s":"kept"}',
    '{"l":1.0,"s":"kept"}',
    '{"i":2147483648,"sh":32768,"t":256,"s":"kept"}',
    '{"t":-129,"sh":-32769,"s":"kept"}',
    '{"b":"true","d":"1.5","s":"kept"}',
    '{"d":true,"s":"kept"}',
    '{"dec":"NaN","s":"kept"}',
    '{"dec":"123456789012.00","s":"kept"}',
    '{"ts":"soon","ntz":"2026-01-01T00:00:00Z","s":"kept"}',
    '{"ts":1767225600.5,"s":"kept"}',
    '{"ts":"1767225600","s":"kept"}',
    '{"dt":20000,"s":"kept"}',
    '{"bin":"aGVsbG8","s":"kept"}',
    '{"bin":"not base64!","s":"kept"}',
    '{"tags":"a","nums":[1,"x",3],"s":"kept"}',
    '{"attrs":["k"],"s":"kept"}',
    '{"loc":{"lat":"north","lon":8.5},"s":"kept"}',
    '{"loc":[1,2],"s":"kept"}',
    '{"points":[{"x":1,"y":"bad"},{"x":2,"y":3}],"s":"kept"}',
    '{"points":[5,{"x":1,"y":2}],"s":"kept"}',
    '{"named":{"a":{"x":"bad","y":1}},"s":"kept"}',
    '{"named":{"a":5},"s":"kept"}',
    '{"deep":{"a":1,"inner":{"p":"bad","q":"x"}},"s":"kept"}',
    '{"deep":{"a":"bad","inner":5},"s":"kept"}',
    "42",
    "null",
    "[1,2]",
    '{"s":"cut off',
]


def connector_rows(lines, ddl, mode="PERMISSIVE"):
    converter = RecordConverter(_parse_datatype_string(ddl), mode, CORRUPT)
    rows = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = line  # not JSON at all: the raw text, as the service sends a truncated record
        rows.append(converter.convert(record))
    return rows


def test_every_type_reads_as_sparks_json_reader_reads_it(spark, files):
    path = files / "alike.jsonl"
    path.write_text("\n".join(ALIKE) + "\n", encoding="utf-8")
    ddl = TYPES + f", {CORRUPT} string"
    schema = _parse_datatype_string(ddl)
    theirs = [as_json(row, schema) for row in spark_json(spark, path, ddl, "PERMISSIVE").collect()]
    ours = [as_json(row, schema) for row in connector_rows(ALIKE, ddl)]
    assert len(theirs) == len(ALIKE)
    for line, spark_row, our_row in zip(ALIKE, theirs, ours):
        spark_corrupt, our_corrupt = spark_row.pop(CORRUPT), our_row.pop(CORRUPT)
        assert our_row == spark_row, line
        assert (spark_corrupt is None) == (our_corrupt is None), line
        if spark_corrupt is not None:
            assert spark_corrupt == line and (our_corrupt == line or json.loads(our_corrupt) == json.loads(line)), line
    malformed = sum(1 for line, row in zip(ALIKE, connector_rows(ALIKE, ddl)) if row[-1] is not None)
    assert malformed == len(ALIKE) - 6, "the first six records are well-formed, the others malformed"


# Where the course is stricter than Spark's JSON reader, deliberately (docs/options.md, `mode`):
# (name, type, JSON value, what Spark's JSON reader makes of it). The connector finds each
# record malformed: the field is null, the raw record in the corrupt-record column.
STRICTER = [
    ("a JSON number is no timestamp (Spark: epoch seconds)", "timestamp", "1767225600",
     datetime.datetime(2026, 1, 1, tzinfo=UTC)),
    ("a string column takes only JSON strings (Spark: a number's text)", "string", "17", "17"),
    ("a string column takes only JSON strings (Spark: true's text)", "string", "true", "true"),
    ("a string column takes only JSON strings (Spark: an object's text)", "string", '{"a":1}', '{"a":1}'),
    ("a decimal never comes from a JSON number (Spark: its digits)", "decimal(12,2)", "12.34", decimal.Decimal("12.34")),
    ("a decimal keeps its scale (Spark: rounded half up)", "decimal(5,2)", '"1.235"', decimal.Decimal("1.24")),
    ("a date is YYYY-MM-DD (Spark: also without leading zeros)", "date", '"2026-1-1"', datetime.date(2026, 1, 1)),
    ("a date is YYYY-MM-DD (Spark: also a timestamp's date)", "date", '"2026-01-01T05:00:00Z"', datetime.date(2026, 1, 1)),
    ("a double's specials are NaN, Infinity, -Infinity (Spark: also +INF)", "double", '"+INF"', math.inf),
    ("a tinyint is -128..127 (Spark: 128..255 wrap around)", "tinyint", "200", -56),
]


def test_the_documented_differences_from_sparks_json_reader(spark, files):
    # One Spark read for all: case n is record n, its value in column vn.
    lines = [f'{{"v{number}":{value}}}' for number, (_, _, value, _) in enumerate(STRICTER)]
    path = files / "stricter.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ddl = ", ".join(f"v{number} {type_}" for number, (_, type_, _, _) in enumerate(STRICTER)) + f", {CORRUPT} string"
    theirs = spark_json(spark, path, ddl, "PERMISSIVE").collect()
    ours = connector_rows(lines, ddl)
    for number, (difference, _type, _value, spark_value) in enumerate(STRICTER):
        spark_row, our_row = theirs[number], ours[number]
        got = spark_row[number]
        if isinstance(spark_value, datetime.datetime):
            got = got.astimezone(UTC)  # PySpark gives a naive local datetime
        assert got == spark_value and spark_row[CORRUPT] is None, f"Spark changed: {difference}"
        assert our_row[number] is None and json.loads(our_row[-1]) == json.loads(lines[number]), difference


def test_text_without_a_zone_is_utc_where_spark_takes_the_session_time_zone(spark, files):
    path = files / "zoneless.jsonl"
    path.write_text('{"ts":"2026-01-01T00:00:00"}\n', encoding="utf-8")
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        (theirs,) = spark_json(spark, path, "ts timestamp", "PERMISSIVE").collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
    assert theirs.ts.astimezone(UTC) == datetime.datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert connector_rows(['{"ts":"2026-01-01T00:00:00"}'], "ts timestamp") == [
        (datetime.datetime(2026, 1, 1, tzinfo=UTC),)]


# -- the other direction: what the connector writes, and what Spark writes ---------------------


VALUES = [
    ("naïve café ☕ \"q\" \\ \n", True, -128, 32767, -2147483648, 2**63 - 1, 0.5, -1.25e-7, decimal.Decimal("-9999999999.99"),
     datetime.datetime(2026, 1, 1, 0, 0, 0, 250001, tzinfo=UTC), datetime.datetime(2026, 1, 1, 0, 0, 0, 7),
     datetime.date(2026, 2, 28), b"\x00\x01\xff", ["a", None, ""], [1, -2], {"k": "v", "n": None}, (47.3769, 8.5417),
     [(1, 2)], {"a": (1, None)}, (1, (2, "x"))),
    (None,) * 20,
    ("", False, 0, 0, 0, 0, float("inf"), float("nan"), decimal.Decimal("0.01"),
     datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime.datetime(2026, 1, 1),
     datetime.date(1, 1, 1), b"", [], [], {}, (None, None), [], {}, (None, None)),
]


def test_what_the_connector_writes_sparks_json_reader_reads_back_exactly(spark, files, non_utc_timezone):
    schema = _parse_datatype_string(TYPES)
    originals = spark.createDataFrame(VALUES, schema).collect()
    to_json = row_to_json_converter(schema)
    lines = [json.dumps(to_json(row)) for row in originals]
    path = files / "written_by_the_connector.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    theirs = spark_json(spark, path, TYPES, "FAILFAST").collect()
    expected = [as_json(row, schema) for row in originals]
    assert [as_json(row, schema) for row in theirs] == expected
    assert [as_json(row, schema) for row in connector_rows(lines, TYPES, "FAILFAST")] == expected


def test_what_sparks_json_writer_writes_the_connector_reads_but_for_decimal_numbers(spark, files, non_utc_timezone):
    schema = _parse_datatype_string(TYPES)
    folder = str(files / "written_by_spark")
    spark.createDataFrame(VALUES, schema).coalesce(1).write.mode("overwrite").json(folder)
    lines = [line for name in sorted(glob.glob(folder + "/part-*")) for line in open(name, encoding="utf-8").read().splitlines()]
    ddl = TYPES + f", {CORRUPT} string"
    full = _parse_datatype_string(ddl)
    theirs = [as_json(row, full) for row in spark_json(spark, folder, ddl, "PERMISSIVE").collect()]
    ours = [as_json(row, full) for row in connector_rows(lines, ddl)]
    assert len(theirs) == len(ours) == len(VALUES)
    for line, spark_row, our_row in zip(lines, theirs, ours):
        assert spark_row[CORRUPT] is None
        record = json.loads(line)
        if "dec" in record:
            # Spark writes decimals as JSON numbers; the connector refuses a decimal from a number.
            assert isinstance(record["dec"], float) and our_row["dec"] is None and json.loads(our_row[CORRUPT]) == record
            spark_row = dict(spark_row, dec=None, **{CORRUPT: our_row[CORRUPT]})
        assert our_row == spark_row, line
