"""Ground truth: workshop.truth.checksum / to_json_record, and the service's truth helpers."""
import base64
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from workshop.service import PracticeService
from workshop.truth import checksum, to_json_record


class FakeRow(tuple):
    """Stands in for pyspark.sql.Row (a tuple with asDict) without importing pyspark."""

    def __new__(cls, **fields):
        row = super().__new__(cls, fields.values())
        row._fields = fields
        return row

    def asDict(self, recursive=False):
        return dict(self._fields)


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=13, events=2000, entities=300, ring_rows=300) as running:
        yield running


def as_spark_would_return(record):
    """An events record converted to the Python values PySpark's collect() gives."""
    def timestamp(text):  # PySpark gives naive datetimes in the local time zone
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone().replace(tzinfo=None)

    location = record["location"]
    return FakeRow(
        seq=record["seq"], event_id=record["event_id"], event_time=timestamp(record["event_time"]),
        ingest_time=timestamp(record["ingest_time"]), event_date=date.fromisoformat(record["event_date"]),
        device_id=record["device_id"], kind=record["kind"], value=record["value"], amount=Decimal(record["amount"]),
        tags=list(record["tags"]), attributes=dict(record["attributes"]),
        location=None if location is None else FakeRow(lat=location["lat"], lon=location["lon"]),
        payload=None if record["payload"] is None else bytearray(base64.b64decode(record["payload"])),
        note=record["note"],
    )


def test_checksum_is_order_independent_and_sensitive():
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": None}, {"b": "y", "a": 3}]
    assert checksum(records) == checksum(list(reversed(records)))
    assert checksum(records) != checksum(records[:2] + [{"a": 3, "b": "z"}])
    assert checksum([]) == 0


def test_to_json_record_conversions():
    plus_two = timezone(timedelta(hours=2))
    naive = datetime(2026, 1, 1, 12, 0, 0, 5)
    converted = to_json_record({
        "aware": datetime(2026, 1, 1, 2, 0, 0, 250000, tzinfo=plus_two),
        "naive": naive,
        "day": date(2026, 2, 3),
        "money": Decimal("1234.50"),
        "zero": Decimal("0.0000"),
        "tiny": Decimal("1E-8"),
        "raw": b"\x00\x01\xff",
        "nested": FakeRow(inner=[Decimal("1.10"), None], when=date(2000, 1, 1)),
        "map": {"k": bytearray(b"ab")},
        "plain": [1, 2.5, "s", True, None],
    })
    assert converted["aware"] == "2026-01-01T00:00:00.250000Z"
    assert converted["naive"] == naive.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert converted["day"] == "2026-02-03"
    assert converted["money"] == "1234.50" and converted["zero"] == "0.0000" and converted["tiny"] == "0.00000001"
    assert converted["raw"] == "AAH/"
    assert converted["nested"] == {"inner": ["1.10", None], "when": "2000-01-01"}
    assert converted["map"] == {"k": "YWI="}
    assert converted["plain"] == [1, 2.5, "s", True, None]


def test_a_correct_read_converts_back_to_the_truth_checksum(service):
    served = requests.get(service.url + "/v1/events/feed", params={"limit": 2000}, timeout=10).json()["items"]
    rows = [as_spark_would_return(record) for record in served]
    assert checksum(to_json_record(row) for row in rows) == service.truth.checksum("events")
    rows[5] = FakeRow(**{**rows[5].asDict(), "amount": Decimal("0.10")})  # one wrong value
    assert checksum(to_json_record(row) for row in rows) != service.truth.checksum("events")


def test_truth_helpers_agree_with_each_other(service):
    for resource, query in [("events", {}), ("events", {"after_seq": 100, "until_seq": 200}),
                            ("events", {"start": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                        "end": "2026-01-01T00:00:10Z", "device_id": [1, 2, 3]}),
                            ("entities", {"id_gte": 100, "id_lt": 900}), ("kv", {"token_gt": 0})]:
        records = service.truth.records(resource, **query)
        assert service.truth.count(resource, **query) == len(records)
        assert service.truth.checksum(resource, **query) == checksum(records)
    assert service.truth.count("events") == 2000 and service.truth.count("entities") == 300
    assert service.truth.malformed_seqs() == []


def test_truth_refuses_unknown_resources_and_queries(service):
    with pytest.raises(ValueError):
        service.truth.records("users")
    with pytest.raises(ValueError, match="id_gte"):
        service.truth.records("events", id_gte=1)
    with pytest.raises(ValueError, match="start"):
        service.truth.records("events", start="yesterday", end="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        service.truth.records("events", start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z", after_seq=3)


def test_dump_writes_each_record_exactly_as_served_one_per_line(tmp_path):
    # The differential tests read these files with spark.read.json: they must hold the served bytes.
    with PracticeService(seed=13, events=400, entities=0, ring_rows=0, ring_nodes=0, malformed_rate=0.1) as quirky:
        body = requests.get(quirky.url + "/v1/events/feed", params={"limit": 400}, timeout=10).text
        path = tmp_path / "events.jsonl"
        assert quirky.truth.dump(path, "events") == 400
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[-1] == "" and len(lines) == 401
        assert body.startswith('{"items":[' + ",".join(lines[:-1]) + "]")
        assert any(line.startswith('"') for line in lines), "a truncated record is served as a JSON string"
        window = {"start": "2026-01-01T00:00:01Z", "end": "2026-01-01T00:00:02Z", "kind": "view"}
        assert quirky.truth.dump(tmp_path / "window.jsonl", "events", drop_malformed=True, **window) == len(
            quirky.truth.records("events", drop_malformed=True, **window))


def test_a_remembered_answer_follows_the_feed_as_it_grows():
    from workshop.service import PracticeService

    with PracticeService(seed=3, events=200, entities=10, ring_rows=10) as service:
        window = dict(start="2025-12-31T00:00:00Z", end="2026-01-02T00:00:00Z")  # every event
        before = service.truth.count("events", **window), service.truth.checksum("events", **window)
        assert service.truth.count("events", **window) == before[0] == 200  # asked again: the same answer
        service.append_events(50)
        after = service.truth.count("events", **window), service.truth.checksum("events", **window)
        assert after[0] == 250 and after[1] != before[1]
        assert service.truth.count("events", until_seq=120) == 120  # other queries are answered on their own
