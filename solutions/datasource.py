"""The entry point: `PracticeDataSource`, registered with `spark.dataSource.register(...)`.

    spark.dataSource.register(PracticeDataSource)
    df = spark.read.format("practice").option("url", url).option("resource", "events").load()
    df.write.format("practice").option("url", url).option("table", "t").mode("append").save()

Every piece of the connector is named here, one class attribute each, and that is where a
piece plugs in: a lab's reader, writer or stream reader goes in with a subclass that sets the
attribute (and `short_name`, so both can be registered in one session):

    class Lab03DataSource(PracticeDataSource):
        short_name = "practice_lab03"
        batch_reader = Lab03Reader  # the reference reader, planning with the lab's functions

The readers and writers name their client the same way (`client_class`), and the client its
authenticator and retry policy (solutions/client.py). Spark calls the methods below on the
driver while planning; options are parsed here, so a bad option fails the query before any
task runs.
"""
import logging

from pyspark.errors import PySparkNotImplementedError
from pyspark.sql.datasource import DataSource, DataSourceReader

from solutions.options import OptionError, parse_options
from solutions.reader import PracticeBatchReader, PracticePushdownReader, fetch_service_schema
from solutions.simple_stream_reader import PracticeSimpleStreamReader
from solutions.stream_reader import PracticeStreamReader
from solutions.stream_writer import PracticeStreamArrowWriter, PracticeStreamWriter
from solutions.writer import PracticeArrowIpcWriter, PracticeArrowWriter, PracticeBatchWriter

log = logging.getLogger(__name__)

# Filter pushdown arrived in Spark 4.1: detect it, never assume it from a version number.
SPARK_HAS_FILTER_PUSHDOWN = hasattr(DataSourceReader, "pushFilters")


class PracticeDataSource(DataSource):
    """Reads and writes the practice service: events, entities and kv; tables for writes."""

    short_name = "practice"  # the format name: spark.read.format("practice")
    batch_reader = PracticeBatchReader  # spark.read (solutions/reader.py)
    pushdown_reader = PracticePushdownReader  # spark.read with option filterPushdown (Spark 4.1+)
    batch_writer = PracticeBatchWriter  # df.write (solutions/writer.py)
    arrow_writer = PracticeArrowWriter  # df.write with option arrow
    arrow_ipc_writer = PracticeArrowIpcWriter  # df.write with options arrow and wireFormat=arrow (Arrow IPC bodies)
    stream_reader = PracticeStreamReader  # spark.readStream (solutions/stream_reader.py)
    simple_stream_reader = PracticeSimpleStreamReader  # spark.readStream with option streamReader=simple
    stream_writer = PracticeStreamWriter  # df.writeStream (solutions/stream_writer.py)
    stream_arrow_writer = PracticeStreamArrowWriter  # df.writeStream with option arrow (PySpark 4.1+; else None)

    @classmethod
    def name(cls):
        return cls.short_name

    def parsed_options(self):
        """Typed options; raises OptionError naming the option for a bad value."""
        return parse_options(self.options)

    def schema(self):
        # Only called when the user gives no schema: ask the service (a Spark DDL string), with
        # the reader's client, so a lab's client (its authentication, say) is used here too.
        options = self.parsed_options()
        with self.batch_reader.client_class(options) as client:
            return fetch_service_schema(client, options["resource"])["ddl"]

    def reader(self, schema):
        options = self.parsed_options()
        if not options["filterPushdown"]:
            return self.batch_reader(options, schema)
        if not SPARK_HAS_FILTER_PUSHDOWN:
            log.warning("option filterPushdown=true is ignored: this Spark has no filter pushdown (4.1+)")
            return self.batch_reader(options, schema)
        return self.pushdown_reader(options, schema)

    def writer(self, schema, overwrite):
        options = self.parsed_options()
        if options["wireFormat"] == "arrow" and not options["arrow"]:
            raise OptionError("option wireFormat=arrow for writes needs option arrow=true: the Arrow writer sends "
                              "Spark's RecordBatches as Arrow IPC bodies; the row writer has rows, which it sends as JSON")
        if not options["arrow"]:
            writer = self.batch_writer(options, schema, overwrite)
        elif options["wireFormat"] == "arrow":
            writer = self.arrow_ipc_writer(options, schema, overwrite)
        else:
            writer = self.arrow_writer(options, schema, overwrite)
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
        return self.stream_reader(options, schema)

    def simpleStreamReader(self, schema):
        return self.simple_stream_reader(self.parsed_options(), schema)

    def streamWriter(self, schema, overwrite):
        options = self.parsed_options()
        if not options["arrow"]:
            return self.stream_writer(options, schema, overwrite)
        if self.stream_arrow_writer is None:
            raise OptionError("option arrow=true for streaming writes needs PySpark 4.1+ (DataSourceStreamArrowWriter)")
        return self.stream_arrow_writer(options, schema, overwrite)
