"""Properties of the types layer (hypothesis): for every Spark type the course maps, a value from
Spark (as the Row path or the Arrow path hands it over) -> the service's JSON -> back is the same
value; the JSON is strict JSON; the reader's Arrow batches carry what its rows carry; and a
timestamp converted by PySpark's own Row conversion keeps its instant in any process time zone.
"""
import datetime
import decimal
import json
import math
import zoneinfo

import dst
from hypothesis import given
from hypothesis import strategies as st
from pyspark.sql import Row
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from solutions.conversion import (
    INTEGER_RANGES,
    local_time_zone,
    row_to_json_converter,
    rows_to_record_batch,
    to_json_converter,
    to_spark_converter,
)

UTC = datetime.timezone.utc
ZONES = dst.ZONES + ("UTC", "Pacific/Chatham", "America/St_Johns", "Pacific/Kiritimati")

# -- strategies: a Spark type, then a value of it ---------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # any text Spark can hold
# Spark's timestamp range is years 1..9999, as Python's datetime
utc_instants = st.datetimes(timezones=st.just(UTC))


def decimal_types():
    edges = st.sampled_from([(38, 0), (38, 38), (38, 19), (1, 0), (1, 1), (10, 0), (12, 2), (18, 4), (19, 0)])
    any_type = st.integers(1, 38).flatmap(lambda precision: st.tuples(st.just(precision), st.integers(0, precision)))
    return st.one_of(edges, any_type).map(lambda pair: DecimalType(*pair))


LEAVES = st.one_of(
    st.sampled_from([StringType(), BooleanType(), ByteType(), ShortType(), IntegerType(), LongType(), FloatType(),
                     DoubleType(), DateType(), TimestampType(), TimestampNTZType(), BinaryType()]),
    decimal_types(),
)
field_names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)


def nested(children):
    arrays = st.builds(ArrayType, children, st.booleans())
    maps = st.builds(MapType, st.just(StringType()), children, st.booleans())  # the service's map keys are strings
    structs = st.lists(st.tuples(field_names, children, st.booleans()), min_size=1, max_size=3,
                       unique_by=lambda field: field[0]).map(
        lambda fields: StructType([StructField(name, kind, nullable) for name, kind, nullable in fields]))
    return st.one_of(arrays, maps, structs)


spark_types = st.recursive(LEAVES, nested, max_leaves=5)


def or_null(strategy, nullable):
    return st.none() | strategy if nullable else strategy


def values_of(data_type):
    """Values in their canonical form: what to_spark_converter returns (structs as tuples, maps as
    dicts, timestamps aware in UTC, binary as bytes, decimals with exactly the type's scale)."""
    kind = type(data_type)
    if kind in INTEGER_RANGES:
        return st.integers(*INTEGER_RANGES[kind])
    if kind is DecimalType:
        largest = 10**data_type.precision - 1
        digits = st.one_of(st.sampled_from([largest, -largest, 0, 1, -1]), st.integers(-largest, largest))
        return digits.map(lambda number: decimal.Decimal(f"{number}E-{data_type.scale}"))
    simple = {
        StringType: texts,
        BooleanType: st.booleans(),
        FloatType: st.floats(width=32),
        DoubleType: st.floats(),
        DateType: st.dates(),
        TimestampType: utc_instants,
        TimestampNTZType: st.datetimes(),
        BinaryType: st.binary(max_size=20),
    }
    if kind in simple:
        return simple[kind]
    if kind is ArrayType:
        return st.lists(or_null(values_of(data_type.elementType), data_type.containsNull), max_size=3)
    if kind is MapType:
        return st.dictionaries(texts, or_null(values_of(data_type.valueType), data_type.valueContainsNull), max_size=3)
    return st.tuples(*[or_null(values_of(field.dataType), field.nullable) for field in data_type.fields])


# -- the forms in which Spark hands values to a writer ---------------------------------------------


def row_form(value, data_type):
    """As PySpark's Row path gives it: Rows, dicts, naive local timestamps (local time is UTC here,
    as in the row writer: local_time_zone("UTC"))."""
    if value is None:
        return None
    if isinstance(data_type, TimestampType):
        return value.astimezone().replace(tzinfo=None)  # PySpark's own words (pyspark/sql/conversion.py)
    if isinstance(data_type, ArrayType):
        return [row_form(item, data_type.elementType) for item in value]
    if isinstance(data_type, MapType):
        return {key: row_form(item, data_type.valueType) for key, item in value.items()}
    if isinstance(data_type, StructType):
        return Row(*data_type.names)(*[row_form(item, field.dataType) for item, field in zip(value, data_type.fields)])
    return value


def arrow_form(value, data_type, zone):
    """As pyarrow's to_pylist gives it: structs as dicts, maps as (key, value) lists, timestamps
    aware in the session's time zone."""
    if value is None:
        return None
    if isinstance(data_type, TimestampType):
        try:
            return value.astimezone(zone)
        except OverflowError:  # no datetime for that wall-clock time (years 1 and 9999); pyarrow fails too
            return value
    if isinstance(data_type, ArrayType):
        return [arrow_form(item, data_type.elementType, zone) for item in value]
    if isinstance(data_type, MapType):
        return [(key, arrow_form(item, data_type.valueType, zone)) for key, item in value.items()]
    if isinstance(data_type, StructType):
        return {field.name: arrow_form(item, field.dataType, zone) for item, field in zip(value, data_type.fields)}
    return value


def same(left, right):
    """Equal, with NaN equal to NaN, a Decimal's scale and a timestamp's zone awareness counted."""
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, decimal.Decimal) or isinstance(right, decimal.Decimal):
        return type(left) is type(right) and left.as_tuple() == right.as_tuple()
    if isinstance(left, datetime.datetime) and isinstance(right, datetime.datetime):
        return (left.tzinfo is None) == (right.tzinfo is None) and left == right
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def round_trip(value, data_type):
    """Spark value -> JSON value -> the text the writer sends -> parsed -> Spark value."""
    text = json.dumps(to_json_converter(data_type)(value), allow_nan=False)  # strict JSON: no NaN literals
    return to_spark_converter(data_type)(json.loads(text))


@st.composite
def typed_values(draw):
    data_type = draw(spark_types)
    return data_type, draw(values_of(data_type))



# -- properties -----------------------------------------------------------------------------------


@given(typed_values())
def test_every_type_round_trips_from_its_canonical_form(typed):
    data_type, value = typed
    assert same(round_trip(value, data_type), value)


@given(typed_values())
def test_every_type_round_trips_from_what_the_row_path_gives(typed):
    data_type, value = typed
    with local_time_zone("UTC"):  # as the row writer takes its rows
        assert same(round_trip(row_form(value, data_type), data_type), value)


@given(typed_values(), st.sampled_from(ZONES))
def test_every_type_round_trips_from_what_the_arrow_path_gives(typed, zone):
    data_type, value = typed
    assert same(round_trip(arrow_form(value, data_type, zoneinfo.ZoneInfo(zone)), data_type), value)


@given(decimal_types().flatmap(lambda kind: st.tuples(st.just(kind), values_of(kind))))
def test_decimals_keep_every_digit_and_their_scale(typed):
    data_type, value = typed
    text = to_json_converter(data_type)(value)
    assert "E" not in text and "e" not in text  # never exponent notation
    assert len(text.partition(".")[2]) == data_type.scale
    assert decimal.Decimal(text) == value
    assert same(to_spark_converter(data_type)(text), value)


@given(st.data())
def test_structs_of_every_type_with_null_fields_and_elements_round_trip(data):
    schema = data.draw(st.lists(spark_types, min_size=1, max_size=3).map(
        lambda kinds: StructType([StructField(f"f{index}", kind, True) for index, kind in enumerate(kinds)])))
    # nulls at the top and inside: None fields, and None elements where the types allow them
    row = data.draw(st.tuples(*[st.none() | values_of(field.dataType) for field in schema.fields]))
    assert same(round_trip(row, schema), row)


@given(st.data())
def test_the_readers_arrow_batches_carry_what_its_rows_carry(data):
    schema = data.draw(st.lists(spark_types, min_size=1, max_size=3).map(
        lambda kinds: StructType([StructField(f"f{index}", kind, True) for index, kind in enumerate(kinds)])))
    rows = data.draw(st.lists(st.tuples(*[st.none() | values_of(field.dataType) for field in schema.fields]),
                              max_size=3))
    to_json = row_to_json_converter(schema)
    records = rows_to_record_batch(rows, schema).to_pylist()
    assert [to_json(record) for record in records] == [to_json(row) for row in rows]


@given(utc_instants.filter(lambda moment: datetime.datetime(1, 1, 2, tzinfo=UTC) <= moment
                           <= datetime.datetime(9999, 12, 30, tzinfo=UTC)),
       st.sampled_from(ZONES))
def test_pysparks_row_conversion_keeps_the_instant_when_local_time_is_utc(moment, zone):
    from pyspark.sql.conversion import ArrowTableToRowsConversion

    from_spark = ArrowTableToRowsConversion._create_converter(TimestampType())  # what the Row path runs
    with local_time_zone(zone), local_time_zone("UTC"):
        written = to_json_converter(TimestampType())(from_spark(moment.astimezone(zoneinfo.ZoneInfo(zone))))
    assert written == dst.utc_text(dst.micros(moment))


def test_pysparks_row_conversion_loses_the_fold_in_local_time():
    # Why the row writer takes its rows in UTC: the same conversion in New York maps both
    # 01:30s of 2026-11-01 to one naive value (PySpark 4.0.1 to 4.3.0).
    from pyspark.sql.conversion import ArrowTableToRowsConversion

    from_spark = ArrowTableToRowsConversion._create_converter(TimestampType())
    first, second = (datetime.datetime(2026, 11, 1, hour, 30, tzinfo=UTC) for hour in (5, 6))
    with local_time_zone("America/New_York"):
        assert from_spark(first) == from_spark(second) == datetime.datetime(2026, 11, 1, 1, 30)
