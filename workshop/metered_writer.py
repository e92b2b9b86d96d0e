"""Lab 10's writer: the reference row writer, reporting its metrics with two functions you give it.

    class Lab10Writer(MeteredWriter):
        task_message = staticmethod(metered_message)   # executors: one task's commit message
        sum_messages = staticmethod(sum_task_metrics)  # driver: the sums over every task

`write` posts the task's rows with idempotency keys (writeProtocol=idempotent, so rows are
visible at once) and returns `task_message(partition_id, rows, client)`; `commit` and `abort`
log `sum_messages(messages)` as one JSON line with `"event": "write committed"` (or `"write
aborted"`) and keep it as `last_metrics`. The functions are class attributes, so they travel
to the executors with the writer, as every piece of the connector's seam does.
"""
import logging

from solutions.conversion import row_to_json_converter
from solutions.observability import configure_logging
from solutions.writer import PracticeBatchWriter, batches

log = logging.getLogger("solutions.lab10")


class MeteredWriter(PracticeBatchWriter):
    """PracticeBatchWriter whose tasks report with `task_message` and whose driver sums with `sum_messages`."""

    task_message = None  # (partition_id, rows, client) -> a WriterCommitMessage
    sum_messages = None  # (messages) -> {"tasks", "rows", "bytes", "requests", "retries", "seconds"}

    def write(self, iterator):
        from pyspark import TaskContext

        context = TaskContext.get()
        partition_id = context.partitionId() if context else 0
        to_json = row_to_json_converter(self.schema)
        key, rows = self.options["idempotencyKey"], 0
        with self.client_class(self.options) as client:
            for number, batch in enumerate(batches((to_json(row) for row in iterator), self.options["batchSize"])):
                written, _already_present = self.post_rows(client, self.table_path("/rows"), batch,
                                                           f"{key}-{partition_id}-{number}", number)
                rows += written
            return self.task_message(partition_id, rows, client)

    def commit(self, messages):
        configure_logging(self.options)  # this driver-side Python process may have no client yet
        self.last_metrics = self.sum_messages(messages)
        log.info("write to table %s committed", self.table,
                 extra={"event": "write committed", "table": self.table, **self.last_metrics})

    def abort(self, messages):
        configure_logging(self.options)
        self.last_metrics = self.sum_messages(messages)
        log.warning("write to table %s aborted", self.table,
                    extra={"event": "write aborted", "table": self.table, **self.last_metrics})
