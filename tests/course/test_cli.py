"""The `workshop` command: serve answers /health, doctor reports this machine."""
import json
import os
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


@pytest.mark.parametrize("text", ["3", "03", "lab3", "lab 03", "Lab03", "03_partitioning", "03_partitioning.ipynb"])
def test_a_lab_can_be_named_as_people_write_it(text):
    from workshop.cli import lab_number

    assert lab_number(text) == "03"


@pytest.mark.parametrize("text", ["99", "3x", "", "partitioning"])
def test_a_lab_that_does_not_exist_is_refused_naming_the_labs(text):
    from workshop import labs
    from workshop.cli import lab_number

    with pytest.raises(SystemExit) as stop:
        lab_number(text)
    assert repr(text) in str(stop.value) and ", ".join(labs.lab_numbers()) in str(stop.value)


def test_reset_keeps_the_learners_copy_and_writes_a_fresh_lab(tmp_path, monkeypatch):
    from workshop import cli, labs

    monkeypatch.setattr(labs, "LEARNER_DIR", str(tmp_path / "labs"))
    monkeypatch.setattr(labs, "BACKUP_DIR", str(tmp_path / "build" / "lab-backups"))
    (tmp_path / "labs").mkdir()
    learner = os.path.join(labs.LEARNER_DIR, os.path.basename(list(labs.targets(labs.source_path("03")))[0]))
    with open(learner, "w") as f:
        f.write("my unfinished work")
    assert cli.main(["reset", "3"]) == 0
    (backup,) = os.listdir(tmp_path / "build" / "lab-backups")
    assert (tmp_path / "build" / "lab-backups" / backup).read_text() == "my unfinished work"
    assert open(learner).read() == labs.make_notebook(labs.source_path("03"), learner=True)


def test_check_tells_finished_failing_started_and_untouched_labs_apart(tmp_path):
    from workshop import labs
    from workshop.cli import check_status
    from workshop.run_notebooks import NotebookRun

    fresh = labs.make_notebook(labs.source_path("03"), learner=True)
    untouched = tmp_path / "untouched.ipynb"
    untouched.write_text(fresh)
    edited = tmp_path / "edited.ipynb"
    edited.write_text(fresh.replace("raise NotImplementedError(", "pass  # raise NotImplementedError(", 1))
    todo = NotebookRun(str(untouched), ok=True, seconds=1, stopped_at_todo=True, error="NotImplementedError: plan")
    passed = NotebookRun(str(edited), ok=True, seconds=1, output="Lab 03: 12/12 passed; all requirements met\n")
    failed = NotebookRun(str(edited), ok=True, seconds=1,
                         output="  PASS  a\n  FAIL  id ranges: ids 5..9 are in no partition\nLab 03: 11/12 passed; not yet\n")
    broken = NotebookRun(str(edited), ok=False, seconds=1, error="NameError: name 'x' is not defined")
    assert check_status("03", str(untouched), todo) == ("not started", "", "a TODO still raises NotImplementedError")
    assert check_status("03", str(edited), todo)[0] == "in progress"
    assert check_status("03", str(edited), passed) == ("pass", "12/12", "")
    assert check_status("03", str(edited), failed) == ("fail", "11/12", "id ranges: ids 5..9 are in no partition")
    assert check_status("03", str(edited), broken) == ("error", "", "NameError: name 'x' is not defined")


def test_lab_without_jupyterlab_says_how_to_get_it(monkeypatch):
    import builtins

    from workshop import cli

    real_import = builtins.__import__

    def no_jupyterlab(name, *args, **kwargs):
        if name == "jupyterlab":
            raise ImportError("No module named 'jupyterlab'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jupyterlab)
    with pytest.raises(SystemExit) as stop:
        cli.main(["lab"])
    assert "python3 course.py lab" in str(stop.value)
