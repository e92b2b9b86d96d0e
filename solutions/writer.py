"""The batch writer: rows to a table of the practice service, exactly once.

Where each method runs:
- `__init__`: wherever Spark makes a writer; it checks options and schema and does no I/O,
  because Spark also makes writers where none belongs (a stream writer for every micro-batch,
  commit and abort: see solutions/stream_writer.py);
- `prepare`: on the driver, once per batch write (`PracticeDataSource.writer` calls it): the
  health probe, the dead-letter table check, creating the table;
- `write`: on the executors, once per partition; returns a commit message;
- `commit` / `abort`: on the driver, once, with every task's commit message.

A writer that `prepare` never ran for (a stream writer, or one made by hand) creates the table
with the first request that finds it missing (`post_to_table`).

Two protocols (option `writeProtocol`):
- `staged` (default): each task stages its rows (invisible) under the write's id, `commit`
  publishes all stages in one atomic call, `abort` discards them. A failed task discards its own
  stage; a task whose process died (or an attempt Spark ran again) cannot, so `commit` and `abort`
  also discard every open stage of the write that no commit message names. A failed write leaves
  nothing visible. The commit carries an id made once per write, so sending the same commit twice
  publishes once.
- `idempotent`: each batch of rows is posted with `Idempotency-Key: <key>-<partition>-<batch>`.
  Rows are visible at once. Rerunning the same write with the same key adds nothing twice: what
  the service already has is counted as already present, not as written. A key the service got
  before with other rows (the data changed between runs) fails the write instead of dropping them.

`PracticeWriter` is the shared base (the streaming writer reuses it); `PracticeBatchWriter`
takes Rows, `PracticeArrowWriter` takes pyarrow RecordBatches. Both send the same JSON.
`PracticeArrowIpcWriter` (options arrow=true and wireFormat=arrow) takes RecordBatches too and
sends them as Arrow IPC bodies: the same protocols, keys and answers, no value in Python.
"""
import itertools
import logging
import uuid
from dataclasses import dataclass

from pyspark.sql.datasource import DataSourceArrowWriter, DataSourceWriter, WriterCommitMessage

from solutions.client import PracticeClient, ServiceError
from solutions.conversion import batch_rows, in_table_types, local_time_zone, row_to_json_converter
from solutions.observability import configure_logging, sum_metrics, task_fields
from solutions.options import OptionError, require
from solutions.resilience import DeadLetters, check_dead_letter_table, create_dead_letter_table

log = logging.getLogger(__name__)

@dataclass
class PracticeCommitMessage(WriterCommitMessage):
    """What one write task reports to the driver. Spark requires a WriterCommitMessage here:
    `write` returning None or a dict fails the task."""

    partition_id: int
    write_id: str = None  # the write this task's stage belongs to (a batch write's commit id, a micro-batch)
    rows: int = 0  # rows written: staged, or (idempotent protocol) inserted by the service
    already_present: int = 0  # idempotent protocol: rows the service already had under their batch's key
    bytes: int = 0  # request bodies sent (JSON or Arrow IPC)
    requests: int = 0  # HTTP requests the task made (each with its retries)
    stage_id: str = None  # staged protocol: the stage holding this task's rows
    retries: int = 0  # attempts after a transient failure
    dead_letters: int = 0  # rows the service refused, sent to option deadLetterTable
    seconds: float = 0.0  # time the task spent sending


class PracticeWriter:
    """What every writer to the practice service shares: options, table, sending rows.

    `client_class` is the client every request goes through (tasks, commit and abort): a lab
    plugs its own in with a subclass that sets it.
    """

    client_class = PracticeClient

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
        # One per batch write (Spark pickles this writer for the tasks and the commit): the write id
        # its stages are made under, and the commit id, so a repeated commit publishes nothing.
        self.commit_id = uuid.uuid4().hex
        self.last_metrics = None  # the summed task metrics of the last commit or abort (driver)
        self._dead_letters = None  # executors, during `send`: rows refused by the service

    def __repr__(self):
        return f"{type(self).__name__}(table={self.table!r}, protocol={self.protocol!r}, options={self.options!r})"

    def table_path(self, suffix=""):
        return f"/v1/tables/{self.table}{suffix}"

    def prepare(self):
        """Driver, once per batch write: probe the service, check the dead-letter table, create the table.

        Not in `__init__`: Spark makes stream writers for every micro-batch, commit and abort,
        where these requests would be repeated, and fail an abort during an outage.
        """
        dead_letter_table = self.options["deadLetterTable"]
        with self.client_class(self.options) as client:
            client.check_health()  # one clear error for a wrong URL, TLS mismatch or a service that is down
            if dead_letter_table:
                check_dead_letter_table(client, dead_letter_table)  # before anything is created
            self.create_table(client)
            if dead_letter_table:
                create_dead_letter_table(client, dead_letter_table)

    def create_table(self, client):
        """Create the table from the DataFrame's schema (the service accepts the same fields again)."""
        fields = [
            {"name": field.name, "type": field.dataType.simpleString(), "nullable": field.nullable}
            for field in self.schema.fields
        ]
        client.put(self.table_path(), {"fields": fields})

    def post_to_table(self, client, path, body=None, **options):
        """POST to `path`; when the service answers that the table does not exist, create it and POST again.

        So the first request that needs the table creates it: a stream has no hook that runs once
        per query on the driver, and a writer made by hand never ran `prepare`.
        """
        try:
            return client.post(path, body, **options)
        except ServiceError as error:
            if error.status != 404 or error.body.get("missing") != "table":
                raise
        self.create_table(client)
        return client.post(path, body, **options)

    def create_stage(self, client, write_id):
        """A new stage of the table, made under `write_id`; its stage id.

        Safe to repeat after a lost answer: the extra stage is empty, and commit and abort
        discard the open stages of the write that no commit message names.
        """
        answer = self.post_to_table(client, self.table_path("/stages"), {"write_id": write_id}, idempotent=True)
        return answer["stage_id"]

    # -- executors --------------------------------------------------------------------------

    def send(self, json_rows, write_id=None):
        """Send JSON rows with the configured protocol; the commit message for this task.

        `write_id`: the write the task's stage belongs to; this batch write's commit id unless
        given (a stream gives its micro-batch's, the same when a restarted query runs it again).
        """
        from pyspark import TaskContext

        context = TaskContext.get()
        message = PracticeCommitMessage(partition_id=context.partitionId() if context else 0,
                                        write_id=write_id or self.commit_id)
        with self.client_class(self.options) as client:
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
            "write task finished: %d rows written (%d already present) to table %s in %d requests (%d retries)",
            message.rows, message.already_present, self.table, message.requests, message.retries,
            extra={**task_fields(), "table": self.table, "rows": message.rows, "already_present": message.already_present,
                   "bytes": message.bytes, "requests": message.requests, "retries": message.retries,
                   "dead_letters": message.dead_letters, "seconds": message.seconds, "stage": message.stage_id},
        )
        return message

    def post_rows(self, client, path, rows, key, batch_number=0, write_id=None):
        """POST rows with an idempotency key (so a retry cannot add them twice); (written, already present).

        `rows`: a list of JSON rows, or a pyarrow Table (the Arrow IPC writer), sent as an Arrow IPC
        body with the write id in the X-Write-Id header; the service answers both alike.

        `written`: the rows this write put in the table or stage. `already present`: the rows the
        table had under this key before, from another write (a rerun with the same key); the
        service does not add them again. With `write_id` (posts to the table itself) the service
        tells the two apart: a repeated key from the same write is a retry whose first answer was
        lost, and those rows were written by this write. A key the table got before with other
        rows means the data changed since: an error naming option idempotencyKey, rather than
        rows silently left out. (A stage's keys are its own task's: a repeated one is a retry,
        and its rows are in the stage.)

        A 422 names the first row the service refuses. With option deadLetterTable that row goes
        to the dead-letter table with the reason, and the others are sent again (a refused
        request does not use up its key); without it the task fails with the service's words.
        """
        positions = list(range(len(rows)))  # each row's place in the batch as the task made it
        while len(rows):
            try:
                body, headers = rows_body(rows, key, write_id)
                answer = self.post_to_table(client, path, body, headers=headers)
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
                self._dead_letters.add(json_row(rows, bad, self.schema), reason, where)
                rows, positions = without_row(rows, bad), positions[:bad] + positions[bad + 1:]
                continue
            if answer.get("duplicate") and "inserted" in answer:  # posted to the table itself
                if answer.get("same_rows") is False:
                    raise OptionError(
                        f"option idempotencyKey: the table {self.table} already holds other rows under key {key!r} "
                        f"(batch {batch_number} of this task): the data changed since a write with this key ran. A "
                        "rerun with the same idempotencyKey must write the same rows (same data, partitions and "
                        "batchSize); use a new idempotencyKey for other data. Batches of this run with new keys may "
                        "already be visible"
                    )
                if not answer.get("same_write"):
                    return 0, len(rows)
            return len(rows), 0
        return 0, 0

    def _new_dead_letters(self, message):
        if not self.options["deadLetterTable"]:
            return None
        # The run in dead-letter keys: this write, or in a stream the query and micro-batch, which
        # a restarted query replays with the same ids (so a replayed batch adds no dead letters twice).
        return DeadLetters(self.options["deadLetterTable"], f"write {self.table}", message.write_id, message.partition_id)

    def _flush_dead_letters(self, client, message, quietly=False):
        dead_letters, self._dead_letters = self._dead_letters, None
        if dead_letters is None:
            return
        try:
            try:
                dead_letters.flush(client)
            except ServiceError as error:
                if error.status != 404 or error.body.get("missing") != "table":
                    raise
                create_dead_letter_table(client, dead_letters.table)  # no `prepare` ran (a stream): create it now
                dead_letters.flush(client)
        except Exception as problem:
            if not quietly:
                raise
            log.warning("could not write %d dead letters to table %s: %s", len(dead_letters.pending),
                        dead_letters.table, problem)
        message.dead_letters = dead_letters.sent

    def _stage(self, client, json_rows, message):
        # BEGIN SOLUTION: stage json_rows batch by batch under message.write_id, counting them in message
        try:
            for batch in batches(json_rows, self.options["batchSize"]):
                if message.stage_id is None:  # a task without rows makes no stage
                    message.stage_id = self.create_stage(client, message.write_id)
                # The key makes a retry after a lost answer (a reset) stage nothing twice.
                key = f"{message.stage_id}-{message.requests}"
                written, _ = self.post_rows(client, self.table_path(f"/stages/{message.stage_id}/rows"), batch, key, message.requests)
                message.rows += written
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
            written, present = self.post_rows(client, self.table_path("/rows"), batch, f"{key}-{message.partition_id}-{number}",
                                              number, write_id=message.write_id)
            message.rows += written
            message.already_present += present
            message.requests += 1

    # -- driver -----------------------------------------------------------------------------

    def publish(self, client, messages, commit_id, write_id):
        """Publish the stages the messages name in one atomic commit; False when it was published before.

        The commit replaces the table's rows when overwriting (overwrite mode, a stream's complete
        mode) and appends otherwise. The service publishes a `commit_id` once: a commit it has
        seen (sent again after a lost answer, or a micro-batch replayed after a restart) publishes
        nothing, and the stages of the replay hold the same rows again, so they are discarded.
        Then the open stages of write `write_id` that no message names go (tasks that died).
        """
        stages = staged(messages)
        # BEGIN SOLUTION: publish the messages' stages in one commit: the mode, and commit_id when given
        body = {"stage_ids": stages, "mode": "overwrite" if self.overwrite else "append"}
        if commit_id is not None:
            body["commit_id"] = commit_id
        # Safe to send again only with a commit id: without one, a retry could publish twice.
        answer = self.post_to_table(client, self.table_path("/commit"), body, idempotent=commit_id is not None)
        # END SOLUTION
        # A replay's stages (or, after a lost answer, this commit's own, which then stay published).
        replayed = answer.get("duplicate") and any([discard_quietly(client, self.table_path(f"/stages/{stage_id}"))
                                                    for stage_id in stages])
        if write_id is not None:
            discard_leftover_stages(client, self.table_path, write_id, messages)
        return not replayed

    def discard(self, client, messages, write_id):
        """Discard the stages the messages name, then the open stages of write `write_id` no message names.

        A failed task sends None, having discarded its own stage, unless its process died.
        """
        # BEGIN SOLUTION: discard the stage of every message that names one
        for stage_id in staged(messages):
            discard_quietly(client, self.table_path(f"/stages/{stage_id}"))
        # END SOLUTION
        if write_id is not None:
            discard_leftover_stages(client, self.table_path, write_id, messages)

    def commit(self, messages):
        """Driver, once per write: publish every task's stage at once, under this write's commit id."""
        configure_logging(self.options)  # this driver-side process may not have opened a client yet
        if self.protocol == "staged":
            with self.client_class(self.options) as client:
                self.publish(client, messages, self.commit_id, self.commit_id)
        self.last_metrics = write_metrics(messages)
        log.info("wrote %d rows (%d already present) in %d partitions to table %s (%s)", self.last_metrics["rows"],
                 self.last_metrics["already_present"], len(messages), self.table, self.protocol,
                 extra={"table": self.table, "event": "write committed", **self.last_metrics})

    def abort(self, messages):
        """Driver, when a task failed for good: nothing of the write may become visible."""
        configure_logging(self.options)
        if self.protocol == "staged":
            with self.client_class(self.options) as client:
                self.discard(client, messages, self.commit_id)
        self.last_metrics = write_metrics(messages)
        log.warning("write to table %s aborted; %d staged partitions discarded", self.table, len(staged(messages)),
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
        # BEGIN SOLUTION: send every row of every batch in iterator as JSON, timestamps in UTC
        to_json = row_to_json_converter(self.schema)
        return self.send(to_json(record) for batch in iterator for record in batch_rows(batch))
        # END SOLUTION


class PracticeArrowIpcWriter(PracticeWriter, DataSourceArrowWriter):
    """Writes pyarrow RecordBatches as Arrow IPC bodies (options arrow=true and wireFormat=arrow).

    Spark's batches go to the service cast to the table's types (timestamps in UTC), cut into
    bodies of `batchSize` rows without copying: no row and no value passes through Python. The
    protocols, keys, retries and dead letters are those of the JSON writers (`send`), and the
    service validates the rows of an Arrow body exactly as it validates JSON rows.
    """

    def write(self, iterator):
        return self.send(in_table_types(iterator, self.schema))


def batches(items, size):
    """Lists of up to `size` items from an iterator.

    From an iterator of pyarrow RecordBatches (the Arrow IPC writer): pyarrow Tables of up to
    `size` rows, cut from the batches without copying.
    """
    items = iter(items)
    first = next(items, _NOTHING)
    if first is _NOTHING:
        return
    if hasattr(first, "num_rows"):
        yield from arrow_tables(itertools.chain([first], items), size)
        return
    batch = [first]
    for item in items:
        if len(batch) == size:
            yield batch
            batch = []
        batch.append(item)
    yield batch


_NOTHING = object()


def arrow_tables(record_batches, size):
    """pyarrow Tables of `size` rows (the last one fewer) from RecordBatches of any sizes, by slicing."""
    import pyarrow as pa

    pending, count = [], 0
    for batch in record_batches:
        start = 0
        while start < batch.num_rows:
            take = min(size - count, batch.num_rows - start)
            pending.append(batch.slice(start, take))
            count, start = count + take, start + take
            if count == size:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def rows_body(rows, key, write_id):
    """The body and headers of one post of rows: JSON rows, or a pyarrow Table sent as an Arrow IPC stream."""
    headers = {"Idempotency-Key": key}
    if isinstance(rows, list):
        return ({"rows": rows} if write_id is None else {"rows": rows, "write_id": write_id}), headers
    if write_id is not None:
        headers["X-Write-Id"] = write_id  # an Arrow body has no room beside its rows
    return rows, headers


def json_row(rows, index, schema):
    """Row `index` of a batch of rows in JSON form (for a dead letter): as it is, or from a pyarrow Table."""
    if isinstance(rows, list):
        return rows[index]
    return row_to_json_converter(schema)(batch_rows(rows.slice(index, 1).combine_chunks().to_batches()[0])[0])


def without_row(rows, index):
    """The batch of rows without row `index` (a list, or a pyarrow Table)."""
    if isinstance(rows, list):
        return rows[:index] + rows[index + 1:]
    import pyarrow as pa

    return pa.concat_tables([rows.slice(0, index), rows.slice(index + 1)])


def staged(messages):
    """The stage ids the commit messages name (a failed task sends None; a task without rows, no stage)."""
    return [message.stage_id for message in messages if message is not None and message.stage_id]


def discard_leftover_stages(client, table_path, write_id, messages):
    """Discard the open stages of write `write_id` that no commit message names; how many.

    A task whose Python process died (killed, out of memory) never reaches its `except`, and a
    task Spark ran again leaves its first attempt's stage: neither is in `messages`. Best effort:
    Spark calls abort without waiting for the tasks it cancelled, and a stage one of them makes
    after this listing stays open. Quiet, like `discard_quietly`: the commit, or the error that
    caused an abort, matters more.
    """
    named = set(staged(messages))
    try:
        stages = client.get(table_path("/stages"), {"write_id": write_id})["stages"]
    except Exception as problem:
        log.warning("could not list the open stages of write %s: %s", write_id, problem)
        return 0
    leftovers = [stage["stage_id"] for stage in stages if stage["stage_id"] not in named]
    discarded = sum(discard_quietly(client, table_path(f"/stages/{stage_id}")) for stage_id in leftovers)
    if leftovers:
        log.info("discarded %d of %d stages left open by tasks of write %s", discarded, len(leftovers), write_id,
                 extra={"write_id": write_id, "leftover_stages": len(leftovers), "discarded": discarded})
    return discarded


def write_metrics(messages):
    """The tasks' metrics summed (`sum_metrics`), with the rows already present."""
    metrics = sum_metrics(messages)
    metrics["already_present"] = sum(getattr(message, "already_present", 0) for message in messages if message is not None)
    return metrics


def discard_quietly(client, stage_path):
    """Discard a stage; True when it is discarded, False (logged) when it could not be."""
    try:
        client.delete(stage_path)
        return True
    except Exception as problem:  # the original error matters more; say what was left behind
        log.warning("could not discard %s: %s", stage_path, problem)
        return False
