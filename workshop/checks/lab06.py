"""Lab 06 check: offsets, partitions that cover a batch once, deterministic replay, admission control.

The check starts small practice services of its own (it appends events to their feeds, which the
lab's service should not see). First the learner's stream reader is called directly, as Spark's
driver and executors call it; then it runs in real streaming queries with Trigger.AvailableNow,
restarted from a checkpoint, and the table they fill is compared with the feed's ground truth.

Admission control differs by Spark version (the setup cell prints "read limits and
Trigger.AvailableNow in batches"). 4.2+ pass a read limit to `latestOffset(start, limit)`. 4.0/4.1
call `latestOffset()` and run Trigger.AvailableNow and Trigger.Once as one batch ending at its
first answer, so a legacy `latestOffset()` that caps ends those runs early: the check calls it
directly on every version, and the run on Spark shows the loss on 4.0/4.1.

Rules the lab states, and the requirement that tests each (with inputs where breaking the rule
changes the outcome):

- Offsets are dicts with a version field, plain JSON, never JSON strings: OFFSETS (initialOffset
  and latestOffset, each judged before the next call).
- A batch (start, end] is split into up to numPartitions SeqRangePartitions whose bounds chain
  from start to end, with integer arithmetic; an empty batch (end <= start) plans none:
  PARTITIONS, on the partitions' bounds themselves (what the given `read` reads): sizes that
  separate floor from ceiling (200 seqs in 7, 3 seqs in 8), a single seq, start == end, end
  before start, and seqs near 10**17, where float arithmetic loses the exact bounds. At least two
  ranges when the batch and numPartitions allow it (parallel tasks); none empty (3 seqs after seq
  10 in 8: `until + after` for the count would plan 8, five of them empty).
- `read` asks for the closed range, so a replay returns exactly the same rows after new events
  arrived: REPLAY (a partition of 60 seqs in pages of 7, read, 30 events appended, read again),
  at most pageSize items a request (9 requests for those 60 seqs).
- Pages are counted, not read for their seqs (a truncated record has none): MALFORMED_ITEMS, on a
  feed where a truncated record ends a page.
- An empty page before until_seq is an error (ServiceError), never fewer rows: LOST_EVENTS (a
  range that runs past the feed's end; a read that loops forever is stopped after 10 s).
- latestOffset(start, limit) on 4.2+: the batch starts at `start`, takes at most
  `limit.max_rows` for ReadMaxRows and everything for ReadAllAvailable, never goes past the
  feed's end, nor past `available_now_seq` once prepareForTriggerAvailableNow() set it (events
  appended after it), nor ends before `start`: LIMIT (skipped where PySpark has no read limits).
- latestOffset() (4.0/4.1): the feed's end, never capped whatever maxRecordsPerTrigger says,
  new events seen by the next call, starting at the end of the last batch (what partitions(x, x)
  records on a restart) or else the initial offset, never ending before it: LEGACY (on every
  version, directly: 4.2+ never call it).
- On Spark, Trigger.AvailableNow reads every event once, in batches that chain, each within
  maxRecordsPerTrigger on 4.2+ (two batches), one batch of everything on 4.0/4.1: ON_SPARK.
- A query restarted from its checkpoint reads what arrived meanwhile, once: RESTART.

Not tested, on purpose: which partition gets which index (only `read`'s dead letters use it), and
a cap read from `self.max_records` instead of `limit.max_rows` (Spark passes the default limit,
so the two agree wherever Spark calls it).
"""
import functools
import json
import os
import tempfile
import threading

from workshop.checks import new_name, spark_error_text
from workshop.query_progress import batch_progress
from workshop.truth import checksum

EVENTS = 150  # in the check's own feed at the start
MAX_ROWS = 100  # maxRecordsPerTrigger of the direct calls
HUGE = 10**17  # seqs where float arithmetic cannot hold the exact bounds
READ_SECONDS = 10  # a read that takes longer loops forever

OFFSETS = "offsets are dicts with a version field (Spark stores them as JSON)"
PARTITIONS = "partitions(start, end) cover (start, end] once: bounds that chain, none for an empty batch"
REPLAY = "read(partition) returns exactly its range, the same rows every time"
MALFORMED_ITEMS = "read(partition) counts the items of a page: a truncated record has no seq"
LOST_EVENTS = "read(partition) raises ServiceError when the feed ends before the range does"
LIMIT = "latestOffset(start, limit) obeys the read limit and Trigger.AvailableNow's end (Spark 4.2+)"
LEGACY = "latestOffset() without arguments ends at the feed's end, whatever maxRecordsPerTrigger says (Spark 4.0/4.1)"
ON_SPARK = "on Spark, Trigger.AvailableNow reads the feed exactly, in batches within maxRecordsPerTrigger on 4.2+"
RESTART = "on Spark, a query restarted from its checkpoint reads what arrived meanwhile, then stops"

HINTS = {
    "plan_seq_ranges": [
        "Cut (after_seq, until_seq] at a few points between the two ends: each range starts where the previous "
        "one stopped, the first at after_seq and the last at until_seq. An empty range has no ranges at all.",
        "Never use more ranges than there are seqs, so none is empty; and stay in integers: seqs can be large, and "
        "a float bound can miss by a few seqs.",
        "parts = min(num_partitions, until_seq - after_seq); the bound of cut i is after_seq plus i/parts of the "
        "width, computed as (until_seq - after_seq) * i // parts; pair neighbouring bounds into SeqRangePartitions.",
    ],
    "feed_pages": [
        "Ask the feed for the same closed range every time (after_seq and until_seq), one page at a time, moving "
        "after_seq forward until it reaches until_seq.",
        "Move forward by the number of items on the page, not by an item's seq: a truncated record is a string. An "
        "empty page before until_seq means events are missing: raise ServiceError, never stop quietly.",
        "while after_seq < until_seq: get the page with limit=min(page_size, until_seq - after_seq); raise "
        "ServiceError if it has no items; yield the items; after_seq += len(items).",
    ],
    "PracticeStreamReader.latestOffset": [
        "Decide where the batch starts (start, or on 4.0/4.1 the end of the last batch or the initial offset), how "
        "far it may go (the feed's latest seq, and available_now_seq when set), and whether the limit caps it.",
        "Without a start (Spark 4.0/4.1) never cap: those versions stop Trigger.AvailableNow after the first "
        "batch. With a start, only a ReadMaxRows caps; ReadAllAvailable takes everything.",
        "latest = min(latest_seq(client), available_now_seq if set); max_rows = limit.max_rows for a ReadMaxRows "
        "else None; end = capped_end(start_seq, latest, max_rows); self._remember_end(end); return make_offset(end).",
    ],
}


class Context:
    """What the requirements share: the learner's reader class, the check's feed, and what earlier ones found."""

    def __init__(self, reader_class, feed, schema):
        self.reader_class = reader_class
        self.feed = feed
        self.schema = schema
        self.seq_index = schema.names.index("seq")
        self.first_run = None  # the first Spark run's table, checkpoint and settings, once it ran
        self.spark = None
        self.source = None  # the registered name of the data source with the learner's reader

    def reader(self, feed=None, **options):
        """A learner's reader on `feed` (the check's by default), made the way the data source makes it."""
        from solutions.options import parse_options

        # ERROR: the legacy latestOffset() warns that maxRecordsPerTrigger is ignored, as it should
        raw = {"url": (feed or self.feed).url, "startingOffsets": "earliest", "logLevel": "ERROR"}
        raw.update({name: str(value) for name, value in options.items()})
        return self.reader_class(parse_options(raw), self.schema)

    def seqs(self, rows):
        return [row[self.seq_index] for row in rows]

    def latest(self):
        return self.feed.truth.count("events")


def seq_of(offset):
    """The seq of an offset the learner's reader returned, or an error saying what it is instead."""
    if not isinstance(offset, dict) or not isinstance(offset.get("seq"), int):
        raise AssertionError(f"an offset is {type(offset).__name__} {offset!r}, not a dict with an int seq")
    return offset["seq"]


def read_within(reader, partition, seconds):
    """(rows, error) of reading `partition`, or (None, None) when the read is still going after `seconds`."""
    outcome = {}

    def read():
        try:
            outcome["rows"] = list(reader.read(partition))
        except Exception as error:  # judged by the caller
            outcome["error"] = error

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(seconds)
    return outcome.get("rows"), outcome.get("error")


# -- called directly ------------------------------------------------------------------------------


def offsets_are_dicts(c):
    from solutions.stream_reader import HAS_ADMISSION_CONTROL

    one = c.reader(maxRecordsPerTrigger=MAX_ROWS)
    start = one.initialOffset()

    def latest_offset():
        return one.latestOffset(start, one.getDefaultReadLimit()) if HAS_ADMISSION_CONTROL else one.latestOffset()

    # Judge each offset before the next call: a wrong initial offset can break latestOffset().
    for what, call in (("initialOffset()", lambda: start), ("latestOffset()", latest_offset)):
        offset = call()
        if isinstance(offset, str):
            return (
                f"{what} returned the string {offset!r}: Python data sources take offsets as dicts, which "
                "Spark turns into JSON itself; return a dict such as {'version': 1, 'seq': N}"
            )
        if not isinstance(offset, dict):
            return f"{what} returned {type(offset).__name__} {offset!r}: return a dict such as {{'version': 1, 'seq': N}}"
        try:
            again = json.loads(json.dumps(offset))
        except (TypeError, ValueError) as error:
            return f"{what} returned {offset!r}, which is not plain JSON ({error}): use ints and strings only"
        if again != offset:
            return f"{what} returned {offset!r}, which comes back from JSON as {again!r}"
        if "version" not in offset:
            return f"{what} returned {offset!r} without a version field: add one, so a later reader can recognise it"


def chain_problem(planned, after, until, parts):
    """What is wrong with the bounds of `planned` for the batch (after, until] and numPartitions=parts, or None."""
    from solutions.stream_reader import SeqRangePartition

    batch = f"partitions({after}, {until}) with numPartitions={parts}"
    if not isinstance(planned, (list, tuple)):
        return f"{batch} returned {type(planned).__name__}, not a list of SeqRangePartitions"
    if until <= after:
        if planned:
            return (f"{batch} planned {len(planned)} partition(s) for an empty batch: plan none (Spark calls "
                    "partitions(x, x) on a restart, and a stand-in partition would read nothing anyway)")
        return None
    wrong = [p for p in planned if not isinstance(p, SeqRangePartition)]
    if wrong:
        return f"{batch} planned {wrong[0]!r}: plan SeqRangePartition(index, after_seq, until_seq)s"
    if not planned:
        return f"{batch} planned no partitions for {until - after} seqs"
    if len(planned) > parts:
        return f"{batch} planned {len(planned)} partitions: at most numPartitions ({parts})"
    floats = [p for p in planned if not (type(p.after_seq) is int and type(p.until_seq) is int)]
    if floats:
        return (f"{batch} planned {floats[0]!r}, whose bounds are not ints: use integer arithmetic (//), a float "
                "loses seqs when they are large")
    if planned[0].after_seq != after:
        first = planned[0].after_seq
        return (f"{batch}: the first partition starts after seq {first}, not after {after}, so seq "
                f"{min(first, after) + 1} is {'read twice or outside the batch' if first < after else 'never read'}")
    for number, (one, next_one) in enumerate(zip(planned, planned[1:])):
        if next_one.after_seq < one.until_seq:
            return (f"{batch}: partitions {number} and {number + 1} overlap at seq {next_one.after_seq + 1} "
                    f"(({one.after_seq}, {one.until_seq}] and ({next_one.after_seq}, {next_one.until_seq}]): make "
                    "each partition's after_seq the previous one's until_seq")
        if next_one.after_seq > one.until_seq:
            return (f"{batch}: between partitions {number} and {number + 1} seq {one.until_seq + 1} is never read "
                    f"(({one.after_seq}, {one.until_seq}] then ({next_one.after_seq}, {next_one.until_seq}]): make "
                    "each partition's after_seq the previous one's until_seq")
    if planned[-1].until_seq != until:
        last = planned[-1].until_seq
        if last > until:
            lost = f"seq {until + 1} lies outside the batch"
        else:
            lost = f"seq {until} is never read" if last + 1 == until else f"seqs {last + 1} to {until} are never read"
        return f"{batch}: the last partition ends at seq {last}, not {until}: {lost}"
    backwards = [p for p in planned if p.until_seq < p.after_seq]
    if backwards:
        return f"{batch} planned {backwards[0]!r}, which ends before it starts"
    empty = [p for p in planned if p.until_seq == p.after_seq]
    if empty:
        return (f"{batch} planned {len(planned)} partitions for {until - after} seqs, {len(empty)} of them empty "
                f"({empty[0]!r}): plan at most min(numPartitions, seqs) of them, each holding at least one seq (an "
                "empty partition is a task that reads nothing)")
    if until - after >= 2 and parts >= 2 and sum(p.until_seq > p.after_seq for p in planned) < 2:
        return (f"{batch} put all {until - after} seqs in one partition: split a batch into up to numPartitions "
                "ranges, so that tasks read in parallel")
    return None


def partitions_chain(c):
    from solutions.stream_reader import make_offset

    for after, until, parts in ((0, 100, 3), (50, 250, 7), (10, 13, 8), (17, 18, 4), (120, 120, 4), (130, 120, 3),
                                (HUGE, HUGE + 10, 3)):
        one = c.reader(numPartitions=parts)
        problem = chain_problem(list(one.partitions(make_offset(after), make_offset(until))), after, until, parts)
        if problem and after >= HUGE:
            return (f"{problem}. Here seqs are near 10**17, where a float cannot hold every integer: compute the "
                    "bounds with integers only (//, never /)")
        if problem:
            return problem


def replay_is_deterministic(c):
    from solutions.stream_reader import make_offset

    after, until = 60, 120
    one = c.reader(numPartitions=1, pageSize=7)  # several pages per partition
    (partition,) = one.partitions(make_offset(after), make_offset(until))
    asked = c.feed.request_counts().get(("GET", "/v1/events/feed"), 0)
    first = list(one.read(partition))
    asked = c.feed.request_counts().get(("GET", "/v1/events/feed"), 0) - asked
    got, want = c.seqs(first), list(range(after + 1, until + 1))
    if got != want:
        outside = sorted(set(got) - set(want))
        how = f"seq {outside[0]}, outside it" if outside else f"{len(got)} rows for its {until - after} seqs"
        return (
            f"the partition ({after}, {until}] read {how} (seq {min(got, default=None)} to {max(got, default=None)}): "
            "read exactly after_seq < seq <= until_seq, asking the feed with until_seq, not for whatever it has"
        )
    pages = -(-(until - after) // 7)
    if asked != pages:
        return (
            f"the partition ({after}, {until}] with pageSize=7 was read in {asked} request(s) to the feed, not "
            f"{pages}: ask for at most pageSize items a page (limit = min(page_size, the seqs left))"
        )
    c.feed.append_events(30)  # new events must not leak into a closed range
    again = list(one.read(partition))
    if again != first:
        return (
            f"reading the partition ({after}, {until}] again, after 30 new events arrived, gave {len(again)} rows, "
            f"not the same {until - after}: a replay must read the fixed range again, not what is new"
        )


def truncated_ends_a_page(feed, page_size):
    """A seq whose record is served truncated (a JSON string, no seq), with room for a page before it."""
    records = feed.truth.records("events")
    return next(seq for seq in range(page_size + 1, len(records) - 9) if isinstance(records[seq - 1], str))


def counts_malformed_items(c, quirky):
    from solutions.stream_reader import SeqRangePartition

    page = 5
    seq = truncated_ends_a_page(quirky, page)
    after, until = seq - page, seq + 9  # the first page ends with the truncated record
    one = c.reader(quirky, pageSize=page)
    one.prepare()
    try:
        rows = list(one.read(SeqRangePartition(0, after, until)))
    except (TypeError, KeyError, AttributeError) as error:
        return (
            f"reading ({after}, {until}] in pages of {page} failed with {type(error).__name__}: {error}. Seq {seq} is "
            "a truncated record, a JSON string without a readable seq, at the end of a page: advance after_seq by "
            "the number of items on the page"
        )
    if len(rows) != until - after:
        return (
            f"reading ({after}, {until}] in pages of {page} gave {len(rows)} rows for its {until - after} seqs; seq "
            f"{seq}, a truncated record with no readable seq, ends the first page: advance after_seq by the number "
            "of items on the page, not to the last seq you can read"
        )


def raises_for_lost_events(c, quirky):
    from solutions.client import ServiceError
    from solutions.stream_reader import SeqRangePartition

    end = quirky.truth.count("events")
    after, until = end - 3, end + 10
    one = c.reader(quirky, pageSize=5)
    one.prepare()
    rows, error = read_within(one, SeqRangePartition(0, after, until), seconds=READ_SECONDS)
    if rows is None and error is None:
        return (
            f"reading ({after}, {until}] from a feed that ends at seq {end} did not finish within {READ_SECONDS} s: "
            "when a page comes back empty before until_seq, raise ServiceError instead of asking again"
        )
    if error is None:
        return (
            f"reading ({after}, {until}] from a feed that ends at seq {end} returned {len(rows)} rows without an error: "
            "when a page comes back empty before until_seq, raise ServiceError; a replay that returns fewer rows "
            "loses events silently"
        )
    if not isinstance(error, ServiceError):
        return (
            f"reading ({after}, {until}] from a feed that ends at seq {end} raised {type(error).__name__}: {error}; "
            "raise ServiceError, saying which seqs are missing"
        )


def latest_offset_obeys_the_limit(c):
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

    from solutions.stream_reader import make_offset

    capped, free = c.reader(maxRecordsPerTrigger=MAX_ROWS), c.reader()
    now = c.latest()
    for one, start, limit, want, why in (
        (capped, 10, capped.getDefaultReadLimit(), 10 + MAX_ROWS, f"at most {MAX_ROWS} events"),
        (capped, 10, ReadAllAvailable(), now, "everything available"),
        (capped, now - 30, ReadMaxRows(MAX_ROWS), now, "the rest of the feed, which is less than the cap"),
        (free, 10, free.getDefaultReadLimit(), now, "everything available"),
        (capped, now + 40, ReadMaxRows(MAX_ROWS), now + 40, "nothing: a batch never ends before its start"),
    ):
        got = seq_of(one.latestOffset(make_offset(start), limit))
        if got != want:
            return (
                f"latestOffset(start=seq {start}, limit={limit!r}) ended the batch at seq {got}, not {want}: with this "
                f"limit the batch takes {why} (the feed ends at {now})"
            )
    # Trigger.AvailableNow: Spark calls prepareForTriggerAvailableNow() once, then the batches end at
    # the feed's end as it was then, whatever arrives later.
    ending = c.reader(maxRecordsPerTrigger=MAX_ROWS)
    ending.prepareForTriggerAvailableNow()
    c.feed.append_events(25)
    for limit in (ReadAllAvailable(), ReadMaxRows(MAX_ROWS)):
        got = seq_of(ending.latestOffset(make_offset(now - 10), limit))
        if got != now:
            return (
                f"after prepareForTriggerAvailableNow() (the feed ended at seq {now}) and 25 new events, "
                f"latestOffset(start=seq {now - 10}, limit={limit!r}) ended the batch at seq {got}: Trigger.AvailableNow "
                "reads what was there when it started; never go past self.available_now_seq when it is set"
            )


def legacy_latest_offset(c):
    from solutions.stream_reader import make_offset

    one = c.reader(maxRecordsPerTrigger=MAX_ROWS)
    for call in ("first", "second"):
        now, got = c.latest(), seq_of(one.latestOffset())
        if got < now:
            return (
                f"the {call} latestOffset() with maxRecordsPerTrigger={MAX_ROWS} ended the batch at seq {got}, "
                f"not at the feed's end ({now}): Spark 4.0/4.1 run Trigger.AvailableNow and Trigger.Once as one "
                "batch that ends at the first latestOffset(), which cannot tell the trigger, so a cap here ends "
                "the run early; without a start, take everything available"
            )
        if got > now:
            return f"the {call} latestOffset() ended the batch at seq {got}, past the feed's end ({now})"
        c.feed.append_events(20)  # the second call must see them
    ahead = c.latest() + 40
    got = seq_of(c.reader(startingOffsets=ahead).latestOffset())
    if got != ahead:
        return (
            f"with startingOffsets={ahead} (after the feed's end, {c.latest()}) latestOffset() ended the first batch "
            f"at seq {got}: a batch never ends before it starts; begin at the initial offset (or the end of the "
            "last batch) and never go below it"
        )
    restarted = c.reader()  # startingOffsets=earliest, restarted from a checkpoint that ends at `ahead`
    restarted.partitions(make_offset(ahead), make_offset(ahead))  # what Spark 4.0/4.1 call on a restart
    got = seq_of(restarted.latestOffset())
    if got != ahead:
        return (
            f"after a restart from a checkpoint that ends at seq {ahead} (partitions({ahead}, {ahead}) records it in "
            f"self.last_end_seq), latestOffset() ended the next batch at seq {got}, before that end: start at "
            "self.last_end_seq when it is set, else at the initial offset"
        )


# -- on Spark -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def read_limits_on_spark(spark):
    """Whether the PySpark that runs the stream reader (a Connect server's) has read limits."""

    def probe(_):  # defined here so it pickles by value
        try:
            from pyspark.sql.streaming.datasource import ReadMaxRows  # noqa: F401
        except ImportError:
            return False
        return True

    from pyspark.sql.functions import udf

    return spark.range(1).select(udf(probe, "boolean")("id")).first()[0]


def run_available_now(c, table, checkpoint, max_rows):
    """Run the learner's stream into `table` with Trigger.AvailableNow until it stops; (batches, error text)."""
    frame = (
        c.spark.readStream.format(c.source).option("url", c.feed.url).option("startingOffsets", "earliest")
        .option("maxRecordsPerTrigger", max_rows).option("numPartitions", 3)
        .option("logLevel", "ERROR").load()  # ERROR: on 4.0/4.1 the reader warns that the limit is ignored
    )
    query = (
        frame.writeStream.format("practice").option("url", c.feed.url).option("table", table)
        .option("checkpointLocation", "file:" + checkpoint).option("logLevel", "WARNING")
        .trigger(availableNow=True).start()
    )
    try:
        if not query.awaitTermination(180):
            return None, "the Trigger.AvailableNow query did not stop within 180 s"
        if query.exception() is not None:
            return None, spark_error_text(query.exception())
    except Exception as error:
        return None, spark_error_text(error)
    finally:
        query.stop()
    return batch_progress(query), None


def table_problem(c, table, what, read_limits):
    """Whether `table` holds the feed exactly; else what it holds instead."""
    try:
        rows = c.feed.truth.table(table)
    except KeyError:  # the sink never created the table
        rows = []
    latest = c.latest()
    if len(rows) == latest and checksum(rows) == c.feed.truth.checksum("events", until_seq=latest):
        return None
    distinct = len({row["seq"] for row in rows})
    if distinct < len(rows):
        why = ": some events were read twice"
    elif distinct < latest and not read_limits:
        why = (": Trigger.AvailableNow stopped early. This Spark (no read limits: 4.0/4.1) runs it as one batch "
               "ending at the first latestOffset(): without a start, latestOffset() must not cap")
    else:
        why = ""
    return f"{what} the query wrote {len(rows)} rows ({distinct} distinct seqs) for a feed of {latest} events{why}"


def reads_on_spark(c):
    read_limits = read_limits_on_spark(c.spark)
    table, checkpoint = new_name("lab06"), os.path.join(tempfile.mkdtemp(prefix="lab06-"), "checkpoint")
    latest = c.latest()
    max_rows = (latest + 1) // 2  # two batches where Spark passes read limits
    batches, error = run_available_now(c, table, checkpoint, max_rows)
    if error:
        return f"the streaming query failed: {error}"
    c.first_run = (table, checkpoint, max_rows, read_limits)  # it ran: the restart can follow, whatever it wrote
    for batch in batches:
        width = batch["end"] - batch["start"]
        if batch["rows"] != width:
            how = "some events were read twice" if batch["rows"] > width else "some events were never read"
            return f"batch {batch['batch']} read {batch['rows']} rows for the range ({batch['start']}, {batch['end']}]: {how}"
    too_big = [batch for batch in batches if batch["rows"] > max_rows] if read_limits else []
    if too_big:
        return (
            f"batch {too_big[0]['batch']} read {too_big[0]['rows']} rows with maxRecordsPerTrigger={max_rows}: "
            "end each batch at most that many events after its start"
        )
    for before, after in zip(batches, batches[1:]):
        if after["start"] != before["end"]:
            return f"batch {after['batch']} started at seq {after['start']}, not where batch {before['batch']} ended ({before['end']})"
    return table_problem(c, table, f"after a run over a feed of {latest} events", read_limits)


def restarts(c):
    if c.first_run is None:
        return "not run: the first query above failed"
    table, checkpoint, max_rows, read_limits = c.first_run
    c.feed.append_events(20)  # arrive between the runs
    _, error = run_available_now(c, table, checkpoint, max_rows)
    if error:
        return f"the restarted query failed: {error}"
    return table_problem(c, table, "after a restart and 20 new events", read_limits)


def check(report, PracticeStreamReader):
    from solutions.datasource import PracticeDataSource
    from solutions.stream_reader import HAS_ADMISSION_CONTROL
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    class CheckedStream(PracticeDataSource):  # the reference data source, streaming with the learner's reader
        short_name = "lab06_check"
        stream_reader = PracticeStreamReader

    spark = get_spark()
    with PracticeService(seed=16, events=EVENTS) as feed:
        spark.dataSource.register(PracticeDataSource)
        schema = PracticeDataSource(options={"url": feed.url, "logLevel": "ERROR"}).schema()
        from pyspark.sql.types import StructType

        c = Context(PracticeStreamReader, feed, StructType.fromDDL(schema))
        report.require(OFFSETS, offsets_are_dicts, c)
        report.require(PARTITIONS, partitions_chain, c)
        report.require(REPLAY, replay_is_deterministic, c)
        with PracticeService(seed=22, events=40, malformed_rate=0.3) as quirky:  # truncated records in its feed
            report.require(MALFORMED_ITEMS, counts_malformed_items, c, quirky)
            report.require(LOST_EVENTS, raises_for_lost_events, c, quirky)
        if HAS_ADMISSION_CONTROL:
            report.require(LIMIT, latest_offset_obeys_the_limit, c)
        else:
            report.skip(LIMIT, "this PySpark has no read limits; the next line checks the 4.0/4.1 way")
        report.require(LEGACY, legacy_latest_offset, c)
        spark.dataSource.register(CheckedStream)
        c.spark, c.source = spark, CheckedStream.short_name
        report.require(ON_SPARK, reads_on_spark, c)
        report.require(RESTART, restarts, c)
