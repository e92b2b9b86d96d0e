"""A declarative pipeline over the practice service: its events in two materialized views.

Spark Declarative Pipelines (PySpark 4.1+: `spark-pipelines run --spec pipelines/spark-pipeline.yml`)
and Lakeflow Spark Declarative Pipelines on Databricks both run this file the same way: they
import it with a SparkSession named `spark` in its globals, and every function decorated with
`@dp.materialized_view` becomes a dataset. The decorators register the functions (and return
None), so the queries live in plain functions, `read_events` and `count_by_kind`, which lab 11
and its check call on any Spark session.

The pipeline's configuration (Spark settings of its session) says where the service is and
what to read: `practice.url` (required), `practice.start` and `practice.end` (optional,
ISO-8601, an event-time window [start, end)). The `practice` data source comes from the course
wheel (`solutions`), which must be installed where the pipeline runs, driver and executors.
"""

URL = "practice.url"
START = "practice.start"
END = "practice.end"


def read_events(spark, url, start=None, end=None):
    """The service's events with start <= event_time < end (no bound: everything), every row once."""
    # BEGIN SOLUTION: the practice source's events, start and end only when given, rows unchanged
    reader = spark.read.format("practice").option("url", url).option("resource", "events")
    if start:
        reader = reader.option("start", start)
    if end:
        reader = reader.option("end", end)
    return reader.load()
    # END SOLUTION


def count_by_kind(events):
    """One row per kind: `kind`, `events` (how many) and `amount` (their sum; nulls count as nothing)."""
    from pyspark.sql import functions as F

    # BEGIN SOLUTION: one row per kind: how many events, and the sum of their amount
    return events.groupBy("kind").agg(F.count("*").alias("events"), F.sum("amount").alias("amount"))
    # END SOLUTION


if "spark" in globals():  # imported by a pipeline run, not by a test or a lab
    from pyspark import pipelines as dp

    from solutions.datasource import PracticeDataSource

    # A Python data source is registered per session: the pipeline's session must know
    # `practice` before a flow reads it.
    spark.dataSource.register(PracticeDataSource)  # noqa: F821 (`spark` is given by the pipeline run)

    @dp.materialized_view(comment="Events of the practice service, read with the practice Python data source")
    def practice_events():
        conf = spark.conf  # noqa: F821
        return read_events(spark, conf.get(URL), conf.get(START, None), conf.get(END, None))  # noqa: F821

    @dp.materialized_view(comment="Events and amount per kind")
    def practice_event_counts():
        return count_by_kind(spark.read.table("practice_events"))  # noqa: F821
