"""The batch reader: schema check, partition planning, filter pushdown and reading pages.

`PracticeReader` holds what every reader of the service needs (options, schema, a client
per task, turning pages of JSON into rows or Arrow batches, or, with option wireFormat=arrow,
handing the service's Arrow pages on); the streaming reader reuses it.
`PracticeBatchReader` adds what a batch read needs: `partitions` and `read`, and
`PracticePushdownReader` adds `pushFilters` (option filterPushdown, Spark 4.1+).

Where each method runs:
- `__init__`, `pushFilters`, `partitions`: on the driver, while Spark plans the query;
- `read`: on the executors, once per partition, with a copy of the reader (so everything
  stored on `self` must pickle, and a `requests.Session` is opened inside `read`).
"""
import difflib
import logging
import uuid

from pyspark.sql.datasource import DataSourceReader, InputPartition
from pyspark.sql.types import StringType

from solutions.client import PracticeClient, WindowTooLargeError
from solutions.conversion import (
    PERMISSIVE,
    SERVICE_CORRUPT_COLUMN,
    UTC,
    ArrowColumns,
    RecordConverter,
    arrow_record,
    check_arrow_schema,
    format_timestamp,
    parse_timestamp,
    record_batch_rows,
    record_of_text,
    rows_to_record_batch,
)
from solutions.observability import task_fields
from solutions.options import require
from solutions.partitioning import (
    MICROSECOND,
    EmptyPartition,
    IdRangePartition,
    TimeWindowPartition,
    TokenRangePartition,
    midpoint,
    plan_id_ranges,
    plan_time_windows,
    plan_token_ranges,
)
from solutions.resilience import DeadLetters, create_dead_letter_table

log = logging.getLogger(__name__)


class SchemaMismatchError(ValueError):
    """The schema asked for does not match what the service serves."""


def fetch_service_schema(client, resource):
    """The service's description of `resource`: {"name", "key", "fields", "ddl"}.

    The first thing a read asks the service, so the health probe comes first: a wrong URL, a
    TLS mismatch or a service that is down is one clear error here, before any planning; the
    schema request then checks the credentials.
    """
    client.check_health()
    return client.get(f"/v1/schema/{resource}")


def check_schema(schema, service_schema, corrupt_column, mode):
    """Raise SchemaMismatchError naming every column the service cannot fill as asked.

    A column must exist in the resource with the same type; the corrupt-record column must be a
    nullable string column. Nullability may differ from the service's, except in PERMISSIVE
    mode, where every column must be nullable: the fields of a malformed record that do not fit
    become null, and Spark fails the task that yields a null in a NOT NULL column. (Spark's own
    file sources make a user schema nullable; a Python data source cannot change its output schema.)
    """
    served = {field["name"]: field["type"] for field in service_schema["fields"]}
    problems = []
    not_null = []
    for field in schema.fields:
        if field.name == corrupt_column:
            if not isinstance(field.dataType, StringType):
                problems.append(f"the corrupt-record column {field.name!r} must be string, not {field.dataType.simpleString()}")
            if not field.nullable:
                not_null.append(
                    f"the corrupt-record column {field.name!r} is NOT NULL, but it is null in every well-formed row: "
                    "make it nullable"
                )
        elif field.name not in served:
            close = difflib.get_close_matches(field.name, served, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"column {field.name!r} is not a field of {service_schema['name']}{hint}")
        elif field.dataType.simpleString() != served[field.name].replace(" ", ""):
            problems.append(
                f"column {field.name!r} is {served[field.name]} in {service_schema['name']}, "
                f"the schema asks for {field.dataType.simpleString()}"
            )
        elif not field.nullable and mode == "PERMISSIVE":
            not_null.append(
                f"column {field.name!r} is NOT NULL, but mode=PERMISSIVE makes the fields of a malformed record that do "
                "not fit null: make the column nullable, or use mode=DROPMALFORMED or mode=FAILFAST (there a null in "
                "a NOT NULL column makes the record malformed)"
            )
    if problems:
        fields = ", ".join(f"{name} {type_}" for name, type_ in served.items())
        raise SchemaMismatchError("; ".join(problems + not_null) + f". The service serves: {fields}")
    if not_null:
        raise SchemaMismatchError("; ".join(not_null))


class PracticeReader:
    """What every reader of the practice service shares (batch, streaming, simple streaming).

    `client_class` is the client every request goes through, planning and tasks alike, and
    `converter_class` turns the service's records into rows: a lab plugs its own in with a
    subclass that sets one.
    """

    client_class = PracticeClient
    converter_class = RecordConverter

    def __init__(self, options, schema):
        # Only checks: Spark makes readers where no request belongs (a stream reader twice per
        # query), so the requests of setting up wait for `prepare`.
        require(options, "url", "to read from the practice service")
        if options["wireFormat"] == "arrow":
            check_arrow_schema(schema)
        self.options = options
        self.schema = schema
        self.resource = options["resource"]
        self.key_field = None  # names records in FAILFAST errors; from the service's schema
        self.run_id = uuid.uuid4().hex[:16]  # a batch read, in dead-letter keys (the same in a retried task)
        self.prepared = False

    def __repr__(self):
        return f"{type(self).__name__}(resource={self.resource!r}, options={self.options!r})"

    def prepare(self):
        """Driver, before the first plan (once per reader): the health probe, the schema check, the
        dead-letter table. Planning calls it; what it learns (the key field) travels to the tasks."""
        if self.prepared:
            return
        with self.client_class(self.options) as client:
            service_schema = fetch_service_schema(client, self.resource)
            check_schema(self.schema, service_schema, self.options["columnNameOfCorruptRecord"], self.options["mode"])
            if self.options["deadLetterTable"]:
                create_dead_letter_table(client, self.options["deadLetterTable"])
        self.key_field = service_schema["key"]
        self.prepared = True

    def convert_pages(self, client, pages, partition_index, run_id=None):
        """Rows (tuples) from pages of JSON records, or one RecordBatch per page with arrow=true.

        One converter per call: it is built from the schema once, then applied per record.
        `client` is the task's: it sends the dead letters and its counts are the task's metrics.
        `run_id` names the read in dead-letter keys: by default this reader's `run_id`; a stream
        reader passes one that a replay of the same micro-batch repeats.
        """
        if self.options["wireFormat"] == "arrow":
            yield from self.convert_arrow_pages(client, pages, partition_index, run_id)
            return
        converter = self.converter_class(
            self.schema, self.options["mode"], self.options["columnNameOfCorruptRecord"], self.key_field
        )
        dead_letters = self._dead_letters_for(converter, partition_index, run_id or self.run_id)
        arrow = self.options["arrow"]
        produced = 0
        finished = False
        try:
            for page_number, items in enumerate(pages):
                rows = []
                for item_number, record in enumerate(items):
                    row = converter.convert(record, where=(partition_index, page_number, item_number))
                    if row is not None:
                        rows.append(row)
                produced += len(rows)
                if not arrow:
                    yield from rows
                elif rows:
                    yield rows_to_record_batch(rows, self.schema)
            finished = True
        finally:
            self._end_of_partition(client, partition_index, produced, converter, dead_letters, finished)

    def convert_arrow_pages(self, client, pages, partition_index, run_id=None):
        """The service's Arrow pages (wireFormat=arrow) as the RecordBatches Spark asks for (rows with arrow=false).

        Per page: the schema's columns taken whole (`ArrowColumns`, planned on the first page),
        and `mode` applied to the suspect rows only: those the service marks in its
        `_corrupt_record` column, and those with a null in a NOT NULL column. Each suspect is
        judged by the JSON path's converter, on the record the JSON page would have served, so
        the verdict, the FAILFAST error and the dead letters are the JSON path's: a record the
        service marks may be fine for a schema without the field that broke. Good pages (all of
        them, without malformed records) pass without a value touching Python.
        """
        converter = self.converter_class(
            self.schema, self.options["mode"], self.options["columnNameOfCorruptRecord"], self.key_field
        )
        dead_letters = self._dead_letters_for(converter, partition_index, run_id or self.run_id)
        not_null = [field.name for field in self.schema.fields
                    if not field.nullable and field.name != self.options["columnNameOfCorruptRecord"]]
        columns = None
        produced = 0
        finished = False
        try:
            for page_number, page in enumerate(pages):
                if columns is None or page.schema != columns.page_schema:
                    columns = ArrowColumns(page.schema, self.schema, self.options["columnNameOfCorruptRecord"])
                batch = self._judged(page, columns, converter, not_null, (partition_index, page_number))
                produced += batch.num_rows
                if not batch.num_rows:
                    continue
                if self.options["arrow"]:
                    yield batch
                else:
                    yield from record_batch_rows(batch)
            finished = True
        finally:
            self._end_of_partition(client, partition_index, produced, converter, dead_letters, finished)

    def _judged(self, page, columns, converter, not_null, where):
        """One Arrow page with `mode` applied: the batch for Spark (FAILFAST raises at the first malformed record)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        corrupt = page.column(SERVICE_CORRUPT_COLUMN)
        if corrupt.null_count == page.num_rows and not any(page.column(name).null_count for name in not_null):
            return columns.select(page)  # no suspect: the page as it came
        suspect = pc.is_valid(corrupt)
        for name in not_null:
            suspect = pc.or_(suspect, pc.is_null(page.column(name)))
        keep = [True] * page.num_rows
        texts = None  # the corrupt column, when a record the service marked is fine for this schema
        for index in pc.indices_nonzero(suspect).to_pylist():
            text = corrupt[index].as_py()
            record = record_of_text(text) if text is not None else arrow_record(page, index)
            seen = converter.malformed
            converter.convert(record, where=where + (index,))  # the JSON path's verdict; FAILFAST raises here
            if converter.malformed > seen:
                keep[index] = self.options["mode"] == PERMISSIVE
            elif text is not None:
                texts = corrupt.to_pylist() if texts is None else texts
                texts[index] = None
        corrected = None if texts is None else pa.array(texts, pa.string())
        batch = columns.select(page, corrected)
        return batch if all(keep) else batch.filter(pa.array(keep))

    def _dead_letters_for(self, converter, partition_index, run_id):
        """With option deadLetterTable (and a mode that keeps going), malformed records are set aside."""
        if not self.options["deadLetterTable"] or self.options["mode"] == "FAILFAST":
            return None
        dead_letters = DeadLetters(self.options["deadLetterTable"], f"read {self.resource}", run_id, partition_index)

        def set_aside(record, reason, where):
            dead_letters.add(record, reason, converter.describe(record, where))

        converter.on_malformed = set_aside
        return dead_letters

    def _end_of_partition(self, client, partition_index, rows, converter, dead_letters, finished):
        """Send the dead letters and log the task's metrics (also when Spark stops reading early)."""
        sent = 0
        if dead_letters is not None and dead_letters.pending:
            try:
                dead_letters.flush(client)
            except Exception as problem:
                if finished:
                    raise
                log.warning("could not write dead letters to table %s: %s", dead_letters.table, problem)
            sent = dead_letters.sent
        metrics = client.metrics()
        log.info(
            "read partition %s finished: %d rows, %d malformed", partition_index, rows, converter.malformed,
            extra={**task_fields(), "resource": self.resource, "partition": partition_index, "rows": rows,
                   "malformed": converter.malformed, "dead_letters": sent, "finished": finished,
                   "requests": metrics.get("requests"), "retries": metrics.get("retries"),
                   "bytes": metrics.get("bytes_received"), "seconds": metrics.get("seconds")},
        )


class PracticeBatchReader(PracticeReader, DataSourceReader):
    """Reads one resource of the practice service in parallel partitions."""

    def __init__(self, options, schema):
        super().__init__(options, schema)
        # What to read. Options set the event-time window; pushFilters may narrow any of it.
        self.start = options["start"]
        self.end = options["end"]
        self.device_ids = None  # None: any device; else a set of ids
        self.kinds = None
        self.id_gte = None
        self.id_lt = None

    # -- planning (driver) ------------------------------------------------------------------

    def partitions(self):
        partitioning = self.options["partitioning"]
        self.prepare()
        if self._nothing_matches():
            return [EmptyPartition()]
        with self.client_class(self.options) as client:
            if self.resource == "events":
                return self._plan_events(client, partitioning)
            if self.resource == "entities":
                return self._plan_entities(client, partitioning)
            if partitioning == "none":
                return [TokenRangePartition(0)]  # both bounds open: the whole ring
            ring = client.get("/v1/ring")
            return plan_token_ranges(ring["ranges"], self.options["numPartitions"])

    def _nothing_matches(self):
        """Pushed filters that contradict each other (device_id = 1 AND device_id = 2)."""
        return (
            self.device_ids == set()
            or self.kinds == set()
            or (self.start is not None and self.end is not None and self.start >= self.end)
            or (self.id_gte is not None and self.id_lt is not None and self.id_gte >= self.id_lt)
        )

    def _plan_events(self, client, partitioning):
        stats = client.get("/v1/events/stats")
        if not stats["count"]:
            return [EmptyPartition()]
        # The query is start <= event_time < end, so the latest event needs end just after it.
        start = _max(self.start, parse_timestamp(stats["min_event_time"]))
        end = _min(self.end, parse_timestamp(stats["max_event_time"]) + MICROSECOND)
        if partitioning == "none":
            return [TimeWindowPartition(0, start, end)] if start < end else [EmptyPartition()]

        def count(window_start, window_end):
            return client.get("/v1/events/count", self._event_params(window_start, window_end))["count"]

        return plan_time_windows(start, end, self.options["numPartitions"], count, stats["max_window_rows"])

    def _plan_entities(self, client, partitioning):
        if partitioning == "none":
            return [IdRangePartition(0, self.id_gte, self.id_lt)]
        stats = client.get("/v1/entities/stats")
        if not stats["count"]:
            return [EmptyPartition()]
        id_gte = _max(self.id_gte, stats["min_id"])
        id_lt = _min(self.id_lt, stats["max_id"] + 1)  # half-open: just past the largest id
        return plan_id_ranges(id_gte, id_lt, self.options["numPartitions"])

    # -- reading (executors) ----------------------------------------------------------------

    def read(self, partition):
        # Nothing to read. We never plan an empty list, but Spark's stand-ins for one -- None
        # (Spark 4.0 and 4.1) or InputPartition(None) (4.2+) -- read nothing too.
        if partition is None or isinstance(partition, EmptyPartition) or type(partition) is InputPartition:
            return
        # BEGIN SOLUTION: read the partition's pages with one client, closed on every way out
        with self.client_class(self.options) as client:
            yield from self.convert_pages(client, self._pages(client, partition), partition.index)
        # END SOLUTION

    def _pages(self, client, partition):
        if isinstance(partition, TimeWindowPartition):
            return self._event_pages(client, partition.start, partition.end)
        pages = client.arrow_pages if self.options["wireFormat"] == "arrow" else client.pages
        if isinstance(partition, IdRangePartition):
            params = {"id_gte": partition.id_gte, "id_lt": partition.id_lt}
            return pages("/v1/entities", _without_none(params))
        if isinstance(partition, TokenRangePartition):
            params = {"token_gt": partition.token_gt, "token_le": partition.token_le}
            return pages("/v1/kv", _without_none(params))
        raise TypeError(f"the practice reader cannot read a {type(partition).__name__}")

    def _event_pages(self, client, start, end):
        """Pages of events in [start, end), JSON or Arrow; a window the service refuses (413) is halved."""
        pages = (client.arrow_pages if self.options["wireFormat"] == "arrow" else client.pages)(
            "/v1/events", self._event_params(start, end))
        try:
            first = next(pages)
        except WindowTooLargeError:
            # More events than planned (e.g. late arrivals since planning): split and retry.
            if end - start <= MICROSECOND:
                raise
            middle = midpoint(start, end)
            yield from self._event_pages(client, start, middle)
            yield from self._event_pages(client, middle, end)
            return
        yield first
        yield from pages

    def _event_params(self, start, end):
        params = {"start": format_timestamp(start), "end": format_timestamp(end)}
        if self.device_ids is not None:
            params["device_id"] = ",".join(str(device) for device in sorted(self.device_ids))
        if self.kinds is not None:
            params["kind"] = ",".join(sorted(self.kinds))
        return params


class PracticePushdownReader(PracticeBatchReader):
    """PracticeBatchReader plus `pushFilters`: the service filters rows before sending them.

    A separate class because Spark (4.1+) refuses a reader that implements pushFilters while
    `spark.sql.python.filterPushdown.enabled` is false (the default), and a data source cannot
    read Spark settings. So the user turns both on: that setting, and option filterPushdown.
    """

    def pushFilters(self, filters):
        """Let the service filter what it can; return to Spark every filter Spark must still check.

        Spark does not check rows against a filter we keep: `explain("formatted")` lists it in
        the scan's PushedFilters and no Filter node checks it; a returned filter stays in a
        Filter node above the scan. So a filter is kept only when every row we yield satisfies
        it. The service applies `device_id`/`kind` equality and IN lists and `event_time` ranges
        for events, and `id` ranges for entities, exactly, to the records it sends; and a row
        is its record exactly in DROPMALFORMED and FAILFAST mode, where a record that does not
        convert cleanly never reaches Spark. In PERMISSIVE mode it is not: a malformed record's
        row has nulls where the record had the values the service filtered on (`kind IN
        ('view', 'click')` would let through rows whose kind is null). There the filters still
        narrow what the service sends, and are all returned, for Spark to check again.
        """
        rows_are_records = self.options["mode"] != "PERMISSIVE"
        return [condition for condition in filters if not (self._narrow(condition) and rows_are_records)]

    def _narrow(self, condition):
        """Narrow the read by `condition` when the service can apply it exactly; True when it did."""
        from pyspark.sql.datasource import EqualTo, In  # Spark 4.1+, like pushFilters itself

        path = getattr(condition, "attribute", ())  # Not(...) has a child instead
        column = path[0] if len(path) == 1 else None
        value = getattr(condition, "value", None)
        if self.resource == "events" and column in ("device_id", "kind") and isinstance(condition, (EqualTo, In)):
            values = set(value) if isinstance(condition, In) else {value}
            if all(_service_matches_exactly(column, item) for item in values):
                self._narrow_set(column, values)
                return True
        if self.resource == "events" and column == "event_time" and hasattr(value, "astimezone"):
            bounds = _range_bounds(condition, value.astimezone(UTC), MICROSECOND)
            if bounds is not None:
                self.start = _max(self.start, bounds[0])
                self.end = _min(self.end, bounds[1])
                return True
        if self.resource == "entities" and column == "id" and type(value) is int:
            bounds = _range_bounds(condition, value, 1)
            if bounds is not None:
                self.id_gte = _max(self.id_gte, bounds[0])
                self.id_lt = _min(self.id_lt, bounds[1])
                return True
        return False

    def _narrow_set(self, column, values):
        if column == "device_id":
            self.device_ids = values if self.device_ids is None else self.device_ids & values
        else:
            self.kinds = values if self.kinds is None else self.kinds & values


# -- small helpers ------------------------------------------------------------------------------


def _range_bounds(condition, value, step):
    """[low, high) for a comparison filter on a discrete column (`step` is its smallest unit).

    `> v` becomes `>= v + step` (one microsecond for timestamps, 1 for ids), so every range
    is half-open like the service's. Returns None for filters that are not comparisons.
    """
    from pyspark.sql.datasource import EqualTo, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

    if isinstance(condition, EqualTo):
        return value, value + step
    if isinstance(condition, GreaterThan):
        return value + step, None
    if isinstance(condition, GreaterThanOrEqual):
        return value, None
    if isinstance(condition, LessThan):
        return None, value
    if isinstance(condition, LessThanOrEqual):
        return None, value + step
    return None


# The kinds the service documents (docs/practice_service.md). It answers 400 to any other.
EVENT_KINDS = frozenset({"click", "error", "purchase", "refund", "signup", "view"})


def _service_matches_exactly(column, value):
    """True when the service's `device_id`/`kind` parameter means exactly `column = value`.

    The service splits the parameter at commas and strips spaces, so `kind = 'view,click'`
    sent as kind=view,click would return views and clicks: such a value stays with Spark. It
    refuses a kind it does not know, where Spark's answer is simply no rows: a typo such as
    `kind = 'clik'` stays with Spark too (and a kind the service adds later is only not pushed).
    """
    if column == "device_id":
        return type(value) is int
    return value in EVENT_KINDS


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _without_none(params):
    return {key: value for key, value in params.items() if value is not None}
