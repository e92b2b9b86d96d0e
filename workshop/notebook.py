"""What the first cell of every lab calls: Spark, the practice service, the data source."""
import types


def start_lab(**service_settings):
    """Get Spark, start (or reuse) the practice service on this driver, register the source.

    Runs again safely: a second call reuses the running service and session, and after a
    Python restart it starts them anew. Returns a namespace with `spark`, `service`, `url`.
    """
    from solutions import PracticeDataSource
    from workshop.service import ensure_running
    from workshop.spark import get_spark, resolve_mode

    spark = get_spark()
    spark.dataSource.register(PracticeDataSource)
    service = ensure_running(**service_settings)
    print(f"Spark {spark.version} ({resolve_mode()} mode); practice service at {service.url}")
    return types.SimpleNamespace(spark=spark, service=service, url=service.url)
