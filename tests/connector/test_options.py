"""The options layer: typed parsing, defaults, errors that say what is allowed, the docs page."""
import datetime
import logging
import os
import pickle
import re
import subprocess
import sys

import pytest

from solutions.options import OPTIONS, OptionError, markdown, parse_options, unknown_options

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UTC = datetime.timezone.utc
# Spark 4.0's default spark.redaction.regex (4.1+ adds |credential: tests/connector/test_version_claims.py)
REDACTION_REGEX = re.compile(r"(?i)secret|password|token|access[.]?key")



@pytest.mark.parametrize("text", ["false", "False", "FALSE", " false "])
def test_false_is_false(text):
    assert parse_options({"gzip": text})["gzip"] is False


@pytest.mark.parametrize("text", ["true", "True", "TRUE"])
def test_true_is_true(text):
    assert parse_options({"gzip": text})["gzip"] is True


def test_a_bad_boolean_names_option_value_and_allowed():
    with pytest.raises(OptionError) as error:
        parse_options({"verifyTls": "yes"})
    assert str(error.value) == "option verifyTls='yes' is not valid: expected true or false"


def test_keys_are_case_insensitive():
    options = parse_options({"PAGESIZE": "50", "numpartitions": "3", "Url": "http://x"})
    assert options["pageSize"] == 50
    assert options["NUMPARTITIONS"] == 3
    assert options["url"] == "http://x"


def test_defaults():
    options = parse_options({})
    assert options["resource"] == "events"
    assert options["mode"] == "PERMISSIVE"
    assert options["columnNameOfCorruptRecord"] == "_corrupt_record"
    assert options["gzip"] is True and options["arrow"] is False
    assert options["writeProtocol"] == "staged"


def test_ints_and_their_errors():
    assert parse_options({"numPartitions": " 8 "})["numPartitions"] == 8
    with pytest.raises(OptionError, match=r"numPartitions='eight'.*expected a whole number"):
        parse_options({"numPartitions": "eight"})
    with pytest.raises(OptionError, match=r"pageSize='0'.*at least 1"):
        parse_options({"pageSize": "0"})


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30.0), ("5m", 300.0), ("250ms", 0.25), ("1h", 3600.0), ("2", 2.0), ("1.5s", 1.5), ("10 S", 10.0)],
)
def test_durations(text, seconds):
    assert parse_options({"readTimeout": text})["readTimeout"] == seconds


def test_a_bad_duration_says_what_a_duration_looks_like():
    with pytest.raises(OptionError, match=r"connectTimeout='soon'.*250ms, 30s, 5m or 1h"):
        parse_options({"connectTimeout": "soon"})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-01-01T00:00:00Z", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.250000Z", datetime.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        ("2026-01-01T00:00:00", datetime.datetime(2026, 1, 1, tzinfo=UTC)),  # no zone: UTC
        ("2026-01-01", datetime.datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware_utc(text, expected, non_utc_timezone):
    # non_utc_timezone: the process runs in New York, and a zoneless value is still UTC
    value = parse_options({"start": text})["start"]
    assert value == expected and value.tzinfo == UTC


def test_a_bad_timestamp_names_the_option():
    with pytest.raises(OptionError, match=r"option end='yesterday'.*ISO-8601"):
        parse_options({"end": "yesterday"})


def test_start_must_be_before_end():
    with pytest.raises(OptionError, match="start=.* must be before end="):
        parse_options({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})


def test_choices_accept_any_case_and_list_the_allowed_values():
    assert parse_options({"mode": "failfast"})["mode"] == "FAILFAST"
    assert parse_options({"resource": "KV"})["resource"] == "kv"
    with pytest.raises(OptionError) as error:
        parse_options({"mode": "lenient"})
    assert str(error.value) == (
        "option mode='lenient' is not valid: expected one of PERMISSIVE, DROPMALFORMED, FAILFAST"
    )


@pytest.mark.parametrize("resource, partitioning", [("events", "time"), ("entities", "id"), ("kv", "token")])
def test_partitioning_defaults_by_resource(resource, partitioning):
    assert parse_options({"resource": resource})["partitioning"] == partitioning


def test_partitioning_must_fit_the_resource():
    with pytest.raises(OptionError, match="partitioning='id' does not apply to resource='events': use time or none"):
        parse_options({"resource": "events", "partitioning": "id"})
    assert parse_options({"resource": "kv", "partitioning": "none"})["partitioning"] == "none"


def test_unknown_options_are_reported_with_close_matches(caplog):
    assert unknown_options({"numPartiton": "2", "url": "x", "colour": "red"}) == [
        "unknown option 'numPartiton' is ignored; did you mean numPartitions or partitioning?",
        "unknown option 'colour' is ignored",
    ]
    with caplog.at_level(logging.WARNING, logger="solutions.options"):
        parse_options({"pagesise": "10"})
    assert "unknown option 'pagesise' is ignored; did you mean pageSize?" in caplog.text


def test_secret_options_match_sparks_redaction_regex():
    secrets = [option.name for option in OPTIONS if option.secret]
    assert secrets, "the table has secret options"
    for name in secrets:
        assert REDACTION_REGEX.search(name), f"{name} does not match Spark's default spark.redaction.regex"
    # why the API key option is not called apiKey:
    assert not REDACTION_REGEX.search("apiKey")


def test_the_repr_never_shows_secret_values():
    options = parse_options({"url": "http://x", "apiToken": "tok-123", "password": "hunter2", "username": "ann"})
    text = repr(options)
    assert "tok-123" not in text and "hunter2" not in text
    assert "apiToken=***" in text and "username='ann'" in text


def test_parsed_options_pickle():
    options = parse_options({"url": "http://x", "start": "2026-01-01T00:00:00Z", "gzip": "false"})
    copy = pickle.loads(pickle.dumps(options))
    assert copy["start"] == options["start"] and copy["gzip"] is False


def test_bad_options_fail_in_reader_construction_before_any_request():
    from pyspark.sql.datasource import CaseInsensitiveDict

    from solutions import PracticeDataSource

    # No service at this URL: the option error comes first, before any network call.
    source = PracticeDataSource(CaseInsensitiveDict({"url": "http://127.0.0.1:9", "numPartitions": "many"}))
    with pytest.raises(OptionError, match="numPartitions='many'"):
        source.reader(None)
    with pytest.raises(OptionError, match="numPartitions='many'"):
        source.writer(None, False)


def test_docs_page_is_generated_from_the_table():
    with open(os.path.join(ROOT, "docs", "options.md"), encoding="utf-8") as page:
        assert page.read() == markdown(), "run `python -m solutions.options > docs/options.md`"
    for option in OPTIONS:
        assert f"`{option.name}`" in markdown()


def test_python_m_solutions_options_prints_the_page():
    done = subprocess.run(
        [sys.executable, "-m", "solutions.options"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout == markdown()
    assert done.stderr == ""


@pytest.mark.parametrize("name", ["apiToken", "password", "clientSecret"])
@pytest.mark.parametrize("control", ["\n", "\r", "\t", "\x00", "\x7f"])
def test_a_secret_with_a_control_character_is_refused_without_showing_it(name, control):
    secret = f"s3kr1t{control}V4lue-12345"
    with pytest.raises(OptionError) as error:
        parse_options({"url": "http://127.0.0.1:1", name: secret})
    text = str(error.value)
    assert name in text and "control characters" in text
    assert "s3kr1t" not in text and "V4lue" not in text
