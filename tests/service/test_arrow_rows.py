"""Arrow IPC request bodies: the same rows, validation and idempotency as JSON bodies."""
import base64
import gzip
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import requests

from workshop.service import PracticeService

pa = pytest.importorskip("pyarrow")

ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
FIELDS = [
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "small", "type": "smallint", "nullable": True},
    {"name": "i", "type": "int", "nullable": True},
    {"name": "name", "type": "string", "nullable": True},
    {"name": "ok", "type": "boolean", "nullable": True},
    {"name": "ratio", "type": "double", "nullable": True},
    {"name": "f", "type": "float", "nullable": True},
    {"name": "amount", "type": "decimal(12,2)", "nullable": True},
    {"name": "at", "type": "timestamp", "nullable": True},
    {"name": "local", "type": "timestamp_ntz", "nullable": True},
    {"name": "day", "type": "date", "nullable": True},
    {"name": "blob", "type": "binary", "nullable": True},
    {"name": "tags", "type": "array<string>", "nullable": True},
    {"name": "attributes", "type": "map<string,bigint>", "nullable": True},
    {"name": "location", "type": "struct<lat:double,lon:double>", "nullable": True},
    {"name": "history", "type": "array<struct<at:timestamp,amount:decimal(5,1)>>", "nullable": True},
]
# The same three rows, in the JSON form (docs/practice_service.md) and as Arrow values.
JSON_ROWS = [
    {"id": 1, "small": -3, "i": 2**31 - 1, "name": "naïve ☕", "ok": True, "ratio": 0.1, "f": 0.5, "amount": "-12.30",
     "at": "2026-03-29T01:30:00.000001Z", "local": "2026-03-29T02:30:00.000000", "day": "1969-12-31",
     "blob": base64.b64encode(b"\x00\xff").decode(), "tags": ["a", None], "attributes": {"k": 1, "n": None},
     "location": {"lat": 1.5, "lon": -2.0}, "history": [{"at": "2026-01-01T00:00:00.000000Z", "amount": "1.5"}]},
    {"id": 2, **{field["name"]: None for field in FIELDS[1:]}},
    {"id": 3, "small": None, "i": 0, "name": "", "ok": False, "ratio": "NaN", "f": "-Infinity", "amount": "0.00",
     "at": "1970-01-01T00:00:00.000000Z", "local": None, "day": "2026-01-01", "blob": "", "tags": [], "attributes": {},
     "location": {"lat": None, "lon": 3.0}, "history": []},
]
UTC = timezone.utc
ARROW_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False), ("small", pa.int16()), ("i", pa.int32()), ("name", pa.string()),
    ("ok", pa.bool_()), ("ratio", pa.float64()), ("f", pa.float32()), ("amount", pa.decimal128(12, 2)),
    ("at", pa.timestamp("us", tz="UTC")), ("local", pa.timestamp("us")), ("day", pa.date32()), ("blob", pa.binary()),
    ("tags", pa.list_(pa.string())), ("attributes", pa.map_(pa.string(), pa.int64())),
    ("location", pa.struct([("lat", pa.float64()), ("lon", pa.float64())])),
    ("history", pa.list_(pa.struct([("at", pa.timestamp("us", tz="UTC")), ("amount", pa.decimal128(5, 1))]))),
])
ARROW_ROWS = [
    {"id": 1, "small": -3, "i": 2**31 - 1, "name": "naïve ☕", "ok": True, "ratio": 0.1, "f": 0.5,
     "amount": Decimal("-12.30"), "at": datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC),
     "local": datetime(2026, 3, 29, 2, 30), "day": date(1969, 12, 31), "blob": b"\x00\xff", "tags": ["a", None],
     "attributes": [("k", 1), ("n", None)], "location": {"lat": 1.5, "lon": -2.0},
     "history": [{"at": datetime(2026, 1, 1, tzinfo=UTC), "amount": Decimal("1.5")}]},
    {"id": 2},
    {"id": 3, "i": 0, "name": "", "ok": False, "ratio": float("nan"), "f": float("-inf"), "amount": Decimal("0.00"),
     "at": datetime(1970, 1, 1, tzinfo=UTC), "day": date(2026, 1, 1), "blob": b"", "tags": [], "attributes": [],
     "location": {"lat": None, "lon": 3.0}, "history": []},
]


def stream(table, batch_size=None):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_size):
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def arrow_body(rows=ARROW_ROWS, schema=ARROW_SCHEMA, batch_size=None):
    return stream(pa.Table.from_pylist(rows, schema=schema), batch_size)


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=10) as running:
        yield running


@pytest.fixture()
def http():
    with requests.Session() as session:
        yield session


def new_table(service, http, fields=FIELDS):
    name = "arrow_" + uuid.uuid4().hex[:8]
    assert http.put(f"{service.url}/v1/tables/{name}", json={"fields": fields}, timeout=10).status_code == 201
    return name, f"{service.url}/v1/tables/{name}"


def test_an_arrow_body_stores_what_the_same_json_body_stores(service, http):
    from_json, json_url = new_table(service, http)
    from_arrow, arrow_url = new_table(service, http)
    assert http.post(json_url + "/rows", json={"rows": JSON_ROWS}, timeout=10).json() == \
        {"inserted": 3, "duplicate": False}
    assert http.post(arrow_url + "/rows", data=arrow_body(batch_size=2), headers=ARROW, timeout=10).json() == \
        {"inserted": 3, "duplicate": False}
    assert service.truth.table(from_arrow) == service.truth.table(from_json) == JSON_ROWS


def test_staged_arrow_bodies_publish_what_json_bodies_publish(service, http):
    published = []
    for body in ({"json": {"rows": JSON_ROWS}}, {"data": arrow_body(), "headers": ARROW}):
        name, url = new_table(service, http)
        stage = http.post(url + "/stages", timeout=10).json()["stage_id"]
        key = {"Idempotency-Key": "part-0"}
        first = http.post(f"{url}/stages/{stage}/rows", **{**body, "headers": {**body.get("headers", {}), **key}},
                          timeout=10)
        again = http.post(f"{url}/stages/{stage}/rows", **{**body, "headers": {**body.get("headers", {}), **key}},
                          timeout=10)
        assert first.json() == {"staged": 3, "duplicate": False}
        assert again.json() == {"staged": 3, "duplicate": True, "same_rows": True}
        assert service.truth.table(name) == []  # invisible until the commit
        assert http.post(url + "/commit", json={"stage_ids": [stage]}, timeout=10).json() == {"committed": True, "rows": 3}
        published.append(service.truth.table(name))
    assert published[0] == published[1] == JSON_ROWS


def test_an_idempotency_key_works_for_arrow_bodies_and_a_refused_body_does_not_use_it(service, http):
    name, url = new_table(service, http)
    key = {**ARROW, "Idempotency-Key": "batch-7"}
    bad = arrow_body([{"id": None}], ARROW_SCHEMA.set(0, pa.field("id", pa.int64())))
    assert http.post(url + "/rows", data=bad, headers=key, timeout=10).status_code == 422
    assert http.post(url + "/rows", data=arrow_body(), headers=key, timeout=10).json() == {"inserted": 3, "duplicate": False}
    assert http.post(url + "/rows", data=arrow_body(), headers=key, timeout=10).json() == \
        {"inserted": 0, "duplicate": True, "same_rows": True, "same_write": False}
    assert len(service.truth.table(name)) == 3


def test_an_arrow_body_names_its_write_in_a_header(service, http):
    name, url = new_table(service, http)
    key = {**ARROW, "Idempotency-Key": "load-0-0", "X-Write-Id": "write-a"}
    assert http.post(url + "/rows", data=arrow_body(), headers=key, timeout=10).json()["inserted"] == 3
    retry = http.post(url + "/rows", data=arrow_body(), headers=key, timeout=10).json()
    rerun = http.post(url + "/rows", data=arrow_body(), headers={**key, "X-Write-Id": "write-b"}, timeout=10).json()
    assert retry["same_write"] is True and rerun["same_write"] is False
    refused = http.post(url + "/rows", data=arrow_body(), headers={**key, "X-Write-Id": "w" * 257}, timeout=10)
    assert refused.status_code == 400 and refused.json()["parameter"] == "X-Write-Id"
    assert len(service.truth.table(name)) == 3


def test_a_gzip_compressed_arrow_body_is_accepted(service, http):
    name, url = new_table(service, http)
    answer = http.post(url + "/rows", data=gzip.compress(arrow_body()), headers={**ARROW, "Content-Encoding": "gzip"},
                       timeout=10)
    assert answer.json() == {"inserted": 3, "duplicate": False} and service.truth.table(name) == JSON_ROWS


def ns_timestamps():
    at = pa.array([0, 1_000, 1_001], pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    return pa.table({"id": [1, 2, 3], "at": at})


@pytest.mark.parametrize("table, row, field, words", [
    (pa.table({"id": pa.array([1, None], pa.int64())}), 1, "id", "not nullable"),
    (pa.table({"id": [1], "name": pa.array([5], pa.int64())}), 0, "name", "expected a string"),
    (pa.table({"id": [1], "nope": ["x"]}), 0, "nope", "unknown field"),
    (pa.table({"id": [1, 2], "amount": pa.array([Decimal("1.000"), Decimal("2.500")], pa.decimal128(10, 3))}),
     0, "amount", "exactly 2 fractional digits"),
    (pa.table({"id": [1], "at": pa.array([datetime(2026, 1, 1)], pa.timestamp("us"))}), 0, "at", "needs a zone"),
    (ns_timestamps(), 2, "at", "microseconds"),
    (pa.table({"id": [1], "attributes": pa.array([[(1, 2)]], pa.map_(pa.int64(), pa.int64()))}), 0, "attributes",
     "map keys must be strings"),
    (pa.table({"id": [1], "history": pa.array([[{"at": datetime(2026, 1, 1)}]],
                                              pa.list_(pa.struct([("at", pa.timestamp("us"))])))}), 0, "history[0].at",
     "needs a zone"),
])
def test_arrow_rows_that_do_not_fit_are_refused_naming_the_row_and_nothing_is_stored(service, http, table, row, field,
                                                                                   words):
    name, url = new_table(service, http)
    for path in ("/rows", f"/stages/{http.post(url + '/stages', timeout=10).json()['stage_id']}/rows"):
        answer = http.post(url + path, data=stream(table), headers=ARROW, timeout=10)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid_rows"
        assert (answer.json()["row"], answer.json()["field"]) == (row, field) and words in answer.json()["message"]
    assert service.truth.table(name) == []


@pytest.mark.parametrize("body", [b"", b"not arrow at all", b'{"rows": []}', arrow_body()[:200]])
def test_a_body_that_is_not_an_arrow_stream_is_a_400_naming_the_body(service, http, body):
    name, url = new_table(service, http)
    answer = http.post(url + "/rows", data=body, headers=ARROW, timeout=10)
    assert answer.status_code == 400 and answer.json()["parameter"] == "body"
    assert "Arrow IPC stream" in answer.json()["message"]
    assert service.truth.table(name) == []


def test_arrow_timestamps_of_any_zone_and_unit_are_stored_as_the_instant_in_utc(service, http):
    name, url = new_table(service, http, [{"name": "id", "type": "bigint"}, {"name": "at", "type": "timestamp"}])
    instants = [datetime(2026, 3, 29, 0, 59, 59, 999000, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]
    for unit, zone in (("ms", "Europe/Zurich"), ("s", "America/New_York"), ("ns", "UTC")):
        values = [moment.replace(microsecond=0) for moment in instants] if unit == "s" else instants
        table = pa.table({"id": [1, 2], "at": pa.array(values, pa.timestamp(unit, tz=zone))})
        assert http.post(url + "/rows", data=stream(table), headers=ARROW, timeout=10).status_code == 200
    stored = [row["at"] for row in service.truth.table(name)]
    assert stored == ["2026-03-29T00:59:59.999000Z", "2026-10-25T01:30:00.000000Z",
                      "2026-03-29T00:59:59.000000Z", "2026-10-25T01:30:00.000000Z",
                      "2026-03-29T00:59:59.999000Z", "2026-10-25T01:30:00.000000Z"]
