"""Arrow IPC pages: the same rows, types, cursors and faults as the JSON pages, when asked for."""
import base64
import gzip
import inspect
import json
from datetime import date, datetime
from decimal import Decimal

import pytest
import requests

from workshop.service import PracticeService
from workshop.service.sparktypes import parse_type

pa = pytest.importorskip("pyarrow")

ARROW = "application/vnd.apache.arrow.stream"
AS_ARROW = {"Accept": ARROW}


@pytest.fixture(scope="module")
def service():
    with PracticeService(seed=5, events=3000, entities=1200, ring_rows=900, max_window_rows=1000,
                         malformed_rate=0.04) as running:
        yield running


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def read_arrow(response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == ARROW
    return pa.ipc.open_stream(response.content).read_all()


def field_types(http, service, resource):
    return {field["name"]: field["type"] for field in http.get(f"{service.url}/v1/schema/{resource}").json()["fields"]}


def python_value(type_text, value):
    """A JSON value of the service as the Python value pyarrow gives for its Spark type."""
    if value is None:
        return None
    if type_text == "timestamp":
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if type_text == "date":
        return date.fromisoformat(value)
    if type_text.startswith("decimal"):
        return Decimal(value)
    if type_text == "binary":
        return base64.b64decode(value)
    return value  # strings, numbers, booleans; the served nested types hold only those


def fits(type_text, value):
    """Whether a JSON value has the JSON kind the service's contract gives its type."""
    if type_text in ("string", "timestamp", "date", "binary") or type_text.startswith("decimal"):
        return isinstance(value, str)
    if type_text == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_text in ("bigint", "int"):
        return isinstance(value, int) and not isinstance(value, bool)
    return True  # nested fields are never the broken one


def expected_rows(types, items):
    """The rows an Arrow page must hold for these JSON items (documented rule for malformed ones:
    the fields that fit are kept, the others are null, the record's text is in `_corrupt_record`)."""
    rows = []
    for item in items:
        if isinstance(item, dict) and item.get("seq") not in MALFORMED:
            rows.append({**{name: python_value(type_text, item.get(name)) for name, type_text in types.items()},
                         "_corrupt_record": None})
        elif isinstance(item, dict):
            kept = {name: python_value(type_text, item.get(name)) if fits(type_text, item.get(name)) else None
                    for name, type_text in types.items()}
            rows.append({**kept, "_corrupt_record": json.dumps(item, separators=(",", ":"), ensure_ascii=False)})
        else:  # truncated: a JSON string, no fields at all
            rows.append({**{name: None for name in types}, "_corrupt_record": item})
    return rows


MALFORMED = set()


@pytest.fixture(scope="module", autouse=True)
def malformed(service):
    MALFORMED.update(service.truth.malformed_seqs())
    assert len(MALFORMED) > 50  # the comparisons below cover malformed records
    yield
    MALFORMED.clear()


def arrow_rows(table, types):
    rows = table.to_pylist()
    for row in rows:
        for name, type_text in types.items():
            if type_text.startswith("map<") and row[name] is not None:
                row[name] = dict(row[name])  # pyarrow gives a map as (key, value) pairs
    return rows


def drain(http, url, query, headers=None):
    """Every page, following the cursor of the format: the JSON body's, or X-Next-Cursor for Arrow."""
    pages, cursor = [], None
    while True:
        response = http.get(url, params={**query, **({"cursor": cursor} if cursor else {})}, headers=headers or {},
                            timeout=10)
        if headers:
            pages.append((response, read_arrow(response)))
            cursor = response.headers.get("X-Next-Cursor")
        else:
            assert response.status_code == 200, response.text
            pages.append((response, response.json()))
            cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


PAGED = [
    ("events", "/v1/events", {"start": "2026-01-01T00:00:04Z", "end": "2026-01-01T00:00:12Z", "limit": 97}),
    ("events", "/v1/events", {"start": "2025-12-31T20:00:00Z", "end": "2026-01-01T00:00:30Z", "device_id": "3,7,11",
                              "kind": "click,refund", "limit": 9}),
    ("entities", "/v1/entities", {"limit": 250}),
    ("entities", "/v1/entities", {"id_gte": 101, "id_lt": 3001, "limit": 77}),
    ("kv", "/v1/kv", {"limit": 300}),
    ("kv", "/v1/kv", {"token_gt": 2**62, "token_le": -(2**62), "limit": 111}),  # wraps around
    ("kv", "/v1/kv", {"token_gt": 0, "token_le": 0, "limit": 400}),  # the whole ring
]


@pytest.mark.parametrize("resource, path, query", PAGED)
def test_arrow_pages_hold_the_json_pages_rows_with_the_same_cursors(http, service, resource, path, query):
    types = field_types(http, service, resource)
    as_json = drain(http, service.url + path, query)
    as_arrow = drain(http, service.url + path, query, AS_ARROW)
    assert len(as_json) == len(as_arrow) > 1
    for (json_response, page), (arrow_response, table) in zip(as_json, as_arrow):
        assert arrow_response.headers.get("X-Next-Cursor") == page["next_cursor"]
        assert json_response.headers.get("X-Next-Cursor") == page["next_cursor"]
        assert arrow_rows(table, types) == expected_rows(types, page["items"])
    truth_query = {name: value for name, value in query.items() if name != "limit"}
    items = [item for _, page in as_json for item in page["items"]]
    assert items == service.truth.records(resource, **truth_query)


def test_feed_pages_carry_latest_seq_in_a_header(http, service):
    types = field_types(http, service, "events")
    latest = service.events.latest
    for after, until in ((0, 500), (1200, 1301), (2950, None), (latest, None)):
        query = {"after_seq": after, "limit": 400, **({"until_seq": until} if until else {})}
        page = http.get(service.url + "/v1/events/feed", params=query, timeout=10).json()
        response = http.get(service.url + "/v1/events/feed", params=query, headers=AS_ARROW, timeout=10)
        assert response.headers["X-Latest-Seq"] == str(page["latest_seq"]) == str(latest)
        assert "X-Next-Cursor" not in response.headers
        assert arrow_rows(read_arrow(response), types) == expected_rows(types, page["items"])
        assert page["items"] == service.truth.records("events", after_seq=after,
                                                      until_seq=min(after + 400, until or latest))


def _spark_type(parsed):
    from pyspark.sql import types as T

    simple = {"bigint": T.LongType(), "string": T.StringType(), "timestamp": T.TimestampType(),
              "date": T.DateType(), "double": T.DoubleType(), "boolean": T.BooleanType(), "binary": T.BinaryType()}
    if parsed[0] in simple:
        return simple[parsed[0]]
    if parsed[0] == "decimal":
        return T.DecimalType(parsed[1], parsed[2])
    if parsed[0] == "array":
        return T.ArrayType(_spark_type(parsed[1]))
    if parsed[0] == "map":
        return T.MapType(_spark_type(parsed[1]), _spark_type(parsed[2]))
    return T.StructType([T.StructField(name, _spark_type(kind)) for name, kind in parsed[1]])


@pytest.mark.parametrize("resource, path", [("events", "/v1/events/feed"), ("entities", "/v1/entities"), ("kv", "/v1/kv")])
def test_the_arrow_schema_is_sparks_own_mapping_plus_the_corrupt_record_column(http, service, resource, path):
    pytest.importorskip("pyspark")
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructField, StructType

    spark_schema = StructType([StructField(name, _spark_type(parse_type(type_text)))
                               for name, type_text in field_types(http, service, resource).items()])
    if "timezone" in inspect.signature(to_arrow_schema).parameters:  # 4.2+; 4.0 and 4.1 use UTC without asking
        expected = to_arrow_schema(spark_schema, timezone="UTC")
    else:
        expected = to_arrow_schema(spark_schema)
    expected = expected.append(pa.field("_corrupt_record", pa.string()))
    for query in ({"limit": 5}, {"limit": 5, "after_seq": 10**6}):  # a page with rows, and an empty one
        table = read_arrow(http.get(service.url + path, params=query if resource == "events" else {"limit": 5},
                                    headers=AS_ARROW, timeout=10))
        assert table.schema.equals(expected, check_metadata=True), (table.schema, expected)


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/*",
                                    f"application/json, {ARROW};q=0.5", f"{ARROW};q=0", "text/html"])
def test_a_client_that_does_not_prefer_arrow_gets_json_as_before(service, accept):
    query = {"after_seq": 0, "limit": 30}
    plain = requests.get(service.url + "/v1/events/feed", params=query, timeout=10)
    asked = requests.get(service.url + "/v1/events/feed", params=query, headers={"Accept": accept} if accept else {},
                         timeout=10)
    assert asked.headers["Content-Type"] == plain.headers["Content-Type"] == "application/json"
    assert asked.content == plain.content
    assert plain.json()["items"] == service.truth.records("events", after_seq=0, until_seq=30)


@pytest.mark.parametrize("accept", [ARROW, f"{ARROW}, application/json;q=0.9", f"application/json;q=0.5, {ARROW}",
                                    f"{ARROW};q=0.8, */*;q=0.8"])
def test_a_client_that_prefers_arrow_gets_arrow(service, accept):
    response = requests.get(service.url + "/v1/entities", params={"limit": 3}, headers={"Accept": accept}, timeout=10)
    assert read_arrow(response).column("id").to_pylist() == [e["id"] for e in service.truth.records("entities")[:3]]


def test_other_endpoints_and_errors_answer_json_even_when_arrow_is_asked(service):
    stats = requests.get(service.url + "/v1/events/stats", headers=AS_ARROW, timeout=10)
    assert stats.headers["Content-Type"] == "application/json" and stats.json()["latest_seq"] == 3000
    bad = requests.get(service.url + "/v1/events/feed", params={"limit": "x"}, headers=AS_ARROW, timeout=10)
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/json"
    assert bad.json()["parameter"] == "limit"
    too_large = requests.get(service.url + "/v1/events", headers=AS_ARROW, timeout=10,
                             params={"start": "2025-12-31T00:00:00Z", "end": "2026-01-02T00:00:00Z"})
    assert too_large.status_code == 413 and too_large.json()["error"] == "window_too_large"


def test_gzip_and_head_work_for_arrow_pages(service):
    url, query = service.url + "/v1/kv", {"limit": 500}
    plain = requests.get(url, params=query, headers=AS_ARROW, timeout=10)
    zipped = requests.get(url, params=query, headers={**AS_ARROW, "Accept-Encoding": "gzip"}, stream=True, timeout=10)
    raw = zipped.raw.read()
    assert zipped.headers["Content-Encoding"] == "gzip" and len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content
    head = requests.head(url, params=query, headers={**AS_ARROW, "Accept-Encoding": "identity"}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(plain.content))
    assert head.headers["X-Next-Cursor"] == plain.headers["X-Next-Cursor"]


def test_faults_apply_to_arrow_pages_and_a_retry_gets_the_same_rows():
    settings = dict(seed=9, events=400, fault_rate=0.5, fault_kinds=["429", "500", "503", "reset"], retry_after=0)
    with PracticeService(**settings) as service, requests.Session() as http:
        statuses = set()
        for after in range(0, 400, 10):
            for _ in range(60):
                try:
                    response = http.get(service.url + "/v1/events/feed", params={"after_seq": after, "limit": 10},
                                        headers=AS_ARROW, timeout=10)
                except requests.exceptions.ConnectionError:
                    statuses.add("reset")
                    continue
                statuses.add(response.status_code)
                if response.status_code == 200:
                    break
                assert response.headers["Content-Type"] == "application/json"  # faults are JSON errors
            seqs = read_arrow(response).column("seq").to_pylist()
            assert seqs == [r["seq"] for r in service.truth.records("events", after_seq=after, until_seq=after + 10)]
        assert {429, 500, 503, "reset", 200} <= statuses


@pytest.mark.parametrize("resource, path, query", [PAGED[0], PAGED[3], PAGED[5]])
def test_an_arrow_page_is_the_batch_the_connectors_json_path_makes_in_permissive_mode(http, service, resource, path,
                                                                                      query):
    """So a reader may hand the service's batches to Spark as they are (PERMISSIVE, `_corrupt_record`)."""
    pytest.importorskip("pyspark")
    from pyspark.sql.types import StringType, StructField, StructType

    from solutions.conversion import PERMISSIVE, RecordConverter, rows_to_record_batch

    schema = StructType([StructField(name, _spark_type(parse_type(type_text)))
                         for name, type_text in field_types(http, service, resource).items()]
                        + [StructField("_corrupt_record", StringType())])
    converter = RecordConverter(schema, PERMISSIVE, "_corrupt_record")
    as_json, as_arrow = drain(http, service.url + path, query), drain(http, service.url + path, query, AS_ARROW)
    for (_, page), (_, table) in zip(as_json, as_arrow):
        expected = rows_to_record_batch([converter.convert(item) for item in page["items"]], schema)
        assert table.combine_chunks().to_batches()[0].equals(expected)
    malformed = sum(1 for _, page in as_json for item in page["items"]
                    if not isinstance(item, dict) or item.get("seq") in MALFORMED)
    assert converter.malformed == malformed and (malformed > 0) == (resource == "events")
