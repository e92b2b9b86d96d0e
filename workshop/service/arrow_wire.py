"""Arrow IPC on the wire: pages answered as Arrow streams, and Arrow stream bodies read as rows.

Types follow Spark's own Arrow mapping (`pyspark.sql.pandas.types.to_arrow_type`), so a reader
can hand the batches to Spark as they are: timestamp -> timestamp[us, tz=UTC], date -> date32,
decimal(p,s) -> decimal128(p,s), binary -> binary, array -> list<element>, map ->
map<key not null, value>, struct -> struct; every field nullable. A page's schema is its
resource's fields plus `_corrupt_record` (string): null, except on a malformed record, whose
fields that fit are kept and the others null, as a JSON reader in PERMISSIVE mode keeps them (a
truncated record: all null), and whose JSON text is there (the text a JSON reader would keep).

A body is read into rows of the JSON form (timestamps and dates as text, decimals as strings
with their scale, binary as base64), so written rows go through exactly the validation of
JSON rows. pyarrow is imported on first use: the service starts, and serves JSON, without it.
"""
import base64
import datetime
import itertools
import json
import math

from workshop.service import schemas
from workshop.service.errors import ApiError, bad_request
from workshop.service.sparktypes import parse_type
from workshop.service.timefmt import EPOCH, format_us

CORRUPT_COLUMN = "_corrupt_record"
BLOCK = 1024  # records per cached Arrow block: a page of 10,000 takes from about 10
BLOCK_OVERHEAD = 4000  # what a cached block costs besides its buffers (key, batch and array objects)
_ONE_US = datetime.timedelta(microseconds=1)
_SCHEMAS = {}  # resource -> pyarrow schema


def _pyarrow():
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - the course installs pyarrow
        raise ApiError(406, "not_acceptable", "this service has no pyarrow, so it cannot speak Arrow; "
                                              "ask for application/json") from None
    return pyarrow


def arrow_type(parsed):
    """The Arrow type Spark uses for a parsed Spark SQL type (sparktypes.parse_type)."""
    pa = _pyarrow()
    name = parsed[0]
    simple = {"bigint": pa.int64(), "int": pa.int32(), "smallint": pa.int16(), "tinyint": pa.int8(),
              "string": pa.string(), "boolean": pa.bool_(), "double": pa.float64(), "float": pa.float32(),
              "timestamp": pa.timestamp("us", tz="UTC"), "timestamp_ntz": pa.timestamp("us"), "date": pa.date32(),
              "binary": pa.binary()}
    if name in simple:
        return simple[name]
    if name == "decimal":
        return pa.decimal128(parsed[1], parsed[2])
    if name == "array":
        return pa.list_(pa.field("element", arrow_type(parsed[1])))
    if name == "map":
        return pa.map_(pa.field("key", arrow_type(parsed[1]), nullable=False), pa.field("value", arrow_type(parsed[2])))
    return pa.struct([pa.field(field, arrow_type(kind)) for field, kind in parsed[1]])


def resource_schema(resource):
    """The Arrow schema of a resource's pages: its fields, then `_corrupt_record`."""
    if resource not in _SCHEMAS:
        pa = _pyarrow()
        fields = [pa.field(field["name"], arrow_type(parse_type(field["type"]))) for field in schemas.schema(resource)["fields"]]
        _SCHEMAS[resource] = pa.schema(fields + [pa.field(CORRUPT_COLUMN, pa.string())])
    return _SCHEMAS[resource]


def corrupt_text(record):
    """A malformed record's text: a string item is the text itself, an object its compact JSON."""
    if isinstance(record, str):
        return record
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _array(values, arrow_type_):
    pa = _pyarrow()
    if pa.types.is_decimal(arrow_type_):  # unscaled integers (cents for decimal(12,2)), as Decimal would be slow
        return pa.array(values, pa.int64()).cast(pa.decimal128(19, 0)).view(arrow_type_)
    return pa.array(values, arrow_type_)


def record_batch(resource, columns, corrupt):
    """One record batch of a resource's columns, then `_corrupt_record`.

    Columns hold Arrow-ready values in schema order: integers, floats, strings, bytes, lists,
    dicts, timestamps as microseconds, dates as days since the epoch, decimals as unscaled
    integers. `corrupt` holds each row's corrupt-record text, or None.
    """
    pa = _pyarrow()
    schema = resource_schema(resource)
    arrays = [_array(values, field.type) for values, field in zip(columns, schema)]
    return pa.RecordBatch.from_arrays(arrays + [pa.array(corrupt, pa.string())], schema=schema)


def page_batch(cache, resource, indexes, available, make_batch):
    """The record batch of the records at `indexes` (in that order), taken from cached blocks.

    Records are pure functions of their index, so a block of BLOCK consecutive records is made
    once (`make_batch(range)`) and serves every page that reaches into it, whatever window,
    partitioning or filter cut the page, as record texts do for JSON pages: only the first read
    of a record pays Python's cost per value. A block reaching past `available` (events not
    appended yet) is not cached: the page's records in it are made for this page alone.
    """
    pa = _pyarrow()
    if not cache.budget:
        return make_batch(indexes)
    whole = available // BLOCK * BLOCK  # the indexes below it lie in blocks with every record available
    batches, first_rows, rows = [], {}, 0
    for start in sorted({index - index % BLOCK for index in indexes if index < whole}):
        key = ("arrow block", resource, start)
        batch = cache.get(key)
        if batch is None:
            batch = make_batch(range(start, start + BLOCK))
            cache.put(key, batch, batch.nbytes + BLOCK_OVERHEAD)
        batches.append(batch)
        first_rows[start] = rows
        rows += BLOCK
    fresh = [index for index in indexes if index >= whole]
    if fresh:
        batches.append(make_batch(fresh))
    positions, fresh_rows = [], itertools.count(rows)
    for index in indexes:
        positions.append(first_rows[index - index % BLOCK] + index % BLOCK if index < whole else next(fresh_rows))
    if not positions:
        return make_batch([])
    table = pa.Table.from_batches(batches, resource_schema(resource)).take(pa.array(positions, pa.int64()))
    return table.combine_chunks().to_batches()[0]


def stream(batch):
    """An Arrow IPC stream of one record batch."""
    pa = _pyarrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


# --- bodies: an Arrow stream -> rows in the JSON form -----------------------------------------


def _invalid(row, field, message):
    return ApiError(422, "invalid_rows", f"row {row}, field {field!r}: {message}", row=row, field=field)


def _in_microseconds(arrow_type_):
    """The type with every timestamp in microseconds (what the JSON form can hold)."""
    pa = _pyarrow()
    types = pa.types
    if types.is_timestamp(arrow_type_):
        return pa.timestamp("us", tz=arrow_type_.tz)
    if types.is_list(arrow_type_) or types.is_large_list(arrow_type_):
        field = arrow_type_.value_field
        element = field.with_type(_in_microseconds(field.type))
        return pa.list_(element) if types.is_list(arrow_type_) else pa.large_list(element)
    if types.is_map(arrow_type_):
        return pa.map_(arrow_type_.key_field.with_type(_in_microseconds(arrow_type_.key_type)),
                       arrow_type_.item_field.with_type(_in_microseconds(arrow_type_.item_type)))
    if types.is_struct(arrow_type_):
        return pa.struct([field.with_type(_in_microseconds(field.type)) for field in arrow_type_])
    return arrow_type_


def _json_converter(arrow_type_):
    """A function from a Python value of this Arrow type (to_pylist) to its JSON form.

    Raises ValueError for a value the JSON form cannot hold (a map key that is not a string).
    Types without a JSON form here (time, duration, ...) pass through, and row validation
    refuses them, as it refuses a JSON value of the wrong kind.
    """
    pa = _pyarrow()
    types = pa.types
    if types.is_timestamp(arrow_type_):
        if arrow_type_.tz is None:
            return lambda value: value.isoformat(timespec="microseconds")
        return lambda value: format_us((value - EPOCH) // _ONE_US)
    if types.is_date(arrow_type_):
        return datetime.date.isoformat
    if types.is_decimal(arrow_type_):
        return lambda value: format(value, "f")
    if types.is_floating(arrow_type_):
        return _float_to_json
    if types.is_binary(arrow_type_) or types.is_large_binary(arrow_type_) or types.is_fixed_size_binary(arrow_type_):
        return lambda value: base64.b64encode(value).decode("ascii")
    if types.is_list(arrow_type_) or types.is_large_list(arrow_type_) or types.is_fixed_size_list(arrow_type_):
        element = _or_none(_json_converter(arrow_type_.value_type))
        return lambda value: [element(item) for item in value]
    if types.is_map(arrow_type_):
        return _map_converter(arrow_type_)
    if types.is_struct(arrow_type_):
        converters = [(field.name, _or_none(_json_converter(field.type))) for field in arrow_type_]
        return lambda value: {name: convert(value[name]) for name, convert in converters}
    if types.is_dictionary(arrow_type_):
        return _json_converter(arrow_type_.value_type)
    return lambda value: value


def _or_none(convert):
    return lambda value: None if value is None else convert(value)


def _float_to_json(value):
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _map_converter(arrow_type_):
    convert_key = _json_converter(arrow_type_.key_type)
    convert_item = _or_none(_json_converter(arrow_type_.item_type))

    def convert(pairs):
        converted = {}
        for key, item in pairs:
            key = convert_key(key)
            if not isinstance(key, str):
                raise ValueError(f"map keys must be strings (JSON object keys), got {arrow_type_.key_type}")
            converted[key] = convert_item(item)
        return converted

    return convert


def rows_from_stream(body):
    """The rows of an Arrow IPC stream body, as JSON-form dicts (one per row, every column named)."""
    pa = _pyarrow()
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowException, ValueError, OSError) as error:
        raise bad_request("body", f"is not an Arrow IPC stream ({error})") from None
    names = table.column_names
    for name in names:
        if names.count(name) > 1:
            raise bad_request("body", f"the Arrow schema names column {name!r} more than once")
    columns = [_json_values(name, table.column(name)) for name in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


def _json_values(name, column):
    pa = _pyarrow()
    target = _in_microseconds(column.type)
    if target != column.type:
        try:
            column = column.cast(target)
        except pa.ArrowInvalid:
            row = next(row for row in range(len(column)) if not _casts(column.slice(row, 1), target))
            raise _invalid(row, name, "a timestamp finer than microseconds does not fit (microseconds at most)") from None
    convert = _or_none(_json_converter(column.type))
    values = column.to_pylist()
    for row, value in enumerate(values):
        try:
            values[row] = convert(value)
        except ValueError as error:
            raise _invalid(row, name, str(error)) from None
    return values


def _casts(column, target):
    try:
        column.cast(target)
        return True
    except _pyarrow().ArrowInvalid:
        return False
