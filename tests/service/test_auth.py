"""Auth: API key, HTTP Basic, OAuth2 client credentials with expiring tokens; secrets stay secret."""
import logging
import time

import pytest
import requests

from workshop.service import PracticeService

TTL = 1.0


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=100, auth="any", token_ttl=TTL, api_key="k-123456789", password="pw-987654321",
                         client_secret="cs-5555555555") as running:
        yield running


def token(service, **form):
    body = {"grant_type": "client_credentials", "client_id": service.credentials["client_id"],
            "client_secret": service.credentials["client_secret"], **form}
    return requests.post(service.url + "/oauth/token", data=body, timeout=10)


def status(service, path="/v1/events/stats", **kwargs):
    return requests.get(service.url + path, timeout=10, **kwargs)


def test_no_credentials_is_401_naming_the_schemes(service):
    answer = status(service)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    challenge = answer.headers["WWW-Authenticate"]
    assert "ApiKey" in challenge and "Basic" in challenge and "Bearer" in challenge
    assert status(service, "/health").status_code == 200  # health is open


def test_api_key_in_header_or_query(service):
    key = service.credentials["api_key"]
    assert status(service, headers={"X-API-Key": key}).status_code == 200
    assert status(service, params={"api_key": key}).status_code == 200
    assert status(service, "/v1/events/feed", params={"api_key": key, "limit": 3}).json()["items"]
    assert status(service, headers={"X-API-Key": "wrong"}).status_code == 401


def test_basic(service):
    credentials = service.credentials
    assert status(service, auth=(credentials["username"], credentials["password"])).status_code == 200
    assert status(service, auth=(credentials["username"], "wrong")).status_code == 401
    assert status(service, headers={"Authorization": "Basic !!notbase64"}).status_code == 401


def test_oauth_client_credentials(service):
    answer = token(service)
    assert answer.status_code == 200
    issued = answer.json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == TTL
    bearer = {"Authorization": "Bearer " + issued["access_token"]}
    assert status(service, headers=bearer).status_code == 200
    in_basic = requests.post(service.url + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(service.credentials["client_id"], service.credentials["client_secret"]), timeout=10)
    assert in_basic.status_code == 200
    assert token(service, client_secret="wrong").status_code == 401
    assert token(service, grant_type="password").status_code == 400
    assert status(service, headers={"Authorization": "Bearer made-up"}).json()["error"] == "unauthorized"


def test_tokens_expire(service):
    bearer = {"Authorization": "Bearer " + token(service).json()["access_token"]}
    assert status(service, headers=bearer).status_code == 200
    time.sleep(TTL + 0.2)
    expired = status(service, headers=bearer)
    assert expired.status_code == 401 and expired.json()["error"] == "token_expired"
    fresh = {"Authorization": "Bearer " + token(service).json()["access_token"]}
    assert status(service, headers=fresh).status_code == 200


def test_only_the_configured_methods_are_accepted():
    with PracticeService(events=10, auth=["api_key"]) as service:
        credentials = service.credentials
        assert status(service, auth=(credentials["username"], credentials["password"])).status_code == 401
        assert status(service, headers={"X-API-Key": credentials["api_key"]}).status_code == 200
        assert "Basic" not in status(service).headers["WWW-Authenticate"]


def test_secrets_never_appear_in_logs_or_answers(service, caplog):
    secrets = ["k-123456789", "pw-987654321", "cs-5555555555"]
    answers = []
    with caplog.at_level(logging.DEBUG, logger="workshop.service"):
        answers.append(status(service, params={"api_key": "k-123456789"}))
        answers.append(status(service, params={"api_key": "k-123456789", "limit": "bad"}, ))
        answers.append(status(service, "/v1/events", params={"api_key": "k-123456789", "start": "x"}))
        answers.append(status(service, auth=("learner", "pw-987654321-wrong")))
        answers.append(token(service, client_secret="cs-5555555555x"))
        issued = token(service).json()["access_token"]
        answers.append(status(service, headers={"Authorization": "Bearer " + issued}))
        answers.append(status(service, "/v1/nope", params={"api_key": "k-123456789"}))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/v1/events" in logged  # requests are logged, with the key hidden
    for secret in secrets + [issued]:
        assert secret not in logged
    for answer in answers[1:]:
        if answer.status_code >= 400:
            for secret in secrets:
                assert secret not in answer.text
