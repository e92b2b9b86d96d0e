"""The simple streaming reader: the events feed read on the driver, one range per micro-batch.

`SimpleDataSourceStreamReader` is the small version of the streaming API: no partitions and
no separate planning step. Spark calls `read(start)` on the driver, which returns the new rows
*and* the offset where they end; Spark keeps those rows for the batch. Only when a batch must
be read again (a restart replaying the last, unfinished batch) does Spark call
`readBetweenOffsets(start, end)`, which must return exactly the rows `read` returned, so it
asks the feed for that closed range and never for "whatever is new".

Use it for low volumes (a few thousand rows per batch): every row passes through the driver.
For more, use `PracticeStreamReader` (parallel partitions, admission control); see
docs/streaming.md. Offsets are the same dicts as the full reader's, `{"version": 1, "seq": N}`.
"""
from pyspark.sql.datasource import SimpleDataSourceStreamReader

from solutions.options import OptionError
from solutions.reader import PracticeReader
from solutions.stream_reader import (
    HAS_ADMISSION_CONTROL,
    SupportsTriggerAvailableNow,
    capped_end,
    check_stream_options,
    feed_pages,
    latest_seq,
    make_offset,
    offset_seq,
    starting_seq,
    warn_once_limit_ignored,
)


class PracticeSimpleStreamReader(PracticeReader, SimpleDataSourceStreamReader, SupportsTriggerAvailableNow):
    """Reads the events feed on the driver; `maxRecordsPerTrigger` caps each batch on Spark 4.2+."""

    def __init__(self, options, schema):
        check_stream_options(options)
        super().__init__(options, schema)
        if options["arrow"]:
            raise OptionError("option arrow=true needs the full stream reader: use streamReader=full")
        self.max_records = options["maxRecordsPerTrigger"]
        self.limit_warning_given = False
        self.initial_seq = None
        self.available_now_seq = None  # Trigger.AvailableNow (Spark 4.2+): stop at the feed's end at start

    def initialOffset(self):
        if self.initial_seq is None:
            self.prepare()
            with self.client_class(self.options) as client:
                self.initial_seq = starting_seq(self.options, client)
        return make_offset(self.initial_seq)

    def prepareForTriggerAvailableNow(self):
        with self.client_class(self.options) as client:
            self.available_now_seq = latest_seq(client)

    def read(self, start):
        """(rows, end offset): the events after `start`, at most maxRecordsPerTrigger of them (4.2+).

        Spark treats whatever `read` returns as the next batch, so the limit lives here. Only
        where Spark calls `prepareForTriggerAvailableNow` (4.2+), though: Spark 4.0/4.1 run
        Trigger.AvailableNow as a single batch, which a cap would end early.
        """
        if not HAS_ADMISSION_CONTROL:
            warn_once_limit_ignored(self)
        # BEGIN SOLUTION: read what is new now, within the limits, and say where the batch ends
        start_seq = offset_seq(start)
        self.prepare()
        with self.client_class(self.options) as client:
            latest = latest_seq(client)
            if self.available_now_seq is not None:
                latest = min(latest, self.available_now_seq)
            end_seq = capped_end(start_seq, latest, self.max_records if HAS_ADMISSION_CONTROL else None)
            rows = list(self._rows(client, start_seq, end_seq))  # all read now, on the driver
        return iter(rows), make_offset(end_seq)
        # END SOLUTION

    def readBetweenOffsets(self, start, end):
        """The rows of `(start, end]` again, identical to what `read` returned for that batch."""
        # BEGIN SOLUTION: read exactly (start, end] from the feed, never "what is new"
        self.prepare()
        with self.client_class(self.options) as client:
            yield from self._rows(client, offset_seq(start), offset_seq(end))
        # END SOLUTION

    def commit(self, end):
        """Nothing to acknowledge: the feed keeps every event."""

    def _rows(self, client, after_seq, until_seq):
        # `read` runs on the driver, outside any task, where Spark gives no query or batch id; the
        # replay of the same batch (readBetweenOffsets, in a task) reads the same range. So the
        # range names the run in dead-letter keys: a replayed batch records its dead letters once.
        pages = feed_pages(client, after_seq, until_seq, self.options["pageSize"])
        return self.convert_pages(client, pages, 0, f"seqs-{after_seq}-{until_seq}")
