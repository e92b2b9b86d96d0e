"""Lab 04's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each in a different requirement), to keep Spark work down.
"""
import datetime
import decimal
import json
import re
import time

import pytest

from solutions.conversion import (
    DROPMALFORMED,
    FAILFAST,
    UTC,
    WIDE_DECIMAL_CONTEXT,
    MalformedRecordError,
    MalformedValueError,
    RecordConverter,
    decimal_converter,
    format_timestamp,
    parse_timestamp,
    raw_text,
)
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab04 import (
    BAD_DECIMALS,
    DIGITS,
    FORMATS,
    NO_CORRUPT_COLUMN,
    ON_SPARK,
    PERMISSIVE,
    REFUSES,
    ZONES,
)
from workshop.checks.lab04 import FAILFAST as FAILFAST_REQUIREMENT

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]


def run(service, url, parse=parse_timestamp, fmt=format_timestamp, decimals=decimal_converter, converter=RecordConverter):
    return check_lab(
        "04", parse_timestamp=parse, format_timestamp=fmt, decimal_converter=decimals, RecordConverter=converter,
        url=url, service=service,
    )


# -- right, written differently -------------------------------------------------------------------


def parse_with_strptime(text):
    if not isinstance(text, str):
        raise MalformedValueError("not a string")
    text = text.strip()
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            value = datetime.datetime.strptime(text.replace("Z", "+0000"), pattern)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise MalformedValueError(f"{text!r} is not a timestamp")


def format_with_offset(value):
    if value.tzinfo is None:  # local time, read by mktime on every day (astimezone needs a day of room)
        seconds = time.mktime(value.timetuple())
        value = datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=seconds, microseconds=value.microsecond)
    return value.astimezone(UTC).isoformat()  # "+00:00" instead of "Z": also the right instant


DECIMAL = re.compile(r"-?(\d+)(?:\.(\d+))?")


def decimal_by_pattern(precision, scale):
    """Digits counted on the text; the Decimal made with scaleb, never rounded."""

    def convert(value):
        match = DECIMAL.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise MalformedValueError(f"{value!r} is not a plain decimal string")
        whole, fraction = match.group(1).lstrip("0"), match.group(2) or ""
        if len(fraction.rstrip("0")) > scale or len(whole) > precision - scale:
            raise MalformedValueError(f"{value!r} does not fit decimal({precision},{scale})")
        digits = int((whole or "0") + fraction.ljust(scale, "0")[:scale])
        return decimal.Decimal(-digits if value.startswith("-") else digits).scaleb(-scale, WIDE_DECIMAL_CONTEXT)

    return convert


class DumpsEveryRecord(RecordConverter):
    """json.dumps of the record (for a truncated one, Spark's JSON reader's form: the quoted string)."""

    def _malformed(self, record, reason, where, row):
        if self.mode == "FAILFAST":
            raise MalformedRecordError(f"bad record ({reason}) at {self.describe(record, where)}")
        if self.mode == "DROPMALFORMED":
            return None
        if self.corrupt_index is not None:
            row[self.corrupt_index] = json.dumps(record)
        return tuple(row)


# -- mistakes -------------------------------------------------------------------------------------


def parse_naive(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # the mistake: no zone on the result


def parse_local(text):
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)  # naive -> local time
    except (TypeError, ValueError, AttributeError) as error:
        raise MalformedValueError(str(error)) from None


def parse_epochs_too(text):
    if isinstance(text, (int, float)):
        return datetime.datetime.fromtimestamp(text, tz=UTC)  # the mistake: a number is a malformed record
    return parse_timestamp(text)


def parse_plain_value_error(text):
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))  # ValueError escapes
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_replace(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the mistake: Spark's naive values are local time, not UTC
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_standard_offset(value):
    if value.tzinfo is None:  # the mistake: the zone's standard offset, whatever the date (no summer time)
        value = value.replace(tzinfo=datetime.timezone(datetime.timedelta(seconds=-time.timezone)))
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_by_astimezone_alone(value):
    # the mistake: a naive astimezone() fails on 0001-01-01 (and 9999-12-31 on Python 3.12+)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_to_the_second(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the mistake: the microseconds are lost


def decimal_via_float(precision, scale):
    def convert(value):
        return decimal.Decimal(float(value))  # the mistake: digits lost in the float

    return convert


def decimal_from_numbers_too(precision, scale):
    reference = decimal_converter(precision, scale)

    def convert(value):
        if isinstance(value, float):
            value = str(value)  # the mistake: a JSON number is accepted
        return reference(value)

    return convert


def decimal_refusing_floats_only(precision, scale):
    reference = decimal_converter(precision, scale)

    def convert(value):
        if isinstance(value, int) and not isinstance(value, bool):
            return reference(str(value))  # the mistake: a JSON integer is a number too
        return reference(value)

    return convert


def decimal_rounded(precision, scale):
    def convert(value):
        if not isinstance(value, str):
            raise MalformedValueError("not a string")
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:
            raise MalformedValueError("not a number") from None
        if not number.is_finite():
            raise MalformedValueError("not finite")
        exact = number.quantize(decimal.Decimal(1).scaleb(-scale), context=WIDE_DECIMAL_CONTEXT)  # the mistake: rounds
        if len(exact.as_tuple().digits) > precision:
            raise MalformedValueError("too many digits")
        return exact

    return convert


def decimal_default_context(precision, scale):
    def convert(value):
        if not isinstance(value, str):
            raise MalformedValueError("not a string")
        try:
            number = decimal.Decimal(value)
            exact = number.quantize(decimal.Decimal(1).scaleb(-scale))  # the mistake: 28 digits at most
        except decimal.InvalidOperation:
            raise MalformedValueError(f"{value!r} is not a decimal number") from None
        if not exact.is_finite() or exact != number or len(exact.as_tuple().digits) > precision:
            raise MalformedValueError(f"{value!r} does not fit")
        return exact

    return convert


def decimal_unscaled(precision, scale):
    reference = decimal_converter(precision, scale)

    def convert(value):
        reference(value)
        return decimal.Decimal(value)  # the mistake: "5" stays 5, not 5.00

    return convert


def decimal_one_digit_short(precision, scale):
    reference = decimal_converter(precision, scale)

    def convert(value):
        exact = reference(value)
        if len(exact.as_tuple().digits) >= precision:  # the mistake: >= refuses the largest values that fit
            raise MalformedValueError("too many digits")
        return exact

    return convert


class DropsInPermissive(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == FAILFAST:
            return super()._malformed(record, reason, where, row)
        return None  # the mistake: PERMISSIVE loses the record


class NoRawText(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == "PERMISSIVE":
            return tuple(row)  # the mistake: the raw text is lost
        return super()._malformed(record, reason, where, row)


class NullsTheWholeRow(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == "PERMISSIVE":
            nulls = [None] * self.width  # the mistake: the fields that fit are lost (Spark keeps them)
            nulls[self.corrupt_index] = raw_text(record)
            return tuple(nulls)
        return super()._malformed(record, reason, where, row)


class RawTextLast(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == "PERMISSIVE":
            row[-1] = raw_text(record)  # the mistake: the corrupt-record column is not always the last
            return tuple(row)
        return super()._malformed(record, reason, where, row)


class RawTextAlways(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == "PERMISSIVE":
            row[self.corrupt_index] = raw_text(record)  # the mistake: a schema without the column has index None
            return tuple(row)
        return super()._malformed(record, reason, where, row)


class FailfastWithoutPosition(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == FAILFAST:
            raise MalformedRecordError("malformed data")  # the mistake: which record?
        return super()._malformed(record, reason, where, row)


class FailfastWithTheKeyOnly(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == FAILFAST:
            raise MalformedRecordError(f"malformed record, key {record.get('seq')}: {reason}")  # the mistake: where?
        return super()._malformed(record, reason, where, row)


class FailfastWrongError(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == FAILFAST:
            raise MalformedValueError(f"{self.describe(record, where)}: {reason}")  # the mistake: the value's error
        if self.mode == DROPMALFORMED:
            return row  # the mistake: DROPMALFORMED keeps the record
        return super()._malformed(record, reason, where, row)


# -- the tests ------------------------------------------------------------------------------------


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("04")
    report = run(
        service, spark_service_url, solution["parse_timestamp"], solution["format_timestamp"],
        solution["decimal_converter"], solution["RecordConverter"],
    )
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "alternatives",
    [dict(parse=parse_with_strptime, fmt=format_with_offset), dict(decimals=decimal_by_pattern, converter=DumpsEveryRecord)],
    ids=["strptime-and-offset", "pattern-decimals-and-dumps"],
)
def test_other_right_answers_pass(spark, spark_service_url, service, alternatives):
    report = run(service, spark_service_url, **alternatives)
    assert report.passed, report.failures


MISTAKES = [
    (
        dict(parse=parse_naive, decimals=decimal_via_float, converter=DropsInPermissive),
        {ZONES: "returned the naive datetime", DIGITS: "digits were lost", PERMISSIVE: "a malformed record still makes a row"},
    ),
    (
        dict(parse=parse_local, fmt=format_replace, converter=FailfastWithoutPosition),
        {ZONES: "it was read as local time", FORMATS: "never replace(tzinfo=UTC)",
         FAILFAST_REQUIREMENT: "which does not say partition 6, page 41, item 17"},
    ),
    (
        dict(parse=parse_epochs_too, decimals=decimal_from_numbers_too, converter=NoRawText),
        {REFUSES: "a number is a malformed record", BAD_DECIMALS: "a JSON number has been through a binary float",
         PERMISSIVE: "is null in every row"},
    ),
    (
        dict(parse=parse_plain_value_error, fmt=format_standard_offset, converter=NullsTheWholeRow),
        {REFUSES: "raised ValueError", FORMATS: "in summer time", PERMISSIVE: "lost the fields that fit"},
    ),
    (
        dict(fmt=format_to_the_second, decimals=decimal_rounded, converter=RawTextLast),
        {FORMATS: "which is not the instant", BAD_DECIMALS: "rounding would lose a digit",
         PERMISSIVE: "the raw text went elsewhere"},
    ),
    (
        dict(decimals=decimal_default_context, converter=RawTextAlways),
        {DIGITS: "context=WIDE_DECIMAL_CONTEXT", NO_CORRUPT_COLUMN: "failed with TypeError"},
    ),
    (
        dict(decimals=decimal_unscaled, converter=FailfastWithTheKeyOnly),
        {DIGITS: "give it exactly 2", FAILFAST_REQUIREMENT: "does not say partition 6, page 41, item 17"},
    ),
    (
        dict(decimals=decimal_one_digit_short, converter=FailfastWrongError),
        {DIGITS: "its 18 digits fit decimal(18,4)", FAILFAST_REQUIREMENT: "not MalformedRecordError",
         "DROPMALFORMED: malformed records are skipped, the others kept": "DROPMALFORMED gave"},
    ),
    (dict(decimals=decimal_refusing_floats_only), {BAD_DECIMALS: "a JSON number is not the service's form"}),
    (dict(fmt=format_by_astimezone_alone), {FORMATS: "a naive astimezone() has no room; read the local time with time.mktime"}),
]


@pytest.mark.parametrize("mistakes, expected", MISTAKES, ids=[
    "+".join(getattr(value, "__name__", "") for value in mistakes.values()) for mistakes, _ in MISTAKES])
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, mistakes, expected):
    report = run(service, spark_service_url, **mistakes)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
    if any(requirement in expected for requirement in (ZONES, REFUSES, FORMATS, DIGITS, BAD_DECIMALS)):
        assert report.failures.get(ON_SPARK) == "not run: fix the requirements above first"
