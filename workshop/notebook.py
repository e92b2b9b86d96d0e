"""What the first cell of every lab calls: Spark, the practice service, the data source.

    from workshop.notebook import start_lab; lab = start_lab("03"); spark = lab.spark

`start_lab` prints where the lab runs (local Spark, a warm Spark, a Databricks runtime) and
which of the lab's Spark-version branches apply there, and returns `lab`: `lab.spark`,
`lab.service` (the practice service on this driver), `lab.url`, `lab.hint(name)`, which
prints the next hint for one of the lab's tasks, and `lab.progress()`, which shows which labs pass.
"""
import glob
import importlib
import importlib.util
import os
import types

# What differs between the Spark versions the labs run on, detected, never assumed from a
# version number: (what it is, present here?, the version it came with, the labs it matters to).
FEATURES = (
    ("filter pushdown (pushFilters)", lambda api: hasattr(api.DataSourceReader, "pushFilters"), "4.1", ("03", "10")),
    ("read limits and Trigger.AvailableNow in batches", lambda api: _has_read_limits(), "4.2", ("06", "07")),
    ("the streaming Arrow writer", lambda api: hasattr(api, "DataSourceStreamArrowWriter"), "4.1", ("05", "07")),
    ("declarative pipelines (pyspark.pipelines)", lambda api: _importable("pyspark.pipelines"), "4.1", ("11",)),
    ("Python worker logs (python_worker_logs)", lambda api: _has_worker_logs(), "4.1", ("10",)),
    ("one partition without partitions() is read(InputPartition(None)), not read(None)",
     lambda api: one_partition_is_input_partition(), "4.2", ("01", "03")),
)


def _has_worker_logs():
    return hasattr(importlib.import_module("pyspark.sql.tvf").TableValuedFunction, "python_worker_logs")


def one_partition_is_input_partition():
    """True when Spark reads a source that plans no partitions (no partitions(), or []) with
    read(InputPartition(None)); False when with read(None).

    No API says which: Spark's planner decides (pyspark/sql/worker/plan_data_source_read.py:
    `[None]` on 4.0 and 4.1, `[InputPartition(None)]` from 4.2), so its source is read.
    """
    spec = importlib.util.find_spec("pyspark.sql.worker.plan_data_source_read")
    try:
        with open(spec.origin, encoding="utf-8") as planner:
            return "InputPartition(None)" in planner.read()
    except (AttributeError, OSError, TypeError):  # no source file here: go by the version
        import pyspark

        return tuple(int(part) for part in pyspark.__version__.split(".")[:2]) >= (4, 2)


def _has_read_limits():
    return _importable("pyspark.sql.streaming.datasource") and hasattr(
        importlib.import_module("pyspark.sql.streaming.datasource"), "ReadMaxRows")


def _importable(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def version_branches(lab):
    """Lines saying which Spark-version branches of lab `lab` apply to this runtime's PySpark."""
    import pyspark.sql.datasource as api

    lines = []
    for what, present, since, labs in FEATURES:
        if lab in labs:
            lines.append(f"  {what}: {'yes' if present(api) else 'no'} (PySpark {since}+)")
    return lines


def installed_wheel_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spark-python-datasource-course")
    except PackageNotFoundError:
        return None


def install_course_wheel():
    """On a Databricks cluster, where the kit is the installed wheel: install the deployed one if it is newer.

    Spark's Python workers import the connector (`solutions`) by name. A lab in the course folder
    has that folder on sys.path, which Databricks Runtime 13.3+ hands to the executors too, so it
    needs no wheel. A copy of the labs elsewhere uses the installed wheel (labs/workshop installs
    it when it is missing); after a redeploy a newer one waits in WORKSHOP_ARTIFACT_PATH. `%pip`
    does not restart Python on DBR 13+, and a wheel installed over a loaded one only takes effect
    after a restart, so the newer wheel is installed and Python restarted
    (`dbutils.library.restartPython()`): run the cell again then. Returns the wheel installed, or
    None (local runs, the kit from a course folder, no wheel deployed, or the installed one is current).
    """
    import workshop

    artifacts = os.environ.get("WORKSHOP_ARTIFACT_PATH")
    in_course_folder = os.path.exists(os.path.join(os.path.dirname(os.path.dirname(workshop.__file__)), "databricks.yml"))
    if not (os.environ.get("DATABRICKS_RUNTIME_VERSION") and artifacts) or in_course_folder:
        return None
    wheels = glob.glob(os.path.join(artifacts, ".internal", "*.whl"))
    if not wheels:
        raise RuntimeError(f"no course wheel under {artifacts}/.internal: the instructor runs `databricks bundle deploy` "
                           "(it builds and uploads the wheel), then run this cell again")
    wheel = max(wheels, key=os.path.getmtime)
    deployed = os.path.basename(wheel).split("-")[1]  # name-version-python-abi-platform.whl
    if deployed == installed_wheel_version():
        return None
    from IPython import get_ipython

    shell = get_ipython()
    print(f"installing the course wheel {deployed} (installed: {installed_wheel_version() or 'none'}) ...", flush=True)
    shell.run_line_magic("pip", f"install --quiet {wheel}")
    print("Python restarts now so the new wheel is used: run this cell again.", flush=True)
    shell.user_ns["dbutils"].library.restartPython()
    return wheel


def where_spark_runs(spark):
    from workshop.spark import resolve_mode, shown_url, warm_spark_url

    runtime = os.environ.get("DATABRICKS_RUNTIME_VERSION")
    if runtime:
        return f"Databricks Runtime {runtime}, Spark {spark.version}"
    mode = resolve_mode()
    if mode == "connect":
        return f"Spark {spark.version}, attached to the warm Spark at {shown_url(warm_spark_url())}"
    return f"Spark {spark.version}, {mode} mode"


def start_lab(lab=None, **service_settings):
    """Get Spark, start (or reuse) the practice service on this driver, register the source.

    `lab` is the lab's number ("03"): the setup cell passes it, so that `lab.hint` and the
    version branches know which lab this is. Runs again safely: a second call reuses the running
    service and session, and after a Python restart it starts them anew.
    """
    install_course_wheel()
    from solutions import PracticeDataSource
    from workshop.service import ensure_running
    from workshop.spark import get_spark

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)
    service = ensure_running(**service_settings)
    print(f"{where_spark_runs(spark)}; practice service at {service.url}")
    branches = version_branches(lab) if lab else []
    if branches:
        print("What this lab's version branches find here:\n" + "\n".join(branches))
    return types.SimpleNamespace(spark=spark, service=service, url=service.url, number=lab,
                                 hint=lambda name: hint(lab, name), progress=show_progress)


def show_progress():
    """Print which labs pass: the last check of each (workshop/progress.py)."""
    from workshop import progress

    print(progress.overview())


# -- hints: on demand, in steps ------------------------------------------------------------------

_given = {}  # (lab, task) -> how many hints were printed


def hint(lab, name):
    """Print the next hint for task `name` of lab `lab`: the idea, then the pitfall, then a near-solution.

    The hints live beside the lab's check, in `workshop.checks.labNN.HINTS`; the full answer is
    in the lab's solution notebook.
    """
    from workshop.checks import hints_of

    steps = hints_of(lab)
    if name not in steps:
        raise KeyError(f"lab {lab} has no hints for {name!r}; it has hints for: {', '.join(steps) or 'nothing'}")
    count = _given[lab, name] = min(_given.get((lab, name), 0) + 1, len(steps[name]))
    more = "" if count == len(steps[name]) else f" (again for hint {count + 1})"
    print(f"hint {count} of {len(steps[name])} for {name}{more}:\n{steps[name][count - 1]}")

