"""The types layer: Spark values <-> the service's JSON, both ways, driven by the Spark schema.

The service's JSON conventions (docs/practice_service.md):
- timestamps: ISO-8601 UTC, six fractional digits and `Z` ("2026-01-01T00:00:00.250000Z");
- dates: "YYYY-MM-DD";
- decimals: JSON strings with their exact scale ("1234.50"), never numbers (a JSON number is
  read as a binary float by json.loads, which cannot hold most decimals exactly; a service
  that does send numbers needs `json.loads(text, parse_float=Decimal)`);
- binary: base64 strings;
- structs are objects, arrays are lists, maps are objects with string keys.

Rules this module keeps:
- A timestamp always carries its zone. Parsed values are aware UTC datetimes; text without a
  zone is taken as UTC, never as the machine's local time.
- A Decimal never passes through float (float cannot hold 0.1 or 16+ digits exactly).
- Converters are built once per schema (a closure per field), not looked up per value.

Malformed records follow Spark's `mode` option and, within the course's stricter types, what
Spark's JSON reader does with them (checked against `spark.read.json` in
tests/connector/test_differential_json.py, on 4.0.1 and 4.3.0):
- PERMISSIVE keeps the fields that fit and nulls the ones that do not (inside structs too, also
  structs in lists and maps; a list or map with an element that does not fit is null as a
  whole), with the record's JSON text in the `columnNameOfCorruptRecord` column. A record that
  is not a JSON object gives a row of nulls.
- DROPMALFORMED skips the record; FAILFAST stops with an error naming the record.
The types are stricter than Spark's JSON reader, on purpose (a JSON number is no timestamp and
no decimal, a string column takes only strings, ...): docs/options.md (option `mode`) lists each
difference, and the differential tests pin them on Spark. A user schema's NOT NULL is kept
(Spark's file sources make the schema nullable; a Python data source cannot change its output
schema), so a null in a NOT NULL field makes the record malformed.
"""
import base64
import binascii
import contextlib
import datetime
import decimal
import json
import math
import os
import time

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
    StructType,
    TimestampNTZType,
    TimestampType,
)

UTC = datetime.timezone.utc

PERMISSIVE = "PERMISSIVE"
DROPMALFORMED = "DROPMALFORMED"
FAILFAST = "FAILFAST"

# Value ranges of Spark's integer types, checked so an out-of-range number is a malformed
# record rather than an overflow somewhere inside Spark.
INTEGER_RANGES = {
    ByteType: (-(2**7), 2**7 - 1),
    ShortType: (-(2**15), 2**15 - 1),
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}


class MalformedValueError(ValueError):
    """A JSON value does not fit its Spark type; the message says why."""


class PartialValueError(MalformedValueError):
    """A struct (or a list or map of structs) that fits in part: `value` holds the parts that fit.

    Spark's JSON reader keeps such a value, with nulls where the parts did not fit.
    """

    def __init__(self, message, value):
        super().__init__(message)
        self.value = value


class MalformedRecordError(ValueError):
    """A record could not be converted and mode is FAILFAST; the message names the record."""


# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------


def parse_timestamp(text):
    """ISO-8601 text -> aware datetime in UTC. Text without a zone is taken as UTC.

    Accepts `Z` (Python 3.10's fromisoformat does not, hence the replace) and any offset.
    """
    # BEGIN SOLUTION: the aware UTC datetime of text; no zone is UTC; else MalformedValueError
    if not isinstance(text, str):
        raise MalformedValueError(f"expected an ISO-8601 timestamp string, got {type(text).__name__}")
    cleaned = text.strip()
    if cleaned[-1:] in ("Z", "z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        value = datetime.datetime.fromisoformat(cleaned)
    except ValueError:
        raise MalformedValueError(f"{text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the service's convention; never local time
    return value.astimezone(UTC)
    # END SOLUTION


def format_timestamp(value):
    """datetime -> the service's form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, in UTC.

    A naive datetime is taken as local time: that is what PySpark hands to Python code (its
    Row conversion turns TimestampType into naive local datetimes), and `astimezone` reads a
    naive value as local time. Never `.replace(tzinfo=UTC)` a naive value from Spark.
    A naive local time is ambiguous in the hour a DST change repeats: take such values while
    local time is UTC (`local_time_zone("UTC")`), as the row writer does.
    """
    # BEGIN SOLUTION: value as UTC text ending in Z; a naive value is local time
    if value.tzinfo is None and value.date() in (datetime.date.min, datetime.date.max):
        # astimezone needs a day of room around a naive value: it fails on 0001-01-01 (a common
        # "no date" sentinel) and, from Python 3.12 (DBR 17.3's), on 9999-12-31; mktime reads
        # the local time without it.
        seconds = time.mktime(value.timetuple())
        in_utc = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds, microseconds=value.microsecond)
    else:
        in_utc = value.astimezone(UTC).replace(tzinfo=None)
    return in_utc.isoformat(timespec="microseconds") + "Z"
    # END SOLUTION


@contextlib.contextmanager
def local_time_zone(zone):
    """Run the block with this process's local time in `zone` (e.g. "UTC"), then restore it.

    For the row writer, "UTC": PySpark's Row path (the rows a DataSourceWriter gets, 4.0 to 4.3
    at least) makes each TimestampType value naive local time with
    `value.astimezone().replace(tzinfo=None)` (pyspark/sql/conversion.py), which drops the fold:
    in the hour a DST change repeats, two instants become one wall-clock time, and no code can
    tell them apart afterwards. UTC has no repeated hour, so there the naive value is the
    instant. PySpark converts lazily, as the writer takes rows from its iterator, so the rows
    must be taken inside the block. POSIX only (time.tzset); elsewhere the block runs in the
    process's own zone.
    """
    if not hasattr(time, "tzset"):
        yield
        return
    previous = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


# ---------------------------------------------------------------------------------------------
# JSON -> Spark: one converter per data type, built once
# ---------------------------------------------------------------------------------------------


def to_spark_converter(data_type):
    """A function turning one JSON value into the Python value Spark expects for `data_type`.

    The function raises MalformedValueError when the value does not fit. None (JSON null) is
    handled by the caller, which knows whether the field is nullable.
    """
    if isinstance(data_type, StringType):
        return _expect(str, "a string")
    if isinstance(data_type, BooleanType):
        return _expect(bool, "true or false")
    if type(data_type) in INTEGER_RANGES:
        return _integer_converter(*INTEGER_RANGES[type(data_type)])
    if isinstance(data_type, (DoubleType, FloatType)):
        return _to_float
    if isinstance(data_type, DecimalType):
        return decimal_converter(data_type.precision, data_type.scale)
    if isinstance(data_type, TimestampType):
        return parse_timestamp
    if isinstance(data_type, TimestampNTZType):
        return _to_naive_timestamp
    if isinstance(data_type, DateType):
        return _to_date
    if isinstance(data_type, BinaryType):
        return _from_base64
    if isinstance(data_type, ArrayType):
        return _array_converter(data_type)
    if isinstance(data_type, MapType):
        return _map_converter(data_type)
    if isinstance(data_type, StructType):
        return _struct_converter(data_type)
    raise TypeError(f"the practice connector cannot read Spark type {data_type.simpleString()}")


def _expect(python_type, description):
    def convert(value):
        if type(value) is not python_type:
            raise MalformedValueError(f"expected {description}, got {json_kind(value)}")
        return value

    return convert


def _integer_converter(low, high):
    def convert(value):
        # bool is a subclass of int in Python; JSON true is not a number.
        if type(value) is not int:
            raise MalformedValueError(f"expected an integer, got {json_kind(value)}")
        if not low <= value <= high:
            raise MalformedValueError(f"{value} is outside {low}..{high}")
        return value

    return convert


# JSON has no NaN or infinity; the service spells them as these strings.
SPECIAL_DOUBLES = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _to_float(value):
    if isinstance(value, str) and value in SPECIAL_DOUBLES:
        return SPECIAL_DOUBLES[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedValueError(f"expected a number, got {json_kind(value)}")
    return float(value)


def _to_naive_timestamp(value):
    # timestamp_ntz: a wall-clock time without zone, kept exactly as written.
    if not isinstance(value, str):
        raise MalformedValueError(f"expected a timestamp string, got {json_kind(value)}")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MalformedValueError(f"{value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is not None:
        raise MalformedValueError(f"{value!r} has a zone; timestamp_ntz values have none")
    return parsed


def decimal_converter(precision, scale):
    quantum = decimal.Decimal(1).scaleb(-scale)  # 0.01 for scale 2

    def convert(value):
        # Straight from the text to Decimal: no digit is lost. A JSON number here has already
        # been through a binary float (json.loads), so it is refused, not rounded.
        # BEGIN SOLUTION: value as a Decimal with `scale` places, never via float; else MalformedValueError
        if not isinstance(value, str):
            raise MalformedValueError(f"expected a decimal string, got {json_kind(value)}")
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:
            raise MalformedValueError(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise MalformedValueError(f"{value!r} is not a finite decimal")
        exact = number.quantize(quantum, context=WIDE_DECIMAL_CONTEXT)
        if exact != number:
            raise MalformedValueError(f"{value!r} has more than {scale} decimal places")
        if len(exact.as_tuple().digits) > precision:
            raise MalformedValueError(f"{value!r} does not fit decimal({precision},{scale})")
        return exact
        # END SOLUTION

    return convert


# Enough digits for any Spark decimal (precision <= 38), so quantize never rounds silently.
WIDE_DECIMAL_CONTEXT = decimal.Context(prec=80)


def _to_date(value):
    if not isinstance(value, str):
        raise MalformedValueError(f"expected a date string, got {json_kind(value)}")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise MalformedValueError(f"{value!r} is not a YYYY-MM-DD date") from None


def _from_base64(value):
    if not isinstance(value, str):
        raise MalformedValueError(f"expected a base64 string, got {json_kind(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedValueError(f"{value[:40]!r} is not base64") from None


def _array_converter(data_type):
    convert_element = _nullable(to_spark_converter(data_type.elementType), data_type.containsNull)

    def convert(value):
        if not isinstance(value, list):
            raise MalformedValueError(f"expected a list, got {json_kind(value)}")
        elements = []
        partial = None
        for element in value:
            try:
                elements.append(convert_element(element))
            except PartialValueError as problem:  # a struct element kept in part; any other error fails the list
                elements.append(problem.value)
                partial = partial or f"element {len(elements) - 1}: {problem}"
        if partial:
            raise PartialValueError(partial, elements)
        return elements

    return convert


def _map_converter(data_type):
    convert_key = to_spark_converter(data_type.keyType)
    convert_value = _nullable(to_spark_converter(data_type.valueType), data_type.valueContainsNull)

    def convert(value):
        if not isinstance(value, dict):
            raise MalformedValueError(f"expected an object (map), got {json_kind(value)}")
        entries = {}
        partial = None
        for key, item in value.items():
            try:
                entries[convert_key(key)] = convert_value(item)
            except PartialValueError as problem:  # a struct value kept in part; any other error fails the map
                entries[convert_key(key)] = problem.value
                partial = partial or f"key {key!r}: {problem}"
        if partial:
            raise PartialValueError(partial, entries)
        return entries

    return convert


def _struct_converter(data_type):
    fields = _field_converters(data_type.fields)

    def convert(value):
        if not isinstance(value, dict):
            raise MalformedValueError(f"expected an object (struct), got {json_kind(value)}")
        return convert_fields(value, fields)

    return convert


def _field_converters(fields):
    return [(field.name, _nullable(to_spark_converter(field.dataType), field.nullable), field.nullable) for field in fields]


def convert_fields(record, fields):
    """The tuple of `record`'s fields in schema order: what Spark (and pyarrow) take for a struct.

    A field that does not fit becomes null and the others are kept, as in Spark's JSON reader;
    then PartialValueError carries the tuple. A NOT NULL field cannot be null, so when it does
    not fit the whole struct does not fit (MalformedValueError).
    """
    values = []
    problems = []
    for name, convert, nullable in fields:
        try:
            values.append(convert(record.get(name)))
        except PartialValueError as problem:
            values.append(problem.value)
            problems.append(f"field {name!r}: {problem}")
        except MalformedValueError as problem:
            if not nullable:
                raise MalformedValueError(f"field {name!r}: {problem}") from None
            values.append(None)
            problems.append(f"field {name!r}: {problem}")
    if problems:
        raise PartialValueError("; ".join(problems), tuple(values))
    return tuple(values)


def _nullable(convert, nullable):
    """Wrap a converter with the null rule of its field or element."""

    def convert_or_none(value):
        if value is None:
            if not nullable:
                raise MalformedValueError("null where the schema says NOT NULL")
            return None
        return convert(value)

    return convert_or_none


def json_kind(value):
    """The JSON kind of a parsed value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Records: JSON object -> Spark row tuple, with Spark's `mode` for malformed records
# ---------------------------------------------------------------------------------------------


class RecordConverter:
    """Turns the service's JSON records into tuples in the order of a Spark schema.

    Build one per schema (per partition read) and call `convert(record, where)` per record.
    `where` is the record's position, `(partition, page, item)`, named in FAILFAST errors with
    the record's key (`key_field`, e.g. seq). Fields the schema does not name are ignored;
    fields the record lacks are null.

    In PERMISSIVE mode a malformed record's fields that do not fit become null, so every column
    must be nullable there: the constructor refuses a NOT NULL column (the reader's
    `check_schema` says so on the driver first). In the other modes such a row never reaches
    Spark: a null in a NOT NULL field makes the record malformed.
    """

    def __init__(self, schema, mode=PERMISSIVE, corrupt_column="_corrupt_record", key_field=None):
        self.mode = mode.upper()
        self.key_field = key_field
        self.width = len(schema.fields)
        self.corrupt_index = None
        fields = []
        for index, field in enumerate(schema.fields):
            if field.name == corrupt_column:
                if not isinstance(field.dataType, StringType):
                    raise TypeError(f"the corrupt-record column {corrupt_column!r} must be a string column")
                if not field.nullable:
                    raise TypeError(f"the corrupt-record column {corrupt_column!r} must be nullable")
                self.corrupt_index = index
                continue
            if self.mode == PERMISSIVE and not field.nullable:
                raise TypeError(f"column {field.name!r} is NOT NULL: mode PERMISSIVE needs nullable columns")
            fields.append(field)
        self.fields = _field_converters(fields)  # (name, converter, nullable) of every column but the corrupt one
        self.malformed = 0  # records seen malformed, whatever the mode
        self.on_malformed = None  # optional callback(record, reason, where), e.g. to set the record aside

    def convert(self, record, where=None):
        """The row tuple for `record`, or None when the record is dropped (DROPMALFORMED)."""
        if not isinstance(record, dict):
            # e.g. a truncated record the service sent as a JSON string: no field fits
            reason = f"expected a JSON object, got {json_kind(record)}"
            return self._set_aside(record, reason, where, (None,) * len(self.fields))
        try:
            values = convert_fields(record, self.fields)
        except PartialValueError as problem:
            return self._set_aside(record, str(problem), where, problem.value)
        except MalformedValueError as problem:  # a NOT NULL field did not fit (not in PERMISSIVE mode)
            return self._set_aside(record, str(problem), where, (None,) * len(self.fields))
        return self._with_corrupt_slot(values)

    def _with_corrupt_slot(self, values):
        """The row: the converted columns with None where the corrupt-record column is."""
        index = self.corrupt_index
        return values if index is None else values[:index] + (None,) + values[index:]

    def _set_aside(self, record, reason, where, values):
        self.malformed += 1
        if self.on_malformed is not None:
            self.on_malformed(record, reason, where)
        return self._malformed(record, reason, where, list(self._with_corrupt_slot(values)))

    def describe(self, record, where):
        """ "partition 2, page 3, item 17, seq 1234": where a record is, for error messages."""
        parts = []
        if where is not None:
            parts = [f"{label} {number}" for label, number in zip(("partition", "page", "item"), where)]
        if self.key_field and isinstance(record, dict) and record.get(self.key_field) is not None:
            parts.append(f"{self.key_field} {record[self.key_field]}")
        return ", ".join(parts) or "a record"

    def _malformed(self, record, reason, where, row):
        """What a malformed record becomes: a row tuple, or None to drop it.

        `row` is a list in schema order: the fields that fit, None where they did not (all None
        when the record is not a JSON object), None at the corrupt-record column.
        """
        # BEGIN SOLUTION: by self.mode: stop naming the record, drop it, or keep row with its raw text
        if self.mode == FAILFAST:
            raise MalformedRecordError(
                f"malformed record at {self.describe(record, where)}: {reason}. mode=FAILFAST stops at the first "
                "malformed record; use mode=PERMISSIVE to keep it in the corrupt-record column "
                "or mode=DROPMALFORMED to skip it"
            )
        if self.mode == DROPMALFORMED:
            return None
        if self.corrupt_index is not None:
            row[self.corrupt_index] = raw_text(record)
        return tuple(row)
        # END SOLUTION


def raw_text(record):
    """The record's text for the corrupt-record column.

    The record as compact JSON: the JSON value the service sent, though not always its very
    bytes (`\\u00e9` comes back as `é`). A record sent as a JSON string (a truncated record) is that
    string itself, the truncated text, where Spark's JSON reader on a file of the served records
    would show the string's JSON form, quotes and escapes included.
    """
    if isinstance(record, str):
        return record
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Spark -> JSON: for the writer
# ---------------------------------------------------------------------------------------------


def to_json_converter(data_type):
    """A function turning a Python value from Spark (Row path or Arrow path) into JSON form.

    None stays None; the service checks NOT NULL itself and names the row and field.
    """
    if isinstance(data_type, (StringType, BooleanType)) or type(data_type) in INTEGER_RANGES:
        return _identity
    if isinstance(data_type, (DoubleType, FloatType)):
        return _float_to_json
    if isinstance(data_type, DecimalType):
        return _decimal_to_json(data_type.scale)
    if isinstance(data_type, TimestampType):
        return _or_none(format_timestamp)
    if isinstance(data_type, TimestampNTZType):
        return _or_none(lambda value: value.isoformat(timespec="microseconds"))
    if isinstance(data_type, DateType):
        return _or_none(datetime.date.isoformat)
    if isinstance(data_type, BinaryType):
        return _or_none(lambda value: base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(data_type, ArrayType):
        convert_element = to_json_converter(data_type.elementType)
        return _or_none(lambda value: [convert_element(element) for element in value])
    if isinstance(data_type, MapType):
        return _map_to_json(data_type)
    if isinstance(data_type, StructType):
        return _struct_to_json(data_type)
    raise TypeError(f"the practice connector cannot write Spark type {data_type.simpleString()}")


def _identity(value):
    return value


def _float_to_json(value):
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _or_none(convert):
    def convert_or_none(value):
        return None if value is None else convert(value)

    return convert_or_none


def _decimal_to_json(scale):
    quantum = decimal.Decimal(1).scaleb(-scale)
    # format(..., "f") never uses exponent notation ("1E+2"); quantize gives the exact scale.
    return _or_none(lambda value: format(decimal.Decimal(value).quantize(quantum, context=WIDE_DECIMAL_CONTEXT), "f"))


def _map_to_json(data_type):
    convert_key = to_json_converter(data_type.keyType)
    convert_value = to_json_converter(data_type.valueType)

    def convert(value):
        # Rows give a dict; Arrow's to_pylist gives a list of (key, value) pairs.
        pairs = value.items() if isinstance(value, dict) else value
        return {str(convert_key(key)): convert_value(item) for key, item in pairs}

    return _or_none(convert)


def _struct_to_json(data_type):
    names = data_type.names
    converters = [to_json_converter(field.dataType) for field in data_type.fields]

    def convert(value):
        # Rows give a Row (a tuple in field order); Arrow's to_pylist gives a dict.
        values = [value.get(name) for name in names] if isinstance(value, dict) else value
        return {name: convert_field(item) for name, convert_field, item in zip(names, converters, values)}

    return _or_none(convert)


def row_to_json_converter(schema):
    """A function turning one row (a Row, a tuple in schema order or a dict) into a JSON object."""
    return _struct_to_json(schema)


def batch_rows(batch):
    """The rows of a pyarrow RecordBatch as dicts, timestamps as aware datetimes in UTC.

    Spark's batches carry timestamps in the session's time zone, and near the ends of Spark's
    range a wall-clock time there can fall outside Python's years 1-9999 (0001-01-01T02:00Z is
    still year 0 in New York): read in UTC, every instant Spark can hold has a datetime.
    """
    import pyarrow as pa

    columns = [
        column.cast(pa.timestamp(column.type.unit, tz="UTC")) if pa.types.is_timestamp(column.type) and column.type.tz
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()


# ---------------------------------------------------------------------------------------------
# Arrow: the schema Spark expects from a reader that yields pyarrow.RecordBatch
# ---------------------------------------------------------------------------------------------


def arrow_schema(schema):
    """The pyarrow schema Spark expects for `schema` (timestamps in microseconds, UTC).

    Spark 4.2+ checks RecordBatches against exactly this schema (names, types, nullability).
    """
    import pyarrow as pa

    return pa.schema([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in schema.fields])


def arrow_type(data_type):
    import pyarrow as pa

    simple = {
        StringType: pa.string(),
        BooleanType: pa.bool_(),
        ByteType: pa.int8(),
        ShortType: pa.int16(),
        IntegerType: pa.int32(),
        LongType: pa.int64(),
        FloatType: pa.float32(),
        DoubleType: pa.float64(),
        DateType: pa.date32(),
        BinaryType: pa.binary(),
        TimestampType: pa.timestamp("us", tz="UTC"),
        TimestampNTZType: pa.timestamp("us"),
    }
    if type(data_type) in simple:
        return simple[type(data_type)]
    if isinstance(data_type, DecimalType):
        return pa.decimal128(data_type.precision, data_type.scale)
    if isinstance(data_type, ArrayType):
        return pa.list_(pa.field("element", arrow_type(data_type.elementType), nullable=data_type.containsNull))
    if isinstance(data_type, MapType):
        return pa.map_(
            pa.field("key", arrow_type(data_type.keyType), nullable=False),
            pa.field("value", arrow_type(data_type.valueType), nullable=data_type.valueContainsNull),
        )
    if isinstance(data_type, StructType):
        return pa.struct([pa.field(f.name, arrow_type(f.dataType), nullable=f.nullable) for f in data_type.fields])
    raise TypeError(f"no Arrow type for Spark type {data_type.simpleString()}")


def rows_to_record_batch(rows, schema):
    """Row tuples (from RecordConverter) -> one pyarrow.RecordBatch with `arrow_schema(schema)`.

    The same tuples feed the Row path, so both paths return the same data.
    """
    import pyarrow as pa

    target = arrow_schema(schema)
    columns = list(zip(*rows)) if rows else [()] * len(target)
    arrays = [pa.array(list(column), type=field.type) for column, field in zip(columns, target)]
    return pa.RecordBatch.from_arrays(arrays, schema=target)


# ---------------------------------------------------------------------------------------------
# Arrow on the wire (option wireFormat=arrow): the service's pages and the writer's bodies
# ---------------------------------------------------------------------------------------------

# Every Arrow page of the service ends with this column: null for a good record, the record's
# text for one the service found malformed (docs/practice_service.md, Arrow IPC).
SERVICE_CORRUPT_COLUMN = "_corrupt_record"


def check_arrow_schema(schema):
    """Refuse a schema with NOT NULL inside a nested type: a read of Arrow pages cannot check it.

    A NOT NULL column is checked per page (a null there makes the record malformed, as in the
    JSON path); nulls inside lists, maps and structs would need a look at every value.
    """
    def nested_not_null(data_type, path):
        if isinstance(data_type, ArrayType):
            return ([path + "[]"] if not data_type.containsNull else []) + nested_not_null(data_type.elementType, path + "[]")
        if isinstance(data_type, MapType):
            return (([path + "{}"] if not data_type.valueContainsNull else [])
                    + nested_not_null(data_type.valueType, path + "{}"))
        if isinstance(data_type, StructType):
            found = []
            for field in data_type.fields:
                found += ([f"{path}.{field.name}"] if not field.nullable else []) + nested_not_null(
                    field.dataType, f"{path}.{field.name}")
            return found
        return []

    found = [place for field in schema.fields for place in nested_not_null(field.dataType, field.name)]
    if found:
        raise TypeError(f"option wireFormat=arrow reads nested values as the service sends them, so it cannot check "
                        f"NOT NULL inside {', '.join(found)}: make those nullable, or use wireFormat=json")


class ArrowColumns:
    """Which columns of the service's Arrow pages make the RecordBatches a read's schema asks for.

    Built from a page's schema once per partition (again only when a page brings another
    schema): every column the Spark schema names is found by name and its Arrow type compared
    with the one Spark expects (`arrow_schema`); a type that differs is cast when Arrow can cast
    it (a service may send timestamps in seconds, or large strings), and refused, naming the
    column, when it cannot. The corrupt-record column comes from the page's `_corrupt_record`.
    `select(batch)` then takes whole columns: no value passes through Python.
    """

    def __init__(self, page_schema, schema, corrupt_column):
        import pyarrow as pa

        self.page_schema = page_schema
        self.target = arrow_schema(schema)
        self.corrupt_position = None  # where the corrupt-record column is in the target, if it is there
        self.sources = []  # (index of the page's column, the type to cast it to or None) per target column
        problems = []
        for position, field in enumerate(self.target):
            name = field.name
            if name == corrupt_column:
                self.corrupt_position, name = position, SERVICE_CORRUPT_COLUMN
            index = page_schema.get_field_index(name)
            if index < 0:
                problems.append(f"has no column {name!r}")
                continue
            served = page_schema.field(index).type
            if served != field.type:
                try:
                    pa.array([], served).cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    problems.append(f"has column {name!r} as {served}, which does not cast to {field.type}")
                    continue
            self.sources.append((index, None if served == field.type else field.type))
        if problems:
            raise TypeError("the service's Arrow page " + "; ".join(problems) + f" (the schema asks for: {self.target})")

    def select(self, batch, corrupt=None):
        """The batch Spark gets: the asked columns, cast where planned; `corrupt` replaces the corrupt column."""
        import pyarrow as pa

        arrays = [batch.column(index) if cast is None else batch.column(index).cast(cast) for index, cast in self.sources]
        if corrupt is not None and self.corrupt_position is not None:
            arrays[self.corrupt_position] = corrupt
        return pa.RecordBatch.from_arrays(arrays, schema=self.target)


def record_of_text(text):
    """The record a malformed row's `_corrupt_record` text stands for: the object it spells, else the text.

    The service writes an object's compact JSON there, and a truncated record's text as it is:
    the same values the JSON page serves (a JSON object, or a JSON string).
    """
    try:
        record = json.loads(text)
    except ValueError:
        return text
    return record if isinstance(record, dict) else text


def arrow_record(batch, index):
    """Row `index` of a service's Arrow page in the service's JSON form (its record as a JSON page serves it)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    row = batch.select([name for name in batch.schema.names if name != SERVICE_CORRUPT_COLUMN]).slice(index, 1)
    return row_to_json_converter(from_arrow_schema(row.schema))(row.to_pylist()[0])


def record_batch_rows(batch):
    """The rows of a RecordBatch as tuples of the Python values Spark's row path takes (maps as dicts)."""
    return zip(*[column.to_pylist(maps_as_pydicts="strict") for column in batch.columns])


def in_table_types(batches, schema):
    """Spark's RecordBatches (timestamps in the session's time zone) in `arrow_schema(schema)`: timestamps
    in UTC, every column in the type the table was made with. Whole columns are cast, no value in Python."""
    import pyarrow as pa

    target = arrow_schema(schema)
    for batch in batches:
        columns = [column if column.type == field.type else column.cast(field.type)
                   for column, field in zip(batch.columns, target)]
        yield pa.RecordBatch.from_arrays(columns, schema=target)
