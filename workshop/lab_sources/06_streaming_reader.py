# Lab 06 source: the streaming reader: offsets, deterministic replay, admission control. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 06 · A streaming reader: offsets, deterministic replay, admission control
#
# **Goal:** read the service's events feed as a stream of micro-batches: describe a position in
# the feed with an offset, split each batch into parallel ranges that never overlap, read a range
# so that a replay returns exactly the same rows, and cap the size of a batch with
# `maxRecordsPerTrigger` where Spark passes a read limit (4.2+), and nowhere else.
#
# **Time:** 45 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Offsets, batches and partitions over the feed](images/06_stream_offsets.svg)
#
# The feed is an append-only log: every event has a sequence number `seq` (1, 2, 3, ... with no
# gaps), and the event with a given `seq` never changes. A `DataSourceStreamReader` turns it into
# micro-batches. For every batch Spark calls, in this order:
#
# 1. `initialOffset()` (driver, once for a new query): where the stream starts. A query restarted
#    from its checkpoint continues from the offsets stored there instead.
# 2. `latestOffset(start, limit)` (driver): where the next batch ends. Spark writes the pair
#    (start, end) to the checkpoint's `offsets` log **before** reading anything.
# 3. `partitions(start, end)` (driver): split the batch into `InputPartition`s.
# 4. `read(partition)` (executors, one task per partition, with a pickled copy of the reader):
#    the rows of one partition.
# 5. `commit(end)` (driver): everything up to `end` is done (the feed keeps all events, so the
#    reference has nothing to acknowledge; a queue that deletes acknowledged messages would do it
#    here, and only here).
#
# **Offsets are dicts**, `{"version": 1, "seq": 1234}`: "every event up to seq 1234". Spark turns
# them into JSON for the checkpoint and hands them back as dicts; never build JSON strings
# yourself. The version lets a later reader recognise (or refuse, with a clear message) offsets an
# older one wrote. **A batch is the half-open range `(start, end]`**: the next batch starts where
# this one ended, so batches never overlap and leave no gap; the same rule splits one batch into
# partitions.
#
# **Replay must be deterministic.** After a crash, Spark runs the last planned batch again with the
# offsets from the checkpoint. `read` must then return exactly the same rows: it asks the feed for
# the closed range (`/v1/events/feed?after_seq=S&until_seq=U`), never for "whatever is new".
#
# **Admission control** caps what one batch takes (`maxRecordsPerTrigger`). Which of the two ways
# applies where you run is in the setup cell's output, on the line "read limits and
# Trigger.AvailableNow in batches": *no* is the first, *yes* the second.
#
# - **No read limits (PySpark 4.0 and 4.1, DBR 17.3 LTS):** Spark calls `latestOffset()` with no
#   arguments and gives no read limit. It runs `trigger(availableNow=True)` (which Python sources do not support
#   there) and `trigger(once=True)` as a *single* batch that ends at the first offset
#   `latestOffset()` returns, and `latestOffset()` cannot tell which trigger runs. A reader that
#   caps there ends such a run after the first `maxRecordsPerTrigger` events (the reference
#   did: 100 of 250 events). So `latestOffset()` returns the feed's end, never caps, and the
#   reference says once, in a warning, that the option is ignored.
# - **Read limits (PySpark 4.2+)** add admission control: `getDefaultReadLimit()` returns
#   `ReadMaxRows(n)` (or `ReadAllAvailable()`), Spark calls `latestOffset(start, limit)` with that limit (or with
#   `ReadAllAvailable` when a trigger needs everything), `reportLatestOffset()` shows the feed's
#   true end in the query progress, and `SupportsTriggerAvailableNow` lets
#   `trigger(availableNow=True)` run several capped batches and stop.
#
# The reference does both in one method: `latestOffset(self, start=None, limit=None)`. Spark tells
# the two APIs apart by the method's signature, and the 4.2 names are imported in
# `try`/`except ImportError`.
#
# The feed, by hand: a closed range reads the same whenever you ask.

# %%
import requests

latest = requests.get(f"{lab.url}/v1/events/latest", timeout=10).json()
print("the feed ends at seq", latest["seq"])
page = requests.get(f"{lab.url}/v1/events/feed", params={"after_seq": 100, "until_seq": 103, "limit": 10}, timeout=10).json()
[(item["seq"], item["kind"]) for item in page["items"]]

# %% [markdown]
# ## Your task 1: split a batch into ranges
#
# `plan_seq_ranges(after_seq, until_seq, num_partitions)` splits `(after_seq, until_seq]` into up to
# `num_partitions` `SeqRangePartition(index, after_seq, until_seq)`s whose bounds chain: each
# range's `until_seq` is the next one's `after_seq`, and each holds at least one seq (an empty
# partition is a task that reads nothing). An empty range (`until_seq <= after_seq`)
# plans no partitions: the streaming API asks for an empty list then (Spark calls
# `partitions(x, x)` on restart). Integer arithmetic only.

# %%
from solutions.stream_reader import SeqRangePartition

# %include solutions.stream_reader:plan_seq_ranges


# %%
plan_seq_ranges(100, 200, 3)

# %% [markdown]
# ## Your task 2: read exactly one range
#
# `feed_pages(client, after_seq, until_seq, page_size)` yields the pages (lists of feed items) of
# `after_seq < seq <= until_seq`. Ask `client.get("/v1/events/feed", params)` with `after_seq`,
# `until_seq` and `limit` until the range is read. Seqs have no gaps, so a page of n items covers
# the next n seqs: advance `after_seq` by the number of items (a malformed item may be a truncated
# JSON string without a readable `seq`). An empty page before `until_seq` means the service lost
# events: raise `ServiceError`, because returning fewer rows would silently lose data on replay.

# %%
from solutions.client import ServiceError

# %include solutions.stream_reader:feed_pages


# %%
from solutions.client import PracticeClient
from solutions.options import parse_options

with PracticeClient(parse_options({"url": lab.url})) as client:
    print([len(page) for page in feed_pages(client, 0, 25, 10)], "items per page")

# %% [markdown]
# ## Your task 3: where the next batch ends
#
# Your reader is the reference `PracticeStreamReader` with `latestOffset` left to you, and with
# `partitions` and `read` (given) using your functions above. Two calling conventions, one method:
#
# - `start is None`: no read limits (Spark 4.0/4.1). The batch starts at `self.last_end_seq` (the
#   end of the last batch, which `partitions` and `commit` also record; after a restart Spark
#   calls `partitions(x, x)` with the checkpoint's end) or else the initial offset, and takes
#   **everything** available: no cap, whatever `self.max_records` says (see above). The given
#   first line warns once that the option is ignored.
# - else read limits (Spark 4.2+): start from `start`; cap with `limit.max_rows` when `limit` is a
#   `ReadMaxRows`, not at all for `ReadAllAvailable`.
#
# Never go past the feed's latest seq (`latest_seq(client)`) nor past `self.available_now_seq`
# when it is set, and never end before the start; `capped_end(start_seq, latest, max_rows)` does
# the arithmetic (`max_rows=None`: no cap). Remember the end with `self._remember_end(end_seq)`
# and return `make_offset(end_seq)`.
#
# Stuck on a task? `lab.hint("plan_seq_ranges")`, `lab.hint("feed_pages")` and
# `lab.hint("PracticeStreamReader.latestOffset")` give the idea, then the pitfall, then a
# near-solution, one per call.

# %%
from solutions import stream_reader as reference_stream_reader
from solutions.observability import micro_batch, micro_batch_id
from solutions.stream_reader import (
    ReadMaxRows, capped_end, latest_seq, make_offset, offset_seq, warn_once_limit_ignored,
)


class Lab06StreamReader(reference_stream_reader.PracticeStreamReader):
    """The reference stream reader, with your latestOffset() and your functions above."""

    # %include solutions.stream_reader:PracticeStreamReader.latestOffset

    # %include solutions.stream_reader:PracticeStreamReader.partitions

    # %include solutions.stream_reader:PracticeStreamReader.read


# %% [markdown]
# Called by hand, as Spark's driver would: an offset, a batch (capped where Spark has read limits),
# its partitions, and a replay of one partition after new events arrived.

# %%
from solutions.stream_reader import HAS_ADMISSION_CONTROL

schema = spark.read.format("practice").option("url", lab.url).load().schema
options = parse_options({"url": lab.url, "startingOffsets": "earliest", "maxRecordsPerTrigger": "100", "numPartitions": "2"})
reader = Lab06StreamReader(options, schema)
start = reader.initialOffset()
limit = reader.getDefaultReadLimit() if HAS_ADMISSION_CONTROL else None
end = reader.latestOffset(start, limit) if HAS_ADMISSION_CONTROL else reader.latestOffset()
print("batch 0:", start, "->", end)
print("partitions:", reader.partitions(start, end))
first = list(reader.read(reader.partitions(start, end)[0]))
lab.service.append_events(50)
again = list(reader.read(reader.partitions(start, end)[0]))
print(f"partition 0 read {len(first)} rows; read again after 50 new events: {len(again)} rows, same: {first == again}")

# %% [markdown]
# ## Your reader on Spark, live
#
# A data source with your reader, a stream over the last 1,000 events of the feed in batches of
# at most 200 (with read limits; without, one batch takes them all), into Spark's memory sink.
# `follow_query` prints every micro-batch as it completes, from `query.recentProgress` (with read
# limits the progress also shows where the feed really ends, from `reportLatestOffset`);
# `plot_batches` draws rows and milliseconds per batch. Both come from `workshop.query_progress`.

# %%
import json
import time

# %include workshop.query_progress:batch_progress

# %include workshop.query_progress:follow_query

# %include workshop.query_progress:plot_batches


# %%
from solutions.datasource import PracticeDataSource


class Lab06DataSource(PracticeDataSource):
    short_name = "practice_lab06"
    stream_reader = Lab06StreamReader  # yours


spark.dataSource.register(Lab06DataSource)
end_seq = requests.get(f"{lab.url}/v1/events/latest", timeout=10).json()["seq"]
stream = (
    spark.readStream.format("practice_lab06").option("url", lab.url)
    .option("startingOffsets", end_seq - 1000).option("maxRecordsPerTrigger", 200).option("numPartitions", 2).load()
)
query = stream.writeStream.format("memory").queryName("lab06_events").trigger(processingTime="500 milliseconds").start()
try:
    batches = follow_query(query, end_seq)
finally:
    query.stop()
print(spark.table("lab06_events").count(), "rows in the memory table")
plot_batches(batches, "Lab 06: your reader, maxRecordsPerTrigger=200")

# %% [markdown]
# ## Check
#
# The check starts small practice services of its own (it appends events to their feeds). It calls
# your reader directly: offsets; the partitions of batches whose sizes catch rounding and float
# mistakes; a partition read twice with new events in between; a page that ends with a truncated
# record; a range that runs past the feed's end; and `latestOffset` with and without a limit, after
# a restart and under Trigger.AvailableNow. Then it streams the feed into a table on Spark with
# `trigger(availableNow=True)` and `maxRecordsPerTrigger`, appends events, runs it again from the
# checkpoint, and compares the table with the feed each time.

# %%
from workshop.checks import check_lab

check_lab("06", PracticeStreamReader=Lab06StreamReader)

# %% [markdown]
# ## Stretch
#
# - The simple API: `SimpleDataSourceStreamReader.read(start)` returns the rows *and* the end
#   offset, on the driver; `readBetweenOffsets(start, end)` must return exactly those rows again
#   on replay. Read `solutions/simple_stream_reader.py` and stream with `.option("streamReader",
#   "simple")`. When is it the better choice, and when not (see `docs/streaming.md`)?
# - Start a stream with `.option("startingOffsets", "latest")`, append events with
#   `lab.service.append_events(300)` while it runs, and watch the batches arrive.
# - Run the stream with `trigger(availableNow=True)` and `maxRecordsPerTrigger`: how many batches
#   does it make, and where does it stop? Without read limits (4.0/4.1) it makes one batch of
#   everything: subclass your reader with a legacy `latestOffset()` that caps, run it again, and
#   count the rows it wrote.
# - Run the live stream again with `.option("checkpointLocation", path)` on `writeStream` (a new
#   folder, e.g. from `tempfile.mkdtemp()`), then read `path/offsets/0`: what did Spark store of your
#   offset?
#
# ## Recap
#
# - Offsets are dicts with a version field; Spark stores them as JSON. Never JSON strings.
# - A batch is `(start, end]`; its partitions chain their bounds: no overlap, no gap, and no
#   partitions for an empty batch.
# - `read` asks for the partition's fixed range, so a replay returns the same rows; fewer rows is
#   an error, never a silent loss.
# - `latestOffset` decides the batch size: with read limits (4.2+) Spark passes one
#   (`getDefaultReadLimit`, `ReadMaxRows`, `ReadAllAvailable`, plus `reportLatestOffset` and
#   `Trigger.AvailableNow`); without (4.0/4.1) Spark calls `latestOffset()`, which must return the
#   feed's end: those versions end a Trigger.AvailableNow or Trigger.Once run at its first answer.
# - Everything but `read` runs on the driver; `read` runs on executors with a pickled copy of the
#   reader, so what it needs lives on `self`.
