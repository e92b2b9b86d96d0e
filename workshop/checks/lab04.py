"""Lab 04 check: timestamps with zones, exact decimals, and Spark's `mode` for malformed records.

The timestamp and decimal functions are tried on tricky values in this process, with the time
zone switched to New York for a moment (on a UTC machine, local-time mistakes are invisible).
Then they read events and entities on Spark; and the learner's RecordConverter reads a
service with malformed records on Spark in each mode.
"""
import contextlib
import datetime
import decimal
import json
import os
import re
import time

from workshop.checks import practice_service, spark_error_text
from workshop.truth import checksum, to_json_record

UTC = datetime.timezone.utc
NEW_YORK = "America/New_York"
EVENTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:15Z")  # about 1,500 events
ENTITY_IDS_BELOW = 5000  # about 1,000 entities
CORRUPT = "_bad"  # not the default name: the column must come from the option

UNIT_REQUIREMENTS = (
    "parse_timestamp: Z, offsets and no zone (UTC) give the right aware instant",
    "parse_timestamp: anything else is a MalformedValueError",
    "format_timestamp: UTC text with a zone, from aware and naive (local) datetimes",
    "decimals: every digit kept, straight from the text",
    "decimals: JSON numbers and values that do not fit are a MalformedValueError",
)
PERMISSIVE = "PERMISSIVE: malformed records keep the fields that fit, with their raw text in the corrupt-record column"
FAILFAST = "FAILFAST: the read stops, naming the malformed record"


@contextlib.contextmanager
def local_time_zone(name):
    """This process's local time zone is `name` meanwhile (POSIX; elsewhere nothing changes)."""
    if not hasattr(time, "tzset"):
        yield False
        return
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield True
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def has_zone(text):
    return isinstance(text, str) and re.search(r"(Z|[+-]\d\d:?\d\d)$", text.strip()) is not None


def values_source(parse_timestamp, decimal_converter, path, params):
    """A data source reading `path` whose timestamps and decimals go through the learner's functions."""
    from pyspark.sql.datasource import DataSource, DataSourceReader

    class ValuesReader(DataSourceReader):
        def __init__(self, options, schema):
            self.options = options
            self.schema = schema

        def read(self, partition):
            from pyspark.sql.types import DecimalType, TimestampType

            from solutions.client import PracticeClient
            from solutions.conversion import to_spark_converter

            converters = []
            for field in self.schema.fields:
                if isinstance(field.dataType, TimestampType):
                    converters.append(parse_timestamp)
                elif isinstance(field.dataType, DecimalType):
                    converters.append(decimal_converter(field.dataType.precision, field.dataType.scale))
                else:
                    converters.append(to_spark_converter(field.dataType))
            names = self.schema.fieldNames()
            with PracticeClient(self.options) as client:
                for items in client.pages(path, params):
                    for record in items:
                        yield tuple(
                            None if record.get(name) is None else convert(record[name])
                            for name, convert in zip(names, converters)
                        )

    class ValuesSource(DataSource):
        @classmethod
        def name(cls):
            return "lab04_values"

        def reader(self, schema):
            from solutions.options import parse_options

            return ValuesReader(parse_options(dict(self.options)), schema)

    return ValuesSource


def modes_source(converter_class):
    """The reference data source whose reader converts records with the learner's RecordConverter."""
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader

    learners_converter = converter_class

    class ModesReader(PracticeBatchReader):
        converter_class = learners_converter  # the learner's RecordConverter turns every record

    class ModesSource(PracticeDataSource):
        short_name = "lab04_modes"
        batch_reader = ModesReader

    return ModesSource


def check(report, parse_timestamp, format_timestamp, decimal_converter, RecordConverter, url, service=None):
    from solutions.conversion import MalformedValueError
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    truth = practice_service(url, service).truth
    instant = datetime.datetime(2026, 1, 1, tzinfo=UTC)

    # -- timestamps --------------------------------------------------------------------------

    def parses_zones():
        cases = [
            ("2026-01-01T00:00:00.250000Z", instant + datetime.timedelta(milliseconds=250)),
            ("2026-01-01T02:30:00+02:30", instant),
            ("2025-12-31T19:00:00-05:00", instant),
            ("2026-01-01T00:00:00", instant),  # no zone: the service's convention is UTC
        ]
        with local_time_zone(NEW_YORK):
            for text, expected in cases:
                value = parse_timestamp(text)
                if not isinstance(value, datetime.datetime):
                    return f"parse_timestamp({text!r}) returned {value!r}, not a datetime"
                if value.tzinfo is None or value.utcoffset() is None:
                    return (
                        f"parse_timestamp({text!r}) returned the naive datetime {value!r}: Spark reads a naive datetime "
                        "as the Python worker's local time, so on a machine outside UTC every event shifts; "
                        "return an aware datetime (tzinfo=UTC)"
                    )
                if value != expected:
                    hours = (value - expected).total_seconds() / 3600
                    if text.endswith("00:00:00"):
                        return (
                            f"parse_timestamp({text!r}) (no zone) gave {value.isoformat()}, {hours:+g} h off: it was "
                            "read as local time; text without a zone is UTC (value.replace(tzinfo=UTC))"
                        )
                    return f"parse_timestamp({text!r}) gave {value.isoformat()}, not {expected.isoformat()} ({hours:+g} h)"

    def refuses_non_timestamps():
        for value in ("yesterday", "2026-13-01T00:00:00Z", 1767225600, ["2026-01-01"]):
            try:
                parsed = parse_timestamp(value)
            except MalformedValueError:
                continue
            except Exception as error:
                return (
                    f"parse_timestamp({value!r}) raised {type(error).__name__}, not MalformedValueError: only "
                    "MalformedValueError makes a record malformed; anything else fails the whole task"
                )
            if isinstance(value, int):
                return (
                    f"parse_timestamp({value}) returned {parsed!r}: the service sends timestamps as text, so a number "
                    "is a malformed record (and datetime.fromtimestamp without tz= would give local time)"
                )
            return f"parse_timestamp({value!r}) returned {parsed!r} instead of raising MalformedValueError"

    def formats_in_utc():
        naive = datetime.datetime(2026, 1, 1, 0, 0)  # what PySpark gives a writer: local time
        cases = [
            (instant + datetime.timedelta(microseconds=250000), instant + datetime.timedelta(microseconds=250000), "an aware UTC datetime"),
            (datetime.datetime(2026, 1, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), instant, "an aware +02:00 datetime"),
            (naive, instant + datetime.timedelta(hours=5), f"the naive datetime {naive} (local time, here {NEW_YORK})"),
        ]
        from solutions.conversion import parse_timestamp as reference_parse

        with local_time_zone(NEW_YORK):
            for value, expected, what in cases:
                text = format_timestamp(value)
                if not has_zone(text):
                    return f"format_timestamp({what}) gave {text!r}, without a zone; the service needs one (Z)"
                got = reference_parse(text)
                if got != expected:
                    if value.tzinfo is None:
                        return (
                            f"format_timestamp({what}) gave {text!r}; that instant is {expected.isoformat()}: a naive "
                            "datetime from Spark is local time, so use value.astimezone(UTC), never replace(tzinfo=UTC)"
                        )
                    return f"format_timestamp({what}) gave {text!r}, which is not the instant {expected.isoformat()}"

    # -- decimals ----------------------------------------------------------------------------

    def keeps_every_digit():
        for (precision, scale), text in [((18, 4), "12345678901234.5678"), ((12, 2), "0.10"), ((18, 4), "-29218.6603")]:
            value = decimal_converter(precision, scale)(text)
            if isinstance(value, float):
                return f"decimal({precision},{scale}) {text!r} became the float {value!r}; Spark's DecimalType needs decimal.Decimal"
            if not isinstance(value, decimal.Decimal):
                return f"decimal({precision},{scale}) {text!r} became {value!r}, not a decimal.Decimal"
            if value != decimal.Decimal(text):
                return (
                    f"decimal({precision},{scale}) {text!r} became {value}: it went through a binary float; "
                    "build it from the text, decimal.Decimal(text)"
                )

    def refuses_bad_decimals():
        cases = [
            ((12, 2), 1234.5, "a JSON number has been through a binary float already; the service sends decimals as strings"),
            ((12, 2), "123456789012.34", "14 digits do not fit decimal(12,2)"),
            ((12, 2), "NaN", "NaN is not a number a decimal column can hold"),
            ((12, 2), "twelve", "it is not a number"),
        ]
        for (precision, scale), value, why in cases:
            try:
                got = decimal_converter(precision, scale)(value)
            except MalformedValueError:
                continue
            except Exception as error:
                return (
                    f"decimal({precision},{scale}) of {value!r} raised {type(error).__name__}, not MalformedValueError: "
                    "only MalformedValueError makes a record malformed; anything else fails the whole task"
                )
            return f"decimal({precision},{scale}) of {value!r} gave {got!r}; it must raise MalformedValueError ({why})"

    # -- on Spark with the learner's converters ----------------------------------------------

    def read_values(path, params, ddl):
        source = values_source(parse_timestamp, decimal_converter, path, params)
        spark = get_spark()
        spark.dataSource.register(source)
        return spark.read.format("lab04_values").schema(ddl).option("url", url).option("logLevel", "WARNING").load().collect()

    def project(records, columns):
        return [{column: record[column] for column in columns} for record in records]

    def values_on_spark():
        unit = [name for name in UNIT_REQUIREMENTS if name in report.failures]
        if unit:
            return "not run: fix the requirements above first"
        reads = [
            ("/v1/events", {"start": EVENTS[0], "end": EVENTS[1]}, "seq bigint, event_time timestamp, ingest_time timestamp, amount decimal(12,2)",
             truth.records("events", start=EVENTS[0], end=EVENTS[1])),
            ("/v1/entities", {"id_lt": ENTITY_IDS_BELOW}, "id bigint, created_at timestamp, balance decimal(18,4)",
             truth.records("entities", id_lt=ENTITY_IDS_BELOW)),
        ]
        for path, params, ddl, records in reads:
            columns = [part.split()[0] for part in ddl.split(", ")]
            try:
                rows = read_values(path, params, ddl)
            except Exception as error:
                return f"reading {path} ({ddl}) failed: {spark_error_text(error)}"
            got = {json.dumps(to_json_record(row), sort_keys=True) for row in rows}
            for record in project(records, columns):
                if json.dumps(record, sort_keys=True) not in got:
                    key = columns[0]
                    row = next((to_json_record(r) for r in rows if r[key] == record[key]), None)
                    return f"{path}: the service sent {record}, Spark holds {row}"
            if len(rows) != len(records):
                return f"{path}: read {len(rows)} rows, the service has {len(records)}"

    # -- modes, on Spark, with the learner's RecordConverter ---------------------------------

    quirky_settings = dict(seed=5, events=600, entities=10, ring_rows=10, malformed_rate=0.05)
    quirky_box = {}

    def quirky_read(mode, ddl=None, **options):
        spark = get_spark()
        spark.dataSource.register(modes_source(RecordConverter))
        reader = (
            spark.read.format("lab04_modes")
            .option("url", quirky_box["service"].url)
            .option("mode", mode)
            .option("numPartitions", "2")
            .option("logLevel", "WARNING")
        )
        for key, value in options.items():
            reader = reader.option(key, value)
        if ddl:
            reader = reader.schema(ddl)
        return reader.load().collect()

    def permissive():
        quirky = quirky_box["service"]
        served = {json.dumps(r, sort_keys=True) if not isinstance(r, str) else r for r in quirky.truth.records("events")}
        malformed = quirky.truth.malformed_seqs()
        ddl = quirky_box["ddl"] + f", {CORRUPT} string"
        try:
            rows = quirky_read("PERMISSIVE", ddl, columnNameOfCorruptRecord=CORRUPT)
        except Exception as error:
            return f"reading with mode=PERMISSIVE failed: {spark_error_text(error)}"
        total = quirky.truth.count("events")
        if len(rows) != total:
            return (
                f"PERMISSIVE gave {len(rows)} rows for {total} records: a malformed record still makes a row "
                "(the fields that fit, with its raw text in the corrupt-record column)"
            )
        bad = [row[CORRUPT] for row in rows if row[CORRUPT] is not None]
        if not bad:
            return (
                f"the corrupt-record column {CORRUPT!r} (option columnNameOfCorruptRecord) is null in every row: put "
                "raw_text(record) at self.corrupt_index"
            )
        if len(bad) != len(malformed):
            return f"{len(bad)} rows have a raw text in {CORRUPT!r}; the service sent {len(malformed)} malformed records"
        for text in bad:
            as_json = None
            try:
                as_json = json.dumps(json.loads(text), sort_keys=True)
            except ValueError:
                pass
            if text not in served and as_json not in served:
                return f"{CORRUPT!r} holds {text[:80]!r}, which is not the text of a record the service sent"
        # The service's malformed objects all have a good seq: their rows keep it, as Spark's JSON reader does.
        lost = 0
        for row in rows:
            try:
                record = json.loads(row[CORRUPT]) if row[CORRUPT] is not None else None
            except ValueError:
                record = None  # a truncated record's text: nothing of it fits
            if isinstance(record, dict) and row["seq"] != record.get("seq"):
                lost += 1
        if lost:
            return (
                f"{lost} rows of malformed records lost the fields that fit (their seq is null, the record's is not): "
                "start from the row you are given, the fields that fit, and put raw_text(record) at self.corrupt_index"
            )
        good = [row.asDict() for row in rows if row[CORRUPT] is None]
        for row in good:
            del row[CORRUPT]
        if checksum(to_json_record(row) for row in good) != quirky.truth.checksum("events", drop_malformed=True):
            return "the well-formed records differ from the served ones"

    def dropmalformed():
        quirky = quirky_box["service"]
        try:
            rows = quirky_read("DROPMALFORMED")
        except Exception as error:
            return f"reading with mode=DROPMALFORMED failed: {spark_error_text(error)}"
        expected = quirky.truth.count("events", drop_malformed=True)
        if len(rows) != expected:
            return f"DROPMALFORMED gave {len(rows)} rows; the service sent {expected} well-formed records (and {len(quirky.truth.malformed_seqs())} malformed)"
        if checksum(to_json_record(row) for row in rows) != quirky.truth.checksum("events", drop_malformed=True):
            return "DROPMALFORMED kept the right number of rows, but not the well-formed records"

    def failfast():
        quirky = quirky_box["service"]
        try:
            rows = quirky_read("FAILFAST")
        except Exception as error:
            text = spark_error_text(error)
            seqs = {str(seq) for seq in quirky.truth.malformed_seqs()}
            position = re.search(r"\b(page|item|position|record|row|index|offset)\b\D{0,3}\d+", text, re.IGNORECASE)
            if position or seqs & set(re.findall(r"\d+", text)):
                return None
            return (
                f"FAILFAST stopped with {text[:160]!r}, which does not say which record: name its position "
                "(self.describe(record, where): partition, page, item) and its key"
            )
        return f"FAILFAST read {len(rows)} rows without failing: raise MalformedRecordError at the first malformed record"

    def with_quirky_service(test):
        def run():
            with PracticeService(**quirky_settings) as quirky:
                quirky_box["service"] = quirky
                from solutions.datasource import PracticeDataSource

                quirky_box["ddl"] = PracticeDataSource(options={"url": quirky.url, "logLevel": "WARNING"}).schema()
                return test()

        return run

    for requirement, test in zip(
        UNIT_REQUIREMENTS, (parses_zones, refuses_non_timestamps, formats_in_utc, keeps_every_digit, refuses_bad_decimals)
    ):
        report.require(requirement, test)
    report.require("on Spark: timestamps and decimals read with your functions equal the served values", values_on_spark)
    report.require(PERMISSIVE, with_quirky_service(permissive))
    report.require("DROPMALFORMED: malformed records are skipped, the others kept", with_quirky_service(dropmalformed))
    report.require(FAILFAST, with_quirky_service(failfast))
