# Lab 03 source: partitioning by id range, token range and time window. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 03 · Partitioning: id ranges, token ranges, time windows
#
# **Goal:** split a read into partitions that Spark reads in parallel, three ways (one per
# resource of the service), so that every record is read exactly once: no overlap, no gap, and
# never an empty list of partitions.
#
# **Time:** 50 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Three ways to split a read](images/03_partitioning.svg)
#
# `partitions()` runs once, on the driver, while Spark plans the query. It returns a list of
# `InputPartition`s: small picklable values that say what one task reads (here: bounds, never
# data). Spark runs one task per partition, each calling `read(partition)` on an executor.
# Two rules:
#
# 1. **Every record in exactly one partition.** Bounds are half-open, so each partition's end
#    is the next one's start: a record on a boundary belongs to one side only. A gap loses
#    records silently; an overlap duplicates them silently. Neither raises an error.
# 2. **Never an empty list.** Spark does not run zero tasks for `[]`: it plans one partition
#    itself and calls `read` with a stand-in, `None` up to Spark 4.1 and `InputPartition(None)`
#    from 4.2 (the setup cell says which this runtime does). Plan one partition that reads nothing
#    instead (`EmptyPartition` here), which your `read` knows. And return a `list`: Spark refuses a
#    tuple or a generator from `partitions()`.
#
# The practice service has one resource per strategy:
#
# - **Entities** have numeric ids (`/v1/entities/stats` gives `min_id` and `max_id`). Split
#   `[min_id, max_id + 1)` into equal-width ranges `[id_gte, id_lt)`, which the service reads
#   with `?id_gte=&id_lt=`. Equal width is simple and right for evenly spread ids; skewed ids
#   need split points from the data (quantiles).
# - **kv** is a Cassandra-style table: each row has a signed 64-bit token, and the ring
#   (`/v1/ring`) is cut into one range per node, `(start, end]`. The last range wraps around
#   from the largest token to the smallest (`start > end`); a one-node ring has one range with
#   `start == end`, the whole ring; a ring without nodes has no ranges. Split each node's range
#   into pieces, so no task reads across two nodes (a real Cassandra connector sends each task
#   to a replica of its range). Token arithmetic is modulo 2**64.
# - **Events** are time series. The service refuses (413) a window holding more than
#   `max_window_rows` events, and `/v1/events/count` says how many a window holds. Split the
#   time range into `numPartitions` windows `[start, end)`, then halve every window that is too
#   large until each fits: more partitions than asked for, but every one readable. (Events that
#   arrive late, after planning, can still make a window too large at read time; the reader
#   then halves it again, in `_event_pages`.)
#
# Planning asks the service for numbers (stats, counts, the ring) and does arithmetic; the
# planning functions themselves are pure, so you can test them without Spark. Filter pushdown
# (lab 10) runs before `partitions()` and narrows the bounds that are planned. It needs Spark
# 4.1+ (the setup cell says whether this runtime has it) and
# `spark.sql.python.filterPushdown.enabled=true`, and Spark does not apply again a
# filter the source says it handles, so a source claims only what the service applies exactly,
# and only where each row is its record (not in PERMISSIVE mode; lab 10).

# %%
import requests

print(requests.get(f"{lab.url}/v1/entities/stats", timeout=10).json())
print(requests.get(f"{lab.url}/v1/events/stats", timeout=10).json())
requests.get(f"{lab.url}/v1/ring", timeout=10).json()

# %% [markdown]
# ## Your task 1: id ranges
#
# `plan_id_ranges(id_gte, id_lt, num_partitions)` splits `[id_gte, id_lt)` into
# `num_partitions` half-open ranges of equal width give or take one id (no two widths differ by
# more than 1), or fewer when there are fewer ids than partitions, numbered 0, 1, 2, ... in order
# (the index names the partition in logs and metrics). With nothing to read (a bound is `None`
# because the resource is empty, or `id_gte >= id_lt`) it returns `[EmptyPartition()]`. Integer
# arithmetic only: no floats, no `round` (ids can be as large as 2**63).
#
# Stuck? `lab.hint("plan_id_ranges")` gives a hint; run it again for the next (the idea, the
# pitfall, then nearly the answer). The other tasks have hints under their names too.

# %%
from solutions.partitioning import EmptyPartition, IdRangePartition


# %include solutions.partitioning:plan_id_ranges


# %%
plan_id_ranges(1, 101, 4)

# %% [markdown]
# ## Your task 2: token ranges, wrap-around included
#
# `split_token_range(token_gt, token_le, parts)` splits one ring range `(token_gt, token_le]`
# into up to `parts` adjacent pieces of (nearly) equal width, returned as `(token_gt, token_le)`
# pairs. Work modulo `RING_SIZE = 2**64`: measured that way a wrapping range has a width like
# any other, and a range whose ends are equal is the whole ring. A range narrower than `parts`
# gives fewer pieces: a piece with `token_gt == token_le` would mean the whole ring. Bring each
# bound back into `-2**63 .. 2**63-1` with `wrap_token`.
#
# `plan_token_ranges(ring_ranges, num_partitions)` splits every ring range into
# `ceil(num_partitions / len(ring_ranges))` pieces (rounded up, so there are at least
# `num_partitions`: 6 over 4 nodes is 2 pieces each, 8 in all), numbered 0, 1, 2, ... across the
# plan; an empty ring gives `[EmptyPartition()]`.

# %%
from solutions.partitioning import RING_SIZE, EmptyPartition, TokenRangePartition, wrap_token


# %include solutions.partitioning:split_token_range


# %include solutions.partitioning:plan_token_ranges


# %%
ring = requests.get(f"{lab.url}/v1/ring", timeout=10).json()
plan_token_ranges(ring["ranges"], 8)

# %% [markdown]
# ## Your task 3: time windows that fit the service
#
# `fit_windows(windows, count, max_rows)` takes adjacent `(start, end)` windows (aware UTC
# datetimes) and returns adjacent `(start, end)` windows covering the same time, in time order,
# each holding at most `max_rows` events according to `count(start, end)`. A window that fits is
# kept as it is, whatever its width. Halve a window that is too large at `midpoint(start, end)`
# and look at both halves again. A window one microsecond wide that is too large cannot be split
# (its events share one timestamp): raise `ValueError` saying so. `plan_time_windows`,
# shown below it, uses your function on windows that `balanced_windows` cut to hold about as
# many events each: equal lengths of time are not equal work, because late events stretch the
# time range back while most events sit near its end (with equal windows, one task would read
# nearly everything).

# %%
from solutions.partitioning import (
    MICROSECOND, EmptyPartition, TimeWindowPartition, balanced_windows, midpoint, split_time_range,
)


# %include solutions.partitioning:fit_windows


# %include solutions.partitioning:plan_time_windows


# %%
from solutions.client import PracticeClient
from solutions.conversion import format_timestamp, parse_timestamp
from solutions.options import parse_options

with PracticeClient(parse_options({"url": lab.url})) as client:
    stats = client.get("/v1/events/stats")

    def count(start, end):
        return client.get("/v1/events/count", {"start": format_timestamp(start), "end": format_timestamp(end)})["count"]

    windows = plan_time_windows(
        parse_timestamp(stats["min_event_time"]),
        parse_timestamp(stats["max_event_time"]) + MICROSECOND,
        2,
        count,
        stats["max_window_rows"],
    )
[(format_timestamp(w.start), format_timestamp(w.end)) for w in windows]

# %% [markdown]
# ## Your partitions on Spark
#
# The reference reader plans with the reference functions. This one plans with yours: the same
# steps as the reference's `partitions()`, without filter pushdown. Count the rows each task
# read.

# %%
from pyspark.sql.functions import spark_partition_id

from solutions.datasource import PracticeDataSource
from solutions.reader import PracticeBatchReader


class Lab03Reader(PracticeBatchReader):
    """The reference reader, planning with your functions."""

    def partitions(self):
        parts = self.options["numPartitions"]
        self.prepare()  # the reference's setup: the health probe and the schema check
        with self.client_class(self.options) as client:
            if self.resource == "entities":
                stats = client.get("/v1/entities/stats")
                if not stats["count"]:
                    return plan_id_ranges(None, None, parts)
                return plan_id_ranges(stats["min_id"], stats["max_id"] + 1, parts)
            if self.resource == "kv":
                return plan_token_ranges(client.get("/v1/ring")["ranges"], parts)
            stats = client.get("/v1/events/stats")
            if not stats["count"]:
                return [EmptyPartition()]
            start = self.start or parse_timestamp(stats["min_event_time"])
            end = self.end or parse_timestamp(stats["max_event_time"]) + MICROSECOND

            def count(window_start, window_end):
                return client.get("/v1/events/count", self._event_params(window_start, window_end))["count"]

            return plan_time_windows(start, end, parts, count, stats["max_window_rows"])


class Lab03DataSource(PracticeDataSource):
    short_name = "practice_lab03"
    batch_reader = Lab03Reader  # the one piece that differs from the reference


spark.dataSource.register(Lab03DataSource)
kv = spark.read.format("practice_lab03").option("url", lab.url).option("resource", "kv").option("numPartitions", 8).load()
kv.groupBy(spark_partition_id().alias("partition")).count().orderBy("partition").show()

# %% [markdown]
# ## Check
#
# The check tries your functions on many bounds and rings and names the first id, token or
# time that is in two partitions or in none. Then it starts a small practice service of its own,
# reads its entities, kv and events on Spark with your three plans (in one Spark job) and compares
# every record with ground truth.

# %%
from workshop.checks import check_lab

check_lab("03", plan_id_ranges=plan_id_ranges, plan_token_ranges=plan_token_ranges, fit_windows=fit_windows)

# %% [markdown]
# ## Stretch
#
# - Read entities with `numPartitions` 1, 4 and 16 and time `count()`. Where does more stop
#   helping, given the cores your Spark has? What does each extra partition cost the service?
# - Equal-width ranges assume evenly spread ids. Write `plan_id_ranges_by_count`, which asks
#   `/v1/entities?id_gte=&limit=` for split points so each range holds the same number of
#   entities.
# - Plan events with `numPartitions=1` and look at the windows: how many does it take, and why
#   are they not all the same length?
#
# ## Recap
#
# - `partitions()` runs on the driver and returns small, picklable bounds; each is one task.
# - Half-open bounds, each end the next start: every record in exactly one partition.
# - Token ranges wrap: work modulo 2**64; one node is the whole ring; no nodes is no ranges.
# - Windows too large for the service are split on the driver (and again at read time).
# - Never return `[]`: plan one partition that reads nothing.
