#!/usr/bin/env python3
"""Set up the course in ./.venv (first time only) and run it.

    python3 course.py run      # the whole course locally: `workshop run`
    python3 course.py test     # the test suite: `pytest`
    python3 course.py lab      # the labs in JupyterLab, on one warm Spark: `workshop lab`
    python3 course.py test-pyspark 4.0.1 ARGS  # the tests (pytest ARGS) on another PySpark
    python3 course.py test-databricks-connect   # the tests through databricks-connect
    python3 course.py ARGS...  # any other `workshop` command, e.g. `check 3`, `doctor`, `serve`

Needs only Python 3.10+ (with venv) and, for Spark, Java 17+. Standard library only: this
file runs before anything is installed. Set COURSE_VENV to use another environment folder.
"""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.abspath(os.environ.get("COURSE_VENV", os.path.join(ROOT, ".venv")))
EXTRAS = "local,dev"


def venv_python(folder=VENV):
    sub = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    return os.path.join(folder, *sub)


def ensure_installed(folder=VENV, requirements=(f".[{EXTRAS}]",), python=sys.executable):
    """Create the environment and install the project; repeat only when pyproject.toml changes.

    The stamp file lists every requirement set installed since pyproject.toml last changed.
    """
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10+ is needed; this is {sys.version.split()[0]}.")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        stamp = hashlib.sha256(f.read() + " ".join(requirements).encode()).hexdigest()
    stamp_file = os.path.join(folder, ".course-installed")
    done = open(stamp_file).read().split() if os.path.exists(stamp_file) else []
    if stamp in done:
        return venv_python(folder)
    if not os.path.exists(venv_python(folder)):
        print(f"course: creating {folder}", flush=True)
        if python == sys.executable:
            venv.create(folder, with_pip=True)
        else:
            subprocess.run([python, "-m", "venv", folder], check=True)
    print(f"course: installing {' '.join(requirements)} into {folder} ...", flush=True)
    pip = [venv_python(folder), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-e"] + list(requirements), cwd=ROOT, check=True)
    with open(stamp_file, "a") as f:
        f.write(stamp + "\n")
    return venv_python(folder)


def find_python312():
    """databricks-connect 17.3 needs Python 3.12: COURSE_PYTHON312, PATH, or pyenv."""
    candidates = [os.environ.get("COURSE_PYTHON312"), shutil.which("python3.12")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in candidates:
        # A pyenv shim exists even when 3.12 is not selected, so ask each one.
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"] if candidate else None
        if check and subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    sys.exit("databricks-connect 17.3 needs Python 3.12: install it, or set COURSE_PYTHON312 to its path.")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_pyspark(version, python=None):
    """A folder holding PySpark `version` alone, to put first on PYTHONPATH; installed once.

    PySpark is pure Python plus Spark's jars, so one folder serves every Python version and any
    environment that has PySpark's dependencies: the suite runs on older PySparks without an
    environment each.
    """
    folder = os.path.join(ROOT, ".venv-pyspark", version)
    if not os.path.exists(os.path.join(folder, ".course-installed")):
        print(f"course: installing PySpark {version} into {folder} ...", flush=True)
        pip = [python or venv_python(), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps"]
        subprocess.run(pip + ["--upgrade", "--target", folder, f"pyspark=={version}"], cwd=ROOT, check=True)
        open(os.path.join(folder, ".course-installed"), "w").close()
    return folder


def test_pyspark(version, pytest_args):
    """The suite (or part of it: pytest's arguments) in ./.venv, on PySpark `version`."""
    python = ensure_installed()
    folder = ensure_pyspark(version, python)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")])))
    return subprocess.run([python, "-m", "pytest"] + pytest_args, cwd=ROOT, env=env).returncode


def test_databricks_connect(pytest_args):
    """The suite through databricks-connect, against a local OSS Spark Connect server.

    No workspace needed: Spark 4.0.1 (as on DBR 17.3 LTS) serves Spark Connect on loopback,
    its Python workers run Python 3.12 like the client, and the client is databricks-connect.
    One environment serves both: the server runs its Python with PySpark 4.0.1 first on
    PYTHONPATH (ahead of the PySpark inside databricks-connect), the client without it.
    """
    python312 = find_python312()
    client = ensure_installed(os.path.join(ROOT, ".venv-dbconnect"), (".[connect,dev]",), python312)
    pyspark = ensure_pyspark("4.0.1", client)
    port = free_port()
    submit = os.path.join(pyspark, "pyspark", "bin", "spark-submit")
    log_path = os.path.join(ROOT, ".venv-dbconnect", "server.log")
    env = dict(os.environ, PYSPARK_PYTHON=client, PYTHONPATH=pyspark)
    print(f"course: starting a Spark Connect server (Spark 4.0.1) on port {port}", flush=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [submit, "--master", "local[2]", "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
             "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
             "--conf", "spark.ui.enabled=false",
             # databricks-connect 17.3.15's createDataFrame reads these settings, which an OSS
             # 4.0.1 server does not define (SQL_CONF_NOT_FOUND). They size the chunks of local
             # data above spark.sql.session.localRelationCacheThreshold (64 MB), which no test sends.
             "--conf", "spark.sql.session.localRelationChunkSizeRows=10000",
             "--conf", f"spark.sql.session.localRelationChunkSizeBytes={16 * 1024 * 1024}",
             "spark-internal"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )
    try:
        deadline = time.time() + 180
        while "Spark Connect server started" not in open(log_path).read():
            if process.poll() is not None or time.time() > deadline:
                sys.exit(f"course: the Spark Connect server did not start; see {log_path}")
            time.sleep(0.5)
        env = dict(os.environ, WORKSHOP_SPARK_MODE="databricks", SPARK_REMOTE=f"sc://localhost:{port}")
        return subprocess.run([client, "-m", "pytest"] + pytest_args, cwd=ROOT, env=env).returncode
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(args):
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args[0] == "test-databricks-connect":
        return test_databricks_connect(args[1:])
    if args[0] == "test-pyspark":
        if len(args) < 2 or not args[1][:1].isdigit():
            sys.exit("usage: python3 course.py test-pyspark VERSION [pytest arguments], e.g. test-pyspark 4.0.1 -m spark")
        return test_pyspark(args[1], args[2:])
    # `lab` needs JupyterLab, the `lab` extra; everything else the default extras.
    ensure_installed(requirements=(f".[{EXTRAS},lab]" if args[0] == "lab" else f".[{EXTRAS}]",))
    if args[0] == "test":
        command = [venv_python(), "-m", "pytest"] + args[1:]
    else:
        command = [venv_python(), "-m", "workshop.cli"] + args
    started = time.monotonic()
    code = run_to_the_end(command)
    if args[0] in ("test", "run"):
        record_timing(args[0], time.monotonic() - started, code, args[1:])
    return code


def run_to_the_end(command):
    """Run `command` and wait for it, Ctrl-C included: the terminal sends Ctrl-C to the child too,
    which stops its Spark and its servers itself (subprocess.run would kill it mid-way)."""
    process = subprocess.Popen(command, cwd=ROOT)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def record_timing(name, seconds, exit_code, args):
    """Keep the last wall time of `test` and `run` in build/timings.json for `workshop bench`."""
    path = os.path.join(ROOT, "build", "timings.json")
    try:
        with open(path) as source:
            timings = json.load(source)
    except (OSError, ValueError):
        timings = {}
    timings[name] = {"seconds": round(seconds, 1), "exit_code": exit_code, "args": args,
                     "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        json.dump(timings, out, indent=2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
