"""Lab 05's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why.

The learner writes PracticeWriter's `_stage`, `publish` and `discard`, and PracticeArrowWriter's
`write`; the lab's PracticeBatchWriter and PracticeArrowWriter sit on the learner's PracticeWriter.
Here each mistake overrides the method it gets wrong. Several mistakes share one check run (each
breaks different requirements), to keep Spark work down.
"""
from dataclasses import dataclass

import pytest
from pyspark.sql.datasource import WriterCommitMessage

from solutions.conversion import row_to_json_converter
from solutions.writer import PracticeArrowWriter, PracticeBatchWriter, batches, discard_quietly, staged
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab05 import (
    ABORT,
    APPEND,
    ARROW,
    BATCHES,
    COMMIT_ID,
    COMMIT_RETRY,
    EMPTY_WRITE,
    FAILURE,
    INVISIBLE,
    NO_OPEN_STAGE,
    OVERWRITE,
    WRITE_ID,
    WRITE_RETURNS,
)

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]


def run(service, url, batch=PracticeBatchWriter, arrow=PracticeArrowWriter):
    return check_lab("05", PracticeBatchWriter=batch, PracticeArrowWriter=arrow, url=url, service=service)


# -- right, written differently -------------------------------------------------------------------


@dataclass
class Counted(WriterCommitMessage):
    stage: str
    written: int


class OwnMessage(PracticeBatchWriter):
    """Its own commit message class and field names, and its own commit and abort."""

    def write(self, iterator):
        message = super().write(iterator)
        return Counted(stage=message.stage_id, written=message.rows)

    def commit(self, messages):
        with self.client_class(self.options) as client:
            body = {"stage_ids": [m.stage for m in messages if m.stage], "mode": "overwrite" if self.overwrite else "append",
                    "commit_id": self.commit_id}
            self.post_to_table(client, self.table_path("/commit"), body, idempotent=True)

    def abort(self, messages):
        with self.client_class(self.options) as client:
            for message in messages:
                if message is not None and message.stage:
                    client.delete(self.table_path(f"/stages/{message.stage}"))


class Enumerated:
    """_stage, publish and discard written another way (mixed in before the lab's writers)."""

    def _stage(self, client, json_rows, message):
        try:
            for number, batch in enumerate(batches(json_rows, self.options["batchSize"])):
                if number == 0:
                    message.stage_id = self.create_stage(client, message.write_id)
                path = self.table_path(f"/stages/{message.stage_id}/rows")
                message.rows += self.post_rows(client, path, batch, f"{message.stage_id}:{number}", number)[0]
        except BaseException:
            if message.stage_id:
                discard_quietly(client, self.table_path(f"/stages/{message.stage_id}"))
            raise

    def publish(self, client, messages, commit_id, write_id):
        body = dict(stage_ids=staged(messages), mode="overwrite" if self.overwrite else "append")
        body.update({"commit_id": commit_id} if commit_id else {})
        self.post_to_table(client, self.table_path("/commit"), body, idempotent=bool(commit_id))
        return True

    def discard(self, client, messages, write_id):
        [discard_quietly(client, self.table_path(f"/stages/{stage}")) for stage in staged(messages)]


class EnumeratedRows(Enumerated, PracticeBatchWriter):
    pass


class EnumeratedArrow(Enumerated, PracticeArrowWriter):
    def write(self, iterator):
        from solutions.conversion import batch_rows

        to_json = row_to_json_converter(self.schema)

        def records():
            for batch in iterator:
                for record in batch_rows(batch):
                    yield to_json(record)

        return self.send(records())


# -- mistakes -------------------------------------------------------------------------------------


class ReturnsNone(PracticeBatchWriter):
    def write(self, iterator):
        super().write(iterator)
        return None  # the mistake


class ReturnsDict(PracticeBatchWriter):
    def write(self, iterator):
        message = super().write(iterator)
        return {"rows": message.rows, "stage_id": message.stage_id}  # the mistake


class PostsDirectly(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        for batch in batches(json_rows, self.options["batchSize"]):
            self.post_to_table(client, self.table_path("/rows"), {"rows": batch})  # the mistake: visible at once
            message.rows += len(batch)


class NoCommitNoAbort(PracticeBatchWriter):
    def publish(self, client, messages, commit_id, write_id):
        return True  # the mistake: staged rows are never published

    def discard(self, client, messages, write_id):
        pass  # the mistake: stages are left open


class AlwaysAppends(PracticeBatchWriter):
    def commit(self, messages):
        self.overwrite = False  # the mistake: overwrite is ignored
        super().commit(messages)


class KeepsItsStage(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        for number, batch in enumerate(batches(json_rows, self.options["batchSize"])):
            if message.stage_id is None:
                message.stage_id = self.create_stage(client, message.write_id)
            path = self.table_path(f"/stages/{message.stage_id}/rows")
            message.rows += self.post_rows(client, path, batch, f"{message.stage_id}-{number}", number)[0]
        # the mistake: no except block, so a failing task leaves its stage open


class StagesWithoutTheWriteId(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        for number, batch in enumerate(batches(json_rows, self.options["batchSize"])):
            if message.stage_id is None:  # the mistake: a stage of no write, which commit() and abort() cannot find
                message.stage_id = self.post_to_table(client, self.table_path("/stages"), idempotent=True)["stage_id"]
            path = self.table_path(f"/stages/{message.stage_id}/rows")
            message.rows += self.post_rows(client, path, batch, f"{message.stage_id}-{number}", number)[0]


class StagesUnderTheCommitId(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        message.write_id = self.commit_id  # the mistake: a stream's micro-batch gives its own write id
        super()._stage(client, json_rows, message)


class OneRequestPerTask(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        rows = list(json_rows)  # the mistake: every row in one request, whatever batchSize says
        if rows:
            message.stage_id = self.create_stage(client, message.write_id)
            message.rows += self.post_rows(client, self.table_path(f"/stages/{message.stage_id}/rows"), rows,
                                           message.stage_id)[0]


class EagerStageAndOneKey(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        message.stage_id = self.create_stage(client, message.write_id)  # the mistake: a stage even without rows
        for number, batch in enumerate(batches(json_rows, self.options["batchSize"])):
            path = self.table_path(f"/stages/{message.stage_id}/rows")
            message.rows += self.post_rows(client, path, batch, message.stage_id, number)[0]  # the mistake: one key


class CommitWithoutAnIdAndCrashingAbort(PracticeBatchWriter):
    def publish(self, client, messages, commit_id, write_id):
        return super().publish(client, messages, None, write_id)  # the mistake: a commit sent again publishes again

    def discard(self, client, messages, write_id):
        for message in messages:  # the mistake: a failed task's message is None
            discard_quietly(client, self.table_path(f"/stages/{message.stage_id}"))


class CommitNeverSentAgain(PracticeBatchWriter):
    def publish(self, client, messages, commit_id, write_id):
        body = {"stage_ids": staged(messages), "mode": "overwrite" if self.overwrite else "append", "commit_id": commit_id}
        self.post_to_table(client, self.table_path("/commit"), body)  # the mistake: not idempotent, so a lost answer fails
        return True


class SkipsEmptyCommits(PracticeBatchWriter):
    def publish(self, client, messages, commit_id, write_id):
        if not staged(messages):
            return True  # the mistake: an overwrite without rows must still empty the table
        return super().publish(client, messages, commit_id, write_id)


class SwallowsErrorsAndSkipsEmptyOverwrites(PracticeBatchWriter):
    def _stage(self, client, json_rows, message):
        def until_broken():
            try:
                yield from json_rows
            except Exception:
                return  # the mistake: the input's error is swallowed, and the task reports success

        super()._stage(client, until_broken(), message)

    def publish(self, client, messages, commit_id, write_id):
        if self.overwrite and not staged(messages):
            return True  # the mistake: an overwrite without rows must still empty the table
        return super().publish(client, messages, commit_id, write_id)


class PostsTheCommitDirectly(PracticeBatchWriter):
    def publish(self, client, messages, commit_id, write_id):
        body = {"stage_ids": staged(messages), "mode": "overwrite" if self.overwrite else "append", "commit_id": commit_id}
        client.post(self.table_path("/commit"), body, idempotent=True)  # the mistake: no table is created
        return True


class ArrowAsRows(PracticeArrowWriter):
    def write(self, iterator):
        to_json = row_to_json_converter(self.schema)
        return self.send(to_json(batch) for batch in iterator)  # the mistake: a batch is not a row


class ArrowToPylist(PracticeArrowWriter):
    def write(self, iterator):
        to_json = row_to_json_converter(self.schema)
        return self.send(to_json(record) for batch in iterator for record in batch.to_pylist())  # the session's zone


# -- the tests ------------------------------------------------------------------------------------


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("05")
    report = run(service, spark_service_url, solution["PracticeBatchWriter"], solution["PracticeArrowWriter"])
    assert report.passed, report.failures


@pytest.mark.parametrize("writers", [dict(batch=OwnMessage), dict(batch=EnumeratedRows, arrow=EnumeratedArrow)],
                         ids=["own-message", "enumerated"])
def test_other_right_answers_pass(spark, spark_service_url, service, writers):
    report = run(service, spark_service_url, **writers)
    assert report.passed, report.failures


MISTAKES = [
    (dict(batch=ReturnsNone), {WRITE_RETURNS: "write() returned None", APPEND: "DATA_SOURCE_TYPE_MISMATCH"}),
    (dict(batch=ReturnsDict, arrow=ArrowAsRows), {WRITE_RETURNS: "write() returned a dict",
                                                 ARROW: "the write with arrow=true failed"}),
    (dict(batch=PostsDirectly, arrow=ArrowToPylist), {
        INVISIBLE: "rows were visible after write(), before commit()", FAILURE: "rows must stay staged (invisible)",
        ARROW: "batch.to_pylist() reads timestamps in that zone"}),
    (dict(batch=NoCommitNoAbort), {INVISIBLE: "the table shows 0 rows, not 32", ABORT: "stage(s) are still open"}),
    (dict(batch=AlwaysAppends), {OVERWRITE: "the table has"}),
    (dict(batch=KeepsItsStage), {NO_OPEN_STAGE: "left its stage open"}),
    (dict(batch=StagesWithoutTheWriteId), {WRITE_ID: "not the write's id"}),
    (dict(batch=StagesUnderTheCommitId), {WRITE_ID: "not self.commit_id"}),
    (dict(batch=OneRequestPerTask), {BATCHES: "posted 1 batch(es) of rows to its stage, not 3"}),
    (dict(batch=EagerStageAndOneKey), {BATCHES: "write() of no rows made a stage", INVISIBLE: "the table shows 17 rows"}),
    (dict(batch=CommitWithoutAnIdAndCrashingAbort), {COMMIT_ID: "commit() sent a second time (as after a lost answer) failed",
                                                    ABORT: "Spark passes None", FAILURE: "your abort() failed too"}),
    (dict(batch=CommitNeverSentAgain), {COMMIT_RETRY: "idempotent=True when commit_id is given"}),
    (dict(batch=SkipsEmptyCommits), {EMPTY_WRITE: "made no table"}),
    (dict(batch=PostsTheCommitDirectly), {EMPTY_WRITE: "with self.post_to_table"}),
    (dict(batch=SwallowsErrorsAndSkipsEmptyOverwrites), {
        NO_OPEN_STAGE: "swallowed the error of its input", FAILURE: "the write did not fail",
        EMPTY_WRITE: "an overwrite without rows left the table's 5 rows"}),
]


@pytest.mark.parametrize("mistakes, expected", MISTAKES, ids=[
    "+".join(writer.__name__ for writer in mistakes.values()) for mistakes, _ in MISTAKES])
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, mistakes, expected):
    report = run(service, spark_service_url, **mistakes)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
