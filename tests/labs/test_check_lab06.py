"""Lab 06's check accepts the reference and rejects the plausible mistakes, saying why."""
import json

import pytest

from solutions.stream_reader import (
    HAS_ADMISSION_CONTROL, PracticeStreamReader, ReadAllAvailable, SeqRangePartition, capped_end, latest_seq,
    make_offset, offset_seq,
)
from workshop import labs
from workshop.checks import check_lab
from workshop.checks.lab06 import LEGACY, LIMIT, OFFSETS, ON_SPARK, PARTITIONS, REPLAY, RESTART

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]


def run(reader):
    return check_lab("06", PracticeStreamReader=reader)


# -- mistakes -----------------------------------------------------------------------------------


class JsonStringOffsets(PracticeStreamReader):
    """Offsets as JSON strings, parsed back by hand."""

    def initialOffset(self):
        return json.dumps(super().initialOffset())  # the mistake

    def latestOffset(self, start=None, limit=None):
        start = json.loads(start) if isinstance(start, str) else start
        return json.dumps(super().latestOffset(start, limit))  # the mistake

    def partitions(self, start, end):
        loads = lambda offset: json.loads(offset) if isinstance(offset, str) else offset  # noqa: E731
        return super().partitions(loads(start), loads(end))

    def commit(self, end):
        super().commit(json.loads(end) if isinstance(end, str) else end)


class OverlappingRanges(PracticeStreamReader):
    def partitions(self, start, end):
        planned = super().partitions(start, end)
        # the mistake: each range starts one seq early, so the previous range's last seq is read twice
        return [SeqRangePartition(p.index, max(p.after_seq - 1, start["seq"]), p.until_seq) for p in planned]


class GappedRanges(PracticeStreamReader):
    def partitions(self, start, end):
        planned = super().partitions(start, end)
        # the mistake: closed ranges [a, b] planned as (a + 1, b], losing each range's first seq
        return [SeqRangePartition(p.index, min(p.after_seq + 1, p.until_seq), p.until_seq) for p in planned]


class ReadsWhatIsNew(PracticeStreamReader):
    def read(self, partition):
        # the mistake: everything after after_seq that the feed has now, ignoring until_seq
        with self.client_class(self.options) as client:
            after, pages = partition.after_seq, []
            while True:
                items = client.get("/v1/events/feed", {"after_seq": after, "limit": 100})["items"]
                if not items:
                    break
                pages.append(items)
                after += len(items)
            yield from self.convert_pages(client, iter(pages), partition.index)


class IgnoresTheReadLimit(PracticeStreamReader):
    def latestOffset(self, start=None, limit=None):
        if start is None:
            return super().latestOffset()
        return super().latestOffset(start, ReadAllAvailable())  # the mistake: the limit Spark passes is dropped


class CapsTheLegacyLatestOffset(PracticeStreamReader):
    """The reference until issue 12: the legacy call capped with maxRecordsPerTrigger."""

    def latestOffset(self, start=None, limit=None):
        if start is not None:
            return super().latestOffset(start, limit)
        with self.client_class(self.options) as client:
            latest = latest_seq(client)
        start_seq = self.last_end_seq if self.last_end_seq is not None else offset_seq(self.initialOffset())
        end = capped_end(start_seq, latest, self.max_records)  # the mistake: Spark 4.0/4.1 stop AvailableNow here
        self._remember_end(end)
        return make_offset(end)


class EndsBeforeItStarts(PracticeStreamReader):
    def latestOffset(self, start=None, limit=None):
        if start is not None:
            return super().latestOffset(start, limit)
        with self.client_class(self.options) as client:
            return make_offset(latest_seq(client))  # the mistake: the feed's end, even before the stream's start


def test_reference_passes(spark):
    solution = labs.solution_namespace("06")
    report = run(solution["Lab06StreamReader"])
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "reader, expected",
    [
        (JsonStringOffsets, {OFFSETS: "returned the string"}),
        (OverlappingRanges, {PARTITIONS: "partitions overlap", ON_SPARK: "some events were read twice"}),
        (GappedRanges, {PARTITIONS: "partitions leave a gap", ON_SPARK: "some events were never read"}),
        (ReadsWhatIsNew, {REPLAY: "not whatever is in the feed"}),
        pytest.param(IgnoresTheReadLimit, {LIMIT: "with this limit a batch takes at most 100 events",
                                           ON_SPARK: "with maxRecordsPerTrigger=100"},
                     marks=pytest.mark.skipif(not HAS_ADMISSION_CONTROL, reason="Spark 4.0/4.1 pass no read limit to ignore")),
        (CapsTheLegacyLatestOffset, {LEGACY: "not at the feed's end", ON_SPARK: "Trigger.AvailableNow stopped early",
                                     RESTART: "Trigger.AvailableNow stopped early"}),
        (EndsBeforeItStarts, {LEGACY: "a batch never ends before it starts"}),
    ],
    ids=["json-string-offsets", "overlapping-ranges", "gapped-ranges", "reads-what-is-new", "ignores-the-read-limit",
         "caps-the-legacy-latest-offset", "ends-before-it-starts"],
)
def test_mistakes_fail_with_the_reason(spark, reader, expected, worker_features):
    if not HAS_ADMISSION_CONTROL:  # Spark 4.0/4.1: the check skips the read-limit requirement
        expected = {requirement: says for requirement, says in expected.items() if requirement != LIMIT}
    if reader is CapsTheLegacyLatestOffset and "admissionControl" in worker_features:
        # Spark 4.2+ never call the legacy latestOffset(): only the direct call shows the cap.
        expected = {LEGACY: expected[LEGACY]}
    report = run(reader)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
