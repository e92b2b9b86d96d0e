"""The auth layer without Spark: the token cache per process, refresh before expiry and after a
401, and the sovereign clouds' token URLs. The resolver's order and secrets on Spark are in
test_secrets.py; lab 08's check tests the same rules against a learner's authenticator."""
import logging
import time

import pytest

from solutions import auth
from solutions.client import PracticeClient, ServiceError
from solutions.options import parse_options
from workshop.service import PracticeService

SMALL = dict(seed=5, events=200, entities=100, ring_rows=50)


def client_for(url, **options):
    return PracticeClient(parse_options({"url": url, **{name: str(value) for name, value in options.items()}}))


@pytest.fixture()
def oauth_service():
    auth.forget_tokens()
    with PracticeService(**SMALL, auth="oauth", token_ttl=1) as running:
        yield running
    auth.forget_tokens()


def oauth_client(service):
    credentials = service.credentials
    return client_for(service.url, clientId=credentials["client_id"], clientSecret=credentials["client_secret"])


def token_fetches(caplog):
    return [record for record in caplog.records if record.getMessage().startswith("got a new access token")]


def test_a_token_is_cached_per_process_and_fetched_again_before_it_expires(oauth_service, caplog):
    caplog.set_level(logging.INFO, logger="solutions")
    with oauth_client(oauth_service) as first, oauth_client(oauth_service) as second:
        first.get("/v1/entities/stats")
        second.get("/v1/entities/stats")  # another task in this process: the cached token
        assert len(token_fetches(caplog)) == 1
        time.sleep(1.0)  # token_ttl=1: the token is due for refresh (0.1 s before it expires)
        first.get("/v1/entities/stats")
        assert len(token_fetches(caplog)) == 2


def test_a_401_fetches_a_new_token_once(oauth_service, caplog):
    caplog.set_level(logging.INFO, logger="solutions")
    with oauth_client(oauth_service) as client:
        client.get("/v1/entities/stats")
        oauth_service.auth.expire(client.authenticator.token)  # revoked before its time
        assert client.get("/v1/entities/stats")["count"] == 100  # refreshed once, then fine
    assert len(token_fetches(caplog)) == 2
    assert any("refused the access token (401)" in record.getMessage() for record in caplog.records)


def test_a_401_after_the_refresh_is_fatal():
    auth.forget_tokens()
    with PracticeService(**SMALL, auth="oauth", token_ttl=0.0001) as expiring:  # every token is dead on arrival
        with oauth_client(expiring) as client:
            with pytest.raises(ServiceError, match="refused auth method oauth .* even with a newly fetched token"):
                client.get("/v1/entities/stats")


def test_the_sovereign_cloud_table_builds_token_urls():
    options = parse_options({"url": "http://x", "clientId": "c", "clientSecret": "s", "tenantId": "t-1", "azureCloud": "china"})
    assert auth.token_url(options) == "https://login.chinacloudapi.cn/t-1/oauth2/v2.0/token"
    assert set(auth.AZURE_CLOUDS) == {"public", "government", "china"}
