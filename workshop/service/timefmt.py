"""Timestamps as integer microseconds since the Unix epoch (UTC), and their one served form."""
import functools
import re
from datetime import date, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EPOCH_DATE = date(1970, 1, 1)
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

# Accepts the served form and any ISO-8601 with a zone. A `+` in an unencoded query string
# arrives as a space, so a space before the offset counts as `+`.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r"(?:([Zz])|([+\- ])(\d{2}):?(\d{2}))"
)
_NAIVE_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@functools.lru_cache(maxsize=4096)
def day_string(days):
    return (EPOCH_DATE + timedelta(days=days)).isoformat()


_second_prefixes = {}  # whole second -> "YYYY-MM-DDTHH:MM:SS."; served times cluster, so this hits


def format_us(us):
    """`2026-01-01T00:00:00.250000Z`: always six fractional digits and `Z`."""
    seconds, micros = divmod(us, US_PER_SECOND)
    prefix = _second_prefixes.get(seconds)
    if prefix is None:
        if len(_second_prefixes) > 100_000:
            _second_prefixes.clear()
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3600)
        minutes, rest = divmod(rest, 60)
        prefix = _second_prefixes[seconds] = f"{day_string(days)}T{hours:02d}:{minutes:02d}:{rest:02d}."
    return f"{prefix}{micros:06d}Z"


def parse_timestamp(text):
    """Microseconds since the epoch; ValueError saying what is expected."""
    match = _TIMESTAMP.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        if isinstance(text, str) and _NAIVE_TIMESTAMP.fullmatch(text.strip()):
            raise ValueError("needs a zone: end it with Z or an offset such as +01:00")
        raise ValueError("expected an ISO-8601 timestamp with a zone, e.g. 2026-01-01T00:00:00.000000Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError("the zone offset must be below 24:00")
        if sign == "-":
            offset = -offset
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          int((fraction or "0").ljust(6, "0")), tzinfo=timezone(offset))
    except ValueError as error:
        raise ValueError(f"not a valid date or time ({error})") from None
    return (moment - EPOCH) // timedelta(microseconds=1)


def parse_naive_timestamp(text):
    """A timestamp without zone (Spark's timestamp_ntz); ValueError when malformed."""
    match = _NAIVE_TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError("expected an ISO-8601 timestamp without zone, e.g. 2026-01-01T00:00:00.000000")
    year, month, day, hour, minute, second, fraction = match.groups()
    datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
             int((fraction or "0").ljust(6, "0")))


def parse_date(text):
    """Validates `YYYY-MM-DD`; ValueError when malformed."""
    match = _DATE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError("expected a date YYYY-MM-DD")
    date(*(int(part) for part in match.groups()))
