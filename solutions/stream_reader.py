"""The streaming reader: the service's events feed as a stream of micro-batches.

The feed is an append-only log: every event has a sequence number `seq` (1, 2, 3, ... with no
gaps) and the event with a given `seq` never changes. That makes offsets easy:

- an offset is a dict `{"version": 1, "seq": N}` meaning "every event up to seq N". Spark
  stores it as JSON in the checkpoint; we never build JSON strings ourselves. The version
  lets a later connector read (or refuse, with a clear message) offsets an older one wrote;
- a micro-batch from offset `start` to offset `end` holds the events `start.seq < seq <= end.seq`,
  the half-open range `(start, end]`, so consecutive batches never overlap and leave no gap;
- reading a range asks the feed for exactly that range (`after_seq`, `until_seq`), never for
  "whatever is new", so a batch replayed after a restart returns exactly the same rows.

Admission control (how much one micro-batch may take) is feature-detected:

- PySpark 4.2+ has `getDefaultReadLimit`, the two-argument `latestOffset(start, limit)`,
  `reportLatestOffset` and `SupportsTriggerAvailableNow`; Spark passes the limit in and we obey it;
- PySpark 4.0/4.1 calls `latestOffset()` with no arguments, and `maxRecordsPerTrigger` is ignored
  (with a warning): every batch ends at the feed's end. That Spark runs Trigger.AvailableNow
  (Python sources do not support it there) and Trigger.Once as a single batch that ends at the
  first `latestOffset()` it gets, and `latestOffset()` cannot tell which trigger runs: a cap would
  end such a run after the first `maxRecordsPerTrigger` events.

Where each method runs: everything but `read` runs on the driver (in a Python process Spark
keeps for the query); `read` runs on the executors, once per partition, with a copy of the
reader, so what `read` needs must be stored on `self` and pickle.
"""
import logging
from dataclasses import dataclass

from pyspark.sql.datasource import DataSourceStreamReader, InputPartition

from solutions.client import ServiceError
from solutions.observability import configure_logging, micro_batch, micro_batch_id
from solutions.options import OptionError
from solutions.reader import PracticeReader

try:  # PySpark 4.2+: admission control
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows
except ImportError:  # PySpark 4.0/4.1: only the legacy latestOffset()
    ReadAllAvailable = ReadMaxRows = None

try:  # PySpark 4.2+: Trigger.AvailableNow in several batches, each within the read limit
    from pyspark.sql.streaming.datasource import SupportsTriggerAvailableNow
except ImportError:  # PySpark 4.0/4.1: Spark runs Trigger.AvailableNow as a single batch
    SupportsTriggerAvailableNow = object  # nothing to mix in

HAS_ADMISSION_CONTROL = ReadMaxRows is not None  # read limits and Trigger.AvailableNow came together (4.2)

OFFSET_VERSION = 1

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Offsets and partitions
# ---------------------------------------------------------------------------------------------


def make_offset(seq):
    """The offset "every event up to `seq`": a plain dict, which Spark stores as JSON."""
    return {"version": OFFSET_VERSION, "seq": seq}


def offset_seq(offset):
    """The seq of an offset from Spark (a dict it read back from the checkpoint)."""
    if not isinstance(offset, dict) or offset.get("version") != OFFSET_VERSION or not isinstance(offset.get("seq"), int):
        raise ValueError(
            f"offset {offset!r} was not written by this version of the practice stream reader "
            f"(expected {{'version': {OFFSET_VERSION}, 'seq': <int>}}); start the query with a new checkpoint"
        )
    return offset["seq"]


@dataclass(frozen=True)
class SeqRangePartition(InputPartition):
    """Feed events with `after_seq < seq <= until_seq`."""

    index: int
    after_seq: int
    until_seq: int


def plan_seq_ranges(after_seq, until_seq, num_partitions):
    """Split `(after_seq, until_seq]` into up to `num_partitions` adjacent, non-overlapping ranges.

    Each range's `until_seq` is the next one's `after_seq`, so every seq is read exactly once.
    An empty range plans no partitions: Spark's streaming API asks for an empty list then.
    """
    # BEGIN SOLUTION: no ranges for an empty batch, else up to num_partitions ranges that chain
    if until_seq <= after_seq:
        return []
    parts = max(1, min(num_partitions, until_seq - after_seq))
    bounds = [after_seq + (until_seq - after_seq) * i // parts for i in range(parts + 1)]
    return [SeqRangePartition(index, low, high) for index, (low, high) in enumerate(zip(bounds, bounds[1:]))]
    # END SOLUTION


def capped_end(start_seq, latest_seq, max_rows):
    """Where a batch starting after `start_seq` ends: at most `max_rows` events, never past latest."""
    end = latest_seq if max_rows is None else min(latest_seq, start_seq + max_rows)
    return max(end, start_seq)  # never move backwards (e.g. a start beyond the feed's end)


# ---------------------------------------------------------------------------------------------
# Starting position (shared with the simple reader)
# ---------------------------------------------------------------------------------------------


def parse_starting_offsets(text):
    """`startingOffsets` -> "earliest", "latest" or a seq number (start after that seq)."""
    word = str(text).strip().lower()
    if word in ("earliest", "latest"):
        return word
    if word.isdigit():
        return int(word)
    raise OptionError(
        f"option startingOffsets={text!r} is not valid: expected earliest, latest or a sequence "
        "number N (the stream starts after seq N)"
    )


def check_stream_options(options):
    """Refuse, on the driver and before any batch, options a stream read cannot use."""
    if options["resource"] != "events":
        raise OptionError(
            f"option resource={options['resource']!r} cannot be streamed: only `events` has an append feed"
        )
    if options["wireFormat"] == "arrow":
        raise OptionError("option wireFormat=arrow is for batch reads: streaming reads take the events feed as JSON")
    parse_starting_offsets(options["startingOffsets"])


def warn_once_limit_ignored(reader):
    """Say once per query run that maxRecordsPerTrigger does nothing in a call without a read limit.

    Called where only Spark 4.0/4.1 call (the legacy latestOffset(), the simple reader's read()),
    on the driver; Spark builds each reader twice per query there, but only one answers those calls.
    """
    if reader.max_records is None or reader.limit_warning_given:
        return
    reader.limit_warning_given = True
    configure_logging(reader.options)  # the first call of a query comes before any client opens
    log.warning(
        "option maxRecordsPerTrigger=%d is ignored: Spark 4.0/4.1 give Python stream readers no read limit and "
        "run Trigger.AvailableNow and Trigger.Once as one batch that ends at the first latestOffset(), which "
        "cannot tell the trigger, so a cap would end such a run early; every batch reads all available events "
        "(PySpark 4.2+ applies the option)",
        reader.max_records,
    )


def latest_seq(client):
    return client.get("/v1/events/latest")["seq"]


def starting_seq(options, client):
    """The seq a new query starts after, from startingTimestamp or startingOffsets."""
    if options["startingTimestamp"] is not None:
        # The last seq ingested before that time: reading after it starts at that time.
        from solutions.conversion import format_timestamp

        return client.get("/v1/events/seq_at", {"ingest_time": format_timestamp(options["startingTimestamp"])})["seq"]
    starting = parse_starting_offsets(options["startingOffsets"])
    if starting == "earliest":
        return 0
    if starting == "latest":
        return latest_seq(client)
    return starting


def feed_pages(client, after_seq, until_seq, page_size):
    """Pages of feed items with `after_seq < seq <= until_seq`: exactly that range, every time.

    Seqs have no gaps, so a page of n items covers the next n seqs; we count rather than read
    each item's seq because a malformed item (a truncated JSON string) has no readable seq.
    """
    # BEGIN SOLUTION: yield the pages of exactly (after_seq, until_seq]; too few events is an error
    while after_seq < until_seq:
        params = {"after_seq": after_seq, "until_seq": until_seq, "limit": min(page_size, until_seq - after_seq)}
        items = client.get("/v1/events/feed", params)["items"]
        if not items:
            # A replay must return the same rows; fewer rows would silently lose data.
            raise ServiceError(
                f"the events feed has no events after seq {after_seq} (wanted up to seq {until_seq}): "
                "the offsets in the checkpoint are ahead of the service (was it restarted with fewer events?)"
            )
        yield items
        after_seq += len(items)
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


class PracticeStreamReader(PracticeReader, DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Reads the events feed in micro-batches of parallel, non-overlapping seq ranges.

    `SupportsTriggerAvailableNow` is PySpark's interface (4.2+), mixed in so that
    Trigger.AvailableNow runs as several batches, each within `maxRecordsPerTrigger`
    (4.0/4.1 run it as one batch of everything available).
    """

    def __init__(self, options, schema):
        check_stream_options(options)
        super().__init__(options, schema)
        self.max_records = options["maxRecordsPerTrigger"]  # Spark 4.2+ only: see the module docstring
        self.limit_warning_given = False
        self.initial_seq = None  # decided once per query run; "latest" must not move between calls
        self.last_end_seq = None  # Spark 4.0/4.1: the end of the last batch; the next one never ends before it
        self.available_now_seq = None  # Trigger.AvailableNow: never go past the feed's end at start

    # -- offsets (driver) -------------------------------------------------------------------

    def initialOffset(self):
        """Where a new query starts; a restarted query continues from its checkpoint instead."""
        if self.initial_seq is None:
            self.prepare()
            with self.client_class(self.options) as client:
                self.initial_seq = starting_seq(self.options, client)
        return make_offset(self.initial_seq)

    def getDefaultReadLimit(self):
        """Spark 4.2+: the limit Spark passes to latestOffset on every ordinary trigger."""
        return ReadAllAvailable() if self.max_records is None else ReadMaxRows(self.max_records)

    def latestOffset(self, start=None, limit=None):
        """The end of the next micro-batch.

        Spark 4.2+ calls `latestOffset(start, limit)`: the batch starts at `start` and `limit`
        is our default limit, or ReadAllAvailable when the trigger needs everything. Spark
        4.0/4.1 calls `latestOffset()`: we return the feed's end, never before the end of the
        last batch (or the initial offset), and never cap: that Spark runs Trigger.AvailableNow
        and Trigger.Once up to the first answer and stops, and nothing here says which trigger
        runs. The defaults make one method serve both; Spark tells them apart by this signature
        (no parameters would mean the legacy API).
        """
        if start is None:
            warn_once_limit_ignored(self)  # Spark 4.0/4.1: maxRecordsPerTrigger cannot apply
        # BEGIN SOLUTION: the end of the batch from `start` (None: no cap), within `limit` and the feed
        self.prepare()
        with self.client_class(self.options) as client:
            latest = latest_seq(client)
        if start is None:  # Spark 4.0/4.1: no read limit, and a cap would end AvailableNow/Once runs early
            start_seq = self.last_end_seq if self.last_end_seq is not None else offset_seq(self.initialOffset())
            max_rows = None
        else:
            start_seq = offset_seq(start)
            max_rows = limit.max_rows if isinstance(limit, ReadMaxRows) else None  # else ReadAllAvailable
        if self.available_now_seq is not None:
            latest = min(latest, self.available_now_seq)
        end_seq = capped_end(start_seq, latest, max_rows)
        self._remember_end(end_seq)
        return make_offset(end_seq)
        # END SOLUTION

    def reportLatestOffset(self):
        """Spark 4.2+: the feed's true end, shown in the query progress next to what was read."""
        with self.client_class(self.options) as client:
            return make_offset(latest_seq(client))

    def prepareForTriggerAvailableNow(self):
        """Spark 4.2+, Trigger.AvailableNow: read up to the feed's end now, then stop."""
        with self.client_class(self.options) as client:
            self.available_now_seq = latest_seq(client)

    def partitions(self, start, end):
        """Non-overlapping seq ranges covering `(start, end]`.

        Spark 4.0/4.1 also call this after a restart with the last offset in the checkpoint
        (start == end, an empty plan): the legacy latestOffset() never ends a batch before it.
        """
        self.prepare()  # Spark plans with a reader of its own, and this one's tasks need the key field
        start_seq, end_seq = offset_seq(start), offset_seq(end)
        self._remember_end(end_seq)
        return plan_seq_ranges(start_seq, end_seq, self.options["numPartitions"])

    def commit(self, end):
        """Spark has processed everything up to `end`. The feed keeps all events, so there is
        nothing to acknowledge; a queue that deletes acknowledged messages would do so here."""
        self._remember_end(offset_seq(end))

    def _remember_end(self, seq):
        if self.last_end_seq is None or seq > self.last_end_seq:
            self.last_end_seq = seq

    # -- reading (executors) ----------------------------------------------------------------

    def read(self, partition):
        """The rows of one seq range, read with explicit bounds so a replay is identical."""
        if not isinstance(partition, SeqRangePartition):
            return  # InputPartition(None): Spark's stand-in for an empty plan
        with self.client_class(self.options) as client:
            pages = feed_pages(client, partition.after_seq, partition.until_seq, self.options["pageSize"])
            # Dead letters keyed by query and batch: a batch replayed after a restart adds none twice.
            yield from self.convert_pages(client, pages, partition.index, micro_batch_id(*micro_batch()))
