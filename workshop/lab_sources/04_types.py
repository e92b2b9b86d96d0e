# Lab 04 source: Spark <-> JSON types and malformed records. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 04 · Types, time zones and malformed records
#
# **Goal:** turn the service's JSON into exactly the Python values Spark expects and back:
# timestamps that keep their instant whatever the machine's time zone, decimals that keep every
# digit; and handle records that do not fit the schema the way Spark's own readers do, with the
# `mode` option.
#
# **Time:** 45 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![JSON, Python and Spark values, and the three modes](images/04_types.svg)
#
# `read` yields Python values, and Spark converts them to its types by the schema. Each Spark
# type wants one Python type: `datetime` for `timestamp`, `decimal.Decimal` for `decimal(p,s)`,
# `date` for `date`, `bytes` for `binary`, a tuple (or `Row`) for a struct, a list for an array, a
# dict for a map, `None` for null. JSON has none of these except strings, numbers, lists and
# objects, so the service writes timestamps as ISO-8601 text with a zone, decimals as strings,
# dates as `YYYY-MM-DD` and binary as base64 (`docs/practice_service.md`).
#
# **Timestamps.** A Spark `timestamp` is an instant. Give Spark an *aware* `datetime` and it
# stores that instant. Give it a *naive* one and it reads it as the local time of the Python
# worker that yields it: on a machine whose clock is not UTC every event shifts by the offset,
# silently. So parse with the zone, and treat text without a zone as the service's convention,
# UTC, never as local time. The other way, when Spark hands rows to a writer (lab 05), a
# `timestamp` arrives as a naive `datetime` in the worker's local time (Arrow batches give aware
# UTC values), so `value.astimezone(UTC)` is right for both, and `.replace(tzinfo=UTC)` is wrong.
# One hour it cannot be right: PySpark makes that naive value with
# `value.astimezone().replace(tzinfo=None)` (4.0 to 4.3), which drops the *fold*, so in the hour a
# DST change repeats (01:30 comes twice in New York on 2026-11-01) two instants become one value.
# The reference row writer therefore takes its rows with local time set to UTC, where no hour
# repeats (`local_time_zone("UTC")`, lab 05); Arrow batches keep the instant anyway.
# `spark.sql.session.timeZone` only changes how Spark *shows* and parses timestamp text; it is
# not the Python worker's zone. (`datetime.fromtimestamp(seconds)` without `tz=` is local time
# too.)
#
# **Decimals.** `float("0.1")` is not 0.1, and a float holds only 15 to 17 significant digits;
# `decimal(18,4)` has 18. Build the `Decimal` from the text. A JSON *number* has already been
# through a binary float when `json.loads` parsed it; the service never sends decimals that way,
# so such a value is a malformed record. (A service that does send numbers needs
# `json.loads(text, parse_float=decimal.Decimal)`.)
#
# **Malformed records.** Spark's JSON and CSV readers take a `mode` option, and so does this
# connector, with what Spark's JSON reader does (since Spark 3.0; `tests/connector/test_differential_json.py`
# compares the two on the same records, on 4.0.1 and 4.3.0):
#
# - `PERMISSIVE` (the default): the fields that fit are kept and the ones that do not become
#   null (inside a struct too; a list or map with an element that does not fit is null as a
#   whole), and the record's raw text goes in the column named by `columnNameOfCorruptRecord`
#   (default `_corrupt_record`) when the schema has that string column. A record that is not a
#   JSON object (the service sends a truncated record as a JSON string) gives a row of nulls.
#   Nothing is lost; you can look at the bad rows later. Every column must be nullable here:
#   Spark's own file sources make a user schema nullable, a Python data source cannot change its
#   schema, so the reference refuses a `NOT NULL` column in PERMISSIVE mode, on the driver.
# - `DROPMALFORMED`: the record is skipped.
# - `FAILFAST`: the read stops at the first malformed record, with an error that says which
#   record: its partition, page and position, and its key.
#
# In the other two modes a null in a `NOT NULL` column makes the record malformed. What counts as
# malformed is stricter than in Spark's JSON reader, on purpose (the service's contract is ISO
# text for timestamps and strings for decimals): Spark reads a JSON number as a timestamp in
# epoch seconds, any JSON value into a string column, a JSON number into a decimal (and rounds
# a decimal with more places than its scale), dates such as `2026-1-1`, text without a zone in
# the session time zone, and wraps 128..255 around in a `tinyint`. Here each of those is a
# malformed record (text without a zone is UTC). `docs/options.md` (option `mode`) has the list.
#
# The reference connector builds one converter per field, once per partition
# (`to_spark_converter`), and a `RecordConverter` that applies them to each record: a value that
# does not fit raises `MalformedValueError` (a struct that fits in part, `PartialValueError`,
# carrying the parts that fit); the mode decides what happens next.
#
# Here are some malformed records, from a second practice service that serves 5 % of its events
# malformed (it stops at the end of the cell):

# %%
import requests

from workshop.service import PracticeService

with PracticeService(seed=5, events=600, malformed_rate=0.05) as quirky:
    served = requests.get(f"{quirky.url}/v1/events/feed", params={"limit": 600}, timeout=10).json()["items"]
    malformed_seqs = set(quirky.truth.malformed_seqs())
malformed = [r for r in served if isinstance(r, str) or r.get("seq") in malformed_seqs]
for record in malformed[:4]:
    print(repr(record)[:150])

# %% [markdown]
# ## Your task 1: timestamps that keep their instant
#
# `parse_timestamp(text)` turns the service's text into an aware `datetime` in UTC: it accepts
# `Z` and any offset, takes text without a zone as UTC, and raises `MalformedValueError` for
# anything else, including numbers. (Python 3.11's `datetime.fromisoformat` accepts `Z`; 3.10's
# does not, hence the reference's replace.) `format_timestamp(value)` goes the other way:
# `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, from an aware or a naive (local) `datetime`, on every day
# Spark holds: a naive `astimezone()` needs a day of room and fails on 0001-01-01 (a common "no
# date" sentinel) and, from Python 3.12, on 9999-12-31; `time.mktime` reads local time there.
#
# Stuck? `lab.hint("parse_timestamp")` and `lab.hint("format_timestamp")` give the idea, then the
# pitfall, then a near-solution, one per call (and so for the other tasks, by their names).

# %%
import datetime
import time

from solutions.conversion import UTC, MalformedValueError


# %include solutions.conversion:parse_timestamp


# %include solutions.conversion:format_timestamp


# %%
print(parse_timestamp("2026-01-01T00:00:00.250000Z"))
print(parse_timestamp("2026-01-01T01:00:00+01:00"))
print(format_timestamp(datetime.datetime(2026, 1, 1, tzinfo=UTC)))

# %% [markdown]
# ## Your task 2: decimals that keep every digit
#
# `decimal_converter(precision, scale)` returns the converter for `decimal(precision,scale)`:
# from the string straight to `decimal.Decimal`, with exactly `scale` decimal places, raising
# `MalformedValueError` for a JSON number, a non-finite value, more decimal places than `scale`
# or more digits than `precision`. Spark's decimals go up to 38 digits; Python's default decimal
# context holds 28, hence `WIDE_DECIMAL_CONTEXT` for arithmetic such as `quantize`.
# (`lab.hint("decimal_converter")`.)

# %%
import decimal

from solutions.conversion import WIDE_DECIMAL_CONTEXT, MalformedValueError, json_kind


# %include solutions.conversion:decimal_converter


# %%
text = "12345678901234.5678"
print(decimal_converter(18, 4)(text), "from the text")
print(decimal.Decimal(float(text)), "through a float")

# %% [markdown]
# ## Your task 3: what a malformed record becomes
#
# Your `RecordConverter` is the reference's with `_malformed(record, reason, where, row)` left to
# you. `convert` calls it when a value did not fit; it returns the row to yield (a tuple), or
# `None` to drop the record. `row` is a list in schema order: the fields that fit, `None` where
# they did not (all `None` for a record that is not a JSON object) and at the corrupt-record
# column. `self.mode` is the upper-cased option, `self.corrupt_index` the position of the
# corrupt-record column (anywhere in the schema, or `None` when it has none), and
# `self.describe(record, where)` says where the record is: `"partition 0, page 2, item 17, seq 47"`.
# FAILFAST raises `MalformedRecordError` with that and the reason. (`lab.hint("RecordConverter._malformed")`.)

# %%
from solutions import conversion as reference_conversion
from solutions.conversion import DROPMALFORMED, FAILFAST, MalformedRecordError, raw_text


class RecordConverter(reference_conversion.RecordConverter):
    """The reference record converter, with your _malformed()."""

    # %include solutions.conversion:RecordConverter._malformed


# %%
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

schema = StructType(
    [StructField("seq", LongType()), StructField("event_time", TimestampType()), StructField("_corrupt_record", StringType())]
)
converter = RecordConverter(schema, "PERMISSIVE", "_corrupt_record", key_field="seq")
for item, record in enumerate(malformed[:3]):
    print(converter.convert(record, where=(0, 0, item)))

# %% [markdown]
# ## Check
#
# The check tries your timestamp and decimal functions on tricky values (with this process's
# time zone switched to New York for a moment, so local-time mistakes show, in winter and in
# summer), reads events on Spark with them, calls your `RecordConverter` directly (FAILFAST's
# message, a schema without a corrupt-record column), and reads a service with malformed records on
# Spark in each mode with it, the corrupt-record column in the middle of the schema.

# %%
from workshop.checks import check_lab

check_lab(
    "04",
    parse_timestamp=parse_timestamp,
    format_timestamp=format_timestamp,
    decimal_converter=decimal_converter,
    RecordConverter=RecordConverter,
    url=lab.url,
)

# %% [markdown]
# ## Stretch
#
# - Read events with the reference connector and `.option("arrow", "true")`: `read` then yields
#   `pyarrow.RecordBatch`es built by `rows_to_record_batch` from the same tuples. Spark checks a
#   batch's columns against your Spark schema, the older versions only their number and names, the
#   newer (4.2+) the whole Arrow schema (types and nullability too; see `arrow_schema`): get the
#   timestamp unit (microseconds) and zone (UTC) right, and it works on both.
# - Run `spark.conf.set("spark.sql.session.timeZone", "America/New_York")` and show a few
#   events. What changed, and what did not? (The display, not the instants.)
# - Read the malformed service with `mode=PERMISSIVE` and a `_corrupt_record` column, then
#   `filter("_corrupt_record IS NOT NULL")`: that is your quarantine table. Lab 09 sends such
#   records to a dead-letter table instead.
#
# ## Recap
#
# - Yield aware datetimes; text without a zone is the service's UTC, never local time.
# - From Spark, a naive timestamp is local time: `astimezone(UTC)`, never `replace(tzinfo=UTC)`;
#   and it has lost its DST fold, so take Rows while local time is UTC (or take Arrow batches).
# - Decimals go from text to `Decimal`, never through float; a JSON number is malformed here.
# - PERMISSIVE keeps the fields that fit and the raw text in the corrupt-record column (as
#   Spark's JSON reader does), DROPMALFORMED skips, FAILFAST stops and names the record's
#   position and key; PERMISSIVE needs nullable columns.
