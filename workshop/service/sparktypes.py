"""Spark SQL type strings for written tables: parse them, and check JSON values against them.

A parsed type is a tuple: ("bigint",), ("decimal", 12, 2), ("array", element),
("map", key, value), ("struct", ((name, type), ...)).
"""
import base64
import binascii
import math
import re

from workshop.service.timefmt import parse_date, parse_naive_timestamp, parse_timestamp

_ALIASES = {
    "bigint": "bigint", "long": "bigint", "int": "int", "integer": "int", "smallint": "smallint",
    "short": "smallint", "tinyint": "tinyint", "byte": "tinyint", "string": "string", "boolean": "boolean",
    "double": "double", "float": "float", "real": "float", "timestamp": "timestamp",
    "timestamp_ltz": "timestamp", "timestamp_ntz": "timestamp_ntz", "date": "date", "binary": "binary",
    "decimal": "decimal", "dec": "decimal", "numeric": "decimal",
    "array": "array", "map": "map", "struct": "struct",
}
_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
_TOKEN = re.compile(r"\s*(?:(`[^`]+`)|([A-Za-z_][A-Za-z0-9_]*)|(\d+)|([<>(),:]))")
_DECIMAL = re.compile(r"-?(\d+)(?:\.(\d+))?")
_SPECIAL_DOUBLES = ("NaN", "Infinity", "-Infinity")


class Invalid(Exception):
    """A value that does not match its type; `path` names the (nested) field."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path = path
        self.message = message


def _tokens(text):
    position, tokens = 0, []
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unexpected text at {text[position:position + 10]!r}")
        tokens.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tokens


def parse_type(text):
    """The parsed type of a Spark SQL type string; ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a type must be a non-empty string such as 'bigint' or 'decimal(12,2)'")
    tokens = _tokens(text)
    try:
        parsed, rest = _parse(tokens, 0)
    except IndexError:
        raise ValueError(f"incomplete type {text!r}") from None
    if rest != len(tokens):
        raise ValueError(f"unexpected {tokens[rest]!r} after the type")
    return parsed


def _expect(tokens, position, symbol):
    if position >= len(tokens) or tokens[position] != symbol:
        found = tokens[position] if position < len(tokens) else "the end"
        raise ValueError(f"expected {symbol!r}, found {found!r}")
    return position + 1


def _digits(token):
    if not token.isdigit():
        raise ValueError(f"expected a number in decimal(p,s), found {token!r}")
    return int(token)


def _parse(tokens, position):
    if position >= len(tokens):
        raise ValueError("a type is missing")
    name = _ALIASES.get(tokens[position].lower())
    if name is None:
        raise ValueError(f"unknown type {tokens[position]!r}; known: {', '.join(sorted(set(_ALIASES.values())))}")
    position += 1
    if name == "decimal":
        precision, scale = 10, 0
        if position < len(tokens) and tokens[position] == "(":
            precision, scale, position = _digits(tokens[position + 1]), 0, position + 2
            if position < len(tokens) and tokens[position] == ",":
                scale, position = _digits(tokens[position + 1]), position + 2
            position = _expect(tokens, position, ")")
        if not (1 <= precision <= 38 and 0 <= scale <= precision):
            raise ValueError("decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p")
        return ("decimal", precision, scale), position
    if name == "array":
        element, position = _parse(tokens, _expect(tokens, position, "<"))
        return ("array", element), _expect(tokens, position, ">")
    if name == "map":
        key, position = _parse(tokens, _expect(tokens, position, "<"))
        if key != ("string",):
            raise ValueError("map keys must be string (JSON object keys are strings)")
        value, position = _parse(tokens, _expect(tokens, position, ","))
        return ("map", key, value), _expect(tokens, position, ">")
    if name == "struct":
        position, fields = _expect(tokens, position, "<"), []
        while True:
            field = tokens[position].strip("`") if position < len(tokens) else ""
            if not field or field in "<>(),:":
                raise ValueError("expected a struct field name")
            position += 1
            if position < len(tokens) and tokens[position] == ":":
                position += 1
            field_type, position = _parse(tokens, position)
            fields.append((field, field_type))
            if position < len(tokens) and tokens[position] == ",":
                position += 1
                continue
            break
        if len({field for field, _ in fields}) != len(fields):
            raise ValueError("struct field names must be unique")
        return ("struct", tuple(fields)), _expect(tokens, position, ">")
    return (name,), position


def type_string(parsed):
    """The canonical Spark SQL spelling of a parsed type."""
    name = parsed[0]
    if name == "decimal":
        return f"decimal({parsed[1]},{parsed[2]})"
    if name == "array":
        return f"array<{type_string(parsed[1])}>"
    if name == "map":
        return f"map<{type_string(parsed[1])},{type_string(parsed[2])}>"
    if name == "struct":
        return "struct<" + ",".join(f"{field}:{type_string(kind)}" for field, kind in parsed[1]) + ">"
    return name


def check_value(parsed, value, path):
    """Raise Invalid when the JSON value does not fit the type (nested values may be null)."""
    if value is None:
        return
    name = parsed[0]
    if name in _INTEGER_BITS:
        bits = _INTEGER_BITS[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(path, f"expected an integer ({name}), got {type(value).__name__}")
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise Invalid(path, f"{value} is out of range for {name}")
    elif name in ("double", "float"):
        if isinstance(value, str) and value in _SPECIAL_DOUBLES:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Invalid(path, f"expected a number ({name}), got {type(value).__name__}")
    elif name == "string":
        if not isinstance(value, str):
            raise Invalid(path, f"expected a string, got {type(value).__name__}")
    elif name == "boolean":
        if not isinstance(value, bool):
            raise Invalid(path, f"expected true or false, got {type(value).__name__}")
    elif name == "decimal":
        _check_decimal(parsed, value, path)
    else:
        _check_text_or_nested(parsed, value, path)


def _check_decimal(parsed, value, path):
    precision, scale = parsed[1], parsed[2]
    example = "12" if scale == 0 else "12." + "3" * scale
    if not isinstance(value, str):
        raise Invalid(path, f"expected a decimal string with exactly {scale} fractional digits "
                            f"(e.g. \"{example}\"), got {type(value).__name__}; never send decimals as numbers")
    match = _DECIMAL.fullmatch(value)
    if not match or len(match.group(2) or "") != scale:
        raise Invalid(path, f"expected a decimal string with exactly {scale} fractional digits, e.g. \"{example}\"")
    if len(match.group(1).lstrip("0")) > precision - scale:
        raise Invalid(path, f"too many digits for decimal({precision},{scale})")


def _check_text_or_nested(parsed, value, path):
    name = parsed[0]
    checks = {"timestamp": parse_timestamp, "timestamp_ntz": parse_naive_timestamp, "date": parse_date}
    if name in checks:
        if not isinstance(value, str):
            raise Invalid(path, f"expected a {name} string, got {type(value).__name__}")
        try:
            checks[name](value)
        except ValueError as error:
            raise Invalid(path, str(error)) from None
    elif name == "binary":
        try:
            if not isinstance(value, str):
                raise ValueError
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise Invalid(path, "expected a base64 string") from None
    elif name == "array":
        if not isinstance(value, list):
            raise Invalid(path, f"expected an array, got {type(value).__name__}")
        for index, item in enumerate(value):
            check_value(parsed[1], item, f"{path}[{index}]")
    elif name == "map":
        if not isinstance(value, dict):
            raise Invalid(path, f"expected an object (map), got {type(value).__name__}")
        for key, item in value.items():
            check_value(parsed[2], item, f"{path}[{key!r}]")
    elif name == "struct":
        if not isinstance(value, dict):
            raise Invalid(path, f"expected an object (struct), got {type(value).__name__}")
        known = dict(parsed[1])
        for key, item in value.items():
            if key not in known:
                raise Invalid(f"{path}.{key}", "unknown field")
            check_value(known[key], item, f"{path}.{key}")
