"""Lab 05's check accepts the reference and rejects the plausible mistakes, saying why.

Several mistakes share one check run (each breaks different requirements), to keep Spark work down.
"""
from dataclasses import dataclass

import pytest
from pyspark.sql.datasource import WriterCommitMessage

from solutions.writer import PracticeArrowWriter, PracticeBatchWriter, batches
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab05 import (
    ABORT,
    APPEND,
    ARROW,
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


# -- correct, written differently ---------------------------------------------------------------


@dataclass
class Counted(WriterCommitMessage):
    stage: str
    written: int


class OwnMessage(PracticeBatchWriter):
    """Its own commit message class and field names."""

    def write(self, iterator):
        message = super().write(iterator)
        return Counted(stage=message.stage_id, written=message.rows)

    def commit(self, messages):
        with self.client_class(self.options) as client:
            body = {"stage_ids": [m.stage for m in messages if m.stage], "mode": "overwrite" if self.overwrite else "append"}
            client.post(self.table_path("/commit"), body, idempotent=True)

    def abort(self, messages):
        with self.client_class(self.options) as client:
            for message in messages:
                if message is not None and message.stage:
                    client.delete(self.table_path(f"/stages/{message.stage}"))


# -- mistakes -----------------------------------------------------------------------------------


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
    def commit(self, messages):
        pass  # the mistake: staged rows are never published

    def abort(self, messages):
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


class ArrowAsRows(PracticeArrowWriter):
    def write(self, iterator):
        from solutions.conversion import row_to_json_converter

        to_json = row_to_json_converter(self.schema)
        return self.send(to_json(batch) for batch in iterator)  # the mistake: a batch is not a row


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("05")
    report = run(service, spark_service_url, solution["PracticeBatchWriter"], solution["PracticeArrowWriter"])
    assert report.passed, report.failures


def test_another_correct_implementation_passes(spark, spark_service_url, service):
    report = run(service, spark_service_url, batch=OwnMessage)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "mistakes, expected",
    [
        (dict(batch=ReturnsNone), {WRITE_RETURNS: "write() returned None", APPEND: "DATA_SOURCE_TYPE_MISMATCH"}),
        (dict(batch=ReturnsDict, arrow=ArrowAsRows), {WRITE_RETURNS: "write() returned a dict", ARROW: "the write with arrow=true failed"}),
        (
            dict(batch=PostsDirectly),
            {INVISIBLE: "rows were visible after write(), before commit()", FAILURE: "rows must stay staged (invisible)"},
        ),
        (
            dict(batch=NoCommitNoAbort),
            {INVISIBLE: "the table shows 0 rows, not 32", ABORT: "stage(s) are still open"},
        ),
        (dict(batch=AlwaysAppends), {OVERWRITE: "the table has"}),
        (dict(batch=KeepsItsStage), {NO_OPEN_STAGE: "left its stage open"}),
        (dict(batch=StagesWithoutTheWriteId), {WRITE_ID: "not the write's id"}),
    ],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, mistakes, expected):
    report = run(service, spark_service_url, **mistakes)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
