"""One way to get a SparkSession, shared by the tests, the labs and the CLI.

Modes (argument `mode`, or the WORKSHOP_SPARK_MODE environment variable):
- "classic": local Spark in this machine's JVM (`local[2]`), the default;
- "connect": a local Spark Connect server (`remote("local[2]")`), the client path
  databricks-connect takes;
- "databricks": databricks-connect's `DatabricksSession` (configured the usual way:
  a Databricks config profile, DATABRICKS_* variables, or SPARK_REMOTE);
- "auto": inside a Databricks runtime the notebook's session, else databricks-connect
  when it is installed, else classic.
"""
import os
import re
import shutil
import subprocess
import sys
import warnings

MODES = ("auto", "classic", "connect", "databricks")
MIN_JAVA = 17

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
    # Python workers must run the interpreter that runs us, or they import other packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = dict(conf or {})
    if mode == "databricks":
        if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            from pyspark.sql import SparkSession

            return SparkSession.builder.getOrCreate()
        from databricks.connect import DatabricksSession

        return DatabricksSession.builder.getOrCreate()

    java_version()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if mode == "connect":
        builder = builder.remote("local[2]")
    else:
        builder = builder.master("local[2]")
    builder = _local_conf(builder)
    for key, value in conf.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # Connect re-sends JVM options to the started server, which cannot change them.
        warnings.filterwarnings("ignore", message=".*CANNOT_MODIFY_CONFIG.*")
        spark = builder.getOrCreate()
    if mode == "classic":
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def is_connect(spark):
    """True when `spark` is a Spark Connect client session (local Connect or databricks-connect)."""
    return "connect" in type(spark).__module__


def spark_version(spark):
    """Spark's version as a tuple of ints, e.g. (4, 0, 1)."""
    return tuple(int(part) for part in re.findall(r"\d+", spark.version)[:3])
