"""The types layer: JSON -> Spark values and back, Decimal and timestamps done right, modes."""
import datetime
import decimal
import json
import re

import pytest
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

import solutions.conversion as conversion
from solutions.conversion import (
    MalformedRecordError,
    MalformedValueError,
    RecordConverter,
    arrow_schema,
    format_timestamp,
    local_time_zone,
    parse_timestamp,
    row_to_json_converter,
    rows_to_record_batch,
    to_json_converter,
    to_spark_converter,
)

UTC = datetime.timezone.utc

LOCATION = StructType([StructField("lat", DoubleType()), StructField("lon", DoubleType())])
# The events resource, as the service describes it (every field nullable).
EVENTS = StructType(
    [
        StructField("seq", LongType()),
        StructField("event_id", StringType()),
        StructField("event_time", TimestampType()),
        StructField("event_date", DateType()),
        StructField("value", DoubleType()),
        StructField("amount", DecimalType(12, 2)),
        StructField("tags", ArrayType(StringType())),
        StructField("attributes", MapType(StringType(), StringType())),
        StructField("location", LOCATION),
        StructField("payload", BinaryType()),
        StructField("note", StringType()),
    ]
)
RECORD = {
    "seq": 17,
    "event_id": "e-17",
    "event_time": "2026-01-01T00:00:00.250000Z",
    "event_date": "2026-01-01",
    "value": 0.1,
    "amount": "1234.50",
    "tags": ["web", "eu"],
    "attributes": {"city": "Zürich"},
    "location": {"lat": 47.37, "lon": 8.54},
    "payload": "AAEC/w==",
    "note": None,
}



# -- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T05:00:00Z", "2026-01-01T05:00:00.000000Z", "2026-01-01T06:00:00+01:00", "2026-01-01T00:00:00-05:00"],
)
def test_timestamps_parse_to_aware_utc(text, non_utc_timezone):
    value = parse_timestamp(text)
    assert value == datetime.datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert value.utcoffset() == datetime.timedelta(0)


def test_a_timestamp_without_zone_is_utc_not_local_time(non_utc_timezone):
    assert parse_timestamp("2026-01-01T05:00:00") == datetime.datetime(2026, 1, 1, 5, tzinfo=UTC)


def test_format_timestamp_writes_utc_with_six_digits_and_z():
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert format_timestamp(datetime.datetime(2026, 1, 1, 2, 0, tzinfo=plus_two)) == "2026-01-01T00:00:00.000000Z"
    assert format_timestamp(datetime.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)) == "2026-01-01T00:00:00.250000Z"
    assert format_timestamp(datetime.datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"


def test_naive_datetimes_from_spark_are_local_time(non_utc_timezone):
    # PySpark hands TimestampType values to Python as naive local time: 00:00 in New York
    # is 05:00 UTC.
    assert format_timestamp(datetime.datetime(2026, 1, 1, 0, 0)) == "2026-01-01T05:00:00.000000Z"


def test_naive_datetimes_on_the_first_and_last_days_python_holds_are_written():
    # Naive astimezone() fails on both days (on 9999-12-31 from Python 3.12, DBR 17.3's Python);
    # the expected text is plain datetime arithmetic, an obviously-right second path.
    with local_time_zone("Etc/GMT-5"):  # +05:00 in every year (named zones keep local mean time in year 1)
        for value in (datetime.datetime(1, 1, 1, 6, 0), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)):
            in_utc = value - datetime.timedelta(hours=5)
            assert format_timestamp(value) == in_utc.isoformat(timespec="microseconds") + "Z"


def test_timestamps_round_trip_in_any_process_timezone(non_utc_timezone):
    for text in ("2026-03-08T07:30:00.123456Z", "1970-01-01T00:00:00.000000Z", "2026-11-01T05:59:59.999999Z"):
        assert format_timestamp(parse_timestamp(text)) == text


def test_bad_timestamps_are_malformed():
    for value in ("yesterday", "2026-13-01T00:00:00Z", 1767225600):
        with pytest.raises(MalformedValueError):
            parse_timestamp(value)


# -- decimals -----------------------------------------------------------------------------------


def test_decimals_keep_every_digit():
    convert = to_spark_converter(DecimalType(18, 4))
    assert convert("12345678901234.5678") == decimal.Decimal("12345678901234.5678")
    # the same text through float loses digits:
    assert decimal.Decimal(float("12345678901234.5678")) != decimal.Decimal("12345678901234.5678")


def test_decimals_get_their_scale_both_ways():
    to_spark, to_json = to_spark_converter(DecimalType(12, 2)), to_json_converter(DecimalType(12, 2))
    assert str(to_spark("1234.5")) == "1234.50"
    assert to_json(decimal.Decimal("1234.5")) == "1234.50"
    assert to_json(decimal.Decimal("1E+2")) == "100.00"  # never exponent notation
    assert to_json(to_spark("-0.07")) == "-0.07"


def test_a_decimal_sent_as_a_json_number_is_malformed_not_rounded():
    # json.loads has already made the number a binary float: the digits are gone.
    parsed = json.loads('{"amount": 12345678901234.5678}')
    assert decimal.Decimal(parsed["amount"]) != decimal.Decimal("12345678901234.5678")
    with pytest.raises(MalformedValueError, match="expected a decimal string, got a number"):
        to_spark_converter(DecimalType(18, 4))(parsed["amount"])
    # a service that sends decimals as numbers needs parse_float=Decimal to keep them
    exact = json.loads('{"amount": 12345678901234.5678}', parse_float=decimal.Decimal)
    assert exact["amount"] == decimal.Decimal("12345678901234.5678")


@pytest.mark.parametrize(
    "value, reason",
    [
        (1234.5, "expected a decimal string"),  # a binary float: refused, not rounded
        (12, "expected a decimal string"),
        ("12.345", "more than 2 decimal places"),
        ("12345678901.00", "does not fit decimal(12,2)"),
        ("twelve", "not a decimal number"),
        ("NaN", "not a finite decimal"),
    ],
)
def test_bad_decimals_are_malformed(value, reason):
    with pytest.raises(MalformedValueError, match=re.escape(reason)):
        to_spark_converter(DecimalType(12, 2))(value)


# -- other types --------------------------------------------------------------------------------


def test_binary_is_base64_both_ways():
    assert to_spark_converter(BinaryType())("AAEC/w==") == b"\x00\x01\x02\xff"
    assert to_json_converter(BinaryType())(bytearray(b"\x00\x01\x02\xff")) == "AAEC/w=="
    with pytest.raises(MalformedValueError, match="not base64"):
        to_spark_converter(BinaryType())("not base64!")


def test_integers_are_checked():
    assert to_spark_converter(LongType())(2**63 - 1) == 2**63 - 1
    for bad in (True, 1.5, "1", 2**63):
        with pytest.raises(MalformedValueError):
            to_spark_converter(LongType())(bad)
    with pytest.raises(MalformedValueError, match="outside"):
        to_spark_converter(IntegerType())(2**31)


def test_booleans_are_json_booleans():
    assert to_spark_converter(BooleanType())(False) is False
    with pytest.raises(MalformedValueError):
        to_spark_converter(BooleanType())("false")


def test_doubles_accept_numbers_and_the_services_special_values():
    convert = to_spark_converter(DoubleType())
    assert convert(0.1) == 0.1
    assert convert(3) == 3.0 and convert("Infinity") == float("inf")
    to_json = to_json_converter(DoubleType())
    assert [to_json(v) for v in (1.5, float("nan"), float("-inf"), None)] == [1.5, "NaN", "-Infinity", None]


def test_timestamp_ntz_keeps_the_wall_clock():
    value = to_spark_converter(TimestampNTZType())("2026-01-01T08:00:00.000000")
    assert value == datetime.datetime(2026, 1, 1, 8) and value.tzinfo is None
    assert to_json_converter(TimestampNTZType())(value) == "2026-01-01T08:00:00.000000"


def test_nested_values_and_nulls():
    nested = StructType(
        [
            StructField("tags", ArrayType(StringType(), containsNull=True)),
            StructField("scores", MapType(StringType(), DecimalType(5, 1))),
            StructField("points", ArrayType(LOCATION)),
        ]
    )
    convert = to_spark_converter(nested)
    value = {"tags": ["a", None], "scores": {"x": "1.5", "y": None}, "points": [{"lat": 1, "lon": None}]}
    assert convert(value) == (["a", None], {"x": decimal.Decimal("1.5"), "y": None}, [(1.0, None)])
    assert to_json_converter(nested)(convert(value)) == {
        "tags": ["a", None],
        "scores": {"x": "1.5", "y": None},
        "points": [{"lat": 1.0, "lon": None}],
    }
    with pytest.raises(MalformedValueError, match="NOT NULL"):
        to_spark_converter(ArrayType(StringType(), containsNull=False))(["a", None])


def test_unsupported_types_are_refused_when_the_converter_is_built():
    from pyspark.sql.types import CalendarIntervalType

    with pytest.raises(TypeError, match="cannot read"):
        to_spark_converter(CalendarIntervalType())


# -- records: round trips and modes -------------------------------------------------------------


def test_a_record_round_trips(non_utc_timezone):
    row = RecordConverter(EVENTS).convert(RECORD)
    assert row[2] == datetime.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert row[5] == decimal.Decimal("1234.50") and row[9] == b"\x00\x01\x02\xff"
    assert row_to_json_converter(EVENTS)(row) == RECORD


def test_records_follow_the_schema_order_and_ignore_other_fields():
    schema = StructType([StructField("note", StringType()), StructField("seq", LongType())])
    assert RecordConverter(schema).convert(RECORD) == (None, 17)


def test_permissive_keeps_the_raw_text_in_the_corrupt_record_column():
    schema = StructType(EVENTS.fields + [StructField("_corrupt_record", StringType())])
    converter = RecordConverter(schema, "PERMISSIVE")
    truncated = '{"seq":18,"event_id":"e-18","event_ti'
    assert converter.convert(truncated) == (None,) * len(EVENTS.fields) + (truncated,)
    wrong_type = dict(RECORD, seq="eighteen")
    assert json.loads(converter.convert(wrong_type)[-1]) == wrong_type
    assert converter.convert(RECORD)[-1] is None
    assert converter.malformed == 2


def test_permissive_keeps_the_fields_that_fit_and_nulls_the_others():
    # Spark's JSON reader (3.0+) keeps what parses; nulling the whole row lost the key (issue 12, defect 3).
    schema = StructType(EVENTS.fields + [StructField("_corrupt_record", StringType())])
    good = RecordConverter(schema).convert(RECORD)
    converter = RecordConverter(schema, "PERMISSIVE")
    row = converter.convert(dict(RECORD, value="n/a", event_time=1767225600))
    names = schema.names
    assert row[names.index("value")] is None and row[names.index("event_time")] is None
    assert row[names.index("seq")] == 17 and row[names.index("amount")] == decimal.Decimal("1234.50")
    kept = [name for name in EVENTS.names if name not in ("value", "event_time")]
    assert [row[names.index(name)] for name in kept] == [good[names.index(name)] for name in kept]
    assert json.loads(row[-1]) == dict(RECORD, value="n/a", event_time=1767225600)


def test_permissive_keeps_the_parts_of_structs_that_fit_as_spark_does():
    # What Spark's JSON reader gives for these (4.0.1 and 4.3.0; tests/connector/test_differential_json.py
    # compares them on Spark): a struct keeps its fields that fit, also in lists and maps; a list
    # or map with an element that does not fit is null as a whole.
    point = StructType([StructField("x", LongType()), StructField("y", LongType())])
    schema = StructType(
        [
            StructField("s", StructType([StructField("x", LongType()), StructField("y", point)])),
            StructField("points", ArrayType(point)),
            StructField("numbers", ArrayType(LongType())),
            StructField("named", MapType(StringType(), point)),
            StructField("k", LongType()),
        ]
    )
    convert = RecordConverter(schema).convert
    assert convert({"s": {"x": 1, "y": {"x": "bad", "y": 2}}, "k": 1}) == ((1, (None, 2)), None, None, None, 1)
    assert convert({"s": {"x": 1, "y": 5}, "k": 2}) == ((1, None), None, None, None, 2)
    assert convert({"points": [{"x": 1, "y": "bad"}, {"x": 2, "y": 3}], "k": 3}) == (None, [(1, None), (2, 3)], None, None, 3)
    assert convert({"points": [5, {"x": 1, "y": 2}], "numbers": [1, "x"], "k": 4}) == (None, None, None, None, 4)
    assert convert({"named": {"a": {"x": 1, "y": "bad"}, "b": {"x": 2, "y": 3}}, "k": 5}) == (
        None, None, None, {"a": (1, None), "b": (2, 3)}, 5)
    assert convert({"named": {"a": 5}, "k": 6}) == (None, None, None, None, 6)


def test_a_not_null_field_that_does_not_fit_nulls_the_struct_around_it():
    # Never None in a NOT NULL field: the nearest nullable value around it becomes null instead.
    inner = StructType([StructField("x", LongType(), nullable=False), StructField("y", LongType())])
    schema = StructType([StructField("s", inner), StructField("k", LongType())])
    convert = RecordConverter(schema).convert
    assert convert({"s": {"x": "bad", "y": 2}, "k": 1}) == (None, 1)
    assert convert({"s": {"y": 2}, "k": 2}) == (None, 2)
    assert convert({"s": {"x": 1, "y": "bad"}, "k": 3}) == ((1, None), 3)
    not_null_elements = StructType([StructField("a", ArrayType(LongType(), containsNull=False)), StructField("k", LongType())])
    assert RecordConverter(not_null_elements).convert({"a": [1, None], "k": 4}) == (None, 4)


@pytest.mark.parametrize("mode", ["DROPMALFORMED", "FAILFAST"])
def test_a_record_that_fits_in_part_is_malformed_in_the_other_modes(mode):
    inner = StructType([StructField("x", LongType()), StructField("y", LongType())])
    converter = RecordConverter(StructType([StructField("s", inner), StructField("k", LongType())]), mode)
    assert converter.convert({"s": {"x": 1, "y": 2}, "k": 1}) == ((1, 2), 1)
    if mode == "DROPMALFORMED":
        assert converter.convert({"s": {"x": 1, "y": "bad"}, "k": 2}) is None
    else:
        with pytest.raises(MalformedRecordError, match="field 's': field 'y'"):
            converter.convert({"s": {"x": 1, "y": "bad"}, "k": 2})


def test_permissive_refuses_a_not_null_column():
    # A malformed record's unfit field would be None in it: Spark fails the task (issue 12, defect 2).
    schema = StructType([StructField("seq", LongType(), nullable=False), StructField("note", StringType())])
    with pytest.raises(TypeError, match="column 'seq' is NOT NULL"):
        RecordConverter(schema, "PERMISSIVE")
    for mode in ("DROPMALFORMED", "FAILFAST"):
        converter = RecordConverter(schema, mode)
        assert converter.convert({"seq": 1, "note": None}) == (1, None)
    assert RecordConverter(schema, "DROPMALFORMED").convert({"note": "no seq"}) is None
    corrupt_not_null = StructType([StructField("seq", LongType()), StructField("_corrupt_record", StringType(), nullable=False)])
    with pytest.raises(TypeError, match="must be nullable"):
        RecordConverter(corrupt_not_null, "DROPMALFORMED")


def test_permissive_with_a_renamed_corrupt_column():
    schema = StructType([StructField("seq", LongType()), StructField("bad", StringType())])
    assert RecordConverter(schema, "permissive", corrupt_column="bad").convert("oops") == (None, "oops")


def test_dropmalformed_skips_the_record():
    converter = RecordConverter(EVENTS, "DROPMALFORMED")
    assert converter.convert("{truncated") is None
    assert converter.convert(RECORD) is not None


def test_failfast_names_the_records_position_and_key():
    converter = RecordConverter(EVENTS, "FAILFAST", key_field="seq")
    with pytest.raises(MalformedRecordError) as error:
        converter.convert(dict(RECORD, event_time="soon"), where=(2, 3, 17))
    message = str(error.value)
    assert message.startswith("malformed record at partition 2, page 3, item 17, seq 17: field 'event_time'")
    assert "mode=PERMISSIVE" in message


def test_the_corrupt_record_column_must_be_a_string():
    schema = StructType([StructField("_corrupt_record", LongType())])
    with pytest.raises(TypeError, match="must be a string column"):
        RecordConverter(schema)


def test_converters_are_built_once_per_schema_not_per_value(monkeypatch):
    converter = RecordConverter(EVENTS)
    calls = []
    original = conversion.to_spark_converter
    monkeypatch.setattr(conversion, "to_spark_converter", lambda t: calls.append(t) or original(t))
    for _ in range(1000):
        converter.convert(RECORD)
    assert calls == []


# -- Arrow --------------------------------------------------------------------------------------


def test_arrow_schema_is_the_one_spark_expects():
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = StructType(EVENTS.fields + [StructField("seen", TimestampNTZType(), nullable=False)])
    try:
        expected = to_arrow_schema(schema, timezone="UTC")  # PySpark 4.1+
    except TypeError:
        expected = to_arrow_schema(schema)  # PySpark 4.0: UTC by default
    assert arrow_schema(schema).equals(expected)


def test_record_batches_hold_the_same_data_as_rows(non_utc_timezone):
    converter = RecordConverter(EVENTS)
    rows = [converter.convert(RECORD), converter.convert(dict(RECORD, seq=18, tags=None, location=None))]
    batch = rows_to_record_batch(rows, EVENTS)
    assert batch.schema.equals(arrow_schema(EVENTS)) and batch.num_rows == 2
    to_json = row_to_json_converter(EVENTS)
    # to_pylist gives dicts for structs and (key, value) pairs for maps: the Arrow writer's input
    assert [to_json(record) for record in batch.to_pylist()] == [to_json(row) for row in rows]


def test_an_empty_batch_has_the_schema():
    assert rows_to_record_batch([], EVENTS).num_columns == len(EVENTS.fields)
