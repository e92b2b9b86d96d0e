"""HTTP behaviour: keep-alive, gzip both ways, HEAD, chunked bodies, JSON everywhere."""
import gzip
import http.client
import json

import pytest

from workshop.service import PracticeService


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=2000, entities=500, ring_rows=300) as running:
        yield running


@pytest.fixture()
def connection(service):
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    yield connection
    connection.close()


def exchange(connection, method, path, body=None, headers=None):
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response, response.read()


def test_one_connection_serves_many_requests(connection):
    for after in range(0, 1000, 100):
        response, body = exchange(connection, "GET", f"/v1/events/feed?after_seq={after}&limit=100")
        assert response.status == 200 and response.getheader("Connection") != "close"
        assert [item["seq"] for item in json.loads(body)["items"]] == list(range(after + 1, after + 101))
        sock = connection.sock
    response, _ = exchange(connection, "GET", "/nope")  # an error keeps the connection too
    assert response.status == 404 and connection.sock is sock


def test_every_answer_is_json_with_a_length(connection):
    for path in ("/health", "/v1/schema", "/v1/events/stats", "/missing", "/v1/events?limit=x"):
        response, body = exchange(connection, "GET", path)
        assert response.getheader("Content-Type") == "application/json"
        assert int(response.getheader("Content-Length")) == len(body)
        json.loads(body)


def test_gzip_when_asked(connection):
    path = "/v1/events/feed?after_seq=0&limit=500"
    plain, plain_body = exchange(connection, "GET", path)
    zipped, zipped_body = exchange(connection, "GET", path, headers={"Accept-Encoding": "gzip, deflate"})
    assert plain.getheader("Content-Encoding") is None
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 2
    refused, refused_body = exchange(connection, "GET", path, headers={"Accept-Encoding": "gzip;q=0"})
    assert refused.getheader("Content-Encoding") is None and refused_body == plain_body


def test_gzip_request_bodies_are_accepted(connection):
    exchange(connection, "PUT", "/v1/tables/zipped", json.dumps({"fields": [{"name": "n", "type": "bigint"}]}))
    body = gzip.compress(json.dumps({"rows": [{"n": 1}, {"n": 2}]}).encode())
    response, answer = exchange(connection, "POST", "/v1/tables/zipped/rows", body,
                                {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status == 200 and json.loads(answer)["inserted"] == 2
    response, answer = exchange(connection, "POST", "/v1/tables/zipped/rows", b"not gzip",
                                {"Content-Encoding": "gzip"})
    assert response.status == 400 and json.loads(answer)["parameter"] == "Content-Encoding"


def test_chunked_request_bodies_are_accepted(connection):
    exchange(connection, "PUT", "/v1/tables/chunked", json.dumps({"fields": [{"name": "n", "type": "bigint"}]}))
    parts = iter([b'{"rows": [{"n": 1},', b' {"n": 2}, {"n": 3}]}'])
    connection.request("POST", "/v1/tables/chunked/rows", body=parts, encode_chunked=True,
                       headers={"Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["inserted"] == 3


def test_head_answers_headers_only(connection):
    _, body = exchange(connection, "GET", "/health")
    response, head_body = exchange(connection, "HEAD", "/health")
    assert response.status == 200 and head_body == b""
    assert int(response.getheader("Content-Length")) == len(body)
