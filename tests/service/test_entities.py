"""Entities: stats, id ranges with gaps, pages that neither overlap nor leave gaps."""
import re

import pytest
import requests

from workshop.service import PracticeService


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=5, entities=3000) as running:
        yield running


def read_range(service, limit=250, **bounds):
    items, cursor = [], None
    with requests.Session() as http:
        while True:
            query = dict(bounds, limit=limit, **({"cursor": cursor} if cursor else {}))
            page = http.get(service.url + "/v1/entities", params=query, timeout=10).json()
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def test_stats_and_increasing_ids_with_gaps(service):
    stats = requests.get(service.url + "/v1/entities/stats", timeout=10).json()
    records = service.truth.records("entities")
    ids = [record["id"] for record in records]
    assert stats == {"count": 3000, "min_id": ids[0], "max_id": ids[-1]}
    assert all(a < b for a, b in zip(ids, ids[1:]))
    assert ids[-1] - ids[0] + 1 > len(ids)  # there are gaps


def test_records_have_the_served_forms(service):
    for record in service.truth.records("entities", id_lt=500):
        assert re.fullmatch(r"-?\d+\.\d{4}", record["balance"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", record["created_at"])
        assert record["birth_date"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["birth_date"])
        assert isinstance(record["active"], bool) and isinstance(record["score"], float)
        assert record["address"] is None or set(record["address"]) == {"street", "city", "zip"}


def test_all_pages_are_all_entities(service):
    assert read_range(service) == service.truth.records("entities")


def test_adjacent_ranges_split_without_overlap_or_gap(service):
    stats = requests.get(service.url + "/v1/entities/stats", timeout=10).json()
    bounds = [stats["min_id"], 1234, 1235, 5000, 7777, stats["max_id"] + 1]
    parts = [read_range(service, 97, id_gte=low, id_lt=high) for low, high in zip(bounds, bounds[1:])]
    for (low, high), part in zip(zip(bounds, bounds[1:]), parts):
        assert part == service.truth.records("entities", id_gte=low, id_lt=high)
        assert all(low <= record["id"] < high for record in part)
    assert [record for part in parts for record in part] == service.truth.records("entities")


def test_open_and_empty_ranges(service):
    assert read_range(service, id_lt=100) == service.truth.records("entities", id_lt=100)
    assert read_range(service, id_gte=14000) == service.truth.records("entities", id_gte=14000)
    assert read_range(service, id_gte=500, id_lt=500) == []
    assert read_range(service, id_gte=900, id_lt=100) == []
    assert read_range(service, id_gte=10**12) == []
