"""Lab 07's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why.

The learner writes `stage_micro_batch`, `publish_micro_batch` and `discard_micro_batch`, which the
lab's writer calls from `write`, `commit` and `abort`. `WithFunctions` does the same with the
functions a test gives it.
"""
import dataclasses

import pytest

from solutions.observability import BATCH_ID_PROPERTY, QUERY_ID_PROPERTY, micro_batch, micro_batch_id
from solutions.stream_writer import (
    PracticeStreamCommitMessage,
    PracticeStreamWriter,
    discard_micro_batch,
    publish_micro_batch,
    query_id_of,
    stage_micro_batch,
)
from solutions.writer import batches, discard_leftover_stages, discard_quietly, staged
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab07 import (
    ABORT,
    ABORT_BY_HAND,
    AT_LEAST_ONCE,
    BATCH_WRITE_ID,
    COMMIT_BY_HAND,
    COMPLETE_EMPTY,
    PUBLISHES,
    REPLAY,
)

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]


def run(writer):
    return check_lab("07", PracticeStreamWriter=writer)


class WithFunctions(PracticeStreamWriter):
    """The reference writer, calling `stage`, `publish` and `discard` (as the lab's writer calls the learner's)."""

    stage = staticmethod(stage_micro_batch)
    publish_batch = staticmethod(publish_micro_batch)
    discard_batch = staticmethod(discard_micro_batch)

    def write(self, iterator):
        from solutions.conversion import local_time_zone, row_to_json_converter

        to_json = row_to_json_converter(self.schema)
        with local_time_zone("UTC"):
            return self.stage(self, (to_json(row) for row in iterator))

    def commit(self, messages, batchId):
        self.publish_batch(self, messages, batchId)

    def abort(self, messages, batchId):
        self.discard_batch(self, messages, batchId)


# -- right, written differently -------------------------------------------------------------------


def stage_with_micro_batch(writer, json_rows):
    query_id, batch_id = micro_batch()  # the connector's helper: the same two properties, the batch id an int
    message = writer.send(json_rows, write_id=f"{query_id}:{batch_id}")
    fields = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
    return PracticeStreamCommitMessage(batch_id=batch_id, query_id=query_id, **fields)


def publish_by_hand(writer, messages, batch_id):
    """Its own commit request, and its own cleanup of a replay's stages and of leftovers."""
    if not staged(messages) and not writer.overwrite:
        return
    query_id = query_id_of(messages)
    write_id = f"{query_id}:{batch_id}"
    with writer.client_class(writer.options) as client:
        body = {"stage_ids": staged(messages), "mode": "overwrite" if writer.overwrite else "append"}
        if writer.exactly_once:
            body["commit_id"] = write_id
        answer = writer.post_to_table(client, writer.table_path("/commit"), body, idempotent=writer.exactly_once)
        if answer.get("duplicate"):
            for stage_id in staged(messages):
                discard_quietly(client, writer.table_path(f"/stages/{stage_id}"))
        discard_leftover_stages(client, writer.table_path, write_id, messages)


def discard_each(writer, messages, batch_id):
    query_id = query_id_of(messages)
    with writer.client_class(writer.options) as client:
        for message in filter(None, messages):
            if message.stage_id:
                discard_quietly(client, writer.table_path(f"/stages/{message.stage_id}"))
        if query_id:
            discard_leftover_stages(client, writer.table_path, f"{query_id}:{batch_id}", messages)


class OwnRequests(WithFunctions):
    stage = staticmethod(stage_with_micro_batch)
    publish_batch = staticmethod(publish_by_hand)
    discard_batch = staticmethod(discard_each)


class DiscardThroughPublishHelpers(WithFunctions):
    """abort via writer.discard per message, one client per call; commit as the reference."""

    @staticmethod
    def discard_batch(writer, messages, batch_id):
        query_id = query_id_of(messages)
        write_id = micro_batch_id(query_id, batch_id) if query_id is not None else None
        with writer.client_class(writer.options) as client:
            writer.discard(client, [message for message in messages if message is not None], write_id)


# -- mistakes -------------------------------------------------------------------------------------


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
        from pyspark import TaskContext

        from solutions.conversion import row_to_json_converter

        context = TaskContext.get()
        to_json = row_to_json_converter(self.schema)
        message = self.send(to_json(row) for row in iterator)  # the mistake: staged under no micro-batch's id
        return PracticeStreamCommitMessage(**dataclasses.asdict(message), query_id=context.getLocalProperty(
            "sql.streaming.queryId"), batch_id=int(context.getLocalProperty("streaming.sql.batchId")))


class AbortKeepsStages(PracticeStreamWriter):
    def abort(self, messages, batchId):
        pass  # the mistake: the stages of the tasks that succeeded stay open


def stage_with_a_text_batch_id(writer, json_rows):
    from pyspark import TaskContext

    context = TaskContext.get()
    batch_id = context.getLocalProperty(BATCH_ID_PROPERTY)  # the mistake: the property is text
    query_id = context.getLocalProperty(QUERY_ID_PROPERTY)
    message = writer.send(json_rows, write_id=micro_batch_id(query_id, batch_id))
    return PracticeStreamCommitMessage(**dataclasses.asdict(message), batch_id=batch_id, query_id=query_id)


def stage_straight_into_the_table(writer, json_rows):
    from pyspark import TaskContext

    context = TaskContext.get()
    batch_id = int(context.getLocalProperty(BATCH_ID_PROPERTY))
    query_id = context.getLocalProperty(QUERY_ID_PROPERTY)
    rows = 0
    with writer.client_class(writer.options) as client:
        for batch in batches(json_rows, 20):
            writer.post_to_table(client, writer.table_path("/rows"), {"rows": batch})  # the mistake: visible at once
            rows += len(batch)
    return PracticeStreamCommitMessage(partition_id=context.partitionId(), rows=rows, batch_id=batch_id, query_id=query_id)


def publish_keyed_by(key):
    def publish(writer, messages, batch_id):
        if not staged(messages) and not writer.overwrite:
            return
        query_id = query_id_of(messages)
        with writer.client_class(writer.options) as client:
            writer.publish(client, messages, key(query_id, batch_id), micro_batch_id(query_id, batch_id))

    return publish


def publish_always_with_an_id(writer, messages, batch_id):
    if not staged(messages) and not writer.overwrite:
        return
    micro_batch = micro_batch_id(query_id_of(messages), batch_id)
    with writer.client_class(writer.options) as client:
        writer.publish(client, messages, micro_batch, micro_batch)  # the mistake: exactlyOnce=false is ignored


def publish_only_stages(writer, messages, batch_id):
    if not staged(messages):
        return  # the mistake: complete mode's empty result is never published
    micro_batch = micro_batch_id(query_id_of(messages), batch_id)
    with writer.client_class(writer.options) as client:
        writer.publish(client, messages, micro_batch if writer.exactly_once else None, micro_batch)


def publish_without_a_write_id(writer, messages, batch_id):
    if not staged(messages) and not writer.overwrite:
        return
    micro_batch = micro_batch_id(query_id_of(messages), batch_id)
    with writer.client_class(writer.options) as client:
        writer.publish(client, messages, micro_batch if writer.exactly_once else None, None)  # the mistake: no leftovers


def discard_without_a_write_id(writer, messages, batch_id):
    with writer.client_class(writer.options) as client:
        writer.discard(client, messages, None)  # the mistake: the stages of tasks that died stay open


def discard_every_message(writer, messages, batch_id):
    with writer.client_class(writer.options) as client:
        for message in messages:  # the mistake: a failed task's message is None
            discard_quietly(client, writer.table_path(f"/stages/{message.stage_id}"))
        discard_leftover_stages(client, writer.table_path, micro_batch_id(messages[0].query_id, batch_id), messages)


def discard_with_the_first_query_id(writer, messages, batch_id):
    first = next(message for message in messages if message is not None)  # the mistake: every task may have failed
    with writer.client_class(writer.options) as client:
        writer.discard(client, messages, micro_batch_id(first.query_id, batch_id))


class CommitsUnderTheBatchIdAlone(WithFunctions):
    publish_batch = staticmethod(publish_keyed_by(lambda query_id, batch_id: str(batch_id)))


class CommitsUnderTheQueryIdAndAbortsWithoutLeftovers(WithFunctions):
    publish_batch = staticmethod(publish_keyed_by(lambda query_id, batch_id: query_id))
    discard_batch = staticmethod(discard_without_a_write_id)


class IgnoresExactlyOnceAndAllNone(WithFunctions):
    publish_batch = staticmethod(publish_always_with_an_id)
    discard_batch = staticmethod(discard_with_the_first_query_id)


class SkipsEmptyBatchesAndCrashesOnNone(WithFunctions):
    publish_batch = staticmethod(publish_only_stages)
    discard_batch = staticmethod(discard_every_message)


class LeavesLeftoversAtCommit(WithFunctions):
    publish_batch = staticmethod(publish_without_a_write_id)


class TextBatchId(WithFunctions):
    stage = staticmethod(stage_with_a_text_batch_id)


class WritesStraightIntoTheTable(WithFunctions):
    stage = staticmethod(stage_straight_into_the_table)


# -- the tests ------------------------------------------------------------------------------------


def test_reference_passes(spark):
    solution = labs.solution_namespace("07")
    report = run(solution["PracticeStreamWriter"])
    assert report.passed, report.failures


@pytest.mark.parametrize("writer", [OwnRequests, DiscardThroughPublishHelpers], ids=["own-requests", "discard-per-call"])
def test_other_right_answers_pass(spark, writer):
    report = run(writer)
    assert report.passed, report.failures


MISTAKES = [
    (CommitWithoutBatchId, {COMMIT_BY_HAND: "Spark calls commit(messages, batchId)",
                            PUBLISHES: "commit and abort take (messages, batchId)"}),
    (AtLeastOnce, {COMMIT_BY_HAND: "makes the service publish a batch once", REPLAY: "are in it twice"}),
    (WriteReturnsNone, {PUBLISHES: "the streaming query failed"}),
    (AbortKeepsStages, {ABORT_BY_HAND: "the stage a message names is still open"}),
    (StagesWithoutTheBatch, {BATCH_WRITE_ID: "not \"<query id>:<batch id>\""}),
    (CommitsUnderTheBatchIdAlone, {COMMIT_BY_HAND: "the batch id alone is no key"}),
    (CommitsUnderTheQueryIdAndAbortsWithoutLeftovers, {COMMIT_BY_HAND: "the commit id must name the batch",
                                                       ABORT_BY_HAND: "the stage of a task that died"}),
    (IgnoresExactlyOnceAndAllNone, {AT_LEAST_ONCE: "the commit carries no commit id",
                                    ABORT_BY_HAND: "every task failed"}),
    (SkipsEmptyBatchesAndCrashesOnNone, {COMPLETE_EMPTY: "made no table", ABORT_BY_HAND: "Spark passes None",
                                         ABORT: "your abort(messages, batchId) failed too"}),
    (LeavesLeftoversAtCommit, {COMMIT_BY_HAND: "the stage of a task that died, seq 7"}),
    (TextBatchId, {PUBLISHES: "got commit messages of batch(es) ['0']"}),
    (WritesStraightIntoTheTable, {ABORT: "stage rows in write(), publish only in commit()"}),
]


@pytest.mark.parametrize("writer, expected", MISTAKES, ids=[writer.__name__ for writer, _ in MISTAKES])
def test_mistakes_fail_with_the_reason(spark, writer, expected):
    report = run(writer)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
