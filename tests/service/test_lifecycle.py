"""Starting and stopping the practice service: fast start, ports freed, one service per process, CLI."""
import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from workshop.service import PracticeService, add_arguments, ensure_running, settings_from_args


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_starts_with_a_million_events_without_generating_them():
    # The start-up time itself is measured by benchmarks/serving.py, not asserted here.
    with PracticeService(events=1_000_000) as service:
        health = get_json(service.url + "/health")
        last = service.truth.records("events", after_seq=999_999)
    assert health["events"] == 1_000_000
    assert [record["seq"] for record in last] == [1_000_000]


def test_context_manager_serves_then_frees_the_port():
    with PracticeService(events=10) as service:
        port = service.port
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", service.url)
        assert get_json(service.url + "/health") == {
            "status": "ok", "version": "1", "events": 10, "tls": False, "auth": []}
    assert not service.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with PracticeService(events=20, port=port) as again:  # the port can be served again at once
        assert get_json(again.url + "/health")["events"] == 20


def test_start_and_stop_methods_are_idempotent():
    service = PracticeService(events=10)
    assert service.start() is service and service.start() is service
    assert get_json(service.url + "/health")["events"] == 10
    service.stop()
    service.stop()
    assert not service.running


def test_truth_works_without_starting():
    service = PracticeService(events=30)
    assert service.truth.count("events") == 30


def test_stop_closes_open_keep_alive_connections():
    import http.client

    service = PracticeService(events=10).start()
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
    connection.request("GET", "/health")
    connection.getresponse().read()
    service.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("GET", "/health")
        connection.getresponse().read()


def test_ensure_running_keeps_one_service_and_restarts_on_new_settings():
    first = ensure_running(events=100, seed=3)
    started = [first]
    try:
        assert ensure_running(events=100, seed=3) is first
        second = ensure_running(events=200, seed=3)
        started.append(second)
        assert second is not first and not first.running
        assert get_json(second.url + "/health")["events"] == 200
        second.set_faults(rate=0.5)
        third = ensure_running(events=200, seed=3)  # the faults changed, so a clean service
        started.append(third)
        assert third is not second and third.settings["fault_rate"] == 0.0
    finally:
        for service in started:
            service.stop()


def test_append_events_grows_the_feed_without_changing_events():
    with PracticeService(events=1000, seed=5) as service:
        before = service.truth.records("events", after_seq=990)
        assert service.append_events(500) == 1500
        assert get_json(service.url + "/health")["events"] == 1500
        assert service.truth.records("events", after_seq=990, until_seq=1000) == before
        appended = get_json(service.url + "/v1/events/feed?after_seq=1000&limit=500")["items"]
    with PracticeService(events=1500, seed=5) as other:  # born with them: the same events
        assert other.truth.records("events", after_seq=1000) == appended


def test_feed_rate_appends_while_running():
    with PracticeService(events=10, feed_rate=200) as service:
        deadline = time.time() + 5
        while service.events.latest < 50 and time.time() < deadline:
            time.sleep(0.05)
        assert get_json(service.url + "/v1/events/latest")["seq"] >= 50


def test_bad_settings_are_refused_naming_the_setting():
    with pytest.raises(ValueError, match="events"):
        PracticeService(events=-1)
    with pytest.raises(TypeError, match="nope"):
        PracticeService(nope=1)
    with pytest.raises(ValueError, match="fault_kinds"):
        PracticeService(fault_kinds=["418"])
    with pytest.raises(ValueError, match="auth"):
        PracticeService(auth="kerberos")
    with pytest.raises(ValueError, match="fault_rate"):
        PracticeService(fault_rate=1.5)


def test_command_line_flags_become_settings():
    parser = add_arguments(argparse.ArgumentParser())
    settings = settings_from_args(parser.parse_args(
        ["--events", "5", "--auth", "api_key,basic", "--tls", "--fault-kinds", "429,reset", "--token-ttl", "2.5"]))
    assert settings["events"] == 5 and settings["tls"] is True and settings["token_ttl"] == 2.5
    assert settings["auth"] == ("api_key", "basic") and settings["fault_kinds"] == ("429", "reset")
    assert settings["seed"] == 7 and settings["port"] == 0  # the rest keep their defaults
    with pytest.raises(SystemExit, match="fault_rate"):
        settings_from_args(parser.parse_args(["--fault-rate", "2"]))


def test_python_dash_m_serves_until_stopped():
    process = subprocess.Popen([sys.executable, "-m", "workshop.service", "--port", "0", "--events", "50"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://[\d.]+:\d+)", line)
        assert match, line
        assert get_json(match.group(1) + "/health")["events"] == 50
    finally:
        process.terminate()
        process.wait(timeout=10)
