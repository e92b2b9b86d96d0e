"""The streaming writer: each micro-batch to a table of the practice service, exactly once.

A streaming query writes batch 0, 1, 2, ... and records in its checkpoint which batches are
done. A crash can come after the sink published a batch but before Spark recorded it; the
restarted query then runs that batch again, with the same batch id and the same rows
(the reader replays offset ranges exactly). So the sink must recognise a batch it has
already published:

- `write` (executors, once per partition) stages the task's rows, invisible, and returns a
  commit message with the stage, the batch id (`TaskContext.getLocalProperty(
  "streaming.sql.batchId")`) and the query id (`"sql.streaming.queryId"`, kept in the
  checkpoint, so the same across restarts);
- `commit(messages, batchId)` (driver, once per batch) publishes all stages in one atomic call
  with `commit_id = "<query id>:<batch id>"`. The service publishes a commit id only once: a
  replayed batch publishes nothing, and its fresh stages are discarded. In complete mode Spark
  makes the writer with `overwrite=True`, and an empty result is committed too (no stages, mode
  overwrite): it must replace what the table held;
- `abort(messages, batchId)` (driver) discards the stages of a failed batch.

Tasks stage under the write id `"<query id>:<batch id>"`, so commit and abort also discard the
stages of the batch that no message names: a task whose process died, or the first run of a
batch that a restarted query runs again. (An abort where every message is None cannot know the
query id; the batch's run after a restart cleans up then.)

With `exactlyOnce=false` the commit carries no id: that is at-least-once delivery, and a
replayed batch is published a second time (the restart tests show the duplicates).

Spark creates a new writer to plan every micro-batch and for every commit and abort (see
pyspark's write_into_data_source and python_streaming_sink_runner), so nothing may be
remembered on `self` between batches (what `commit` needs travels in the commit messages), and
the constructor does no I/O: the first request that finds the table missing creates it.
"""
import dataclasses
import logging

from pyspark.sql.datasource import DataSourceStreamWriter

from solutions.conversion import batch_rows, local_time_zone, row_to_json_converter
from solutions.observability import BATCH_ID_PROPERTY, QUERY_ID_PROPERTY, micro_batch_id
from solutions.options import OptionError
from solutions.writer import PracticeCommitMessage, PracticeWriter, staged, write_metrics

try:  # PySpark 4.1+: a streaming writer that takes pyarrow RecordBatches
    from pyspark.sql.datasource import DataSourceStreamArrowWriter
except ImportError:  # PySpark 4.0
    DataSourceStreamArrowWriter = None

log = logging.getLogger(__name__)

@dataclasses.dataclass
class PracticeStreamCommitMessage(PracticeCommitMessage):
    """A write task's report for one micro-batch: the batch commit message plus its batch."""

    batch_id: int = None
    query_id: str = None


def check_stream_write_options(writer):
    if writer.options["wireFormat"] == "arrow":
        raise OptionError("option wireFormat=arrow is for batch writes: streaming writes send JSON")
    if writer.protocol != "staged":
        raise OptionError(
            "option writeProtocol=idempotent is for batch writes; streaming writes use staged commits "
            "keyed by the batch id"
        )


def stage_micro_batch(writer, json_rows):
    """Executors: stage this task's rows; the commit message names the stage and the batch."""
    from pyspark import TaskContext

    # BEGIN SOLUTION: stage json_rows under this micro-batch's id; say which batch and query it is
    context = TaskContext.get()
    batch_id = int(context.getLocalProperty(BATCH_ID_PROPERTY))
    query_id = context.getLocalProperty(QUERY_ID_PROPERTY)
    # The batch writer's staging, shared; under the micro-batch's id, so that commit and abort
    # (and the batch's run after a restart) find stages that no commit message names.
    message = writer.send(json_rows, write_id=micro_batch_id(query_id, batch_id))
    return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id=query_id)
    # END SOLUTION


def query_id_of(messages):
    """The query id the tasks reported (None when every task failed)."""
    return next((message.query_id for message in messages if message is not None and message.query_id), None)


def publish_micro_batch(writer, messages, batch_id):
    """Driver: publish every stage of batch `batch_id` at once, at most once per query and batch."""
    if not staged(messages) and not writer.overwrite:
        return  # an empty micro-batch appends nothing (complete mode overwrites: it goes on)
    wrong = {message.batch_id for message in messages} - {batch_id}
    if wrong:
        raise RuntimeError(f"commit of batch {batch_id} got commit messages of batch(es) {sorted(wrong)}")
    query_id = query_id_of(messages)
    # BEGIN SOLUTION: publish the messages; the micro-batch's id names the write and, exactly once, the commit
    micro_batch = None if query_id is None else micro_batch_id(query_id, batch_id)
    with writer.client_class(writer.options) as client:
        published = writer.publish(client, messages, micro_batch if writer.exactly_once else None, micro_batch)
    # END SOLUTION
    event = "batch published" if published else "batch already published"
    metrics = write_metrics(messages)
    log.info("%s: batch %d, %d rows in %d stages, table %s", event, batch_id, metrics["rows"], len(staged(messages)),
             writer.table, extra={"table": writer.table, "batch_id": batch_id, "event": event, **metrics})


def discard_micro_batch(writer, messages, batch_id):
    """Driver: a batch failed; discard what its tasks staged (failed tasks send None)."""
    query_id = query_id_of(messages)
    # BEGIN SOLUTION: discard the messages' stages and the micro-batch's leftovers
    with writer.client_class(writer.options) as client:
        writer.discard(client, messages, None if query_id is None else micro_batch_id(query_id, batch_id))
    # END SOLUTION
    log.warning("batch %d for table %s aborted; %d stages discarded", batch_id, writer.table, len(staged(messages)),
                extra={"table": writer.table, "batch_id": batch_id, "event": "batch aborted", **write_metrics(messages)})


class PracticeStreamWriter(PracticeWriter, DataSourceStreamWriter):
    """Writes the Rows of each micro-batch; exactly once unless exactlyOnce=false."""

    def __init__(self, options, schema, overwrite):
        super().__init__(options, schema, overwrite)
        check_stream_write_options(self)
        self.exactly_once = options["exactlyOnce"]

    def write(self, iterator):
        to_json = row_to_json_converter(self.schema)
        with local_time_zone("UTC"):  # Spark's Rows hold naive local times, which lose the DST fold elsewhere
            return stage_micro_batch(self, (to_json(row) for row in iterator))

    def commit(self, messages, batchId):
        publish_micro_batch(self, messages, batchId)

    def abort(self, messages, batchId):
        discard_micro_batch(self, messages, batchId)


if DataSourceStreamArrowWriter is not None:

    class PracticeStreamArrowWriter(PracticeStreamWriter, DataSourceStreamArrowWriter):
        """PracticeStreamWriter taking pyarrow RecordBatches (option arrow=true): only `write` differs."""

        def write(self, iterator):
            to_json = row_to_json_converter(self.schema)
            return stage_micro_batch(self, (to_json(record) for batch in iterator for record in batch_rows(batch)))

else:
    PracticeStreamArrowWriter = None  # PySpark 4.0 has no streaming Arrow writer
