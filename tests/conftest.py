"""Shared fixtures: one Spark session per test run, one small practice service per run.

The Spark mode comes from WORKSHOP_SPARK_MODE (classic by default; `connect` for a local
Spark Connect server; `databricks` for databricks-connect). Tests that need Spark to reach
the practice service skip, with the reason, when the cluster cannot reach this machine's
loopback and no WORKSHOP_SERVICE_URL is given.
"""
import os
import time
import urllib.parse

import pytest

# Tests choose their Spark mode (classic unless WORKSHOP_SPARK_MODE says otherwise): they never
# attach to a warm Spark that a learner's `workshop lab` happens to run on this machine.
os.environ.setdefault("WORKSHOP_SPARK_MODE", "classic")
# Checks of the reference solutions are not the learner's progress (workshop/progress.py).
os.environ["WORKSHOP_PROGRESS_FILE"] = os.devnull

# Property tests (hypothesis): the small profile by default and in CI; the large one by hand,
# `HYPOTHESIS_PROFILE=large pytest tests/connector/test_properties_*.py` (or `--hypothesis-profile=large`).
# Tests on Spark scale their own example counts down from these (each example is a Spark job).
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings
except ImportError:  # hypothesis is a dev dependency; only the property tests need it
    pass
else:
    # No deadlines or speed health check: on a shared 2-core machine time says nothing about the code.
    untimed = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
    hypothesis_settings.register_profile("small", max_examples=300, **untimed)
    hypothesis_settings.register_profile("large", max_examples=5000, **untimed)
    hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "small"))

# Small data keeps the suite fast; benchmarks use large data.
SERVICE_SETTINGS = dict(seed=7, events=6000, entities=4000, ring_rows=3000, ring_nodes=4, max_window_rows=1500)


def _cluster_reaches_loopback():
    """True when Spark's workers run on this machine (local classic/Connect, local server)."""
    from workshop.spark import resolve_mode

    if resolve_mode() != "databricks" or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return True
    remote = os.environ.get("SPARK_REMOTE", "")
    host = urllib.parse.urlparse(remote.replace("sc://", "http://", 1)).hostname if remote else None
    return host in ("localhost", "127.0.0.1", "::1")


@pytest.fixture
def non_utc_timezone(monkeypatch):
    """Run the test with this process in New York time (UTC-5 in January)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def warm_spark_url():
    """The `sc://` URL of this run's local Spark, which serves Spark Connect to the notebook kernels.

    The run's own session (the `spark` fixture) lives in the same JVM, so the whole run starts
    one JVM: in classic mode the tests use it directly, in connect mode through a client.
    """
    pytest.importorskip("pyspark")
    from workshop.spark import resolve_mode, serve_connect

    if resolve_mode() not in ("classic", "connect"):
        pytest.skip("a warm local Spark serves only local runs (classic or connect mode)")
    return serve_connect("workshop-tests")


@pytest.fixture(scope="session")
def spark(request):
    pytest.importorskip("pyspark")
    from workshop.spark import get_spark, resolve_mode

    if resolve_mode() in ("classic", "connect"):
        request.getfixturevalue("warm_spark_url")  # start the run's Spark with its Connect server
    session = get_spark(app_name="workshop-tests")
    yield session
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        session.stop()


@pytest.fixture(scope="session")
def worker_features(spark):
    """Data source features of the PySpark that runs Python where Spark runs it.

    Under Spark Connect that is the server's PySpark, not this client's: databricks-connect
    17.3 has pushFilters and the Arrow stream writer, an OSS Spark 4.0.1 server has neither.
    Tests that need a feature on Spark skip by this, tests that call the API directly by the client.
    """

    def probe(_):  # defined here so it pickles by value: the server cannot import conftest
        import pyspark.sql.datasource as api

        try:
            from pyspark.sql.streaming.datasource import ReadMaxRows  # noqa: F401  (Spark 4.2+)
            limits = True
        except ImportError:
            limits = False
        found = {
            "pushFilters": hasattr(api.DataSourceReader, "pushFilters"),
            "DataSourceStreamArrowWriter": hasattr(api, "DataSourceStreamArrowWriter"),
            "admissionControl": limits,
        }
        return ",".join(name for name, present in found.items() if present)

    from pyspark.sql.functions import udf

    return set(filter(None, spark.range(1).select(udf(probe)("id")).first()[0].split(",")))


@pytest.fixture(scope="session")
def service():
    """A practice service with small, deterministic data, shared by the whole run."""
    from workshop.service import PracticeService

    with PracticeService(**SERVICE_SETTINGS) as running:
        yield running


@pytest.fixture(scope="session")
def spark_service_url(service):
    """The URL Spark's workers use to reach the practice service."""
    url = os.environ.get("WORKSHOP_SERVICE_URL")
    if url:
        return url
    if not _cluster_reaches_loopback():
        pytest.skip("the cluster cannot reach this machine's practice service; set WORKSHOP_SERVICE_URL")
    return service.url


@pytest.fixture(scope="module")
def pickled_by_value(request):
    """Spark's Python workers cannot import test modules: ship the requesting module's classes by value."""
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(request.module)
    yield
    cloudpickle.unregister_pickle_by_value(request.module)


@pytest.fixture(scope="module")
def own_service(spark_service_url, service):
    """Start a practice service of the test's own: `own_service(seed=..., auth=...)`; each one
    stops after the module. Skips where Spark's workers cannot reach this machine (a remote
    cluster through databricks-connect): only the shared service has a URL they can reach."""
    from workshop.service import PracticeService

    if spark_service_url != service.url:
        pytest.skip("the test starts a practice service of its own here; the cluster cannot reach it")
    started = []

    def start(**settings):
        started.append(PracticeService(**settings).start())
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def checks_service_reachable(own_service):
    """Skip where a lab check's own practice service (on this machine) is out of the cluster's reach."""


def pytest_collection_modifyitems(items):
    # Mark every test that uses Spark, so CI can rerun just those in other modes.
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


# -- where the suite's time goes: seconds per test file, for `workshop bench` and docs/performance.md --

_FILE_SECONDS = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    """Add this run to build/test-durations.json: seconds per test file (setup, call and teardown),
    under the run's arguments, so a partial run does not replace the figures of the whole suite."""
    import json

    if not _FILE_SECONDS:
        return
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "test-durations.json")
    args = " ".join(session.config.invocation_params.args)
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "exit_status": int(exitstatus),
              "mode": os.environ.get("WORKSHOP_SPARK_MODE"), "seconds": round(sum(_FILE_SECONDS.values()), 1),
              "files": {name: round(seconds, 1) for name, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])}}
    try:
        with open(path) as source:
            runs = json.load(source)
    except (OSError, ValueError):
        runs = {}
    runs[args] = record
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            json.dump(runs, out, indent=2)
    except OSError:
        pass  # a read-only checkout (e.g. on a cluster): the figures are optional
