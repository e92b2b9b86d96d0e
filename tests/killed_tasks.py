"""A data source whose write task kills its own Python process once: what a dead task leaves behind.

`os._exit` ends the process at once: no `except`, no `finally`, no commit message, as when the
operating system kills a worker (out of memory) or an executor is lost. The marker file makes it
happen once, so the write run again (or the micro-batch run again after a restart) succeeds.
The classes are made inside `dying_sink`, so Spark's workers get them by value.
"""
import os
import time

ROWS_BEFORE_DYING = 25  # with batchSize 10: two batches are staged when the task dies


def dying_sink(name, marker, straggler=False):
    """A data source `name` whose task for partition 0 (of batch 0, in a stream) dies once, mid-write.

    With `straggler`, the batch writer's partition 1 starts staging only once the write has been
    aborted (the dead task's stage discarded): a task Spark cancelled but that still runs.
    """
    from solutions.datasource import PracticeDataSource
    from solutions.stream_writer import PracticeStreamWriter
    from solutions.writer import PracticeBatchWriter

    def until_death(iterator):
        from pyspark import TaskContext

        context = TaskContext.get()
        dies = (context.partitionId() == 0 and context.getLocalProperty("streaming.sql.batchId") in (None, "0")
                and not os.path.exists(marker))
        for number, row in enumerate(iterator):
            if dies and number == ROWS_BEFORE_DYING:
                open(marker, "w").close()
                os._exit(1)
            yield row

    def await_the_abort(writer):
        deadline = time.monotonic() + 60
        with writer.client_class(writer.options) as client:
            while time.monotonic() < deadline:
                path = writer.table_path("/stages")
                if os.path.exists(marker) and not client.get(path, {"write_id": writer.commit_id})["stages"]:
                    return
                time.sleep(0.05)

    class DyingBatchWriter(PracticeBatchWriter):
        def write(self, iterator):
            from pyspark import TaskContext

            if straggler and TaskContext.get().partitionId() == 1:
                await_the_abort(self)
            return super().write(until_death(iterator))

    class DyingStreamWriter(PracticeStreamWriter):
        def write(self, iterator):
            return super().write(until_death(iterator))

    class DyingSink(PracticeDataSource):
        short_name = name
        batch_writer = DyingBatchWriter
        stream_writer = DyingStreamWriter

    return DyingSink
