"""One way to get a SparkSession, shared by the tests, the labs and the CLI.

Modes (argument `mode`, or the WORKSHOP_SPARK_MODE environment variable):
- "classic": local Spark in this machine's JVM (`local[2]`), the default;
- "connect": a Spark Connect client, the client path databricks-connect takes. It attaches to
  the course's warm Spark (below) when one runs, else it starts a local Connect server in this
  process's JVM, as `remote("local[2]")` does;
- "databricks": databricks-connect's `DatabricksSession` (configured the usual way:
  a Databricks config profile, DATABRICKS_* variables, or SPARK_REMOTE);
- "auto": inside a Databricks runtime the notebook's session, else the course's warm Spark
  when one runs, else databricks-connect when it is installed, else classic.

The warm Spark. Starting a JVM takes tens of seconds, so one process (`workshop run`,
`workshop lab`, `workshop check`, the test run) starts local Spark once with a Spark Connect
server inside it (`serve_connect`), and the notebook kernels it starts attach to that server in
a second or two. The server lives in the JVM that PySpark starts for this process, which exits
when this process does, however it ends (PySpark's gateway JVM stops when the pipe to its
Python parent closes), so no JVM or port outlives its owner. It listens on 127.0.0.1 only, on a
free port, and asks every client for a random token. Its address reaches the kernels in
WORKSHOP_SPARK_REMOTE, and other processes of this clone (a second terminal) through
build/spark-connect.json, which names the owner and is ignored once the owner is gone.
"""
import atexit
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import warnings

MODES = ("auto", "classic", "connect", "databricks")
MIN_JAVA = 17
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REMOTE_VARIABLE = "WORKSHOP_SPARK_REMOTE"  # sc://localhost:PORT/;token=... of a warm Spark
SERVER_FILE = os.path.join(ROOT, "build", "spark-connect.json")

JAVA_HELP = (
    "Local Spark needs Java {min}+ ({problem}). Install a JDK, for example "
    "`sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu), "
    "`brew install openjdk@17` (macOS) or https://adoptium.net, then set JAVA_HOME "
    "or put `java` on PATH."
)


class SetupError(RuntimeError):
    """The machine lacks something local Spark needs; the message says how to fix it."""


def java_version():
    """(major version, path of the java binary); raises SetupError when Java is unusable."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH"
        raise SetupError(JAVA_HELP.format(min=MIN_JAVA, problem=where))
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise SetupError(JAVA_HELP.format(min=MIN_JAVA, problem=f"cannot read the version of {java}"))
    major = int(match.group(1))
    if major == 1:  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise SetupError(JAVA_HELP.format(min=MIN_JAVA, problem=f"{java} is Java {major}"))
    return major, java


def resolve_mode(mode=None):
    mode = (mode or os.environ.get("WORKSHOP_SPARK_MODE") or "auto").lower()
    if mode not in MODES:
        raise SetupError(f"WORKSHOP_SPARK_MODE={mode!r} is not a mode; use one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    if warm_spark_url():
        return "connect"
    try:
        import databricks.connect  # noqa: F401
        return "databricks"
    except ImportError:
        return "classic"


def _local_conf(builder):
    log_config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")
    java_opts = f"-Dlog4j2.configurationFile=file:{log_config}"
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
    )


def get_spark(mode=None, app_name="workshop", conf=None):
    """A SparkSession for `mode`; `conf` is a dict of extra Spark settings.

    Reuses the active session when one exists, so notebooks and tests share one.
    """
    mode = resolve_mode(mode)
    conf = dict(conf or {})
    if mode == "databricks":
        if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            from pyspark.sql import SparkSession

            return SparkSession.builder.getOrCreate()
        from databricks.connect import DatabricksSession

        return DatabricksSession.builder.getOrCreate()
    if mode == "connect":
        # The Connect client's own builder: pyspark.sql.SparkSession.builder.remote() refuses
        # (SESSION_ALREADY_EXIST, 4.0.1 to 4.3.0) in a process that runs local Spark, as the one
        # serving the warm Spark (serve_connect) does.
        from pyspark.sql.connect.session import SparkSession

        builder = SparkSession.builder.remote(warm_spark_url() or serve_connect(app_name))
        # What builder.remote() also does: pyspark.sql.functions and friends build Connect
        # columns only where this is set (pyspark.sql.utils.is_remote).
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        for key, value in conf.items():  # runtime settings only: the server's JVM is running
            builder = builder.config(key, value)
        with warnings.catch_warnings():
            # Settings of the server's JVM (e.g. a port for a server of its own) cannot change.
            warnings.filterwarnings("ignore", message=".*CANNOT_MODIFY_CONFIG.*")
            return builder.getOrCreate()
    return _classic_session(app_name, conf)


def _classic_session(app_name, conf):
    java_version()
    # Python workers must run the interpreter that runs us, or they import other packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = _local_conf(SparkSession.builder.appName(app_name).master("local[2]"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# -- the warm Spark: a Spark Connect server in this process's JVM -------------------------------

_served_url = None


def serve_connect(app_name="workshop", conf=None):
    """Start local Spark in this process with a Spark Connect server in it; its `sc://` URL.

    Once per process: later calls return the same URL. This process keeps its classic session
    (`get_spark("classic")` returns it). Other processes attach with the URL: pass it to the
    processes this one starts as WORKSHOP_SPARK_REMOTE (`warm_spark_env`); the others find it
    in build/spark-connect.json until this process ends.
    """
    global _served_url
    if _served_url:
        return _served_url
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        raise SetupError("local Spark already runs in this process without a Connect server; "
                         "call serve_connect() before the first get_spark()")
    port, token = _free_port(), secrets.token_urlsafe(24)
    served = {
        # What remote("local[...]") sets up, on a port and with a token of our own, except
        # artifact isolation: with it, every Connect session gets Python workers of its own
        # (its first Python data source read then takes ~10 s instead of ~1 s), and no lab adds
        # session artifacts (jars, files) that other sessions must not see.
        "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
        "spark.sql.artifact.isolation.enabled": "false",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.authenticate.token": token,
        # Tables its clients create (lab 11's pipeline) land in build/, not in the owner's folder.
        "spark.sql.warehouse.dir": os.path.join(ROOT, "build", "spark-warehouse"),
    }
    _classic_session(app_name, {**(conf or {}), **served})
    # The client treats "localhost" without TLS as a local channel that may carry the token.
    _served_url = f"sc://localhost:{port}/;token={token}"
    _write_server_file(_served_url)
    return _served_url


def warm_spark_env(url):
    """Environment variables for a process that should attach to the warm Spark at `url`."""
    return {**os.environ, REMOTE_VARIABLE: url, "WORKSHOP_SPARK_MODE": "connect"}


def warm_spark_url():
    """The URL of a warm Spark to attach to: WORKSHOP_SPARK_REMOTE, else this clone's server file."""
    url = os.environ.get(REMOTE_VARIABLE)
    if url:
        return url
    try:
        with open(SERVER_FILE) as f:
            server = json.load(f)
    except (OSError, ValueError):
        return None
    # Another process's server, whose Python workers run this interpreter (so this code), alive.
    pid = server.get("pid")
    if pid == os.getpid() or server.get("python") != sys.executable or not _alive(pid):
        return None
    return server.get("url") if _port_open(server.get("port")) else None


def shown_url(url):
    """A Spark Connect URL without its token, for messages."""
    return re.sub(r";token=[^;]*", ";token=***", url or "")


def _write_server_file(url):
    os.makedirs(os.path.dirname(SERVER_FILE), exist_ok=True)
    port = int(re.search(r":(\d+)/", url).group(1))
    record = {"url": url, "port": port, "pid": os.getpid(), "python": sys.executable}
    descriptor = os.open(SERVER_FILE + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the token
    with os.fdopen(descriptor, "w") as f:
        json.dump(record, f)
    os.replace(SERVER_FILE + ".tmp", SERVER_FILE)
    atexit.register(_remove_server_file, os.getpid())


def _remove_server_file(pid):
    try:
        with open(SERVER_FILE) as f:
            if json.load(f).get("pid") == pid:
                os.remove(SERVER_FILE)
    except (OSError, ValueError):
        pass


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, TypeError, ValueError):
        return False


def is_connect(spark):
    """True when `spark` is a Spark Connect client session (local Connect or databricks-connect)."""
    return "connect" in type(spark).__module__


def spark_version(spark):
    """Spark's version as a tuple of ints, e.g. (4, 0, 1)."""
    return tuple(int(part) for part in re.findall(r"\d+", spark.version)[:3])
