"""The batch writer: rows to a table of the practice service, exactly once.

Where each method runs:
- `__init__`: on the driver, when the write is planned (creates the table, checks options);
- `write`: on the executors, once per partition; returns a commit message;
- `commit` / `abort`: on the driver, once, with every task's commit message.

Two protocols (option `writeProtocol`):
- `staged` (default): each task stages its rows (invisible), `commit` publishes all stages
  in one atomic call, `abort` discards them. A failed task discards its own stage, so a
  failed write leaves nothing visible. The commit carries an id made once per write, so
  sending the same commit twice publishes once.
- `idempotent`: each batch of rows is posted with `Idempotency-Key: <key>-<partition>-<batch>`.
  Rows are visible at once; rerunning the same write with the same key adds nothing.

`PracticeWriter` is the shared base (the streaming writer reuses it); `PracticeBatchWriter`
takes Rows, `PracticeArrowWriter` takes pyarrow RecordBatches. Both send the same JSON.
"""
import logging
import uuid
from dataclasses import dataclass

from pyspark.sql.datasource import DataSourceArrowWriter, DataSourceWriter, WriterCommitMessage

from solutions.client import PracticeClient, ServiceError
from solutions.conversion import local_time_zone, row_to_json_converter
from solutions.observability import configure_logging, sum_metrics, task_fields
from solutions.options import OptionError, require
from solutions.resilience import DeadLetters, check_dead_letter_table, create_dead_letter_table

log = logging.getLogger(__name__)


@dataclass
class PracticeCommitMessage(WriterCommitMessage):
    """What one write task reports to the driver. Spark requires a WriterCommitMessage here:
    `write` returning None or a dict fails the task."""

    partition_id: int
    rows: int = 0
    bytes: int = 0  # JSON request bodies sent
    requests: int = 0  # HTTP requests the task made (each with its retries)
    stage_id: str = None  # staged protocol: the stage holding this task's rows
    retries: int = 0  # attempts after a transient failure
    dead_letters: int = 0  # rows the service refused, sent to option deadLetterTable
    seconds: float = 0.0  # time the task spent sending


class PracticeWriter:
    """What every writer to the practice service shares: options, table, sending rows."""

    def __init__(self, options, schema, overwrite):
        require(options, "url", "to write to the practice service")
        require(options, "table", "to write: the name of the table to write to")
        self.options = options
        self.schema = schema
        self.overwrite = overwrite
        self.table = options["table"]
        self.protocol = options["writeProtocol"]
        if self.protocol == "idempotent":
            require(options, "idempotencyKey", "with writeProtocol=idempotent")
            if overwrite:
                raise OptionError("mode overwrite needs writeProtocol=staged: idempotent posts cannot replace rows atomically")
        row_to_json_converter(schema)  # raises TypeError now, on the driver, for unwritable types
        self.commit_id = uuid.uuid4().hex  # one per write: a repeated commit publishes nothing
        self.last_metrics = None  # the summed task metrics of the last commit or abort (driver)
        self._dead_letters = None  # executors, during `send`: rows refused by the service
        self.create_table()

    def __repr__(self):
        return f"{type(self).__name__}(table={self.table!r}, protocol={self.protocol!r}, options={self.options!r})"

    def client(self):
        return PracticeClient(self.options)

    def table_path(self, suffix=""):
        return f"/v1/tables/{self.table}{suffix}"

    def create_table(self):
        """Create the table from the DataFrame's schema (the service accepts the same fields again)."""
        fields = [
            {"name": field.name, "type": field.dataType.simpleString(), "nullable": field.nullable}
            for field in self.schema.fields
        ]
        with self.client() as client:
            client.check_health()  # one clear error for a wrong URL, TLS mismatch or a service that is down
            if self.options["deadLetterTable"]:
                check_dead_letter_table(client, self.options["deadLetterTable"])  # before anything is created
            client.put(self.table_path(), {"fields": fields})
            if self.options["deadLetterTable"]:
                create_dead_letter_table(client, self.options["deadLetterTable"])

    # -- executors --------------------------------------------------------------------------

    def send(self, json_rows):
        """Send JSON rows with the configured protocol; the commit message for this task."""
        from pyspark import TaskContext

        context = TaskContext.get()
        message = PracticeCommitMessage(partition_id=context.partitionId() if context else 0)
        with self.client() as client:
            self._dead_letters = self._new_dead_letters(message)
            try:
                if self.protocol == "idempotent":
                    self._post_idempotent(client, json_rows, message)
                else:
                    self._stage(client, json_rows, message)
            except BaseException:
                self._flush_dead_letters(client, message, quietly=True)  # why rows were refused outlives the task
                raise
            self._flush_dead_letters(client, message)
            metrics = client.metrics()
            message.bytes = client.bytes_sent
            message.requests, message.retries, message.seconds = metrics["requests"], metrics["retries"], metrics["seconds"]
        log.info(
            "write task finished: %d rows to table %s in %d requests (%d retries)",
            message.rows, self.table, message.requests, message.retries,
            extra={**task_fields(), "table": self.table, "rows": message.rows, "bytes": message.bytes,
                   "requests": message.requests, "retries": message.retries, "dead_letters": message.dead_letters,
                   "seconds": message.seconds, "stage": message.stage_id},
        )
        return message

    def post_rows(self, client, path, rows, key, batch_number=0):
        """POST rows with an idempotency key (so a retry cannot add them twice); the rows accepted.

        A 422 names the first row the service refuses. With option deadLetterTable that row goes
        to the dead-letter table with the reason, and the others are sent again (a refused
        request does not use up its key); without it the task fails with the service's words.
        """
        positions = list(range(len(rows)))  # each row's place in the batch as the task made it
        while rows:
            try:
                client.post(path, {"rows": rows}, headers={"Idempotency-Key": key})
                return len(rows)
            except ServiceError as error:
                bad = error.body.get("row") if error.status == 422 else None
                if not isinstance(bad, int) or not 0 <= bad < len(rows):
                    raise
                if self._dead_letters is None:
                    raise ServiceError(
                        f"{error} (in a batch of {len(rows)} rows of this task for table {self.table}; nothing of the "
                        "write is published. Fix the data, or set option deadLetterTable to set such rows aside)",
                        status=error.status, error=error.error, body=error.body,
                    ) from None
                # Reason and place name no stage or key: a task run again records the same dead letter.
                reason = f"HTTP {error.status} {error.error}: {error.body.get('message')}"
                where = f"table {self.table}, partition {self._dead_letters.partition_id}, batch {batch_number}, row {positions[bad]}"
                self._dead_letters.add(rows[bad], reason, where)
                rows, positions = rows[:bad] + rows[bad + 1:], positions[:bad] + positions[bad + 1:]
        return 0

    def _new_dead_letters(self, message):
        if not self.options["deadLetterTable"]:
            return None
        from pyspark import TaskContext

        # The run in dead-letter keys: this write, or in a stream the query and micro-batch, which
        # a restarted query replays with the same ids (so a replayed batch adds no dead letters twice).
        context = TaskContext.get()
        batch_id = context.getLocalProperty("streaming.sql.batchId") if context else None
        run_id = f"{context.getLocalProperty('sql.streaming.queryId')}:{batch_id}" if batch_id is not None else self.commit_id
        return DeadLetters(self.options["deadLetterTable"], f"write {self.table}", run_id, message.partition_id)

    def _flush_dead_letters(self, client, message, quietly=False):
        dead_letters, self._dead_letters = self._dead_letters, None
        if dead_letters is None:
            return
        try:
            dead_letters.flush(client)
        except Exception as problem:
            if not quietly:
                raise
            log.warning("could not write %d dead letters to table %s: %s", len(dead_letters.pending),
                        dead_letters.table, problem)
        message.dead_letters = dead_letters.sent

    def _stage(self, client, json_rows, message):
        # BEGIN SOLUTION: for each batch of options["batchSize"] rows (batches()): on the first, create the stage (POST .../stages -> stage_id); send the batch with self.post_rows(client, .../stages/<id>/rows, batch, key, number); count rows and requests in `message`; on any exception discard the stage (discard_quietly) and re-raise
        try:
            for batch in batches(json_rows, self.options["batchSize"]):
                if message.stage_id is None:  # a task without rows makes no stage
                    # Safe to repeat: a retry after a lost answer leaves an empty, invisible stage.
                    message.stage_id = client.post(self.table_path("/stages"), idempotent=True)["stage_id"]
                # The key makes a retry after a lost answer (a reset) stage nothing twice.
                key = f"{message.stage_id}-{message.requests}"
                message.rows += self.post_rows(client, self.table_path(f"/stages/{message.stage_id}/rows"), batch, key, message.requests)
                message.requests += 1
        except BaseException:
            # This task will send no commit message, so the driver cannot discard its stage:
            # do it here. Staged rows are invisible anyway; this keeps the service tidy.
            if message.stage_id is not None:
                discard_quietly(client, self.table_path(f"/stages/{message.stage_id}"))
            raise
        # END SOLUTION

    def _post_idempotent(self, client, json_rows, message):
        key = self.options["idempotencyKey"]
        for number, batch in enumerate(batches(json_rows, self.options["batchSize"])):
            message.rows += self.post_rows(client, self.table_path("/rows"), batch, f"{key}-{message.partition_id}-{number}", number)
            message.requests += 1

    # -- driver -----------------------------------------------------------------------------

    def commit(self, messages):
        configure_logging(self.options)  # this driver-side process may not have opened a client yet
        rows = sum(message.rows for message in messages)
        if self.protocol == "staged":
            # BEGIN SOLUTION: one POST to .../commit with the stage_ids of all messages (skip tasks without a stage), mode "overwrite" or "append", and self.commit_id
            body = {
                "stage_ids": [message.stage_id for message in messages if message.stage_id],
                "mode": "overwrite" if self.overwrite else "append",
                "commit_id": self.commit_id,
            }
            with self.client() as client:
                client.post(self.table_path("/commit"), body, idempotent=True)  # the commit id makes a repeat publish nothing
            # END SOLUTION
        self.last_metrics = sum_metrics(messages)
        log.info("wrote %d rows in %d partitions to table %s (%s)", rows, len(messages), self.table, self.protocol,
                 extra={"table": self.table, "event": "write committed", **self.last_metrics})

    def abort(self, messages):
        configure_logging(self.options)
        # Failed tasks send None; their stages were discarded by the tasks themselves.
        # BEGIN SOLUTION: discard (discard_quietly) the stage of every message that is not None and has a stage_id
        stages = [message.stage_id for message in messages if message is not None and message.stage_id]
        if self.protocol == "staged" and stages:
            with self.client() as client:
                for stage_id in stages:
                    discard_quietly(client, self.table_path(f"/stages/{stage_id}"))
        log.warning("write to table %s aborted; %d staged partitions discarded", self.table, len(stages))
        # END SOLUTION
        self.last_metrics = sum_metrics(messages)
        log.info("metrics of the aborted write to table %s", self.table,
                 extra={"table": self.table, "event": "write aborted", **self.last_metrics})


class PracticeBatchWriter(PracticeWriter, DataSourceWriter):
    """Writes Rows."""

    def write(self, iterator):
        to_json = row_to_json_converter(self.schema)
        with local_time_zone("UTC"):  # Spark's Rows hold naive local times, which lose the DST fold elsewhere
            return self.send(to_json(row) for row in iterator)


class PracticeArrowWriter(PracticeWriter, DataSourceArrowWriter):
    """Writes pyarrow RecordBatches (option arrow=true): no per-row Row objects in between."""

    def write(self, iterator):
        # BEGIN SOLUTION: the iterator gives pyarrow.RecordBatches; turn each record of batch.to_pylist() into JSON with row_to_json_converter(self.schema) and return self.send(...) of them
        to_json = row_to_json_converter(self.schema)
        return self.send(to_json(record) for batch in iterator for record in batch.to_pylist())
        # END SOLUTION


def batches(items, size):
    """Lists of up to `size` items from an iterator."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def discard_quietly(client, stage_path):
    """Discard a stage; True when it is discarded, False (logged) when it could not be."""
    try:
        client.delete(stage_path)
        return True
    except Exception as problem:  # the original error matters more; say what was left behind
        log.warning("could not discard %s: %s", stage_path, problem)
        return False
