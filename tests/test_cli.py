"""The `workshop` command: serve answers /health, doctor reports this machine."""
import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest


def test_serve_answers_health():
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop.cli", "serve", "--port", "0", "--events", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 20
        url = None
        while time.time() < deadline and url is None:
            line = process.stdout.readline()
            match = re.search(r"(https?://[\d.]+:\d+)", line)
            url = match and match.group(1)
        assert url, "workshop serve did not print its URL"
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            health = json.load(response)
        assert health["status"] == "ok" and health["events"] == 1000
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_doctor_reports_python_java_and_mode():
    result = subprocess.run(
        [sys.executable, "-m", "workshop.cli", "doctor"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("python", "java", "pyspark", "spark mode"):
        assert re.search(rf"ok\s+{name}\b", result.stdout), result.stdout


def test_doctor_fails_clearly_without_java(tmp_path):
    import os

    env = dict(os.environ, JAVA_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "workshop.cli", "doctor"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert "BAD  java" in result.stdout and "Java 17+" in result.stdout


@pytest.mark.parametrize("command", [["serve", "--help"], ["run", "--help"], ["doctor", "--help"]])
def test_commands_have_help(command):
    result = subprocess.run([sys.executable, "-m", "workshop.cli"] + command, capture_output=True, text=True)
    assert result.returncode == 0 and "usage: workshop" in result.stdout


def test_workshop_run_sends_child_processes_stderr_to_its_log(tmp_path, capfd):
    from workshop.course_run import stderr_to

    log = tmp_path / "build" / "run.log"
    with stderr_to(str(log)):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('from a kernel\\n')"], check=True)
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('after the run\\n')"], check=True)
    assert log.read_text() == "from a kernel\n"
    assert "after the run" in capfd.readouterr().err  # stderr is back where it was
