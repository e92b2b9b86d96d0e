# Lab 11 source: testing and shipping: unit, integration and performance tests, the wheel, a job, a declarative pipeline. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 11 · Testing and shipping: tests that can fail, a wheel, a job and a declarative pipeline
#
# **Goal:** test the connector at the right level (pure functions alone, the whole connector on
# real Spark against the real service, performance as printed figures), write tests that fail
# when the code is wrong, then ship it: the wheel, a job that uses it, and a declarative pipeline
# that reads the practice service into materialized views.
#
# **Time:** 60 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Three kinds of tests, and the wheel shipped to a job and a pipeline](images/11_testing_and_shipping.svg)
#
# **Unit tests** cover pure functions: partition planning, option parsing, type conversion.
# Values in, values out: they run in milliseconds, so they can try many cases (boundaries, empty
# input, random bounds). **Integration tests** run the connector the way users do:
# `spark.read.format(...)` on a real SparkSession against the real practice service, and compare
# what comes back with ground truth (counts *and* checksums). Never mock `requests` around a
# Spark read or write: `read` and `write` run in Spark's Python workers, other processes that
# never see a mock patched in the test's process, so such a test proves nothing. **Performance**
# is measured by benchmarks that print figures (the course's own: `workshop bench` in a local
# shell), never by timed asserts, which
# fail at random on a busy machine and pass on a slow connector on a fast one.
#
# The course's own suite follows this split: `tests/connector/test_partitioning.py` and
# `tests/connector/test_options.py` are unit tests; `tests/connector/test_reader.py`, `tests/connector/test_pushdown.py`
# and `tests/connector/test_bad_input.py` run on Spark against the service; `tests/conftest.py` gives one
# SparkSession and one practice service per run.
#
# **A test is only worth something if it fails when the code is wrong.** The check runs your
# tests against the reference (they must pass) and against broken versions (they must fail).

# %% [markdown]
# ## Your task 1: a unit test for partition planning
#
# `test_plan_id_ranges(plan_id_ranges)` takes the function under test (the check passes the
# reference and broken versions; pytest would import it). `plan_id_ranges(id_gte, id_lt,
# num_partitions)` must return `IdRangePartition(index, id_gte, id_lt)`s that cover every id of
# `[id_gte, id_lt)` exactly once, whose bounds chain (each `id_lt` is the next `id_gte`), at most
# `num_partitions` of them and more than one when there is room, numbered 0, 1, 2, ...; and
# `[EmptyPartition()]`, never `[]`, when there is nothing to read. Try several bounds, including
# ranges that do not divide evenly. Fail with `assert` (and a message that says what is wrong).
# Stuck? `lab.hint("test_plan_id_ranges")` prints the next of three hints each time you run it.

# %%
from solutions.partitioning import EmptyPartition, IdRangePartition


def test_plan_id_ranges(plan_id_ranges):
    # BEGIN SOLUTION: assert what every plan must be, for several bounds and for nothing to read
    for id_gte, id_lt, parts in [(0, 10, 3), (5, 6, 4), (-7, 100, 8), (0, 1000, 7), (3, 20, 1)]:
        plan = plan_id_ranges(id_gte, id_lt, parts)
        assert 1 <= len(plan) <= parts, f"{len(plan)} ranges for numPartitions={parts}"
        if id_lt - id_gte >= 2 and parts >= 2:
            assert len(plan) >= 2, f"[{id_gte}, {id_lt}) with numPartitions={parts} planned one range"
        ids = [i for partition in plan for i in range(partition.id_gte, partition.id_lt)]
        assert ids == list(range(id_gte, id_lt)), f"[{id_gte}, {id_lt}) in {parts}: not every id exactly once: {plan}"
        assert all(a.id_lt == b.id_gte for a, b in zip(plan, plan[1:])), f"bounds do not chain: {plan}"
        assert [p.index for p in plan] == list(range(len(plan))), f"indexes are not 0..n-1: {plan}"
    for id_gte, id_lt in [(5, 5), (9, 2), (None, 10), (0, None)]:
        plan = plan_id_ranges(id_gte, id_lt, 3)
        assert plan == [EmptyPartition()], f"nothing to read in [{id_gte}, {id_lt}) planned {plan}"
    # END SOLUTION


# %%
from solutions.partitioning import plan_id_ranges

test_plan_id_ranges(plan_id_ranges)
print("the unit test passes on the reference")

# %% [markdown]
# ## Your task 2: an integration test on Spark
#
# `test_read_entities(spark, source, url, service)` reads the entities with
# `spark.read.format(source)` (the check passes `"practice"` and then broken data sources
# registered under other names), option `url`, `resource=entities` and a few partitions, and
# compares the rows with `service.truth`: the same number as `service.truth.count("entities")`
# and the same checksum, `checksum(to_json_record(row) for row in rows) ==
# service.truth.checksum("entities")`. Counting alone misses a wrong value. Hints:
# `lab.hint("test_read_entities")`.

# %%
from workshop.truth import checksum, to_json_record


def test_read_entities(spark, source, url, service):
    # BEGIN SOLUTION: read the entities from source in a few partitions; compare with service.truth
    frame = (
        spark.read.format(source).option("url", url).option("resource", "entities").option("numPartitions", 4)
        .option("logLevel", "WARNING").load()
    )
    rows = frame.collect()
    expected = service.truth.count("entities")
    assert len(rows) == expected, f"{len(rows)} rows read, the service has {expected}"
    got = checksum(to_json_record(row) for row in rows)
    assert got == service.truth.checksum("entities"), "the rows read differ from the service's"
    # END SOLUTION


# %%
test_read_entities(spark, "practice", lab.url, lab.service)
print("the integration test passes with the reference data source")

# %% [markdown]
# ## Performance: a benchmark prints, people compare
#
# A benchmark runs the same work under several settings and prints figures. It asserts nothing:
# how fast is fast enough depends on the machine, and a timed assert turns a busy CI runner into
# a red build. The course's `workshop bench` (a command for a local shell) does this at scale, and
# `docs/performance.md` reads its table; here, page sizes on one minute of events:

# %%
import time


def benchmark_page_sizes(page_sizes=(100, 1000, 10000)):
    """Rows per second of a full read per pageSize; prints, returns the figures, asserts nothing."""
    figures = {}
    for page_size in page_sizes:
        frame = (
            spark.read.format("practice").option("url", lab.url).option("start", "2026-01-01T00:00:00Z")
            .option("end", "2026-01-01T00:01:00Z").option("pageSize", page_size).option("logLevel", "WARNING").load()
        )
        started = time.perf_counter()
        frame.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - started
        figures[page_size] = seconds
        print(f"pageSize={page_size:>6}: {seconds:.2f} s")
    return figures


figures = benchmark_page_sizes()

# %% [markdown]
# ## Shipping 1: the wheel
#
# Spark's Python workers import the connector by name, so it must be installed where they run, not
# just be on the driver's `sys.path`. `pyproject.toml` builds one wheel with `workshop/` (the kit)
# and `solutions/` (the connector); `databricks.yml` builds it on deploy (`uv build --wheel`),
# jobs install it as a task library (`whl: ../dist/*.whl`), and the labs install it
# notebook-scoped with `%pip` (`install_course_wheel` in `workshop/notebook.py`), which reaches
# the executors too. `docs/instructor_guide.md` explains both, and the alternative
# (`cloudpickle.register_pickle_by_value`) and why the course does not use it. Build it here and
# look inside (locally; on Databricks the deploy built it):

# %%
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from workshop.labs import ROOT as root  # the course folder (or, from a wheel, where the kit is installed)

if os.environ.get("DATABRICKS_RUNTIME_VERSION") or not os.path.exists(os.path.join(root, "pyproject.toml")):
    built = sorted(glob.glob(os.path.join(os.environ.get("WORKSHOP_ARTIFACT_PATH", "/nonexistent"), ".internal", "*.whl")))
    print("on Databricks the bundle built the wheel on deploy:", built[-1] if built else "(not found: deploy first)")
else:
    out = tempfile.mkdtemp(prefix="lab11-wheel-")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, root], check=True)
    (wheel,) = glob.glob(os.path.join(out, "*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    print(os.path.basename(wheel), f"({len(names)} files)")
    for package in ("solutions/", "workshop/", "workshop/service/", "workshop/checks/"):
        print(f"  {package:<20} {sum(1 for n in names if n.startswith(package) and n.count('/') == package.count('/'))} files")
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    print(zipfile.ZipFile(wheel).read(entry_points).decode().strip())

# %% [markdown]
# ## Shipping 1b: a package that registers itself
#
# Every lab so far called `spark.dataSource.register(PracticeDataSource)`. Apache Spark 4.0 and
# later (4.0.1 to 4.3.0 alike: `pyspark/sql/worker/lookup_data_sources.py`) can do it for you:
# at the first Python data source call of its JVM, Spark starts a Python worker that imports
# every top-level module named `pyspark_*` it finds on the Python path, and registers each
# module's `DefaultSource` (a `DataSource` subclass) under `DefaultSource.name()`. A connector
# that ships such a module, say `pyspark_practice.py` with
# `from solutions.datasource import PracticeDataSource as DefaultSource`, works with
# `spark.read.format("practice")` and no register call. Two things to know:
#
# - The lookup runs once per JVM. A package installed after the first Python data source call
#   (a `%pip install` in a notebook whose cluster already read one) is not found until Spark
#   restarts: register it yourself then.
# - The module is imported in a worker where `spark` does not exist: only module-level code that
#   defines the class, no session and no I/O.
#
# This course's wheel does not ship such a module: every lab registers explicitly, which works
# wherever the session is, and shows in the lab which class reads. On Databricks,
# where the runtime's Spark and its Python environments differ from Apache Spark's, this lab has
# not verified the lookup: register explicitly there. Locally, the cell below writes a
# `pyspark_lab11_demo` module into a temporary folder and reads with it in a fresh Spark (a new
# JVM, about 20 s), without registering anything:

# %%
SELF_REGISTERING = """
from solutions.datasource import PracticeDataSource


class DefaultSource(PracticeDataSource):
    short_name = "practice_self_registered"  # the name Spark registers it under: DefaultSource.name()
"""

FRESH_SPARK = """
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
reader = spark.read.format("practice_self_registered").option("url", sys.argv[1])
events = reader.option("start", sys.argv[2]).option("end", sys.argv[3]).load()
print(events.count(), "events read, nothing registered")
spark.stop()
"""

if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
    print("on Databricks: register the data source explicitly (this lab has not verified the lookup there)")
else:
    package_dir = tempfile.mkdtemp(prefix="lab11-package-")
    with open(os.path.join(package_dir, "pyspark_lab11_demo.py"), "w") as f:
        f.write(SELF_REGISTERING)
    attached = ("WORKSHOP_SPARK_REMOTE", "WORKSHOP_SPARK_MODE", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")
    fresh_env = {name: value for name, value in os.environ.items() if name not in attached}  # a Spark of its own
    fresh_env.update(PYSPARK_PYTHON=sys.executable,
                     PYTHONPATH=os.pathsep.join([package_dir, root, os.environ.get("PYTHONPATH", "")]))
    demo_window = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z")
    demo = subprocess.run([sys.executable, "-c", FRESH_SPARK, lab.url, *demo_window], env=fresh_env,
                          capture_output=True, text=True, timeout=300)
    print(demo.stdout.strip() or demo.stderr[-2000:])
    print("the service has", lab.service.truth.count("events", start=demo_window[0], end=demo_window[1]), "in the window")

# %% [markdown]
# ## Shipping 2: the connector in a job
#
# A job is code with an entry point, parameters and an exit code. The bundle's
# `resources/solution_tests.job.yml` runs a Python file (`spark_python_task`) with the wheel as
# a task library, on a single-node job cluster with the same settings as the lab cluster:

# %%
job_file = os.path.join(root, "resources", "solution_tests.job.yml")
if os.path.exists(job_file):
    with open(job_file) as f:
        print("".join(line for line in f if not line.lstrip().startswith("#")))
else:
    print("resources/solution_tests.job.yml is in the deployed bundle folder")

# %% [markdown]
# A job-style entry point for the connector: parse arguments, get the session, register the data
# source, read, write, **verify**, and return a non-zero code when something is wrong, so the
# job run fails (see `tests/run_on_cluster.py`, and `tests/streaming_job.py` for a streaming
# one). As a file (say `jobs/events_to_table.py`) it would end with
# `if __name__ == "__main__": sys.exit(main())`, and its resource would be:
#
# ```yaml
# resources:
#   jobs:
#     events_to_table:
#       name: ${bundle.name} events to table
#       tasks:
#         - task_key: copy
#           job_cluster_key: single_node      # as in solution_tests.job.yml
#           spark_python_task:
#             python_file: ../jobs/events_to_table.py
#             parameters: [--url, "{{job.parameters.url}}", --table, events_copy]
#           libraries:
#             - whl: ../dist/*.whl
# ```
#
# Here it runs in this process, with this notebook's session:

# %%
import argparse

import requests


def main(argv=None):
    """Copy a window of events from the practice service into one of its tables; 0 when verified."""
    parser = argparse.ArgumentParser(description="events -> table")
    parser.add_argument("--url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--start", default="2026-01-01T00:00:00Z")
    parser.add_argument("--end", default="2026-01-01T00:01:00Z")
    args = parser.parse_args(argv)

    from solutions.datasource import PracticeDataSource
    from workshop.spark import get_spark

    session = get_spark(app_name="events-to-table")
    session.dataSource.register(PracticeDataSource)
    events = (
        session.read.format("practice").option("url", args.url).option("start", args.start).option("end", args.end)
        .option("logLevel", "WARNING").load()
    )
    read = events.count()
    events.write.format("practice").option("url", args.url).option("table", args.table).option("logLevel", "WARNING").mode(
        "overwrite"
    ).save()
    stored = requests.get(f"{args.url}/v1/tables/{args.table}", timeout=30).json()["count"]
    print(f"read {read} events, the table holds {stored} rows")
    return 0 if stored == read else 1


print("exit code:", main(["--url", lab.url, "--table", "lab11_job"]))

# %% [markdown]
# ## Shipping 3: the connector in a declarative pipeline
#
# In a declarative pipeline you say *what* each dataset is, and the runtime works out the order,
# runs it and keeps the results. `pipelines/practice_events.py` defines two materialized views
# with `from pyspark import pipelines as dp`:
#
# - `practice_events`: `read_events(spark, url, start, end)`, the `practice` data source;
# - `practice_event_counts`: `count_by_kind(spark.read.table("practice_events"))`.
#
# The runtime imports the file with a session named `spark`; the file registers the data source
# in that session first (a Python data source is registered per session) and takes the service
# URL and the window from the pipeline's **configuration** (`spark.conf.get("practice.url")`),
# never hard-coded. Where it runs:
#
# - **Apache Spark 4.1+**: Spark Declarative Pipelines, `spark-pipelines run --spec
#   pipelines/spark-pipeline.yml` (the spec names the source files, the configuration and a
#   storage folder); tables land in the local `spark-warehouse`.
# - **Databricks**: the same file is the source of a Lakeflow Spark Declarative Pipeline (a
#   `pipelines` resource of the bundle, with the wheel as a dependency and `practice.url` in its
#   `configuration`). The decorators return `None` when they register a function, so the queries
#   are plain functions the tests can call.
# - **PySpark 4.0** has no `pyspark.pipelines`: the cells below say so and skip the run (the
#   setup cell above says whether yours has it: "declarative pipelines").
#
# Your task 3: the two query functions. `read_events` returns the events exactly as the data
# source reads them (start and end only when given; no filtering, no dropping of rows with
# nulls); `count_by_kind(events)` returns one row per kind with `events` (the count) and
# `amount` (the sum). Hints: `lab.hint("read_events")`, `lab.hint("count_by_kind")`.

# %%
# %include pipelines.practice_events:read_events


# %include pipelines.practice_events:count_by_kind


# %%
window = ("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z")
count_by_kind(read_events(spark, lab.url, *window)).orderBy("kind").show()
print("the service has", lab.service.truth.count("events", start=window[0], end=window[1]), "events in the window")

# %% [markdown]
# The pipeline for real, with `spark-pipelines` (PySpark 4.1+, locally). The lab copies
# `pipelines/practice_events.py` into a temporary folder beside a spec with this lab's service
# URL, runs it, and reads the views it wrote. When this kernel is attached to a warm Spark
# (`workshop lab`, `workshop run`: WORKSHOP_SPARK_REMOTE), the pipeline runs on it too
# (`spark-pipelines run --remote ...`) and its views are tables this session can read, in a
# database of the run's own; otherwise
# `spark-pipelines` starts a Spark of its own, which takes about a minute, and the views are
# read from the parquet files it left in the folder.
# (PySpark 4.3's `spark-pipelines` may exit with `UNKNOWN_RESPONSE ... __python_accumulator__`
# *after* `Run is COMPLETED`: its client does not expect the metrics a Python data source sends
# back. The run itself is complete; the cell judges by the run's own words and by the tables.)

# %%
import json
import shutil


def pipelines_available():
    """None when spark-pipelines can run here, else why not."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "on Databricks the file runs as a Lakeflow pipeline (deploy its bundle resource), not with the spark-pipelines CLI"
    try:
        import pyspark.pipelines  # noqa: F401
    except ImportError:
        import pyspark

        return f"PySpark {pyspark.__version__} has no pyspark.pipelines (Spark Declarative Pipelines need PySpark 4.1+)"
    if not os.path.exists(os.path.join(root, "pipelines", "practice_events.py")):
        return "pipelines/practice_events.py is not next to this notebook"
    if not (shutil.which("spark-pipelines", path=os.path.dirname(sys.executable)) or shutil.which("spark-pipelines")):
        return "the spark-pipelines command is not installed with this PySpark"
    return None


def run_pipeline(url, start, end, database=None, timeout=300):
    """Run pipelines/practice_events.py with spark-pipelines in a temporary folder; (folder, completed, lines)."""
    cli = shutil.which("spark-pipelines", path=os.path.dirname(sys.executable)) or shutil.which("spark-pipelines")
    folder = tempfile.mkdtemp(prefix="lab11-pipeline-")
    shutil.copy(os.path.join(root, "pipelines", "practice_events.py"), folder)
    spec = {
        "name": "practice_events",
        "storage": "file://" + os.path.join(folder, "storage"),
        "configuration": {"practice.url": url, "practice.start": start, "practice.end": end},
        "libraries": [{"glob": {"include": "practice_events.py"}}],
    }
    if database:
        spec["database"] = database  # where the views land (default: `default`)
    with open(os.path.join(folder, "spark-pipeline.yml"), "w") as f:
        json.dump(spec, f, indent=2)  # JSON is YAML
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    remote = ["--remote", os.environ["WORKSHOP_SPARK_REMOTE"]] if os.environ.get("WORKSHOP_SPARK_REMOTE") else []
    run = subprocess.run([cli, "run", "--spec", "spark-pipeline.yml"] + remote, cwd=folder, env=env,
                         capture_output=True, text=True, timeout=timeout)
    output = (run.stdout + run.stderr).splitlines()
    lines = [line for line in output if ("Flow " in line and line[:4].isdigit()) or "Run is" in line]
    completed = any("Run is COMPLETED" in line for line in output)
    if not completed:
        lines += output[-15:]
    return folder, completed, lines


why_not = pipelines_available()
if why_not:
    print("skipped:", why_not)
else:
    started = time.perf_counter()
    database = None
    if os.environ.get("WORKSHOP_SPARK_REMOTE"):
        # The warm Spark keeps its catalog in memory and its tables' files on disk: a database of this
        # run's own, so the folders of an earlier day's run (whose tables it forgot) are not in the way.
        database = f"lab11_{os.getpid()}_{int(time.time())}"
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    folder, completed, lines = run_pipeline(lab.url, *window, database=database)
    print("\n".join(lines))
    print(f"pipeline run {'completed' if completed else 'FAILED'} in {time.perf_counter() - started:.0f} s")
    if not completed:
        raise RuntimeError("the pipeline run did not complete: its last lines are printed above")
    if completed and os.environ.get("WORKSHOP_SPARK_REMOTE"):  # tables of the Spark this session shares
        print(spark.read.table(f"{database}.practice_events").count(), "rows in the materialized view practice_events")
        spark.read.table(f"{database}.practice_event_counts").orderBy("kind").show()
    elif completed:  # parquet files of a Spark that has stopped
        warehouse = os.path.join(folder, "spark-warehouse")
        print(spark.read.parquet(os.path.join(warehouse, "practice_events")).count(), "rows in the materialized view practice_events")
        spark.read.parquet(os.path.join(warehouse, "practice_event_counts")).orderBy("kind").show()

# %% [markdown]
# The bundle resource for Databricks (not deployed by this course; an instructor can add it as
# `resources/practice_events.pipeline.yml`). Give `practice.url` a service URL that the pipeline's
# compute can reach.
#
# ```yaml
# resources:
#   pipelines:
#     practice_events:
#       name: ${bundle.name} practice events
#       catalog: main                # a catalog and schema where the pipeline may create tables
#       schema: ${workspace.current_user.short_name}
#       serverless: true
#       environment:
#         dependencies:
#           - ../dist/*.whl            # the connector, on the driver and the executors
#       libraries:
#         - file:
#             path: ../pipelines/practice_events.py
#       configuration:
#         practice.url: https://practice.example.com
#         practice.start: "2026-01-01T00:00:00Z"
#         practice.end: "2026-01-01T00:10:00Z"
# ```

# %% [markdown]
# **What a serverless pipeline needs to reach the service.** With `serverless: true` the pipeline
# runs in Databricks' serverless compute plane, not on the lab cluster: the practice service this
# lab started listens on the lab cluster's driver, for that cluster only. The service must be one
# that serverless compute can reach, and the Databricks documentation ("Serverless compute plane
# networking", "Connect to public on-premises endpoints using outbound IP addresses") names the
# ways:
#
# - **A public endpoint** (`https://...`): serverless compute reaches it from the outbound IP
#   ranges Databricks publishes (`ip-ranges.json`, filtered by cloud and region; Public Preview
#   when this was written); allow those on the service's firewall.
# - **Egress control**: where the account's network policy restricts serverless egress
#   (`RESTRICTED_ACCESS`), an account admin adds the service's DNS name to the policy's allowed
#   internet destinations.
# - **A private endpoint** in your own cloud network: an account admin creates a network
#   connectivity configuration (NCC), adds a private endpoint to the service, and attaches the NCC
#   to the workspace.
#
# Databricks charges for the networking of serverless workloads that connect to your resources.

# %% [markdown]
# ## Check
#
# The check runs your unit test on the reference `plan_id_ranges` and on seven broken ones
# (overlaps, gaps, lost ids, one range too many, one range only, numbered from 1, `[]` for
# nothing), and your integration test on Spark with the reference data source and with two broken
# ones (a lost partition, a lost column); a test must pass on the first and fail on every other.
# Then it runs your `read_events` (a window, a start alone, an end alone) and `count_by_kind` on
# Spark against a small practice service of its own and compares them with its ground truth.

# %%
from workshop.checks import check_lab

check_lab(
    "11", test_plan_id_ranges=test_plan_id_ranges, test_read_entities=test_read_entities, read_events=read_events,
    count_by_kind=count_by_kind,
)

# %% [markdown]
# ## Stretch
#
# - Turn your two tests into a pytest file: `plan_id_ranges` imported from `solutions.partitioning`,
#   `spark` and `service` from fixtures like those in `tests/conftest.py`. Run it with
#   `pytest -q`, then on a cluster with `databricks bundle run solution_tests`.
# - Make the unit test property-based: random bounds and partition counts (the course's
#   `tests/connector/test_partitioning.py` does it with `random.Random(seed)`).
# - Run the integration test in Spark Connect mode (`WORKSHOP_SPARK_MODE=connect`): why must a
#   test that should also run there never use `df.rdd` or the SparkContext?
# - Add a streaming table to the pipeline: `@dp.table` over `spark.readStream.format("practice")`
#   with `startingOffsets=earliest`. What does the pipeline keep between runs (look in `storage`)?
#
# ## Recap
#
# - Unit tests for pure functions, integration tests on real Spark against the real service,
#   benchmarks that print figures. No mocks across Spark's Python workers, no timed asserts.
# - A test counts only if it fails on broken code: compare with ground truth (counts and
#   checksums), not with "it ran".
# - Ship one wheel with the connector; jobs take it as a library, notebooks `%pip install` it.
# - A job is an entry point with arguments that verifies its work and fails with a non-zero code.
# - A declarative pipeline registers the data source in its session, takes settings from its
#   configuration, and keeps queries in plain functions you can test: `spark-pipelines` on Spark
#   4.1+, Lakeflow declarative pipelines on Databricks.
