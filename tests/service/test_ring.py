"""The token ring: ranges cover the ring once, wrap-around, one node, no node."""
import pytest
import requests

from workshop.service import PracticeService

MIN, MAX = -(2**63), 2**63 - 1


def read_range(service, limit=300, **bounds):
    items, cursor = [], None
    with requests.Session() as http:
        while True:
            query = dict(bounds, limit=limit, **({"cursor": cursor} if cursor else {}))
            page = http.get(service.url + "/v1/kv", params=query, timeout=10).json()
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=9, ring_rows=2000, ring_nodes=4) as running:
        yield running


def test_ranges_cover_the_ring_once(service):
    ring = requests.get(service.url + "/v1/ring", timeout=10).json()
    assert ring["min_token"] == MIN and ring["max_token"] == MAX
    ranges = ring["ranges"]
    assert len(ranges) == 4 and len({r["node"] for r in ranges}) == 4
    for before, after in zip(ranges, ranges[1:]):
        assert before["end"] == after["start"] and before["start"] < before["end"]
    assert ranges[-1]["start"] > ranges[-1]["end"] == ranges[0]["start"]  # the last one wraps


def test_reading_every_range_reads_every_row_once(service):
    ranges = requests.get(service.url + "/v1/ring", timeout=10).json()["ranges"]
    rows = []
    for r in ranges:
        part = read_range(service, token_gt=r["start"], token_le=r["end"])
        assert part == service.truth.records("kv", token_gt=r["start"], token_le=r["end"])
        rows += part
    assert len(rows) == 2000 and len({row["key"] for row in rows}) == 2000
    assert sorted(rows, key=lambda row: row["token"]) == service.truth.records("kv")


def test_wrapping_range_is_after_start_then_up_to_end(service):
    rows = read_range(service, 77, token_gt=2**62, token_le=-(2**62))
    tokens = [row["token"] for row in rows]
    assert all(t > 2**62 or t <= -(2**62) for t in tokens)
    split = next(i for i, t in enumerate(tokens) if t <= -(2**62))
    assert tokens[:split] == sorted(tokens[:split]) and tokens[split:] == sorted(tokens[split:])
    assert rows == service.truth.records("kv", token_gt=2**62, token_le=-(2**62))
    everything = service.truth.records("kv")
    assert read_range(service) == everything  # no bounds: the whole ring in token order
    assert len(read_range(service, token_gt=123, token_le=123)) == len(everything)  # start == end: all


def test_single_node_ring_has_one_range_covering_everything():
    with PracticeService(ring_rows=500, ring_nodes=1) as service:
        ranges = requests.get(service.url + "/v1/ring", timeout=10).json()["ranges"]
        assert len(ranges) == 1 and ranges[0]["start"] == ranges[0]["end"]
        rows = read_range(service, 64, token_gt=ranges[0]["start"], token_le=ranges[0]["end"])
        assert sorted(row["key"] for row in rows) == sorted(row["key"] for row in service.truth.records("kv"))
        assert len(rows) == 500


def test_empty_ring_has_no_ranges_and_no_rows():
    with PracticeService(ring_rows=500, ring_nodes=0) as service:
        ring = requests.get(service.url + "/v1/ring", timeout=10).json()
        assert ring["ranges"] == []
        assert read_range(service) == [] and service.truth.count("kv") == 0
