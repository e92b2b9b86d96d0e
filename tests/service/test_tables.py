"""Writes: table creation, idempotent ingestion, staged commits, validation that stores nothing."""
import threading
import uuid

import pytest
import requests

from workshop.service import PracticeService

FIELDS = [
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "name", "type": "string", "nullable": True},
    {"name": "amount", "type": "decimal(12,2)", "nullable": True},
    {"name": "at", "type": "timestamp", "nullable": True},
    {"name": "day", "type": "date", "nullable": True},
    {"name": "blob", "type": "binary", "nullable": True},
    {"name": "tags", "type": "array<string>", "nullable": True},
    {"name": "attributes", "type": "map<string,string>", "nullable": True},
    {"name": "location", "type": "struct<lat:double,lon:double>", "nullable": True},
]


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=10) as running:
        yield running


@pytest.fixture()
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture()
def table(service, http):
    name = "t_" + uuid.uuid4().hex[:8]
    assert http.put(f"{service.url}/v1/tables/{name}", json={"fields": FIELDS}, timeout=10).status_code == 201
    return f"{service.url}/v1/tables/{name}"


def rows(first, count):
    return [{"id": i, "name": f"n{i}", "amount": f"{i}.50", "at": "2026-01-01T00:00:00.000001Z", "day": "2026-01-01",
             "blob": "AAE=", "tags": ["a"], "attributes": {"k": "v"}, "location": {"lat": 1.5, "lon": -2.0}}
            for i in range(first, first + count)]


def published(http, table_url):
    items, cursor = [], None
    while True:
        page = http.get(table_url + "/rows", params={"limit": 7, **({"cursor": cursor} if cursor else {})},
                        timeout=10).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def stage(http, table_url, batch):
    stage_id = http.post(table_url + "/stages", timeout=10).json()["stage_id"]
    assert http.post(f"{table_url}/stages/{stage_id}/rows", json={"rows": batch}, timeout=10).json() == \
        {"staged": len(batch)}
    return stage_id


def test_create_is_idempotent_and_other_fields_conflict(service, http, table):
    again = http.put(table, json={"fields": FIELDS}, timeout=10)
    assert again.status_code == 200 and again.json()["fields"] == FIELDS
    other = http.put(table, json={"fields": FIELDS[:2]}, timeout=10)
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    info = http.get(table, timeout=10).json()
    assert info == {"name": table.rsplit("/", 1)[1], "fields": FIELDS, "count": 0, "commits": 0}
    assert http.delete(table, timeout=10).json() == {"dropped": True}
    assert http.get(table, timeout=10).status_code == 404


def test_type_spellings_are_normalized(service, http):
    url = service.url + "/v1/tables/spelled"
    fields = [{"name": "a", "type": "LONG"}, {"name": "b", "type": "Decimal(5, 1)"},
              {"name": "c", "type": "array<struct<x: int, y: string>>"}]
    answer = http.put(url, json={"fields": fields}, timeout=10).json()
    assert [f["type"] for f in answer["fields"]] == ["bigint", "decimal(5,1)", "array<struct<x:int,y:string>>"]
    assert all(f["nullable"] is True for f in answer["fields"])


def test_idempotent_ingestion(service, http, table):
    batch = rows(0, 5)
    headers = {"Idempotency-Key": "batch-1"}
    assert http.post(table + "/rows", json={"rows": batch}, headers=headers, timeout=10).json() == \
        {"inserted": 5, "duplicate": False}
    assert http.post(table + "/rows", json={"rows": batch}, headers=headers, timeout=10).json() == \
        {"inserted": 0, "duplicate": True, "same_rows": True, "same_write": False}
    assert http.post(table + "/rows", json={"rows": rows(5, 2)}, headers={"Idempotency-Key": "batch-2"},
                     timeout=10).json()["inserted"] == 2
    assert published(http, table) == rows(0, 7)
    assert service.truth.table(table.rsplit("/", 1)[1]) == rows(0, 7)
    assert http.get(table, timeout=10).json()["count"] == 7


def test_missing_nullable_fields_are_stored_as_null(service, http, table):
    http.post(table + "/rows", json={"rows": [{"id": 1}]}, timeout=10)
    assert published(http, table) == [{spec["name"]: (1 if spec["name"] == "id" else None) for spec in FIELDS}]


def test_stages_are_invisible_until_commit(service, http, table):
    first, second = stage(http, table, rows(0, 10)), stage(http, table, rows(10, 5))
    assert published(http, table) == [] and http.get(table, timeout=10).json()["count"] == 0
    answer = http.post(table + "/commit", json={"stage_ids": [first, second], "mode": "append"}, timeout=10).json()
    assert answer == {"committed": True, "rows": 15}
    assert published(http, table) == rows(0, 15)
    again = http.post(table + "/commit", json={"stage_ids": [first]}, timeout=10)
    assert again.status_code == 409  # a stage publishes once


def test_overwrite_replaces_the_rows(service, http, table):
    http.post(table + "/rows", json={"rows": rows(0, 4)}, timeout=10)
    staged = stage(http, table, rows(100, 3))
    answer = http.post(table + "/commit", json={"stage_ids": [staged], "mode": "overwrite"}, timeout=10).json()
    assert answer["rows"] == 3 and published(http, table) == rows(100, 3)
    empty = http.post(table + "/commit", json={"stage_ids": [], "mode": "overwrite"}, timeout=10).json()
    assert empty == {"committed": True, "rows": 0} and published(http, table) == []


def test_abort_discards_a_stage(service, http, table):
    staged = stage(http, table, rows(0, 3))
    assert http.delete(f"{table}/stages/{staged}", timeout=10).json() == {"discarded": True}
    assert http.delete(f"{table}/stages/{staged}", timeout=10).json() == {"discarded": True}  # idempotent
    refused = http.post(table + "/commit", json={"stage_ids": [staged]}, timeout=10)
    assert refused.status_code == 409
    late_rows = http.post(f"{table}/stages/{staged}/rows", json={"rows": rows(3, 1)}, timeout=10)
    assert late_rows.status_code == 409
    assert published(http, table) == []
    assert http.delete(f"{table}/stages/nope", timeout=10).status_code == 404


def test_a_repeated_commit_id_publishes_nothing(service, http, table):
    body = {"stage_ids": [stage(http, table, rows(0, 3))], "mode": "append", "commit_id": "batch-7"}
    assert http.post(table + "/commit", json=body, timeout=10).json()["committed"] is True
    body["stage_ids"] = [stage(http, table, rows(3, 3))]  # a replayed batch restages its rows
    assert http.post(table + "/commit", json=body, timeout=10).json() == {"committed": False, "duplicate": True}
    assert published(http, table) == rows(0, 3)
    assert http.get(table, timeout=10).json()["commits"] == 1


def test_a_commit_is_atomic_for_readers(service, http, table):
    stages = [stage(http, table, rows(i * 500, 500)) for i in range(4)]
    seen, done = set(), threading.Event()

    def watch():
        with requests.Session() as reader:
            while not done.is_set():
                seen.add(reader.get(table, timeout=10).json()["count"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    http.post(table + "/commit", json={"stage_ids": stages}, timeout=10)
    done.set()
    watcher.join()
    assert http.get(table, timeout=10).json()["count"] == 2000
    assert seen <= {0, 2000}


def test_a_commit_naming_an_unknown_stage_publishes_nothing(service, http, table):
    good = stage(http, table, rows(0, 2))
    refused = http.post(table + "/commit", json={"stage_ids": [good, "stage-missing"]}, timeout=10)
    assert refused.status_code == 404 and published(http, table) == []
    assert http.post(table + "/commit", json={"stage_ids": [good]}, timeout=10).json()["rows"] == 2


@pytest.mark.parametrize("bad_row, field", [
    ({"name": "x"}, "id"),                          # missing non-nullable
    ({"id": None}, "id"),                           # null non-nullable
    ({"id": 1, "extra": 1}, "extra"),               # unknown field
    ({"id": "1"}, "id"),                            # wrong kind
    ({"id": True}, "id"),                           # a bool is not an integer
    ({"id": 2**63}, "id"),                          # out of range
    ({"id": 1, "amount": 1.5}, "amount"),           # decimal as a number
    ({"id": 1, "amount": "1.5"}, "amount"),         # wrong scale
    ({"id": 1, "at": "2026-01-01T00:00:00"}, "at"),  # timestamp without zone
    ({"id": 1, "day": "2026-02-30"}, "day"),
    ({"id": 1, "blob": "not base64!"}, "blob"),
    ({"id": 1, "tags": "a"}, "tags"),
    ({"id": 1, "tags": ["a", 1]}, "tags[1]"),
    ({"id": 1, "attributes": {"k": 1}}, "attributes['k']"),
    ({"id": 1, "location": {"lat": "x"}}, "location.lat"),
    ({"id": 1, "location": {"alt": 1.0}}, "location.alt"),
])
def test_invalid_rows_are_refused_and_nothing_is_stored(service, http, table, bad_row, field):
    batch = rows(0, 3) + [bad_row]
    answer = http.post(table + "/rows", json={"rows": batch}, headers={"Idempotency-Key": "k"}, timeout=10)
    assert answer.status_code == 422
    error = answer.json()
    assert error["error"] == "invalid_rows" and error["row"] == 3 and error["field"] == field
    staged = http.post(table + "/stages", timeout=10).json()["stage_id"]
    assert http.post(f"{table}/stages/{staged}/rows", json={"rows": batch}, timeout=10).status_code == 422
    assert http.post(table + "/commit", json={"stage_ids": [staged]}, timeout=10).json()["rows"] == 0
    assert published(http, table) == []
    # the refused request did not use up its idempotency key
    assert http.post(table + "/rows", json={"rows": rows(0, 1)}, headers={"Idempotency-Key": "k"},
                     timeout=10).json() == {"inserted": 1, "duplicate": False}


def test_truth_table_of_a_missing_table_is_a_key_error(service):
    with pytest.raises(KeyError):
        service.truth.table("never_created")


def test_open_stages_are_listed_with_their_write_id(service, http, table):
    def create(write_id=None):
        body = None if write_id is None else {"write_id": write_id}
        answer = http.post(table + "/stages", json=body, timeout=10)
        assert answer.status_code == 201
        return answer.json()["stage_id"]

    first, second, other, anonymous = create("write-1"), create("write-1"), create("write-2"), create()
    http.post(f"{table}/stages/{second}/rows", json={"rows": rows(0, 3)}, timeout=10)

    def listed(**query):
        answer = http.get(table + "/stages", params=query, timeout=10)
        assert answer.status_code == 200
        return answer.json()["stages"]

    assert listed() == [
        {"stage_id": first, "write_id": "write-1", "rows": 0},
        {"stage_id": second, "write_id": "write-1", "rows": 3},
        {"stage_id": other, "write_id": "write-2", "rows": 0},
        {"stage_id": anonymous, "write_id": None, "rows": 0},
    ]
    assert [stage["stage_id"] for stage in listed(write_id="write-1")] == [first, second]
    # committed and discarded stages are not open any more
    http.post(table + "/commit", json={"stage_ids": [second]}, timeout=10)
    http.delete(f"{table}/stages/{first}", timeout=10)
    assert listed(write_id="write-1") == [] and [stage["stage_id"] for stage in listed()] == [other, anonymous]
    for bad in ({"write_id": ""}, {"write_id": 7}, {"other": "x"}, ["write-1"]):
        refused = http.post(table + "/stages", json=bad, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"] == "bad_request", bad
    assert http.get(table + "/stages", params={"write_id": ""}, timeout=10).status_code == 400


def test_a_missing_table_or_stage_is_named_in_the_404(service, http, table):
    missing_table = http.post(f"{service.url}/v1/tables/never_made/stages", timeout=10)
    assert missing_table.status_code == 404 and missing_table.json()["missing"] == "table"
    missing_stage = http.post(f"{table}/stages/stage-nope/rows", json={"rows": []}, timeout=10)
    assert missing_stage.status_code == 404 and missing_stage.json()["missing"] == "stage"


def test_a_key_sent_again_with_other_rows_says_so_and_adds_nothing(service, http, table):
    key = {"Idempotency-Key": "load-1-0-0"}
    without_blob = [{name: value for name, value in row.items() if name != "blob"} for row in rows(0, 3)]
    assert http.post(table + "/rows", json={"rows": without_blob}, headers=key, timeout=10).json()["inserted"] == 3
    # the same rows, a missing nullable field now sent as null: the same request, stored the same
    as_null = [dict(row, blob=None) for row in without_blob]
    assert http.post(table + "/rows", json={"rows": as_null}, headers=key, timeout=10).json() == \
        {"inserted": 0, "duplicate": True, "same_rows": True, "same_write": False}
    grown = http.post(table + "/rows", json={"rows": as_null + rows(3, 2)}, headers=key, timeout=10).json()
    assert grown == {"inserted": 0, "duplicate": True, "same_rows": False, "same_write": False}
    assert published(http, table) == as_null
    staged = http.post(table + "/stages", timeout=10).json()["stage_id"]
    stage_key = {"Idempotency-Key": f"{staged}-0"}
    http.post(f"{table}/stages/{staged}/rows", json={"rows": rows(0, 2)}, headers=stage_key, timeout=10)
    again = http.post(f"{table}/stages/{staged}/rows", json={"rows": rows(2, 2)}, headers=stage_key, timeout=10)
    assert again.json() == {"staged": 2, "duplicate": True, "same_rows": False}


def test_a_key_used_again_by_the_same_write_says_so(service, http, table):
    # A retry whose first answer was lost comes from the same write; a rerun comes from another.
    key = {"Idempotency-Key": "load-1-0-0"}
    body = {"rows": rows(0, 2), "write_id": "write-a"}
    assert http.post(table + "/rows", json=body, headers=key, timeout=10).json()["inserted"] == 2
    assert http.post(table + "/rows", json=body, headers=key, timeout=10).json()["same_write"] is True
    rerun = http.post(table + "/rows", json=dict(body, write_id="write-b"), headers=key, timeout=10).json()
    assert rerun == {"inserted": 0, "duplicate": True, "same_rows": True, "same_write": False}
    assert published(http, table) == rows(0, 2)
    for bad in ("", 3):
        refused = http.post(table + "/rows", json={"rows": [], "write_id": bad}, timeout=10)
        assert refused.status_code == 400 and refused.json()["parameter"] == "write_id"
    staged = http.post(table + "/stages", timeout=10).json()["stage_id"]  # a stage's rows take no write id
    assert http.post(f"{table}/stages/{staged}/rows", json=body, timeout=10).status_code == 400


def test_the_service_counts_requests_by_method_and_path(service, http, table):
    path = table.split(service.url, 1)[1]
    before = service.request_counts()
    http.get(table, timeout=10)
    http.get(table, timeout=10)
    http.put(table, json={"fields": FIELDS}, timeout=10)
    http.get(f"{service.url}/v1/nowhere", timeout=10)  # answered 404, counted all the same
    counts = service.request_counts()
    assert counts[("GET", path)] - before[("GET", path)] == 2
    assert counts[("PUT", path)] - before[("PUT", path)] == 1
    assert counts[("GET", "/v1/nowhere")] - before[("GET", "/v1/nowhere")] == 1
