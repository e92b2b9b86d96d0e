"""Events: stats, counts, time windows with cursor pages, the 413 limit, the feed, late events."""
import re
from datetime import datetime, timedelta

import pytest
import requests

from workshop.service import PracticeService

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
MAX_WINDOW = 800


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=11, events=5000, max_window_rows=MAX_WINDOW) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def get(http, service, path, **query):
    response = http.get(service.url + path, params=query, timeout=10)
    return response.status_code, response.json()


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def drain(http, service, limit, **query):
    """All pages of a window; asserts each page respects the limit."""
    items, cursor = [], None
    while True:
        status, page = get(http, service, "/v1/events", limit=limit, **query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, page
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_stats_describe_all_events(http, service):
    status, stats = get(http, service, "/v1/events/stats")
    records = service.truth.records("events")
    assert status == 200 and stats["count"] == stats["latest_seq"] == len(records) == 5000
    assert stats["min_event_time"] == min(r["event_time"] for r in records)
    assert stats["max_event_time"] == max(r["event_time"] for r in records)
    assert stats["max_window_rows"] == MAX_WINDOW


def test_records_have_the_served_forms(service):
    fields = [field["name"] for field in requests.get(service.url + "/v1/schema/events", timeout=10).json()["fields"]]
    for record in service.truth.records("events", after_seq=0, until_seq=300):
        assert list(record) == fields
        assert TIMESTAMP.fullmatch(record["event_time"]) and TIMESTAMP.fullmatch(record["ingest_time"])
        assert record["event_date"] == record["event_time"][:10]
        assert re.fullmatch(r"-?\d+\.\d{2}", record["amount"])
        assert isinstance(record["value"], float) and isinstance(record["device_id"], int)
        assert record["location"] is None or set(record["location"]) == {"lat", "lon"}
        assert record["payload"] is None or re.fullmatch(r"[A-Za-z0-9+/]*=*", record["payload"])
    notes = [r["note"] for r in service.truth.records("events")]
    assert 0.5 < notes.count(None) / len(notes) < 0.9  # often null


def test_ingest_order_and_late_events(service):
    records = service.truth.records("events")
    assert [r["seq"] for r in records] == list(range(1, 5001))
    ingest = [parse(r["ingest_time"]) for r in records]
    assert all(a < b for a, b in zip(ingest, ingest[1:]))
    delays = [i - parse(r["event_time"]) for i, r in zip(ingest, records)]
    assert all(delay >= timedelta(0) for delay in delays)
    late = [delay for delay in delays if delay > timedelta(seconds=5)]
    assert 0.01 < len(late) / len(delays) < 0.06  # a few percent
    assert all(timedelta(minutes=1) <= delay <= timedelta(hours=6) for delay in late)


def test_count_matches_truth(http, service):
    windows = [
        ("2025-12-31T00:00:00Z", "2026-01-02T00:00:00Z", {}),
        ("2026-01-01T00:00:10Z", "2026-01-01T00:00:17.5Z", {}),
        ("2026-01-01T00:00:10Z", "2026-01-01T00:00:10Z", {}),  # empty window
        ("2025-12-31T22:00:00Z", "2026-01-01T00:00:30Z", {"device_id": "3,4,5"}),
        ("2025-12-31T00:00:00Z", "2026-01-02T00:00:00Z", {"kind": "refund,signup"}),
        ("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:20Z", {"kind": "view", "device_id": "7"}),
    ]
    for start, end, filters in windows:
        status, answer = get(http, service, "/v1/events/count", start=start, end=end, **filters)
        assert status == 200
        assert answer["count"] == service.truth.count("events", start=start, end=end, **filters)


@pytest.mark.parametrize("limit", [1, 37, 800])
def test_pages_concatenate_to_the_window_exactly(http, service, limit):
    start, end = "2026-01-01T00:00:05Z", "2026-01-01T00:00:12Z"
    items = drain(http, service, limit, start=start, end=end)
    assert items == service.truth.records("events", start=start, end=end)
    keys = [(item["event_time"], item["seq"]) for item in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_filters_narrow_the_window(http, service):
    query = dict(start="2025-12-31T00:00:00Z", end="2026-01-02T00:00:00Z", device_id="1,2,3", kind="view,click")
    items = drain(http, service, 50, **query)
    assert items == service.truth.records("events", **query)
    assert items and all(item["device_id"] in (1, 2, 3) and item["kind"] in ("view", "click") for item in items)


def test_a_window_too_large_is_refused_and_subdividing_reads_it_all(http, service):
    start, end = "2025-12-31T00:00:00Z", "2026-01-02T00:00:00Z"
    status, error = get(http, service, "/v1/events", start=start, end=end)
    assert status == 413 and error["error"] == "window_too_large"
    assert error["count"] == 5000 and error["max_window_rows"] == MAX_WINDOW
    items, windows = [], [(parse(start), parse(end))]
    while windows:
        low, high = windows.pop(0)
        status, answer = get(http, service, "/v1/events/count", start=iso(low), end=iso(high))
        if answer["count"] > MAX_WINDOW:
            middle = low + (high - low) / 2
            windows[:0] = [(low, middle), (middle, high)]
        else:
            items += drain(http, service, 1000, start=iso(low), end=iso(high))
    assert sorted(item["seq"] for item in items) == list(range(1, 5001))
    assert sorted(items, key=lambda r: r["seq"]) == service.truth.records("events")


def test_latest_feed_and_seq_at(http, service):
    status, latest = get(http, service, "/v1/events/latest")
    assert status == 200 and latest["seq"] == 5000 and TIMESTAMP.fullmatch(latest["ingest_time"])
    items, after = [], 0
    while True:
        status, page = get(http, service, "/v1/events/feed", after_seq=after, until_seq=4321, limit=1000)
        assert status == 200 and page["latest_seq"] == 5000 and len(page["items"]) <= 1000
        if not page["items"]:
            break
        items += page["items"]
        after = page["items"][-1]["seq"]
    assert items == service.truth.records("events", after_seq=0, until_seq=4321)
    assert get(http, service, "/v1/events/feed", after_seq=5000)[1]["items"] == []
    records = service.truth.records("events")
    moment = records[999]["ingest_time"]  # seq 1000's ingest time
    status, answer = get(http, service, "/v1/events/seq_at", ingest_time=moment)
    assert answer["seq"] == 999  # the last one ingested before it; after_seq=999 starts at it
    assert get(http, service, "/v1/events/seq_at", ingest_time="2020-01-01T00:00:00Z")[1]["seq"] == 0
    assert get(http, service, "/v1/events/seq_at", ingest_time="2030-01-01T00:00:00Z")[1]["seq"] == 5000


def test_same_seed_same_data_other_seed_other_data(service):
    with PracticeService(seed=11, events=300) as same, PracticeService(seed=12, events=300) as other:
        path = "/v1/events/feed?after_seq=0&limit=300"
        mine = requests.get(service.url + path, timeout=10).content
        assert requests.get(same.url + path, timeout=10).content.replace(b'"latest_seq":300', b"") == \
            mine.replace(b'"latest_seq":5000', b"")
        theirs = requests.get(other.url + path, timeout=10).json()["items"]
        assert all(a != b for a, b in zip(theirs, same.truth.records("events")))


def test_malformed_records_are_the_same_on_every_read():
    with PracticeService(seed=3, events=3000, malformed_rate=0.05) as service:
        malformed = service.truth.malformed_seqs()
        assert 0.03 < len(malformed) / 3000 < 0.07
        first = requests.get(service.url + "/v1/events/feed?after_seq=0&limit=3000", timeout=10).json()["items"]
        again = requests.get(service.url + "/v1/events/feed?after_seq=0&limit=3000", timeout=10).json()["items"]
        assert first == again
        good = service.truth.records("events", drop_malformed=True)
        assert len(good) == 3000 - len(malformed)
        broken = [item for seq, item in enumerate(first, 1) if seq in set(malformed)]
        assert all(item not in good for item in broken)
        kinds = set()
        for item in broken:
            if isinstance(item, str):
                kinds.add("truncated")
            elif not isinstance(item["value"], float):
                kinds.add("value")
            elif not isinstance(item["event_time"], str):
                kinds.add("event_time")
            else:
                assert not isinstance(item["amount"], str)
                kinds.add("amount")
        assert kinds == {"truncated", "value", "event_time", "amount"}
