# Lab 05 source: the batch writer, two-phase commit and the Arrow writer. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 05 · A batch writer: commit messages, two-phase commit, Arrow
#
# **Goal:** write a DataFrame to the service so that a write is all or nothing: every task stages
# its rows and reports them in a commit message, the driver publishes all stages at once, and a
# failed write leaves nothing visible. Then take Arrow batches instead of rows.
#
# **Time:** 45 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Stage in write, publish in commit, discard in abort](images/05_two_phase.svg)
#
# `df.write.format(...).mode("append" | "overwrite").save()` calls, in this order:
#
# 1. `DataSource.writer(schema, overwrite)` on the driver, once per write: make the writer, whose
#    constructor only checks the options and the schema, then set up. The reference calls
#    `writer.prepare()` here: the health probe and creating the table. Spark pickles this writer
#    for the tasks and the commit, so that happens once. (Not in the constructor: Spark makes
#    stream writers for every micro-batch, commit and abort, lab 07. A writer that never ran
#    `prepare`, such as one you make by hand below, creates the table with the first request that
#    finds it missing: `post_to_table`.) Python data sources take the modes `append` and
#    `overwrite` only; `error` and `ignore` are refused by Spark (`UNSUPPORTED_DATA_SOURCE_SAVE_MODE`).
# 2. `write(iterator)` on the executors, once per partition, with the partition's rows. It must
#    return a **`WriterCommitMessage`**: an instance of a subclass of it that carries what the
#    driver needs (here: the stage id and counts). `None` or a dict fails the task
#    (`DATA_SOURCE_TYPE_MISMATCH`).
# 3. `commit(messages)` on the driver, once, with one message per partition, when every task
#    succeeded; or `abort(messages)` when one failed, with `None` in place of each task that did
#    not finish.
#
# **Why stage?** A task can fail half-way and be retried, and a failed job leaves some tasks done
# and others not. If `write` made rows visible directly, a failed job would leave part of the data
# in the table and a retried task would add its rows twice. With a two-phase commit nothing is
# visible until `commit`: each task *stages* its rows (`POST /v1/tables/t/stages`, then batches to
# `.../stages/<id>/rows`), the driver *publishes* all stages in one atomic call
# (`POST .../commit`), and `abort` *discards* them. A task that fails inside `write` (an HTTP
# error, a value the service refuses) discards its own stage, since Spark has no message from it
# for `abort`. A task whose Python process dies (killed, out of memory, a lost executor) never
# reaches its `except`, and a task that Spark runs again leaves its first attempt's stage behind:
# neither stage is in a commit message. So every stage is made under the **write's id**
# (`self.commit_id`, made once per write: `POST .../stages` with `{"write_id": ...}`), and
# `commit` and `abort` end by listing the write's open stages (`GET .../stages?write_id=...`) and
# discarding those that no message names (`discard_leftover_stages`, given). That is best effort:
# Spark calls `abort` without waiting for the tasks it cancelled, and a stage one of them makes
# afterwards stays open (invisible; `GET .../stages` lists it). The commit carries
# the same id, so the same commit sent twice publishes once; `overwrite` replaces the table's rows
# in that same atomic step. (The other protocol of the connector, `writeProtocol=idempotent`,
# posts rows at once with an idempotency key: simpler, visible immediately, no overwrite.)
#
# **Where values come from.** With the `DataSourceWriter`, `write` gets `Row`s, and a `timestamp`
# is a naive `datetime` in the worker's local time (lab 04). With the `DataSourceArrowWriter`
# (Spark 4.0+) it gets `pyarrow.RecordBatch`es: no per-row Python objects on the way, and
# timestamps arrive aware, in UTC. The reference's `row_to_json_converter` turns either into the
# service's JSON. (Streaming writers, lab 07, add the batch id to `commit` and `abort`.)
#
# The commit message the reference writer returns, and the staged protocol by hand:

# %%
from dataclasses import dataclass

from pyspark.sql.datasource import WriterCommitMessage


# %include solutions.writer:PracticeCommitMessage


# %%
import requests

table = "lab05_by_hand"
requests.put(f"{lab.url}/v1/tables/{table}", json={"fields": [{"name": "id", "type": "bigint"}]}, timeout=10)
stage = requests.post(f"{lab.url}/v1/tables/{table}/stages", timeout=10).json()["stage_id"]
requests.post(f"{lab.url}/v1/tables/{table}/stages/{stage}/rows", json={"rows": [{"id": 1}, {"id": 2}]}, timeout=10)
print("before commit:", requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"], "rows visible")
requests.post(f"{lab.url}/v1/tables/{table}/commit", json={"stage_ids": [stage], "mode": "overwrite"}, timeout=10)
print("after commit:", requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"], "rows visible")

# %% [markdown]
# ## Your task 1: stage, publish, discard
#
# Your `PracticeWriter` is the reference writer with three methods left to you:
#
# - `_stage(client, json_rows, message)` (executors, called by `send`, which `write` calls and
#   which returns the message): for each batch of `options["batchSize"]` rows, create the stage
#   on the first batch with `self.create_stage(client, message.write_id)` (under the write's id),
#   post the batch to it, and count the rows written in `message.rows`. Post with
#   `self.post_rows(client, path, batch, key, batch_number)`: it sends an `Idempotency-Key`, so a
#   retried request cannot stage a batch twice (lab 09), and returns `(written, already_present)`
#   (the second is for the idempotent protocol; a stage's rows are all written). On any
#   exception, discard the stage with `discard_quietly` and re-raise.
# - `publish(client, messages, commit_id, write_id)` (driver; `commit(messages)` calls it with this
#   write's `self.commit_id`): one `POST .../commit` with `stages` (the stage ids of the messages:
#   tasks that had no rows made no stage), `mode` overwrite or append (`self.overwrite`), and the
#   `commit_id`. Post it with `self.post_to_table(client, path, body, idempotent=...)`, which
#   creates the table if no task did (an empty DataFrame); the request may be sent again after a
#   lost answer only when it carries a commit id. Keep the service's answer in `answer`.
# - `discard(client, messages, write_id)` (driver; `abort(messages)` calls it): discard the stage
#   of every message that names one (`staged(messages)`; a failed task sends `None`).
#
# After your part, both call `discard_leftover_stages` (given): the write's open stages that no
# message names, left by tasks whose process died. Lab 07's streaming writer publishes and
# discards its micro-batches with the same two methods.
#
# Stuck? `lab.hint("PracticeWriter._stage")`, `lab.hint("PracticeWriter.publish")` and
# `lab.hint("PracticeWriter.discard")` give the idea, then the pitfall, then a near-solution, one
# per call.

# %%
from solutions import writer as reference_writer
from solutions.observability import configure_logging
from solutions.writer import batches, discard_leftover_stages, discard_quietly, staged


class PracticeWriter(reference_writer.PracticeWriter):
    """The reference writer, with your _stage() (executors), publish() and discard() (driver)."""

    # %include solutions.writer:PracticeWriter._stage

    # %include solutions.writer:PracticeWriter.publish

    # %include solutions.writer:PracticeWriter.discard


# %% [markdown]
# ## Your task 2: the Arrow writer
#
# `PracticeBatchWriter` (given) takes rows, with local time set to UTC while it takes them: PySpark
# turns each timestamp of a Row into naive local time, which in the hour a DST change repeats
# cannot tell the two instants apart (lab 04). Write `PracticeArrowWriter.write`: the iterator
# gives `pyarrow.RecordBatch`es; `batch_rows(batch)` gives one dict per row, timestamps aware, in
# UTC (`batch.to_pylist()` would read them in the session's time zone, where an instant near the
# ends of Spark's range can fall outside Python's years 1-9999). (`lab.hint("PracticeArrowWriter.write")`.)

# %%
from pyspark.sql.datasource import DataSourceArrowWriter, DataSourceWriter

from solutions.conversion import batch_rows, local_time_zone, row_to_json_converter


# %include solutions.writer:PracticeBatchWriter


# %include solutions.writer:PracticeArrowWriter


# %% [markdown]
# Try them by hand first, in this Python process, the way Spark calls them: `write` once per
# partition (on the executors), then `commit` with all the messages (on the driver).

# %%
from pyspark.sql.types import StructType

from solutions.options import parse_options

options = parse_options({"url": lab.url, "table": "lab05_by_hand_writer", "batchSize": "2"})
writer = PracticeBatchWriter(options, StructType.fromDDL("id bigint, name string"), False)  # no request yet
# No prepare() here: the first stage request finds no table, creates it and asks again.
messages = [writer.write(iter([(1, "one"), (2, "two"), (3, "three")])), writer.write(iter([(4, "four")]))]
print(messages)
print("before commit:", requests.get(f"{lab.url}/v1/tables/lab05_by_hand_writer", timeout=10).json()["count"], "rows")
writer.commit(messages)
print("after commit:", requests.get(f"{lab.url}/v1/tables/lab05_by_hand_writer", timeout=10).json()["count"], "rows")

# %% [markdown]
# A data source with your writers: the reference `PracticeDataSource` with its `batch_writer` and
# `arrow_writer` set to yours (its `writer()` picks one by option arrow and prepares it once per
# write). Write a minute of events to a table, then overwrite it with the purchases only.

# %%
from solutions.datasource import PracticeDataSource


class Lab05DataSource(PracticeDataSource):
    short_name = "practice_lab05"
    batch_writer = PracticeBatchWriter  # yours: on top of your PracticeWriter
    arrow_writer = PracticeArrowWriter  # yours


spark.dataSource.register(Lab05DataSource)
events = (
    spark.read.format("practice").option("url", lab.url)
    .option("start", "2026-01-01T00:00:00Z").option("end", "2026-01-01T00:01:00Z").load()
)
table = "lab05_events"
events.write.format("practice_lab05").option("url", lab.url).option("table", table).mode("append").save()
print(requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"], "rows after append")
purchases = events.filter("kind = 'purchase'")
purchases.write.format("practice_lab05").option("url", lab.url).option("table", table).option("arrow", "true").mode(
    "overwrite"
).save()
print(requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"], "rows after overwrite with", purchases.count(), "purchases")

# %% [markdown]
# ## Check
#
# The check calls your writer's `write`, `commit` and `abort` directly (what each returns, how many
# requests a task makes, what is visible when, under which write id a task stages, a commit sent
# twice, a write without rows in append and overwrite mode, what a task does when its input breaks),
# then writes on Spark: append, overwrite of a table that holds other rows, a write whose last task
# fails half-way (at its last row, an instant after year 9999 that Python cannot hold), after which
# the new table must show no rows at all, and the Arrow writer with the session time zone in Los
# Angeles and instants in years 1 and 9999.

# %%
from workshop.checks import check_lab

check_lab("05", PracticeBatchWriter=PracticeBatchWriter, PracticeArrowWriter=PracticeArrowWriter, url=lab.url)

# %% [markdown]
# ## Stretch
#
# - Write with `.option("writeProtocol", "idempotent").option("idempotencyKey", "load-1")`, twice.
#   Why is the second write harmless (the log says how many rows were written and how many were
#   already present)? Write a DataFrame with more rows under the same key: what does the service
#   answer, and why is an error better than a success here? Why does `overwrite` refuse this
#   protocol?
# - Time a write of a few minutes of events with and without `arrow=true`. Where does the Row
#   writer spend its time?
# - `commit` is called once, on the driver: put the sum of the messages' `rows` and `bytes` in a
#   log line (the reference does, with `write_metrics`). Lab 10 turns such counts into metrics.
#
# ## Recap
#
# - `write` runs per partition on the executors and returns a `WriterCommitMessage` subclass
#   with what the driver needs; never `None`, never a dict.
# - Stage in `write`, publish everything in one `commit`, discard in `abort` (`None` for failed
#   tasks) and in the failing task itself: a failed write leaves nothing visible. Stages carry the
#   write's id, so `commit` and `abort` also discard what tasks that died left open.
# - The writer's constructor only validates; setup runs once per write (`prepare`, called by
#   `DataSource.writer`), or with the first request that needs it.
# - `overwrite` replaces atomically, at commit; only `append` and `overwrite` exist for Python
#   data sources.
# - `DataSourceArrowWriter.write` takes `pyarrow.RecordBatch`es, with timestamps in UTC.
