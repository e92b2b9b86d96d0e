"""TLS: the generated CA verifies the server; default verification refuses it."""
import os
import ssl
import urllib.request

import pytest
import requests

from workshop.service import PracticeService


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=50, tls=True) as running:
        yield running


def test_https_url_and_ca_file(service):
    assert service.url.startswith("https://127.0.0.1:")
    assert os.path.exists(service.ca_file)


def test_verifying_with_the_ca_file_succeeds(service):
    answer = requests.get(service.url + "/v1/events/feed", params={"limit": 5}, verify=service.ca_file, timeout=10)
    assert answer.status_code == 200 and len(answer.json()["items"]) == 5
    assert requests.get(service.url + "/health", verify=service.ca_file, timeout=10).json()["tls"] is True
    context = ssl.create_default_context(cafile=service.ca_file)
    localhost = service.url.replace("127.0.0.1", "localhost")
    with urllib.request.urlopen(localhost + "/health", context=context, timeout=10) as response:
        assert response.status == 200


def test_default_verification_fails(service):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(service.url + "/health", timeout=10)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(service.url + "/health", timeout=10)


def test_plain_http_to_the_tls_port_fails(service):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(service.url.replace("https://", "http://") + "/health", timeout=10)
    # the server survives both failed handshakes
    assert requests.get(service.url + "/health", verify=service.ca_file, timeout=10).status_code == 200


def test_the_ca_file_is_removed_on_stop():
    with PracticeService(events=1, tls=True) as service:
        ca_file = service.ca_file
        assert os.path.exists(ca_file)
    assert not os.path.exists(ca_file) and service.ca_file is None
