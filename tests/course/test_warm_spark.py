"""The warm Spark: one local Spark with a Spark Connect server that other processes attach to,
and that never outlives the process that started it."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from workshop import spark as sparkhelp

# A process that starts the warm Spark, prints its URL and waits to be killed.
OWNER = textwrap.dedent("""
    import os, sys, time
    from workshop.spark import serve_connect
    print("URL", serve_connect("warm-spark-owner"), flush=True)
    time.sleep(600)
""")

# A process that attaches (auto mode, as a lab kernel does) and reads through a Python data source.
CLIENT = textwrap.dedent("""
    import json, sys, time
    started = time.monotonic()
    from workshop.spark import get_spark, resolve_mode
    mode = resolve_mode()
    spark = get_spark()
    attached = time.monotonic() - started
    from solutions import PracticeDataSource
    spark.dataSource.register(PracticeDataSource)
    rows = spark.read.format("practice").option("url", sys.argv[1]).option("resource", "entities").load().count()
    print(json.dumps({"mode": mode, "session": type(spark).__module__, "rows": rows, "attached_s": attached}))
""")


def jvm_children(pid):
    """Pids of the java processes started by process `pid`."""
    found = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in found.splitlines() if "java" in line]


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (dead, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] == "Z"


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the JVM with ps --ppid and /proc")
def test_other_processes_attach_and_nothing_outlives_a_killed_owner(service, monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.delenv(sparkhelp.REMOTE_VARIABLE, raising=False)
    env = dict(os.environ)
    env.pop(sparkhelp.REMOTE_VARIABLE, None)
    env.pop("WORKSHOP_SPARK_MODE", None)  # auto mode, as in a learner's kernel
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env)
    try:
        line = owner.stdout.readline()
        assert line.startswith("URL sc://localhost:"), line
        url = line.split()[1]
        port = int(url.split(":")[2].split("/")[0])
        with open(sparkhelp.SERVER_FILE) as f:
            assert json.load(f) == {"url": url, "port": port, "pid": owner.pid, "python": sys.executable}
        assert oct(os.stat(sparkhelp.SERVER_FILE).st_mode & 0o777) == "0o600"  # it holds the token
        (jvm,) = jvm_children(owner.pid)

        # A process of this clone finds the server through the server file, without being told.
        client = subprocess.run([sys.executable, "-c", CLIENT, service.url], capture_output=True, text=True,
                                env=env, timeout=180)
        assert client.returncode == 0, client.stderr[-3000:]
        answer = json.loads(client.stdout.strip().splitlines()[-1])
        assert answer["mode"] == "connect" and answer["session"].startswith("pyspark.sql.connect")
        assert answer["rows"] == service.truth.count("entities")
        assert answer["attached_s"] < 30  # no JVM of its own: a few seconds, not a Spark start-up

        # Without the token the server refuses.
        tokenless = subprocess.run([sys.executable, "-c", CLIENT, service.url], capture_output=True, text=True,
                                   env={**env, sparkhelp.REMOTE_VARIABLE: f"sc://localhost:{port}"}, timeout=180)
        assert tokenless.returncode != 0

        owner.send_signal(signal.SIGKILL)  # a crash: no atexit, no finally
        owner.wait(timeout=30)
        assert wait_until(lambda: gone(jvm), 60), "the JVM outlived its owner"
        assert not sparkhelp._port_open(port), "the Connect port is still open"
        assert sparkhelp.warm_spark_url() is None  # the server file is ignored once its owner is gone
    finally:
        if owner.poll() is None:
            owner.kill()


def test_a_server_file_names_no_server_once_its_owner_is_gone(tmp_path, monkeypatch):
    monkeypatch.delenv(sparkhelp.REMOTE_VARIABLE, raising=False)
    server_file = tmp_path / "spark-connect.json"
    monkeypatch.setattr(sparkhelp, "SERVER_FILE", str(server_file))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    record = {"url": "sc://localhost:1/;token=x", "port": 1, "pid": dead_pid, "python": sys.executable}
    server_file.write_text(json.dumps(record))
    assert sparkhelp.warm_spark_url() is None  # its owner has exited
    server_file.write_text(json.dumps({**record, "pid": os.getppid(), "python": "/other/python"}))
    assert sparkhelp.warm_spark_url() is None  # its workers would run another Python, so other code
    server_file.write_text(json.dumps({**record, "pid": os.getpid()}))
    assert sparkhelp.warm_spark_url() is None  # this process's own server: it has its session already
    server_file.write_text("{not json")
    assert sparkhelp.warm_spark_url() is None
    monkeypatch.setenv(sparkhelp.REMOTE_VARIABLE, "sc://localhost:2/;token=y")
    assert sparkhelp.warm_spark_url() == "sc://localhost:2/;token=y"  # the owner's children are told
    assert sparkhelp.resolve_mode("auto") == "connect"


def test_urls_in_messages_hide_the_token():
    assert sparkhelp.shown_url("sc://localhost:1234/;token=s3cr3t-Value") == "sc://localhost:1234/;token=***"
