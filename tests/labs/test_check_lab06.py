"""Lab 06's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why.

The learner writes `plan_seq_ranges`, `feed_pages` and `latestOffset`; the lab's reader plans and
reads with the first two. `WithFunctions` does the same with the functions a test gives it.
Mistakes that break different requirements share one check run, to keep Spark work down.
"""
import json

import pytest

from solutions.client import ServiceError
from solutions.observability import micro_batch, micro_batch_id
from solutions.stream_reader import (
    HAS_ADMISSION_CONTROL,
    PracticeStreamReader,
    ReadAllAvailable,
    ReadMaxRows,
    SeqRangePartition,
    capped_end,
    feed_pages,
    latest_seq,
    make_offset,
    offset_seq,
    plan_seq_ranges,
)
from workshop import labs
from workshop.checks import check_lab, lab06
from workshop.checks.lab06 import (
    LEGACY,
    LIMIT,
    LOST_EVENTS,
    MALFORMED_ITEMS,
    OFFSETS,
    ON_SPARK,
    PARTITIONS,
    REPLAY,
    RESTART,
)

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("checks_service_reachable", "pickled_by_value")]


def run(reader):
    return check_lab("06", PracticeStreamReader=reader)


class WithFunctions(PracticeStreamReader):
    """The reference reader, planning with `plan` and reading pages with `pages` (as the lab's reader
    uses the learner's plan_seq_ranges and feed_pages)."""

    plan = staticmethod(plan_seq_ranges)
    pages = staticmethod(feed_pages)

    def partitions(self, start, end):
        super().partitions(start, end)  # prepares and remembers the end
        return self.plan(offset_seq(start), offset_seq(end), self.options["numPartitions"])

    def read(self, partition):
        if not isinstance(partition, SeqRangePartition):
            return
        with self.client_class(self.options) as client:
            pages = self.pages(client, partition.after_seq, partition.until_seq, self.options["pageSize"])
            yield from self.convert_pages(client, pages, partition.index, micro_batch_id(*micro_batch()))


# -- right, written differently -------------------------------------------------------------------


def plan_by_divmod(after_seq, until_seq, num_partitions):
    """The first `extra` ranges one seq longer than the others."""
    width = until_seq - after_seq
    if width <= 0:
        return []
    parts = min(num_partitions, width)
    size, extra = divmod(width, parts)
    ranges, low = [], after_seq
    for index in range(parts):
        high = low + size + (1 if index < extra else 0)
        ranges.append(SeqRangePartition(index, low, high))
        low = high
    return ranges


def pages_recursively(client, after_seq, until_seq, page_size):
    """One page, then the rest; the service stops a page at until_seq, so no min() on the limit."""
    if after_seq >= until_seq:
        return
    items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq, "limit": page_size})["items"]
    if not items:
        raise ServiceError(f"the feed lost events after seq {after_seq} (wanted up to seq {until_seq})")
    yield items
    yield from pages_recursively(client, after_seq + len(items), until_seq, page_size)


class EarlyReturns(WithFunctions):
    """latestOffset with a branch per calling convention, without capped_end."""

    plan = staticmethod(plan_by_divmod)
    pages = staticmethod(pages_recursively)

    def latestOffset(self, start=None, limit=None):
        self.prepare()
        with self.client_class(self.options) as client:
            latest = latest_seq(client)
        if self.available_now_seq is not None and self.available_now_seq < latest:
            latest = self.available_now_seq
        if start is None:
            begin = self.last_end_seq if self.last_end_seq is not None else offset_seq(self.initialOffset())
            end = begin if latest < begin else latest
        else:
            begin = offset_seq(start)
            end = latest
            if isinstance(limit, ReadMaxRows) and begin + limit.max_rows < latest:
                end = begin + limit.max_rows
            end = max(end, begin)
        self._remember_end(end)
        return make_offset(end)


class StepsOfCeiling(WithFunctions):
    """Ranges of ceil(width / parts) seqs, the last one cut at until_seq."""

    @staticmethod
    def plan(after_seq, until_seq, num_partitions):
        if until_seq <= after_seq:
            return []
        width = until_seq - after_seq
        step = -(-width // min(num_partitions, width))
        bounds = list(range(after_seq, until_seq, step)) + [until_seq]
        return [SeqRangePartition(i, low, high) for i, (low, high) in enumerate(zip(bounds, bounds[1:]))]


# -- mistakes -------------------------------------------------------------------------------------


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


def plan_overlapping(after_seq, until_seq, num_partitions):
    # the mistake: each range starts one seq early, so the previous range's last seq is read twice
    return [SeqRangePartition(p.index, max(p.after_seq - 1, after_seq), p.until_seq)
            for p in plan_seq_ranges(after_seq, until_seq, num_partitions)]


def plan_gapped(after_seq, until_seq, num_partitions):
    # the mistake: closed ranges [a, b] planned as (a + 1, b], losing each range's first seq
    return [SeqRangePartition(p.index, min(p.after_seq + 1, p.until_seq), p.until_seq)
            for p in plan_seq_ranges(after_seq, until_seq, num_partitions)]


def plan_with_floats(after_seq, until_seq, num_partitions):
    if until_seq <= after_seq:
        return []
    parts = min(num_partitions, until_seq - after_seq)
    bounds = [after_seq + (until_seq - after_seq) * i / parts for i in range(parts + 1)]  # the mistake: true division
    return [SeqRangePartition(i, low, high) for i, (low, high) in enumerate(zip(bounds, bounds[1:]))]


def plan_with_rounded_floats(after_seq, until_seq, num_partitions):
    if until_seq <= after_seq:
        return []
    parts = min(num_partitions, until_seq - after_seq)
    bounds = [int(after_seq + (until_seq - after_seq) * i / parts) for i in range(parts + 1)]  # the mistake: floats
    return [SeqRangePartition(i, low, high) for i, (low, high) in enumerate(zip(bounds, bounds[1:]))]


def plan_floor_steps(after_seq, until_seq, num_partitions):
    if until_seq <= after_seq:
        return []
    step = max(1, (until_seq - after_seq) // num_partitions)  # the mistake: the remainder after the last step is lost
    return [SeqRangePartition(i, after_seq + i * step, after_seq + (i + 1) * step)
            for i in range(min(num_partitions, until_seq - after_seq))]


def plan_a_stand_in_for_empty(after_seq, until_seq, num_partitions):
    if until_seq <= after_seq:
        return [SeqRangePartition(0, after_seq, after_seq)]  # the mistake: the streaming API wants no partitions
    return plan_seq_ranges(after_seq, until_seq, num_partitions)


def pages_by_last_seq(client, after_seq, until_seq, page_size):
    while after_seq < until_seq:
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq, "limit": page_size})["items"]
        if not items:
            raise ServiceError("events missing")
        yield items
        after_seq = items[-1]["seq"]  # the mistake: a truncated record is a string, with no seq


def pages_by_last_readable_seq(client, after_seq, until_seq, page_size):
    while after_seq < until_seq:
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq, "limit": page_size})["items"]
        if not items:
            raise ServiceError("events missing")
        yield items
        after_seq = max(item["seq"] for item in items if isinstance(item, dict))  # the mistake: a truncated one is read again


def pages_until_empty(client, after_seq, until_seq, page_size):
    while after_seq < until_seq:
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq, "limit": page_size})["items"]
        if not items:
            return  # the mistake: fewer rows, silently
        yield items
        after_seq += len(items)


def pages_asking_again(client, after_seq, until_seq, page_size):
    while after_seq < until_seq:
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq, "limit": page_size})["items"]
        if not items:
            continue  # the mistake: asks again, forever, for events the feed does not have
        yield items
        after_seq += len(items)


def pages_of_what_is_new(client, after_seq, until_seq, page_size):
    while True:  # the mistake: everything after after_seq that the feed has now, ignoring until_seq
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "limit": page_size})["items"]
        if not items:
            return
        yield items
        after_seq += len(items)


def plan_with_empty_ranges(after_seq, until_seq, num_partitions):
    if until_seq <= after_seq:
        return []
    parts = num_partitions  # the mistake: more partitions than seqs leaves some empty
    bounds = [after_seq + (until_seq - after_seq) * i // parts for i in range(parts + 1)]
    return [SeqRangePartition(index, low, high) for index, (low, high) in enumerate(zip(bounds, bounds[1:]))]


def pages_of_everything(client, after_seq, until_seq, page_size):
    while after_seq < until_seq:  # the mistake: one request for the whole range, whatever pageSize says
        items = client.get("/v1/events/feed", {"after_seq": after_seq, "until_seq": until_seq,
                                               "limit": until_seq - after_seq})["items"]
        if not items:
            raise ServiceError(f"no events after seq {after_seq}")
        yield items
        after_seq += len(items)


class EmptyRangesAndOnePage(WithFunctions):
    plan = staticmethod(plan_with_empty_ranges)
    pages = staticmethod(pages_of_everything)


class OverlappingRanges(WithFunctions):
    plan = staticmethod(plan_overlapping)


class GappedRanges(WithFunctions):
    plan = staticmethod(plan_gapped)


class FloatBoundsAndLastSeq(WithFunctions):
    plan = staticmethod(plan_with_floats)
    pages = staticmethod(pages_by_last_seq)


class FloorStepsAndLastReadableSeq(WithFunctions):
    plan = staticmethod(plan_floor_steps)
    pages = staticmethod(pages_by_last_readable_seq)


class RoundedFloatsAndStopsQuietly(WithFunctions):
    plan = staticmethod(plan_with_rounded_floats)
    pages = staticmethod(pages_until_empty)


class StandInAndAsksAgain(WithFunctions):
    plan = staticmethod(plan_a_stand_in_for_empty)
    pages = staticmethod(pages_asking_again)


class ReadsWhatIsNew(WithFunctions):
    pages = staticmethod(pages_of_what_is_new)


class IgnoresTheReadLimit(PracticeStreamReader):
    def latestOffset(self, start=None, limit=None):
        if start is None:
            return super().latestOffset()
        return super().latestOffset(start, ReadAllAvailable())  # the mistake: the limit Spark passes is dropped


class IgnoresAvailableNow(PracticeStreamReader):
    def latestOffset(self, start=None, limit=None):
        self.available_now_seq = None  # the mistake: Trigger.AvailableNow's end is forgotten
        return super().latestOffset(start, limit)


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


class ForgetsTheLastEnd(PracticeStreamReader):
    def latestOffset(self, start=None, limit=None):
        if start is not None:
            return super().latestOffset(start, limit)
        with self.client_class(self.options) as client:
            latest = latest_seq(client)
        return make_offset(max(latest, offset_seq(self.initialOffset())))  # the mistake: a restart's end is ignored


# -- the tests ------------------------------------------------------------------------------------


def test_reference_passes(spark):
    solution = labs.solution_namespace("06")
    report = run(solution["Lab06StreamReader"])
    assert report.passed, report.failures


@pytest.mark.parametrize("reader", [EarlyReturns, StepsOfCeiling], ids=["early-returns-divmod-recursive", "ceiling-steps"])
def test_other_right_answers_pass(spark, reader):
    report = run(reader)
    assert report.passed, report.failures


MISTAKES = [
    (JsonStringOffsets, {OFFSETS: "returned the string"}),
    (OverlappingRanges, {PARTITIONS: "overlap at seq", ON_SPARK: "some events were read twice"}),
    (GappedRanges, {PARTITIONS: "is never read", ON_SPARK: "some events were never read"}),
    (FloatBoundsAndLastSeq, {PARTITIONS: "whose bounds are not ints", MALFORMED_ITEMS: "failed with TypeError"}),
    (FloorStepsAndLastReadableSeq, {PARTITIONS: "seq 100 is never read", MALFORMED_ITEMS: "gave 15 rows for its 14 seqs"}),
    (RoundedFloatsAndStopsQuietly, {PARTITIONS: "near 10**17", LOST_EVENTS: "returned 3 rows without an error"}),
    (StandInAndAsksAgain, {PARTITIONS: "for an empty batch", LOST_EVENTS: "did not finish within"}),
    (ReadsWhatIsNew, {REPLAY: "not for whatever it has"}),
    (EmptyRangesAndOnePage, {PARTITIONS: "each holding at least one seq", REPLAY: "was read in 1 request(s) to the feed, not 9"}),
    (IgnoresTheReadLimit, {LIMIT: "the batch takes at most 100 events", ON_SPARK: "with maxRecordsPerTrigger="}),
    (IgnoresAvailableNow, {LIMIT: "never go past self.available_now_seq"}),
    (CapsTheLegacyLatestOffset, {LEGACY: "not at the feed's end", ON_SPARK: "Trigger.AvailableNow stopped early",
                                 RESTART: "Trigger.AvailableNow stopped early"}),
    (EndsBeforeItStarts, {LEGACY: "a batch never ends before it starts"}),
    (ForgetsTheLastEnd, {LEGACY: "start at self.last_end_seq"}),
]


@pytest.mark.parametrize("reader, expected", MISTAKES, ids=[reader.__name__ for reader, _ in MISTAKES])
def test_mistakes_fail_with_the_reason(spark, reader, expected, worker_features, monkeypatch):
    monkeypatch.setattr(lab06, "READ_SECONDS", 2)  # a read that loops forever is stopped sooner
    if not HAS_ADMISSION_CONTROL and reader in (IgnoresTheReadLimit, IgnoresAvailableNow):
        pytest.skip("a mistake in the read-limit path, which PySpark 4.0/4.1 never take (the check skips LIMIT there)")
    if reader is CapsTheLegacyLatestOffset and "admissionControl" in worker_features:
        # Spark 4.2+ never call the legacy latestOffset(): only the direct call shows the cap.
        expected = {LEGACY: expected[LEGACY]}
    report = run(reader)
    assert not report.passed
    for requirement, says in expected.items():
        assert says in report.failures.get(requirement, ""), (requirement, report.failures)
