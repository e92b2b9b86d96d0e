"""Lab 04 check: timestamps with zones, exact decimals, and Spark's `mode` for malformed records.

The timestamp and decimal functions are tried on tricky values in this process, with the time
zone switched to New York for a moment (on a UTC machine, local-time mistakes are invisible);
then events are read on Spark through the reference reader with a record converter that
turns timestamps and decimals with the learner's functions. The learner's RecordConverter is
called directly, then reads a practice service of the check's own, whose feed has malformed
records, on Spark in each mode.

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

- parse_timestamp gives an aware datetime (Spark reads a naive one as the worker's local time)
  with the right instant for `Z`, any offset (+02:30, -05:00, +05:45) and fractions; text without
  a zone is UTC, never local time: ZONES (local time New York, so local != UTC).
- parse_timestamp raises MalformedValueError (not another error) for anything else: words, month
  13, an empty string, a JSON number (int or float: the service sends text), a list: REFUSES.
- format_timestamp writes text with a zone for the same instant, from aware values of any zone and
  from naive values, which are local time, in winter and in summer (DST): FORMATS, judged by the
  service's own timestamp parser. The exact form (`Z` or `+00:00`, a fraction or none) is not
  judged: the service takes them all. Also on the first and last days Spark holds, naive (local
  UTC-5, microseconds kept) and aware, where a naive astimezone() fails: FORMATS.
- decimal_converter keeps every digit from the text (18 digits in decimal(18,4), 38 in
  decimal(38,10), beyond the default decimal context's 28), the largest value that fits, negative
  values, and returns exactly `scale` places ("5" is 5.00): DIGITS.
- decimal_converter raises MalformedValueError for a JSON number (float or int), more decimal
  places than the scale ("1.234" in decimal(12,2)), more digits than the precision (one over the
  largest value that fits), NaN, Infinity and words: BAD_DECIMALS.
- On Spark, the values the learner's functions yield are what Spark stores: ON_SPARK.
- PERMISSIVE keeps the fields that fit and puts the record's raw text at the corrupt-record
  column, wherever the schema has it (here in the middle, under a name from the option), and a
  record that is not an object becomes a row of nulls with its text: PERMISSIVE (on Spark); without
  a corrupt-record column the row is kept as given: NO_CORRUPT_COLUMN (directly).
- DROPMALFORMED skips exactly the malformed records: DROPMALFORMED (on Spark).
- FAILFAST raises MalformedRecordError naming the record's partition, page, item and key, at
  the first malformed record: FAILFAST (directly, then the read on Spark stops).

Not tested, on purpose: an aware result in a zone other than UTC (Spark keeps the instant either
way), and the raw text's exact form (`json.dumps` of a truncated record's string, Spark's JSON
reader's form, is accepted as well as the string itself).
"""
import contextlib
import datetime
import decimal
import json
import os
import re
import time

from pyspark.sql.types import DecimalType, TimestampType

from solutions import conversion
from solutions.conversion import RecordConverter
from workshop.checks import practice_service, spark_error_text
from workshop.truth import checksum, to_json_record

UTC = datetime.timezone.utc
NEW_YORK = "America/New_York"
EVENTS = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:03Z")  # about 300 events
CORRUPT = "_bad"  # not the default name: the column must come from the option
WHERE = (6, 41, 17)  # partition, page and item of the record FAILFAST must name

ZONES = "parse_timestamp: Z, offsets and no zone (UTC) give the right aware instant"
REFUSES = "parse_timestamp: anything else is a MalformedValueError"
FORMATS = "format_timestamp: UTC text with a zone, from aware and naive (local) datetimes"
DIGITS = "decimals: every digit kept, straight from the text, with exactly `scale` places"
BAD_DECIMALS = "decimals: JSON numbers and values that do not fit are a MalformedValueError"
ON_SPARK = "on Spark: timestamps and decimals read with your functions equal the served values"
PERMISSIVE = "PERMISSIVE: malformed records keep the fields that fit, with their raw text in the corrupt-record column"
NO_CORRUPT_COLUMN = "PERMISSIVE without a corrupt-record column: the row of the fields that fit"
DROPMALFORMED = "DROPMALFORMED: malformed records are skipped, the others kept"
FAILFAST = "FAILFAST: the read stops, naming the malformed record"
UNIT_REQUIREMENTS = (ZONES, REFUSES, FORMATS, DIGITS, BAD_DECIMALS)

HINTS = {
    "parse_timestamp": [
        "Parse the text with its zone and return an aware datetime in UTC. Text without a zone is the service's "
        "convention, UTC, never the machine's local time.",
        "datetime.fromisoformat needs Z spelled +00:00 on Python 3.10, returns a naive value for text without a "
        "zone, and raises ValueError (not MalformedValueError) for bad text; a number is not text at all.",
        "Refuse non-strings; text = text.strip(), a trailing Z becomes +00:00; value = datetime.fromisoformat(text) "
        "(ValueError -> MalformedValueError); if value.tzinfo is None: value = value.replace(tzinfo=UTC); "
        "return value.astimezone(UTC).",
    ],
    "format_timestamp": [
        "Turn the instant into UTC text ending in Z. A naive value from Spark is the worker's local time.",
        "value.replace(tzinfo=UTC) says a naive local time is UTC: wrong outside UTC. astimezone reads a naive "
        "value as local time, which is right, except on 0001-01-01 and 9999-12-31, where it has no room.",
        "value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=\"microseconds\") + \"Z\"; for a naive "
        "value on those two days, datetime(1970, 1, 1) + timedelta(seconds=time.mktime(value.timetuple()), "
        "microseconds=value.microsecond) instead.",
    ],
    "decimal_converter": [
        "Build the Decimal from the text itself, never through float, and give it exactly `scale` places; refuse "
        "what decimal(precision, scale) cannot hold exactly.",
        "A JSON number has been through a binary float already: refuse it. Rounding a value with more places than "
        "`scale` loses digits: refuse it too. quantize needs a context with enough digits (WIDE_DECIMAL_CONTEXT): "
        "the default holds 28.",
        "Refuse non-strings; number = decimal.Decimal(value) (InvalidOperation -> MalformedValueError); refuse "
        "not number.is_finite(); exact = number.quantize(Decimal(1).scaleb(-scale), context=WIDE_DECIMAL_CONTEXT); "
        "refuse exact != number and len(exact.as_tuple().digits) > precision; return exact.",
    ],
    "RecordConverter._malformed": [
        "The mode decides: FAILFAST stops with an error that says which record, DROPMALFORMED drops it, PERMISSIVE "
        "keeps the row you are given, adding the record's raw text.",
        "The row already holds the fields that fit: keep them. The corrupt-record column may be anywhere in the "
        "schema, or absent (self.corrupt_index is None).",
        "FAILFAST: raise MalformedRecordError(f\"... {self.describe(record, where)}: {reason}\"); DROPMALFORMED: "
        "return None; else, if self.corrupt_index is not None: row[self.corrupt_index] = raw_text(record); "
        "return tuple(row).",
    ],
}


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


def not_malformed_value_error(call, error):
    return (
        f"{call} raised {type(error).__name__} ({error}), not MalformedValueError: only MalformedValueError makes a "
        "record malformed; any other error fails the whole task"
    )


# -- timestamps -----------------------------------------------------------------------------------


def parses_zones(c):
    instant = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    cases = [
        ("2026-01-01T00:00:00.250000Z", instant + datetime.timedelta(milliseconds=250)),
        ("2026-01-01T02:30:00+02:30", instant),
        ("2025-12-31T19:00:00-05:00", instant),
        ("2026-07-01T05:45:00.000001+05:45", datetime.datetime(2026, 7, 1, 0, 0, 0, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", instant),  # no zone: the service's convention is UTC
        ("2026-07-01T12:00:00.5", datetime.datetime(2026, 7, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ]
    with local_time_zone(NEW_YORK):
        for text, expected in cases:
            value = c.parse_timestamp(text)
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
                if not re.search(r"(Z|[+-]\d\d:\d\d)$", text):
                    return (
                        f"parse_timestamp({text!r}) (no zone) gave {value.isoformat()}, {hours:+g} h off: it was "
                        "read as local time; text without a zone is UTC (value.replace(tzinfo=UTC))"
                    )
                return f"parse_timestamp({text!r}) gave {value.isoformat()}, not {expected.isoformat()} ({hours:+g} h)"


def refuses_non_timestamps(c):
    from solutions.conversion import MalformedValueError

    for value in ("yesterday", "2026-13-01T00:00:00Z", "", 1767225600, 1767225600.5, ["2026-01-01"]):
        try:
            parsed = c.parse_timestamp(value)
        except MalformedValueError:
            continue
        except Exception as error:
            return not_malformed_value_error(f"parse_timestamp({value!r})", error)
        if isinstance(value, (int, float)):
            return (
                f"parse_timestamp({value}) returned {parsed!r}: the service sends timestamps as text, so a number "
                "is a malformed record (and datetime.fromtimestamp without tz= would give local time)"
            )
        return f"parse_timestamp({value!r}) returned {parsed!r} instead of raising MalformedValueError"


def formats_in_utc(c):
    from workshop.service.timefmt import EPOCH
    from workshop.service.timefmt import parse_timestamp as service_parses

    instant = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    winter, summer = datetime.datetime(2026, 1, 1, 0, 0), datetime.datetime(2026, 7, 1, 0, 0)  # what PySpark gives a writer
    cases = [
        (instant + datetime.timedelta(microseconds=250000), instant + datetime.timedelta(microseconds=250000),
         "an aware UTC datetime"),
        (datetime.datetime(2026, 1, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), instant,
         "an aware +02:00 datetime"),
        (winter, instant + datetime.timedelta(hours=5), f"the naive datetime {winter} (local time, here {NEW_YORK})"),
        (summer, datetime.datetime(2026, 7, 1, 4, tzinfo=UTC), f"the naive datetime {summer} (local time, here {NEW_YORK}, "
         "in summer time)"),
    ]
    edge_zone = "Etc/GMT+5"  # UTC-5 in every year (named zones keep local mean time in year 1)
    first, last = datetime.datetime(1, 1, 1, 6, 0, 0, 1), datetime.datetime(9999, 12, 31, 12, 0, 0, 1)
    edges = [
        (first, first.replace(hour=11, tzinfo=UTC), f"the naive datetime {first} (local time, here UTC-5)"),
        (last, last.replace(hour=17, tzinfo=UTC), f"the naive datetime {last} (local time, here UTC-5)"),
        (last.replace(tzinfo=UTC), last.replace(tzinfo=UTC), "an aware UTC datetime on 9999-12-31"),
    ]
    for zone, tried in ((NEW_YORK, cases), (edge_zone, edges)):
        problem = formats_each(c, zone, tried, service_parses, EPOCH)
        if problem:
            return problem
    return None


def formats_each(c, zone, cases, service_parses, epoch):
    with local_time_zone(zone):
        for value, expected, what in cases:
            try:
                text = c.format_timestamp(value)
            except NotImplementedError:
                raise
            except Exception as error:
                edge = value.date() in (datetime.date.min, datetime.date.max)
                return (f"format_timestamp({what}) raised {type(error).__name__}: {error}"
                        + (": on the first and last days Spark holds a naive astimezone() has no room; read the "
                           "local time with time.mktime there" if edge else ""))
            if not isinstance(text, str):
                return f"format_timestamp({what}) returned {text!r}, not text"
            try:
                got = epoch + datetime.timedelta(microseconds=service_parses(text))
            except ValueError as error:
                return f"format_timestamp({what}) gave {text!r}, which the service refuses: {error}"
            if got != expected:
                if value.tzinfo is None and got == value.replace(tzinfo=UTC):
                    return (
                        f"format_timestamp({what}) gave {text!r}; that instant is {expected.isoformat()}: a naive "
                        "datetime from Spark is local time, so use value.astimezone(UTC), never replace(tzinfo=UTC)"
                    )
                return f"format_timestamp({what}) gave {text!r}, which is not the instant {expected.isoformat()}"


# -- decimals -------------------------------------------------------------------------------------


def keeps_every_digit(c):
    cases = [
        ((18, 4), "12345678901234.5678"), ((12, 2), "0.10"), ((18, 4), "-29218.6603"), ((12, 2), "9999999999.99"),
        ((38, 10), "1234567890123456789012345678.1234567890"), ((12, 2), "5"), ((12, 2), "-0.1"),
    ]
    for (precision, scale), text in cases:
        call = f"decimal_converter({precision}, {scale})({text!r})"
        try:
            value = c.decimal_converter(precision, scale)(text)
        except Exception as error:
            digits = len(decimal.Decimal(text).as_tuple().digits) + scale + decimal.Decimal(text).as_tuple().exponent
            why = f"its {digits} digits fit decimal({precision},{scale})"
            if precision > 28:
                why += ("; decimal's default context holds 28 digits, so quantize with a wider one "
                        "(context=WIDE_DECIMAL_CONTEXT)")
            return f"{call} raised {type(error).__name__} ({error}) for a value that fits: {why}"
        if isinstance(value, float):
            return f"{call} returned the float {value!r}; Spark's DecimalType needs decimal.Decimal"
        if not isinstance(value, decimal.Decimal):
            return f"{call} returned {value!r}, not a decimal.Decimal"
        if value != decimal.Decimal(text):
            return (
                f"{call} returned {value}: digits were lost (through a binary float, or rounded); build it from "
                "the text, decimal.Decimal(text)"
            )
        if value.as_tuple().exponent != -scale:
            places = max(0, -value.as_tuple().exponent)
            return f"{call} returned {value!r}, with {places} decimal places: give it exactly {scale} (quantize)"


def refuses_bad_decimals(c):
    from solutions.conversion import MalformedValueError

    cases = [
        ((12, 2), 1234.5, "a JSON number has been through a binary float already; the service sends decimals as strings"),
        ((12, 2), 12, "a JSON number is not the service's form of a decimal, which is a string"),
        ((12, 2), "1.234", "it has 3 decimal places and decimal(12,2) holds 2: rounding would lose a digit"),
        ((12, 2), "10000000000.00", "13 digits do not fit decimal(12,2), which holds at most 9999999999.99"),
        ((12, 2), "NaN", "NaN is not a number a decimal column can hold"),
        ((12, 2), "Infinity", "Infinity is not a number a decimal column can hold"),
        ((12, 2), "twelve", "it is not a number"),
    ]
    for (precision, scale), value, why in cases:
        call = f"decimal_converter({precision}, {scale})({value!r})"
        try:
            got = c.decimal_converter(precision, scale)(value)
        except MalformedValueError:
            continue
        except Exception as error:
            return not_malformed_value_error(call, error)
        return f"{call} returned {got!r}; it must raise MalformedValueError ({why})"


# -- on Spark with the learner's functions --------------------------------------------------------


def values_on_spark(c):
    failed = [name for name in UNIT_REQUIREMENTS if name in c.report.failures]
    if failed:
        return "not run: fix the requirements above first"
    columns = ("seq", "event_time", "ingest_time", "amount")
    ddl = "seq bigint, event_time timestamp, ingest_time timestamp, amount decimal(12,2)"
    records = c.truth.records("events", start=EVENTS[0], end=EVENTS[1])
    try:
        rows = (c.spark.read.format(c.values_source).schema(ddl).option("url", c.url).option("start", EVENTS[0])
                .option("end", EVENTS[1]).option("numPartitions", 2).option("logLevel", "WARNING").load().collect())
    except Exception as error:
        return f"reading events ({ddl}) failed: {spark_error_text(error)}"
    held = {row["seq"]: to_json_record(row) for row in rows}
    for record in records:
        served = {name: record[name] for name in columns}
        if held.get(record["seq"]) != served:
            return f"the service sent {served}, Spark holds {held.get(record['seq'])}"
    if len(rows) != len(records):
        return f"read {len(rows)} rows, the service has {len(records)}"


# -- modes ----------------------------------------------------------------------------------------


def served_forms(records):
    """The served records, each as the canonical JSON of its value (a truncated record is a string)."""
    return {json.dumps(record, sort_keys=True) for record in records}


def is_served_text(text, forms):
    """Whether `text` is the raw text of a served record: the string itself, or a JSON form of the record."""
    if json.dumps(text) in forms:  # a truncated record: the string the service sent
        return True
    try:
        return json.dumps(json.loads(text), sort_keys=True) in forms
    except ValueError:
        return False


def read_quirky(c, mode, schema, **options):
    reader = (c.spark.read.format(c.modes_source).schema(schema).option("url", c.quirky.url).option("mode", mode)
              .option("numPartitions", "2").option("logLevel", "WARNING"))
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load().collect()


def permissive(c):
    from pyspark.sql.types import StringType, StructField, StructType

    quirky = c.quirky
    forms = served_forms(quirky.truth.records("events"))
    malformed = quirky.truth.malformed_seqs()
    fields = StructType.fromDDL(c.ddl).fields
    names = [field.name for field in fields if isinstance(field.dataType, StringType)]
    # The corrupt-record column after the first field: its position comes from the schema, not the end.
    schema = StructType(fields[:1] + [StructField(CORRUPT, StringType())] + fields[1:])
    try:
        rows = read_quirky(c, "PERMISSIVE", schema, columnNameOfCorruptRecord=CORRUPT)
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
        misplaced = [row for row in rows if any(isinstance(row[name], str) and row[name].startswith(("{", '"'))
                                                 for name in names if name != "kind")]
        if misplaced:
            return (f"the corrupt-record column {CORRUPT!r} (the schema's second column here) is null in every row, "
                    "and the raw text went elsewhere: put raw_text(record) at self.corrupt_index")
        return (
            f"the corrupt-record column {CORRUPT!r} (option columnNameOfCorruptRecord) is null in every row: put "
            "raw_text(record) at self.corrupt_index"
        )
    if len(bad) != len(malformed):
        return f"{len(bad)} rows have a raw text in {CORRUPT!r}; the service sent {len(malformed)} malformed records"
    for text in bad:
        if not is_served_text(text, forms):
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
    good = [{name: value for name, value in row.asDict().items() if name != CORRUPT} for row in rows if row[CORRUPT] is None]
    if checksum(to_json_record(row) for row in good) != quirky.truth.checksum("events", drop_malformed=True):
        return "the well-formed records differ from the served ones"


def keeps_rows_without_a_corrupt_column(c):
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(c.ddl)
    records = c.quirky.truth.records("events")
    malformed = [records[seq - 1] for seq in c.quirky.truth.malformed_seqs()]
    truncated = next(record for record in malformed if isinstance(record, str))
    broken = next(record for record in malformed if isinstance(record, dict))
    for record, what in ((broken, f"the malformed record with seq {broken.get('seq')}"), (truncated, "a truncated record")):
        want = RecordConverter(schema, "PERMISSIVE", "_corrupt_record", key_field="seq").convert(record, where=(0, 0, 0))
        try:
            got = c.RecordConverter(schema, "PERMISSIVE", "_corrupt_record", key_field="seq").convert(record, where=(0, 0, 0))
        except Exception as error:
            return (
                f"with no corrupt-record column in the schema, converting {what} failed with {type(error).__name__}: "
                f"{error}: put the raw text only when the schema has that column (self.corrupt_index is not None)"
            )
        if got is None or tuple(got) != tuple(want):
            return (
                f"with no corrupt-record column in the schema, {what} became {got!r}: in PERMISSIVE mode it is the row "
                "of the fields that fit (the row you are given, as a tuple)"
            )


def dropmalformed(c):
    quirky = c.quirky
    try:
        rows = read_quirky(c, "DROPMALFORMED", c.ddl)
    except Exception as error:
        return f"reading with mode=DROPMALFORMED failed: {spark_error_text(error)}"
    expected = quirky.truth.count("events", drop_malformed=True)
    if len(rows) != expected:
        return (f"DROPMALFORMED gave {len(rows)} rows; the service sent {expected} well-formed records "
                f"(and {len(quirky.truth.malformed_seqs())} malformed)")
    if checksum(to_json_record(row) for row in rows) != quirky.truth.checksum("events", drop_malformed=True):
        return "DROPMALFORMED kept the right number of rows, but not the well-formed records"


def failfast(c):
    from pyspark.sql.types import StructType

    from solutions.conversion import MalformedRecordError

    records = c.quirky.truth.records("events")
    record = next(records[seq - 1] for seq in c.quirky.truth.malformed_seqs() if isinstance(records[seq - 1], dict))
    converter = c.RecordConverter(StructType.fromDDL(c.ddl), "FAILFAST", "_corrupt_record", key_field="seq")
    try:
        converter.convert(record, where=WHERE)
    except MalformedRecordError as error:
        numbers = set(re.findall(r"\d+", str(error)))
        missing = [f"{label} {number}" for label, number in zip(("partition", "page", "item", "seq"), (*WHERE, record["seq"]))
                   if str(number) not in numbers]
        if missing:
            return (
                f"FAILFAST on the record with seq {record['seq']} at partition {WHERE[0]}, page {WHERE[1]}, item "
                f"{WHERE[2]} raised {str(error)[:160]!r}, which does not say {', '.join(missing)}: name the record "
                "with self.describe(record, where)"
            )
    except Exception as error:
        return (
            f"FAILFAST raised {type(error).__name__} ({str(error)[:120]}), not MalformedRecordError: raise "
            "MalformedRecordError, which says the record is malformed and where it is"
        )
    else:
        return f"FAILFAST on a malformed record (seq {record['seq']}) returned instead of raising MalformedRecordError"
    try:
        rows = read_quirky(c, "FAILFAST", c.ddl)
    except Exception as error:
        if "MalformedRecordError" in str(error) or set(map(str, c.quirky.truth.malformed_seqs())) & set(re.findall(r"\d+", str(error))):
            return None
        return f"the FAILFAST read on Spark stopped with {spark_error_text(error)[:160]!r}, not with your MalformedRecordError"
    return f"FAILFAST read {len(rows)} rows on Spark without failing: raise MalformedRecordError at the first malformed record"


class ValuesConverter(RecordConverter):
    """The reference record converter, but timestamp fields go through `parse_timestamp` and decimal fields
    through `decimal_converter`: check() plugs in the learner's with a subclass that sets the two."""

    parse_timestamp = staticmethod(conversion.parse_timestamp)
    decimal_converter = staticmethod(conversion.decimal_converter)

    def __init__(self, schema, *args, **kwargs):
        super().__init__(schema, *args, **kwargs)
        types = {field.name: field.dataType for field in schema.fields}
        self.fields = [(name, self.converter(types[name], convert), nullable) for name, convert, nullable in self.fields]

    def converter(self, data_type, reference):
        """The converter of one field: the one under test for timestamps and decimals, else the reference's."""
        if isinstance(data_type, TimestampType):
            convert = self.parse_timestamp
        elif isinstance(data_type, DecimalType):
            convert = self.decimal_converter(data_type.precision, data_type.scale)
        else:
            return reference
        return lambda value: None if value is None else convert(value)


class Context:
    """What the requirements share: the learner's code, Spark, the services and the report so far."""

    def __init__(self, report, parse_timestamp, format_timestamp, decimal_converter, RecordConverter, url, truth):
        self.report = report
        self.parse_timestamp = parse_timestamp
        self.format_timestamp = format_timestamp
        self.decimal_converter = decimal_converter
        self.RecordConverter = RecordConverter
        self.url = url
        self.truth = truth
        self.spark = None
        self.values_source = self.modes_source = None  # registered names of the data sources with the learner's code
        self.quirky = None  # the check's service with malformed records
        self.ddl = None  # its events' schema


def check(report, parse_timestamp, format_timestamp, decimal_converter, RecordConverter, url, service=None):
    from solutions.datasource import PracticeDataSource
    from solutions.reader import PracticeBatchReader
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    c = Context(report, parse_timestamp, format_timestamp, decimal_converter, RecordConverter, url,
                practice_service(url, service).truth)
    for requirement, test in zip(UNIT_REQUIREMENTS, (parses_zones, refuses_non_timestamps, formats_in_utc,
                                                     keeps_every_digit, refuses_bad_decimals)):
        report.require(requirement, test, c)

    timestamps, decimals = parse_timestamp, decimal_converter  # class bodies do not see the arguments' names

    class LearnersValues(ValuesConverter):
        parse_timestamp = staticmethod(timestamps)
        decimal_converter = staticmethod(decimals)

    class ValuesReader(PracticeBatchReader):
        converter_class = LearnersValues

    class ValuesSource(PracticeDataSource):
        short_name = "lab04_values"
        batch_reader = ValuesReader

    class ModesReader(PracticeBatchReader):
        converter_class = RecordConverter  # the learner's RecordConverter turns every record

    class ModesSource(PracticeDataSource):
        short_name = "lab04_modes"
        batch_reader = ModesReader

    c.spark = get_spark()
    for source in (ValuesSource, ModesSource):
        c.spark.dataSource.register(source)
    c.values_source, c.modes_source = ValuesSource.short_name, ModesSource.short_name
    report.require(ON_SPARK, values_on_spark, c)
    with PracticeService(seed=5, events=200, entities=10, ring_rows=10, malformed_rate=0.08) as quirky:
        c.quirky = quirky
        c.ddl = PracticeDataSource(options={"url": quirky.url, "logLevel": "WARNING"}).schema()
        report.require(PERMISSIVE, permissive, c)
        report.require(NO_CORRUPT_COLUMN, keeps_rows_without_a_corrupt_column, c)
        report.require(DROPMALFORMED, dropmalformed, c)
        report.require(FAILFAST, failfast, c)
