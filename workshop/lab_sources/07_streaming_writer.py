# Lab 07 source: the streaming writer, exactly-once through the batch id. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 07 · A streaming writer: exactly-once through the batch id
#
# **Goal:** write every micro-batch of a stream to a table of the service exactly once, even when
# the query crashes after the sink published a batch but before Spark recorded it. Stage rows in
# `write`, publish them in `commit(messages, batchId)` under an id made of the query id and the
# batch id, discard in `abort(messages, batchId)`; then see the at-least-once variant duplicate.
#
# **Time:** 40 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![A replayed batch is published once](images/07_exactly_once.svg)
#
# A streaming query runs batch 0, 1, 2, ... For each batch Spark
#
# 1. writes the batch's offsets to the checkpoint's `offsets/N` (lab 06);
# 2. runs `write(iterator)` on the executors, once per partition: the `DataSourceStreamWriter`
#    gets the same `Row`s as the batch writer of lab 05 and returns a `WriterCommitMessage`
#    subclass (never `None`, never a dict);
# 3. calls `commit(messages, batchId)` on the driver when all tasks succeeded, or
#    `abort(messages, batchId)` when one failed (`None` in place of each failed task). Unlike the
#    batch writer, both take the **batch id**;
# 4. records the batch as done in the checkpoint's `commits/N`.
#
# A crash between 3 and 4 is the hard case: the sink has published batch N, Spark has not recorded
# it, and the restarted query runs batch N again, with the same batch id and (thanks to the
# deterministic reader of lab 06) the same rows. A sink that publishes whatever `commit` gets
# delivers **at least once**: the batch lands twice. For **exactly once** the sink must recognise
# the batch:
#
# - `write` (executors) stages the task's rows, invisible, under the write id
#   `"<query id>:<batch id>"`, and returns a commit message with the stage id, the batch id
#   (`TaskContext.get().getLocalProperty("streaming.sql.batchId")`) and the query id
#   (`"sql.streaming.queryId"`, kept in the checkpoint, so it survives restarts);
# - `commit(messages, batchId)` (driver) publishes all stages in one atomic call with
#   `commit_id = "<query id>:<batch id>"`. The service publishes a commit id only once: for a
#   replayed batch it answers `{"duplicate": true}` and publishes nothing, and the writer discards
#   the replay's stages;
# - `abort(messages, batchId)` (driver) discards the stages of a failed batch; a task that failed
#   inside `write` discarded its own (lab 05's `send`).
#
# A task whose Python process died reported nothing, and its stage would stay open. Because every
# task of batch N stages under `"<query id>:<batch id>"`, `commit` and `abort` end by discarding the
# open stages of that write id that no message names (lab 05's `discard_leftover_stages`). An
# abort in which every task failed has no message to take the query id from; then the batch's run
# after the restart, under the same id, cleans up.
#
# In **complete** output mode each batch is the whole result, and Spark makes the writer with
# `overwrite=True`. A result that becomes empty is a batch with no rows: it must still be committed
# (no stages, mode `overwrite`, with its commit id), or the table keeps the last non-empty result.
# Only in append mode (`overwrite=False`) does an empty batch commit nothing. (Update mode is not
# offered: Spark refuses it for Python data source sinks, on 4.0.1 as on 4.3.0.)
#
# Spark creates a **new writer object** to plan every micro-batch and for every `commit` and
# `abort` (seen on 4.0.1 and 4.3.0: a constructor that probed the service and created the table sent
# both requests twice per micro-batch), so the writer cannot remember anything between batches on
# `self` (what `commit` needs travels in the commit messages), and its constructor only validates:
# the first request that finds the table missing creates it (`post_to_table`). The batch id alone is
# not enough as a key: another query (another checkpoint) writing to the same table has its own
# batch 0.
#
# The service's side of it, by hand:

# %%
import requests

table = "lab07_by_hand"
requests.put(f"{lab.url}/v1/tables/{table}", json={"fields": [{"name": "seq", "type": "bigint"}]}, timeout=10)
for attempt in ("first run", "replay"):
    stage = requests.post(f"{lab.url}/v1/tables/{table}/stages", timeout=10).json()["stage_id"]
    requests.post(f"{lab.url}/v1/tables/{table}/stages/{stage}/rows", json={"rows": [{"seq": 1}, {"seq": 2}]}, timeout=10)
    answer = requests.post(
        f"{lab.url}/v1/tables/{table}/commit",
        json={"stage_ids": [stage], "mode": "append", "commit_id": "query-1:0"},
        timeout=10,
    ).json()
    count = requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"]
    print(f"{attempt}: commit answered {answer}; {count} rows visible")

# %% [markdown]
# ## Your task 1: stage a micro-batch (executors)
#
# `stage_micro_batch(writer, json_rows)` runs in a task. Read the batch id (an int) and the query id
# from `TaskContext.get().getLocalProperty(...)` (`BATCH_ID_PROPERTY`, `QUERY_ID_PROPERTY`), stage
# the rows with `writer.send(json_rows, write_id=micro_batch_id(query_id, batch_id))` (lab 05's
# staging, under the micro-batch's id: it returns a `PracticeCommitMessage` with the stage id and
# counts, and discards its stage if the task fails), and return a `PracticeStreamCommitMessage`
# with all of it: `PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=..., query_id=...)`.

# %%
import dataclasses

from solutions.observability import BATCH_ID_PROPERTY, QUERY_ID_PROPERTY, micro_batch_id
from solutions.stream_writer import PracticeStreamCommitMessage

print([field.name for field in dataclasses.fields(PracticeStreamCommitMessage)])

# %include solutions.stream_writer:stage_micro_batch


# %% [markdown]
# ## Your task 2: publish a micro-batch once (driver)
#
# `publish_micro_batch(writer, messages, batch_id)` returns early for an empty batch in append
# mode (not in complete mode, where the writer overwrites), refuses messages of another batch and
# finds the query id. Yours: the micro-batch's id, `micro_batch_id(query_id, batch_id)`, names the
# write (its tasks staged under it) and, when `writer.exactly_once`, the commit: the service
# publishes a commit id once, so a batch replayed after a restart publishes nothing. Publish with
# lab 05's `writer.publish(client, messages, commit_id, write_id)` in a `with` block of
# `writer.client_class(writer.options)`; it returns False when the commit was published before
# (then it has discarded the replay's stages). Keep that in `published`.

# %%
from solutions.observability import micro_batch_id
from solutions.stream_writer import log, query_id_of
from solutions.writer import staged, write_metrics

# %include solutions.stream_writer:publish_micro_batch


# %% [markdown]
# ## Your task 3: discard a failed micro-batch (driver)
#
# `discard_micro_batch(writer, messages, batch_id)`: Spark passes `None` for each task that failed.
# Discard the batch's stages with `writer.discard(client, messages, write_id)`, the write id being
# the micro-batch's (so the stages that no message names go too); without a query id (every task
# failed) there is no write id: pass None.
#
# Below it, the writer itself: the reference's, calling your three functions. Note the signatures
# Spark calls: `write(iterator)`, `commit(messages, batchId)`, `abort(messages, batchId)`.
#
# Stuck? `lab.hint("stage_micro_batch")`, `lab.hint("publish_micro_batch")` and
# `lab.hint("discard_micro_batch")` give the idea, then the pitfall, then a near-solution, one per
# call.

# %%
from pyspark.sql.datasource import DataSourceStreamWriter

from solutions.conversion import local_time_zone, row_to_json_converter
from solutions.stream_writer import check_stream_write_options, log
from solutions.writer import PracticeWriter, staged, write_metrics

# %include solutions.stream_writer:discard_micro_batch


# %include solutions.stream_writer:PracticeStreamWriter


# %% [markdown]
# Your `commit` and `abort` by hand, on the driver, as Spark would call them: stage rows as a task
# would (the reference `send`), publish batch 0, publish it again as a replay would, then abort a
# batch 1.

# %%
from pyspark.sql.types import LongType, StructField, StructType

from solutions.options import parse_options

by_hand = PracticeStreamWriter(
    parse_options({"url": lab.url, "table": "lab07_commit_by_hand"}), StructType([StructField("seq", LongType())]), False
)


def task_of(batch_id, seqs):
    """What write() returns for one task of `batch_id` (staged with the reference's send)."""
    message = by_hand.send(({"seq": seq} for seq in seqs), write_id=micro_batch_id("query-by-hand", batch_id))
    return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id="query-by-hand")


for attempt in ("batch 0", "batch 0 replayed"):
    by_hand.commit([task_of(0, [1, 2]), task_of(0, [3])], 0)
    visible = requests.get(f"{lab.url}/v1/tables/lab07_commit_by_hand", timeout=10).json()["count"]
    print(f"after {attempt}: {visible} rows visible")
by_hand.abort([task_of(1, [4, 5]), None], 1)
print("after batch 1 aborted:", requests.get(f"{lab.url}/v1/tables/lab07_commit_by_hand", timeout=10).json()["count"], "rows visible")

# %% [markdown]
# ## Your writer on Spark, live
#
# Stream the last 600 events of the feed into a table, at most 150 per batch (where Spark has read
# limits; without, one batch takes them all), and watch the batches (`follow_query` and
# `plot_batches` from `workshop.query_progress`, as in lab 06). Then play the crash: remove the
# newest entry of the checkpoint's commit log (`forget_last_commit`, from `workshop.checkpoints`),
# as if the driver died right after the sink's commit, and restart.
# Spark replays that batch. With `exactlyOnce=true` (the default) the table is unchanged; with
# `exactlyOnce=false` the replayed batch lands twice.

# %%
import os
import tempfile

from solutions.datasource import PracticeDataSource
from workshop.query_progress import follow_query, plot_batches


class Lab07DataSource(PracticeDataSource):
    short_name = "practice_lab07"
    stream_writer = PracticeStreamWriter  # yours


spark.dataSource.register(Lab07DataSource)
end_seq = requests.get(f"{lab.url}/v1/events/latest", timeout=10).json()["seq"]
start_seq = end_seq - 600


def run_stream(table, checkpoint, exactly_once, quiet=False):
    """Stream (start_seq, end_seq] of the feed into `table`; the batches it ran."""
    frame = (
        spark.readStream.format("practice").option("url", lab.url).option("startingOffsets", start_seq)
        .option("maxRecordsPerTrigger", 150).option("numPartitions", 2).load()
        .where(f"seq <= {end_seq}")  # the same rows on every run, whatever arrives meanwhile
    )
    query = (
        frame.writeStream.format("practice_lab07").option("url", lab.url).option("table", table)
        .option("exactlyOnce", str(exactly_once).lower()).option("checkpointLocation", "file:" + checkpoint)
        .trigger(processingTime="500 milliseconds").start()
    )
    try:
        query.processAllAvailable()
        return follow_query(query, end_seq, timeout=30, quiet=quiet)
    finally:
        query.stop()


def count(table):
    return requests.get(f"{lab.url}/v1/tables/{table}", timeout=10).json()["count"]


# %include workshop.checkpoints:forget_last_commit


checkpoint = os.path.join(tempfile.mkdtemp(prefix="lab07-"), "exactly-once")
batches = run_stream("lab07_exactly_once", checkpoint, exactly_once=True)
plot_batches(batches, "Lab 07: your writer, maxRecordsPerTrigger=150")
print(count("lab07_exactly_once"), "rows in the table after the first run")

# %% [markdown]
# The crash and the restart, exactly once and then at least once:

# %%
for exactly_once in (True, False):
    table = f"lab07_{'exactly' if exactly_once else 'at_least'}_once_replay"
    checkpoint = os.path.join(tempfile.mkdtemp(prefix="lab07-"), table)
    run_stream(table, checkpoint, exactly_once, quiet=True)
    before = count(table)
    replayed = forget_last_commit(checkpoint)
    run_stream(table, checkpoint, exactly_once, quiet=True)  # Spark replays batch `replayed`
    print(f"exactlyOnce={str(exactly_once).lower():5}: {before} rows, then {count(table)} after batch {replayed} was replayed")

# %% [markdown]
# ## Check
#
# The check starts a small practice service of its own. First it calls your `commit` and `abort` by
# hand, as above, with a new writer for every call: a batch, its replay, the next batch, batch 0 of
# another query on the same table, the stage of a task that died, `exactlyOnce=false`, complete
# mode with an empty batch, and aborts with `None` for failed tasks. Then it streams its feed into a
# table with your writer (`trigger(availableNow=True)`): a first run (every stage made under
# `"<query id>:<batch id>"`), a crash between the sink's commit and Spark's commit log (the batch is
# replayed and must not be published twice, its new stages discarded), and a batch in which one
# task fails (aborted: nothing visible).

# %%
from workshop.checks import check_lab

check_lab("07", PracticeStreamWriter=PracticeStreamWriter)

# %% [markdown]
# ## Stretch
#
# - Run the at-least-once case again and count the rows per `seq` in the table: which seqs are
#   there twice, and why exactly those?
# - Kill a query hard: run a stream with `processingTime` in a separate process and stop it with
#   SIGKILL mid-stream (`tests/connector/test_stream_restart.py` does), then restart it from the checkpoint.
#   Which crash rows of the table in `docs/streaming.md` did you hit?
# - Write with `.option("arrow", "true")`: where the setup cell says "the streaming Arrow writer:
#   yes" (PySpark 4.1+), the `DataSourceStreamArrowWriter` takes `pyarrow.RecordBatch`es
#   (`PracticeStreamArrowWriter`); where it says no (4.0), the option is refused.
# - Why would a commit id made of the batch id alone be wrong? Start two queries with two
#   checkpoints into one table.
#
# ## Recap
#
# - `write` stages rows and returns a `WriterCommitMessage` subclass carrying the stage, the batch
#   id and the query id, from `TaskContext.get().getLocalProperty(...)`.
# - `commit(messages, batchId)` and `abort(messages, batchId)` take the batch id; Spark makes a new
#   writer for each (and to plan each batch), so what they need travels in the messages, and the
#   constructor does no I/O.
# - Tasks stage under `"<query id>:<batch id>"`: commit and abort discard the batch's stages that no
#   message names (a task whose process died), and a restarted batch finds them too.
# - In complete mode an empty result is committed as well (overwrite with no stages).
# - Publishing keyed by `"<query id>:<batch id>"` makes a replayed batch harmless: exactly once.
#   Without the key the sink delivers at least once, and a replay duplicates the batch.
# - `abort` discards what the batch staged (`None` for failed tasks); a replay's stages are
#   discarded too, so nothing is left open.
