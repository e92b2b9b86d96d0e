"""What the first cell of every lab calls: Spark, the practice service, the data source."""
import glob
import os
import types


def install_course_wheel():
    """On a Databricks lab cluster, install the deployed course wheel notebook-scoped.

    Spark's Python workers import the connector (`solutions`) by name, so it must be
    installed, not just on the driver's sys.path. A notebook-scoped `%pip install` reaches
    the executors too. Returns the wheel installed, or None (local runs, or no wheel).
    """
    artifacts = os.environ.get("WORKSHOP_ARTIFACT_PATH")
    if not (os.environ.get("DATABRICKS_RUNTIME_VERSION") and artifacts):
        return None
    wheels = glob.glob(os.path.join(artifacts, ".internal", "*.whl"))
    if not wheels:
        print(f"no course wheel under {artifacts}/.internal: run `databricks bundle deploy` first")
        return None
    wheel = max(wheels, key=os.path.getmtime)
    from IPython import get_ipython

    get_ipython().run_line_magic("pip", f"install --quiet {wheel}")
    return wheel


def start_lab(**service_settings):
    """Get Spark, start (or reuse) the practice service on this driver, register the source.

    Runs again safely: a second call reuses the running service and session, and after a
    Python restart it starts them anew. Returns a namespace with `spark`, `service`, `url`.
    """
    install_course_wheel()
    from solutions import PracticeDataSource
    from workshop.service import ensure_running
    from workshop.spark import get_spark, resolve_mode

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)
    service = ensure_running(**service_settings)
    print(f"Spark {spark.version} ({resolve_mode()} mode); practice service at {service.url}")
    return types.SimpleNamespace(spark=spark, service=service, url=service.url)
