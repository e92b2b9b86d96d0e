"""The client layer against the real practice service (no Spark): pages, errors, gzip, TLS, auth,
timeouts, and the session closed on every way out."""
import pytest
from pyspark.sql.types import LongType, StructField, StructType

from solutions.client import PracticeClient, ServiceError, WindowTooLargeError
from solutions.options import OptionError, parse_options
from solutions.reader import PracticeBatchReader

SMALL = dict(seed=3, events=300, entities=200, ring_rows=100)


def client_for(url, **options):
    return PracticeClient(parse_options({"url": url, **options}))


def test_pages_follow_the_cursor_and_respect_the_limit(service):
    with client_for(service.url, pageSize="333") as client:
        pages = list(client.pages("/v1/entities", {}))
    assert len(pages) > 1 and all(len(items) <= 333 for items in pages)
    ids = [record["id"] for items in pages for record in items]
    assert ids == [record["id"] for record in service.truth.records("entities")]


def test_an_error_carries_the_services_message_and_status(service):
    with client_for(service.url) as client:
        with pytest.raises(ServiceError) as error:
            client.get("/v1/entities", {"limit": 10**9})
    assert error.value.status == 400 and error.value.error == "bad_request"
    assert str(error.value).startswith("GET /v1/entities failed: HTTP 400 bad_request: limit")


def test_a_too_large_window_is_its_own_error(service):
    with client_for(service.url) as client:
        stats = client.get("/v1/events/stats")
        with pytest.raises(WindowTooLargeError) as error:
            next(client.pages("/v1/events", {"start": stats["min_event_time"], "end": "2100-01-01T00:00:00Z"}))
    assert error.value.status == 413 and "max_window_rows" in str(error.value)


def test_gzip_is_asked_for_and_can_be_turned_off(service):
    with client_for(service.url) as client:
        response = client.session.get(service.url + "/v1/entities", params={"limit": 500})
        assert response.headers.get("Content-Encoding") == "gzip"
        assert client.get("/v1/entities", {"limit": 5})["items"][0]["id"] == service.truth.records("entities")[0]["id"]
    with client_for(service.url, gzip="false") as client:
        response = client.session.get(service.url + "/v1/entities", params={"limit": 500})
        assert response.headers.get("Content-Encoding") is None


def test_an_unreachable_service_is_a_clear_error():
    # maxRetries=0: a refused connection is otherwise retried (the service may be restarting)
    with client_for("http://127.0.0.1:9", connectTimeout="1s", maxRetries="0") as client:
        with pytest.raises(ServiceError, match="cannot reach the practice service at http://127.0.0.1:9"):
            client.get("/health")


def test_the_read_timeout_applies():
    from workshop.service import PracticeService

    with PracticeService(**SMALL, fault_rate=1.0, fault_kinds=["slow"], slow_seconds=2.0) as slow:
        with client_for(slow.url, readTimeout="250ms", maxRetries="0") as client:  # a read timeout is retried otherwise
            with pytest.raises(ServiceError, match="cannot reach"):
                client.get("/v1/entities/stats")


def test_tls_with_the_services_ca_file():
    from workshop.service import PracticeService

    with PracticeService(**SMALL, tls=True) as secure:
        assert secure.url.startswith("https://")
        with client_for(secure.url, caFile=secure.ca_file) as client:
            assert client.get("/v1/entities/stats")["count"] == 200
        with client_for(secure.url) as client:  # the system trust store does not know the CA
            with pytest.raises(ServiceError, match="cannot reach"):
                client.get("/v1/entities/stats")
        with client_for(secure.url, verifyTls="false") as client:
            assert client.get("/v1/entities/stats")["count"] == 200


def test_api_key_and_basic_auth_and_no_secret_in_errors():
    from workshop.service import PracticeService

    with PracticeService(**SMALL, auth=["api_key", "basic"]) as guarded:
        credentials = guarded.credentials
        with client_for(guarded.url, apiToken=credentials["api_key"]) as client:
            assert client.get("/v1/entities/stats")["count"] == 200
        basic = {"username": credentials["username"], "password": credentials["password"]}
        with client_for(guarded.url, **basic) as client:
            assert client.get("/v1/entities/stats")["count"] == 200
        with client_for(guarded.url, apiToken="wrong-token-value") as client:
            with pytest.raises(ServiceError) as error:
                client.get("/v1/entities/stats")
        assert error.value.status == 401 and "wrong-token-value" not in str(error.value)
        with client_for(guarded.url, username="ann", password="wrong-password-value") as client:
            with pytest.raises(ServiceError) as error:
                client.get("/v1/entities/stats")
        assert error.value.status == 401 and "wrong-password-value" not in str(error.value)
    with pytest.raises(OptionError, match="needs both options username and password"):
        client_for("http://x", username="ann").__enter__()


def test_the_session_is_closed_on_a_normal_exit_and_on_an_exception(service):
    client = client_for(service.url)
    with client:
        assert not client.closed
    assert client.closed
    with pytest.raises(ZeroDivisionError):
        with client:
            raise ZeroDivisionError
    assert client.closed
    with pytest.raises(RuntimeError, match="with"):
        client.get("/health")


def test_the_session_is_closed_when_spark_stops_reading_early(service, monkeypatch):
    # Spark closes the read generator when it needs no more rows (LIMIT): the `with` in
    # read() must still close the session. No Spark here: the reader runs in this process.
    closed = []
    original_close = PracticeClient.close
    monkeypatch.setattr(PracticeClient, "close", lambda self: closed.append(self.session is not None) or original_close(self))
    options = parse_options({"url": service.url, "resource": "entities", "pageSize": "10"})
    reader = PracticeBatchReader(options, StructType([StructField("id", LongType())]))
    partition = reader.partitions()[0]
    closed.clear()  # planning used (and closed) clients of its own
    rows = reader.read(partition)
    assert next(rows) is not None
    assert closed == []
    rows.close()
    assert closed == [True]
