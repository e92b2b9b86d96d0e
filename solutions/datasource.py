"""The entry point: `PracticeDataSource`, registered with `spark.dataSource.register(...)`.

    spark.dataSource.register(PracticeDataSource)
    df = spark.read.format("practice").option("url", url).option("resource", "events").load()
    df.write.format("practice").option("url", url).option("table", "t").mode("append").save()

Spark calls these methods on the driver while planning. Options are parsed here, so a bad
option fails the query before any task runs. The streaming side (streamReader, streamWriter)
is added beside the batch one, from solutions/stream_reader.py and solutions/stream_writer.py.
"""
import logging

from pyspark.errors import PySparkNotImplementedError
from pyspark.sql.datasource import DataSource, DataSourceReader

from solutions.options import OptionError, parse_options
from solutions.reader import PracticeBatchReader, PracticePushdownReader, fetch_service_schema
from solutions.simple_stream_reader import PracticeSimpleStreamReader
from solutions.stream_reader import PracticeStreamReader
from solutions.stream_writer import PracticeStreamArrowWriter, PracticeStreamWriter
from solutions.writer import PracticeArrowWriter, PracticeBatchWriter

log = logging.getLogger(__name__)

# Filter pushdown arrived in Spark 4.1: detect it, never assume it from a version number.
SPARK_HAS_FILTER_PUSHDOWN = hasattr(DataSourceReader, "pushFilters")


class PracticeDataSource(DataSource):
    """Reads and writes the practice service: events, entities and kv; tables for writes."""

    @classmethod
    def name(cls):
        return "practice"

    def parsed_options(self):
        """Typed options; raises OptionError naming the option for a bad value."""
        return parse_options(self.options)

    def schema(self):
        # Only called when the user gives no schema: ask the service (a Spark DDL string).
        return fetch_service_schema(self.parsed_options())["ddl"]

    def reader(self, schema):
        options = self.parsed_options()
        if not options["filterPushdown"]:
            return PracticeBatchReader(options, schema)
        if not SPARK_HAS_FILTER_PUSHDOWN:
            log.warning("option filterPushdown=true is ignored: this Spark has no filter pushdown (4.1+)")
            return PracticeBatchReader(options, schema)
        return PracticePushdownReader(options, schema)

    def writer(self, schema, overwrite):
        options = self.parsed_options()
        if options["arrow"]:
            writer = PracticeArrowWriter(options, schema, overwrite)
        else:
            writer = PracticeBatchWriter(options, schema, overwrite)
        # Spark calls writer() once per batch write, on the driver, and pickles the writer for the
        # tasks and the commit: the place for setup (stream writers have no such place).
        writer.prepare()
        return writer

    def streamReader(self, schema):
        options = self.parsed_options()
        if options["streamReader"] == "simple":
            # Spark calls simpleStreamReader() only when streamReader() raises exactly this
            # error (pyspark.sql.datasource_internal._streamReader); a plain
            # NotImplementedError would fail the query.
            raise PySparkNotImplementedError(errorClass="NOT_IMPLEMENTED", messageParameters={"feature": "streamReader"})
        return PracticeStreamReader(options, schema)

    def simpleStreamReader(self, schema):
        return PracticeSimpleStreamReader(self.parsed_options(), schema)

    def streamWriter(self, schema, overwrite):
        options = self.parsed_options()
        if options["arrow"]:
            if PracticeStreamArrowWriter is None:
                raise OptionError("option arrow=true for streaming writes needs PySpark 4.1+ (DataSourceStreamArrowWriter)")
            return PracticeStreamArrowWriter(options, schema, overwrite)
        return PracticeStreamWriter(options, schema, overwrite)
