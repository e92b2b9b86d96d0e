"""The cache of record texts and page answers: bounded, and never changes an answer."""
import gzip

import pytest
import requests

from workshop.service import PracticeService
from workshop.service.cache import Cache

ARROW = "application/vnd.apache.arrow.stream"


def test_the_least_recently_used_entries_go_first_and_the_budget_holds():
    cache = Cache(100)
    for key in "abcd":
        cache.put(key, key.upper(), 30)
    assert cache.get("a") is None and cache.used == 90  # "a" went to make room for "d"
    cache.get("b")  # now "c" is the least recently used
    cache.put("e", "E", 30)
    assert [cache.get(key) for key in "bcde"] == ["B", None, "D", "E"]
    cache.put("huge", "H", 101)  # larger than the whole budget: not kept, nothing evicted
    assert cache.get("huge") is None and cache.used == 90 and len(cache) == 3


def test_records_are_made_once_and_a_zero_budget_keeps_nothing():
    made = []

    def make(index):
        made.append(index)
        return f'{{"id":{index}}}'

    cache = Cache(10_000)
    assert cache.records("r", [3, 1, 3], make) == [b'{"id":3}', b'{"id":1}', b'{"id":3}']
    assert cache.records("r", [1, 2, 3], make) == [b'{"id":1}', b'{"id":2}', b'{"id":3}']
    assert sorted(set(made)) == [1, 2, 3] and made.count(1) == 1 and made.count(2) == 1
    nothing = Cache(0)
    made.clear()
    assert nothing.records("r", [1, 1], make) == [b'{"id":1}', b'{"id":1}'] and made == [1, 1]
    nothing.put("k", "v", 1)
    assert len(nothing) == 0 and nothing.get("k") is None


SETTINGS = dict(seed=3, events=2000, entities=700, ring_rows=500, max_window_rows=900, malformed_rate=0.05)
REQUESTS = [
    "/v1/events?start=2026-01-01T00:00:02Z&end=2026-01-01T00:00:09Z&limit=300",
    "/v1/events?start=2025-12-31T22:00:00Z&end=2026-01-01T00:00:20Z&kind=error&limit=50",
    "/v1/events/feed?after_seq=100&limit=700",
    "/v1/entities?id_gte=50&limit=400",
    "/v1/kv?token_gt=1000&token_le=-1000&limit=200",
]


def answers(service):
    """Each request in JSON, Arrow and gzip, twice: (status, content type, decoded body, cursor header)."""
    found = []
    with requests.Session() as http:
        for path in REQUESTS:
            for headers in ({}, {"Accept": ARROW}, {"Accept-Encoding": "gzip"}, {"Accept": ARROW, "Accept-Encoding": "gzip"}):
                for _ in range(2):
                    response = http.get(service.url + path, headers={"Accept-Encoding": "identity", **headers},
                                        stream=True, timeout=10)
                    body = response.raw.read()
                    if response.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    found.append((response.status_code, response.headers["Content-Type"], body,
                                  response.headers.get("X-Next-Cursor")))
    return found


def test_cached_answers_are_the_answers_made_without_a_cache():
    with PracticeService(**SETTINGS) as cached, PracticeService(**SETTINGS, cache_mb=0) as uncached:
        with_cache, without = answers(cached), answers(uncached)
        assert len(cached.cache) > len(REQUESTS) * 4 and len(uncached.cache) == 0
    assert all(status == 200 for status, *_ in with_cache)
    assert with_cache == without


def test_appended_events_reach_a_window_answered_before():
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:20Z", "limit": 10_000}
    with PracticeService(seed=4, events=2000, max_window_rows=20_000) as service:
        before = requests.get(service.url + "/v1/events", params=window, timeout=10).json()["items"]
        service.append_events(20_000)  # some of them are late: their event time falls in the window
        after = requests.get(service.url + "/v1/events", params=window, timeout=10).json()["items"]
        truth = service.truth.records("events", start=window["start"], end=window["end"])
    assert len(after) > len(before) and after == truth


def test_auth_and_faults_still_apply_to_a_cached_page():
    with PracticeService(seed=2, events=300, auth=["api_key"]) as service:
        url, key = service.url + "/v1/events/feed?limit=50", {"X-API-Key": service.credentials["api_key"]}
        first = requests.get(url, headers=key, timeout=10)
        assert first.status_code == 200 and requests.get(url, headers=key, timeout=10).content == first.content
        assert requests.get(url, timeout=10).status_code == 401
        service.set_faults(rate=1.0, kinds=["503"])
        assert requests.get(url, headers=key, timeout=10).status_code == 503


@pytest.mark.parametrize("value", [-1, 1.5, "big"])
def test_cache_mb_must_be_a_whole_number_of_megabytes(value):
    with pytest.raises(ValueError, match="cache_mb"):
        PracticeService(cache_mb=value)


def arrow_rows(http, url, path, params):
    import pyarrow as pa

    response = http.get(url + path, params=params, headers={"Accept": ARROW}, timeout=10)
    assert response.status_code == 200, response.text
    return pa.ipc.open_stream(response.content).read_all()


def test_arrow_pages_from_cached_blocks_are_the_pages_made_record_by_record():
    """A page is taken from blocks of records made once; cut any way, before and after appends,
    it must hold what a service without a cache makes for that page from its records alone."""
    pytest.importorskip("pyarrow")
    settings = dict(seed=8, events=2500, entities=2100, ring_rows=1500, max_window_rows=20_000, malformed_rate=0.05)
    cuts = [("/v1/events", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z", "limit": 10_000}),
            ("/v1/events", {"start": "2026-01-01T00:00:03Z", "end": "2026-01-01T00:00:07Z", "limit": 333}),
            ("/v1/events", {"start": "2025-12-31T23:00:00Z", "end": "2026-01-01T00:01:00Z", "device_id": 3}),
            ("/v1/events/feed", {"after_seq": 1000, "limit": 1500}),
            ("/v1/events/feed", {"after_seq": 2047, "limit": 3}),
            ("/v1/entities", {"id_gte": 9000, "limit": 1500}),
            ("/v1/kv", {"token_gt": -(2**62), "token_le": 2**62, "limit": 1400})]
    with PracticeService(**settings) as cached, PracticeService(**settings, cache_mb=0) as uncached, \
            requests.Session() as http:
        for appended in (0, 1100, 3000):  # blocks that were the unfinished last one become whole
            cached.append_events(appended)
            uncached.append_events(appended)
            for path, params in cuts:
                expected = arrow_rows(http, uncached.url, path, params)
                assert expected.num_rows > 0, (path, params)
                assert arrow_rows(http, cached.url, path, params).equals(expected), (appended, path, params)
