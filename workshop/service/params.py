"""Query-string parsing and validation: every bad value is a 400 naming the parameter."""
import base64
import binascii
from urllib.parse import parse_qsl

from workshop.service.errors import bad_request
from workshop.service.timefmt import parse_timestamp

MIN_BIGINT, MAX_BIGINT = -(2**63), 2**63 - 1
ALWAYS_ALLOWED = ("api_key",)  # auth may come in the query on any endpoint


def _shown(value):
    return repr(value if len(value) <= 40 else value[:40] + "...")


def parse_query(raw):
    """The query as {name: value}; a repeated or undecodable parameter is a 400."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise bad_request("query", "is not valid UTF-8 after percent-decoding") from None
    query = {}
    for name, value in pairs:
        if name in query:
            raise bad_request(name, "given more than once; give it once (lists are comma-separated)")
        query[name] = value
    return query


def check_allowed(query, allowed):
    unknown = sorted(set(query) - set(allowed) - set(ALWAYS_ALLOWED))
    if unknown:
        listed = ", ".join(allowed) if allowed else "none"
        raise bad_request(unknown[0], f"unknown parameter; this endpoint takes: {listed}")


def integer(query, name, default=None, required=False, low=MIN_BIGINT, high=MAX_BIGINT):
    if name not in query:
        if required:
            raise bad_request(name, "is required (an integer)")
        return default
    text = query[name].strip()
    try:
        if not text.lstrip("+-").isdigit():
            raise ValueError
        value = int(text)
    except ValueError:
        raise bad_request(name, f"must be an integer, got {_shown(query[name])}") from None
    if not low <= value <= high:
        raise bad_request(name, f"must be between {low} and {high}, got {value}")
    return value


def timestamp(query, name, required=True):
    if name not in query:
        if required:
            raise bad_request(name, "is required (an ISO-8601 timestamp such as 2026-01-01T00:00:00.000000Z)")
        return None
    try:
        return parse_timestamp(query[name])
    except ValueError as error:
        raise bad_request(name, f"{error}; got {_shown(query[name])}") from None


def integer_set(query, name, low=MIN_BIGINT, high=MAX_BIGINT):
    """One integer or a comma-separated list, as a frozenset; None when absent."""
    if name not in query:
        return None
    values = set()
    for part in query[name].split(","):
        values.add(integer({name: part}, name, low=low, high=high))
    return frozenset(values)


def choice_set(query, name, allowed):
    """One value or a comma-separated list of values from `allowed`; None when absent."""
    if name not in query:
        return None
    values = [part.strip() for part in query[name].split(",")]
    for value in values:
        if value not in allowed:
            raise bad_request(name, f"unknown value {_shown(value)}; allowed: {', '.join(allowed)}")
    return frozenset(values)


def limit(query, max_page_size, default=1000):
    return integer(query, "limit", default=min(default, max_page_size), low=1, high=max_page_size)


def encode_cursor(kind, *numbers):
    text = ":".join([kind, *(str(number) for number in numbers)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(query, kind, size):
    """The numbers in this endpoint's cursor, or None without a cursor; 400 when it is not one."""
    if "cursor" not in query:
        return None
    text = query["cursor"]
    try:
        parts = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split(":")
        if parts[0] != kind or len(parts) != size + 1:
            raise ValueError
        return tuple(int(part) for part in parts[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("cursor", "is not a cursor of this endpoint; pass next_cursor from the previous page") from None
