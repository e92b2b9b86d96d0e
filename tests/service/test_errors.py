"""Bad requests get a clean 4xx JSON answer naming the problem, never a 500."""
import json
import random
import socket

import pytest
import requests

from workshop.service import PracticeService

W = "start=2026-01-01T00:00:00Z&end=2026-01-01T00:00:01Z"


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=500, entities=100, ring_rows=100, max_page_size=1000) as running:
        requests.put(running.url + "/v1/tables/t", json={"fields": [{"name": "n", "type": "bigint"}]}, timeout=10)
        yield running


# (method, path with query, JSON body or raw bytes, status, error code, parameter)
CASES = [
    ("GET", "/v1/events?" + W + "&limit=0", None, 400, "bad_request", "limit"),
    ("GET", "/v1/events?" + W + "&limit=abc", None, 400, "bad_request", "limit"),
    ("GET", "/v1/events?" + W + "&limit=1001", None, 400, "bad_request", "limit"),
    ("GET", "/v1/events?" + W + "&limit=1&limit=2", None, 400, "bad_request", "limit"),
    ("GET", "/v1/events?end=2026-01-01T00:00:00Z", None, 400, "bad_request", "start"),
    ("GET", "/v1/events?start=2026-01-01T00:00:00Z", None, 400, "bad_request", "end"),
    ("GET", "/v1/events?start=2026-01-01T00:00:00&end=2026-01-01T00:00:01Z", None, 400, "bad_request", "start"),
    ("GET", "/v1/events?start=2026-13-01T00:00:00Z&end=2026-01-01T00:00:01Z", None, 400, "bad_request", "start"),
    ("GET", "/v1/events?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", None, 400, "bad_request", "end"),
    ("GET", "/v1/events?" + W + "&cursor=garbage", None, 400, "bad_request", "cursor"),
    ("GET", "/v1/events?" + W + "&cursor=ZW50aXRpZXM6MQ", None, 400, "bad_request", "cursor"),  # another endpoint's
    ("GET", "/v1/events?" + W + "&device_id=x", None, 400, "bad_request", "device_id"),
    ("GET", "/v1/events?" + W + "&kind=nope", None, 400, "bad_request", "kind"),
    ("GET", "/v1/events?" + W + "&colour=red", None, 400, "bad_request", "colour"),
    ("GET", "/v1/events/count?start=x&end=y", None, 400, "bad_request", "start"),
    ("GET", "/v1/events/feed?after_seq=-1", None, 400, "bad_request", "after_seq"),
    ("GET", "/v1/events/feed?until_seq=1.5", None, 400, "bad_request", "until_seq"),
    ("GET", "/v1/events/seq_at", None, 400, "bad_request", "ingest_time"),
    ("GET", "/v1/events/stats?x=1", None, 400, "bad_request", "x"),
    ("GET", "/v1/entities?id_gte=1.5", None, 400, "bad_request", "id_gte"),
    ("GET", "/v1/entities?id_lt=99999999999999999999", None, 400, "bad_request", "id_lt"),
    ("GET", "/v1/kv?token_gt=9223372036854775808", None, 400, "bad_request", "token_gt"),
    ("GET", "/v1/kv?token_le=", None, 400, "bad_request", "token_le"),
    ("GET", "/v1/schema/nope", None, 404, "not_found", None),
    ("GET", "/v2/anything", None, 404, "not_found", None),
    ("POST", "/v1/events", {}, 405, "method_not_allowed", None),
    ("DELETE", "/health", None, 405, "method_not_allowed", None),
    ("BREW", "/v1/events", None, 405, "method_not_allowed", None),
    ("PUT", "/v1/tables/bad name", {"fields": [{"name": "a", "type": "int"}]}, 400, "bad_request", "name"),
    ("PUT", "/v1/tables/x1", {"fields": []}, 400, "bad_request", "fields"),
    ("PUT", "/v1/tables/x1", {"columns": []}, 400, "bad_request", "fields"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "varchar2"}]}, 400, "bad_request", "fields[0].type"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "decimal(50,2)"}]}, 400, "bad_request", "fields[0].type"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "array<int"}]}, 400, "bad_request", "fields[0].type"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "map<int,int>"}]}, 400, "bad_request", "fields[0].type"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": {"type": "array"}}]}, 400, "bad_request",
     "fields[0].type"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "int", "nullable": "yes"}]}, 400, "bad_request",
     "fields[0].nullable"),
    ("PUT", "/v1/tables/x1", {"fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}, 400,
     "bad_request", "fields[1].name"),
    ("PUT", "/v1/tables/x1", b"{not json", 400, "bad_request", "body"),
    ("PUT", "/v1/tables/x1", b"[" * 100_000 + b"]" * 100_000, 400, "bad_request", "body"),
    ("PUT", "/v1/tables/x1", b"\xff\xfe", 400, "bad_request", "body"),
    ("GET", "/v1/tables/missing", None, 404, "not_found", None),
    ("POST", "/v1/tables/t/rows", {"rows": "no"}, 400, "bad_request", "rows"),
    ("POST", "/v1/tables/t/rows", {"rows": [], "extra": 1}, 400, "bad_request", "extra"),
    ("POST", "/v1/tables/t/rows", [1, 2], 400, "bad_request", "rows"),
    ("POST", "/v1/tables/t/rows", {"rows": [1]}, 422, "invalid_rows", None),
    ("POST", "/v1/tables/t/stages/nope/rows", {"rows": []}, 404, "not_found", None),
    ("POST", "/v1/tables/t/commit", {"stage_ids": "s"}, 400, "bad_request", "stage_ids"),
    ("POST", "/v1/tables/t/commit", {"stage_ids": [], "mode": "merge"}, 400, "bad_request", "mode"),
    ("POST", "/v1/tables/t/commit", {"stage_ids": [], "commit_id": 5}, 400, "bad_request", "commit_id"),
    ("POST", "/v1/tables/t/commit", {"stage_ids": ["a", "a"]}, 400, "bad_request", "stage_ids"),
    ("POST", "/v1/tables/t/commit", {"stage_ids": [], "force": True}, 400, "bad_request", "force"),
    ("POST", "/v1/tables/t/commit", None, 400, "bad_request", "body"),
    ("GET", "/v1/tables/t/rows?cursor=%%%", None, 400, "bad_request", "cursor"),
    ("POST", "/oauth/token", b"grant_type=password", 400, "bad_request", "grant_type"),
    ("POST", "/oauth/token", b"grant_type=client_credentials&client_id=x&client_secret=y", 401, "unauthorized", None),
]


@pytest.mark.parametrize("method, path, body, status, error, parameter", CASES,
                         ids=[f"{case[0]} {case[1][:60]}" for case in CASES])
def test_bad_request_is_a_clean_4xx(service, method, path, body, status, error, parameter):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    answer = requests.request(method, service.url + path, data=data, timeout=10)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    payload = answer.json()
    assert payload["error"] == error and payload["message"]
    assert payload.get("parameter") == parameter


def raw_exchange(service, data):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/9.9\r\n\r\n",
    b"GET /health HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /v1/tables/t/rows HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/tables/t/rows HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
    b"POST /v1/tables/t/rows HTTP/1.1\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
])
def test_malformed_http_is_a_4xx_json(service, data):
    status, body = raw_exchange(service, data)
    assert 400 <= status < 500
    assert json.loads(body)["error"]


def test_random_garbage_never_causes_a_5xx(service):
    rng = random.Random(0)
    values = ["", "-", "1e5", "NaN", "0x10", "%00", "\u00e9", "9" * 30, "2026-01-01", "a,b", ",", "-1", "1,,2",
              "2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00.1234567Z", " 1", "true", "null", "[]"]
    paths = {
        "/v1/events": ["start", "end", "device_id", "kind", "limit", "cursor"],
        "/v1/events/count": ["start", "end", "device_id", "kind"],
        "/v1/events/feed": ["after_seq", "until_seq", "limit"],
        "/v1/events/seq_at": ["ingest_time"],
        "/v1/entities": ["id_gte", "id_lt", "limit", "cursor"],
        "/v1/kv": ["token_gt", "token_le", "limit", "cursor"],
        "/v1/tables/t/rows": ["limit", "cursor"],
    }
    with requests.Session() as http:
        for _ in range(300):
            path = rng.choice(list(paths))
            names = rng.sample(paths[path], rng.randint(1, len(paths[path])))
            answer = http.get(service.url + path, params={name: rng.choice(values) for name in names}, timeout=10)
            assert answer.status_code < 500, (path, answer.url, answer.text)
            answer.json()
