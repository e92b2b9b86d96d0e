"""A data source whose source costs almost nothing, to measure the path from Python to Spark.

Each partition builds one block of event-like columns once and hands it to Spark again and
again, as rows (tuples) or, with `arrow=true`, as one `pyarrow.RecordBatch` per block. Both
paths yield the same values, so the difference between them is what Spark does with what
`read` yields: rows are converted one by one in the Python worker, a RecordBatch is sent as is.

    spark.dataSource.register(GeneratedDataSource)
    spark.read.format("generated").option("rows", 1_000_000).option("arrow", "true").load()
"""
import datetime

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

SCHEMA = "seq bigint, event_time timestamp, device_id bigint, kind string, value double, note string"
BLOCK = 10_000
KINDS = ("click", "view", "purchase", "error")
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


class GeneratedDataSource(DataSource):
    @classmethod
    def name(cls):
        return "generated"

    def schema(self):
        return SCHEMA

    def reader(self, schema):
        return GeneratedReader(self.options)


class GeneratedReader(DataSourceReader):
    def __init__(self, options):
        self.rows = int(options.get("rows", 1_000_000))
        self.partition_count = int(options.get("numPartitions", 2))
        self.arrow = options.get("arrow", "false").lower() == "true"

    def partitions(self):
        share, extra = divmod(self.rows, self.partition_count)
        return [InputPartition(share + (1 if index < extra else 0)) for index in range(self.partition_count)]

    def read(self, partition):
        columns = block_columns(min(BLOCK, partition.value))
        if self.arrow:
            import pyarrow as pa

            block = pa.RecordBatch.from_arrays(
                [pa.array(columns[0], pa.int64()), pa.array(columns[1], pa.timestamp("us", tz="UTC")),
                 pa.array(columns[2], pa.int64()), pa.array(columns[3], pa.string()),
                 pa.array(columns[4], pa.float64()), pa.array(columns[5], pa.string())],
                names=["seq", "event_time", "device_id", "kind", "value", "note"],
            )
        else:
            block = list(zip(*columns))
        left = partition.value
        while left > 0:
            size = min(left, BLOCK)  # the last block may be partial
            if self.arrow:
                yield block if size == BLOCK else block.slice(0, size)
            else:
                yield from block[:size]
            left -= size


def block_columns(size):
    """Column lists of `size` event-like rows."""
    seqs = list(range(size))
    return (
        seqs,
        [START + datetime.timedelta(milliseconds=10 * seq) for seq in seqs],
        [seq % 97 for seq in seqs],
        [KINDS[seq % len(KINDS)] for seq in seqs],
        [(seq * 37 % 1000) / 10 for seq in seqs],
        [f"note {seq}" for seq in seqs],
    )
