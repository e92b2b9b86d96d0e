"""Lab 04's check accepts the reference and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each in a different requirement), to keep Spark work down.
"""
import datetime
import decimal

import pytest

from solutions.conversion import (
    FAILFAST,
    UTC,
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
from workshop.checks.lab04 import FAILFAST as FAILFAST_REQUIREMENT
from workshop.checks.lab04 import PERMISSIVE, UNIT_REQUIREMENTS

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]
ZONES, REFUSES, FORMATS, DIGITS, BAD_DECIMALS = UNIT_REQUIREMENTS


def run(service, url, parse=parse_timestamp, fmt=format_timestamp, decimals=decimal_converter, converter=RecordConverter):
    return check_lab(
        "04", parse_timestamp=parse, format_timestamp=fmt, decimal_converter=decimals, RecordConverter=converter,
        url=url, service=service,
    )


# -- correct, written differently ---------------------------------------------------------------


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
    return value.astimezone(UTC).isoformat()  # "+00:00" instead of "Z": also the right instant


# -- mistakes -----------------------------------------------------------------------------------


def parse_naive(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")  # the mistake: no zone on the result


def parse_local(text):
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)  # naive -> local time
    except (TypeError, ValueError, AttributeError) as error:
        raise MalformedValueError(str(error))


def parse_epochs_too(text):
    if isinstance(text, int):
        return datetime.datetime.fromtimestamp(text, tz=UTC)  # the mistake: a number is a malformed record
    return parse_timestamp(text)


def parse_plain_value_error(text):
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))  # ValueError escapes
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_replace(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the mistake: Spark's naive values are local time, not UTC
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


class FailfastWithoutPosition(RecordConverter):
    def _malformed(self, record, reason, where, row):
        if self.mode == FAILFAST:
            raise MalformedRecordError("malformed data")  # the mistake: which record?
        return super()._malformed(record, reason, where, row)


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("04")
    report = run(
        service, spark_service_url, solution["parse_timestamp"], solution["format_timestamp"],
        solution["decimal_converter"], solution["RecordConverter"],
    )
    assert report.passed, report.failures


def test_other_correct_implementations_pass(spark, spark_service_url, service):
    report = run(service, spark_service_url, parse=parse_with_strptime, fmt=format_with_offset)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (
            dict(parse=parse_naive, decimals=decimal_via_float, converter=DropsInPermissive),
            {
                ZONES: "returned the naive datetime",
                DIGITS: "it went through a binary float",
                PERMISSIVE: "a malformed record still makes a row",
            },
        ),
        (
            dict(parse=parse_local, fmt=format_replace, converter=FailfastWithoutPosition),
            {
                ZONES: "it was read as local time",
                FORMATS: "never replace(tzinfo=UTC)",
                FAILFAST_REQUIREMENT: "does not say which record",
            },
        ),
        (
            dict(parse=parse_epochs_too, decimals=decimal_from_numbers_too, converter=NoRawText),
            {
                REFUSES: "a number is a malformed record",
                BAD_DECIMALS: "a JSON number has been through a binary float",
                PERMISSIVE: "is null in every row",
            },
        ),
        (
            dict(parse=parse_plain_value_error, converter=NullsTheWholeRow),
            {REFUSES: "raised ValueError, not MalformedValueError", PERMISSIVE: "lost the fields that fit"},
        ),
    ],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, mistakes, expected):
    report = run(service, spark_service_url, **mistakes)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
