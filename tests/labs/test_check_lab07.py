"""Lab 07's check accepts the reference and rejects the plausible mistakes, saying why."""

import pytest

from solutions.stream_writer import PracticeStreamWriter
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab07 import ABORT, BATCH_WRITE_ID, PUBLISHES, REPLAY

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]


def run(writer):
    return check_lab("07", PracticeStreamWriter=writer)


# -- mistakes -----------------------------------------------------------------------------------


class CommitWithoutBatchId(PracticeStreamWriter):
    def commit(self, messages):  # the mistake: Spark calls commit(messages, batchId)
        super().commit(messages, messages[0].batch_id if messages else 0)


class AtLeastOnce(PracticeStreamWriter):
    def commit(self, messages, batchId):
        stages = [message.stage_id for message in messages if message.stage_id]
        if stages:
            with self.client_class(self.options) as client:  # the mistake: no commit_id, so a replay publishes again
                client.post(self.table_path("/commit"), {"stage_ids": stages, "mode": "append"})


class WriteReturnsNone(PracticeStreamWriter):
    def write(self, iterator):
        super().write(iterator)
        return None  # the mistake


class StagesWithoutTheBatch(PracticeStreamWriter):
    def write(self, iterator):
        import dataclasses

        from pyspark import TaskContext

        from solutions.conversion import row_to_json_converter
        from solutions.stream_writer import PracticeStreamCommitMessage

        context = TaskContext.get()
        to_json = row_to_json_converter(self.schema)
        message = self.send(to_json(row) for row in iterator)  # the mistake: staged under no micro-batch's id
        return PracticeStreamCommitMessage(**dataclasses.asdict(message), query_id=context.getLocalProperty(
            "sql.streaming.queryId"), batch_id=int(context.getLocalProperty("streaming.sql.batchId")))


class AbortKeepsStages(PracticeStreamWriter):
    def abort(self, messages, batchId):
        pass  # the mistake: the stages of the tasks that succeeded stay open


def test_reference_passes(spark):
    solution = labs.solution_namespace("07")
    report = run(solution["PracticeStreamWriter"])
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "writer, expected",
    [
        (CommitWithoutBatchId, {PUBLISHES: "commit and abort take (messages, batchId)", REPLAY: "not run"}),
        (AtLeastOnce, {REPLAY: "are in it twice"}),
        (WriteReturnsNone, {PUBLISHES: "the streaming query failed"}),
        (AbortKeepsStages, {ABORT: "abort(messages, batchId) must discard"}),
        (StagesWithoutTheBatch, {BATCH_WRITE_ID: "not \"<query id>:<batch id>\""}),
    ],
    ids=["commit-without-batch-id", "at-least-once", "write-returns-none", "abort-keeps-stages",
         "stages-without-the-batch"],
)
def test_mistakes_fail_with_the_reason(spark, writer, expected):
    report = run(writer)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
