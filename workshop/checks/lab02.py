"""Lab 02 check: cursor pagination, and one session per partition closed on every way out.

`pages` runs against the service directly. `read` runs in this Python process while the
check counts the `requests.Session`s it opens and closes (patching `requests` here is fine:
the code under test runs here too, not in a Spark worker); then both run on Spark.
"""
import contextlib
import itertools
import types

from workshop.checks import practice_service, spark_error_text
from workshop.truth import checksum, to_json_record

START, END = "2026-01-01T00:00:00Z", "2026-01-01T00:00:20Z"  # about 2,000 events
ENTITY_IDS_BELOW = 6000  # about 1,200 entities
PAGE_SIZE = 250


@contextlib.contextmanager
def counting_sessions():
    """Count the requests.Session objects opened and closed in this process meanwhile."""
    import requests

    counts = types.SimpleNamespace(opened=[], closed=set())
    original_init, original_close = requests.Session.__init__, requests.Session.close

    def init(session, *args, **kwargs):
        original_init(session, *args, **kwargs)
        counts.opened.append(session)

    def close(session):
        counts.closed.add(id(session))
        return original_close(session)

    requests.Session.__init__, requests.Session.close = init, close
    try:
        yield counts
    finally:
        requests.Session.__init__, requests.Session.close = original_init, original_close


def still_open(counts):
    return sum(1 for session in counts.opened if id(session) not in counts.closed)


def check(report, PracticeClient, PracticeBatchReader, url, service=None):
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

    from solutions.conversion import parse_timestamp
    from solutions.datasource import PracticeDataSource
    from solutions.options import parse_options
    from solutions.partitioning import TimeWindowPartition
    from workshop.spark import get_spark

    truth = practice_service(url, service).truth

    class CheckedReader(PracticeBatchReader):
        client_class = PracticeClient  # the learner's client, in planning and in every task

    class CheckedSource(PracticeDataSource):
        short_name = "lab02_check"
        batch_reader = CheckedReader

    source, reader_class = CheckedSource, CheckedReader
    schema = StructType(
        [
            StructField("seq", LongType()),
            StructField("event_time", TimestampType()),
            StructField("kind", StringType()),
            StructField("amount", DecimalType(12, 2)),
        ]
    )
    window = TimeWindowPartition(0, parse_timestamp(START), parse_timestamp(END))

    def reader(target_url=url, **options):
        raw = {"url": target_url, "start": START, "end": END, "pageSize": "300", "logLevel": "WARNING", **options}
        return reader_class(parse_options(raw), schema)

    # -- pages -------------------------------------------------------------------------------

    def read_pages(params, limit):
        with PracticeClient(parse_options({"url": url, "pageSize": str(PAGE_SIZE)})) as client:
            return list(itertools.islice(client.pages("/v1/entities", params), limit))

    want = [record["id"] for record in truth.records("entities", id_lt=ENTITY_IDS_BELOW)]
    pages_needed = -(-len(want) // PAGE_SIZE)

    def follows_the_cursor():
        pages = read_pages({"id_lt": ENTITY_IDS_BELOW}, pages_needed + 3)
        ids = [item["id"] for items in pages for item in items]
        if len(pages) > pages_needed + 2:
            if len(pages) > 1 and pages[1] == pages[0]:
                return "the second page repeats the first: ask for the next one with cursor=<next_cursor of the page before>"
            return f"pages() kept asking after the last page ({len(pages)}+ pages for {len(want)} entities): stop when next_cursor is null"
        if ids == want:
            return None
        if len(pages) == 1 and len(want) > len(pages[0]):
            return f"pages() stopped after the first page ({len(ids)} of {len(want)} entities): ask again with cursor=next_cursor until it is null"
        seen = {}
        for number, items in enumerate(pages):
            for item in items:
                if item["id"] in seen:
                    return (
                        f"entity {item['id']} came back twice (pages {seen[item['id']]} and {number} overlap): "
                        "send the service's next_cursor, do not build the next request from the last id"
                    )
                seen[item["id"]] = number
        missing = [id_ for id_ in want if id_ not in seen]
        if missing:
            return f"{len(missing)} of {len(want)} entities never came back (the first: id {missing[0]})"
        return "every entity came back once, but not in the service's order"

    def uses_page_size():
        pages = read_pages({"id_lt": ENTITY_IDS_BELOW}, pages_needed + 3)
        biggest = max((len(items) for items in pages), default=0)
        if biggest > PAGE_SIZE:
            return f"with pageSize={PAGE_SIZE} a page held {biggest} items: send limit=self.options['pageSize']"

    def raises_on_errors():
        bad = {"id_gte": "not-a-number"}
        try:
            pages = read_pages(bad, 3)
        except Exception:
            return None
        return (
            f"GET /v1/entities?id_gte=not-a-number answers HTTP 400, but pages() yielded {len(pages)} pages and no "
            "error: use self.get(), which raises ServiceError for an error status (never `if response:`)"
        )

    # -- read, in this process ---------------------------------------------------------------

    def one_session_reused():
        checked = reader()  # its __init__ asks the service for the schema: not counted
        expected = truth.count("events", start=START, end=END)
        with counting_sessions() as counts:
            rows = checked.read(window)
            got = list(itertools.islice(rows, 2 * expected + 10))  # a page read forever ends here
            rows.close()
        if len(got) != expected:
            return f"read() gave {'more than ' if len(got) > 2 * expected else ''}{len(got)} rows for a window of {expected} events"
        pages = -(-expected // 300)
        if not counts.opened:
            return "read() opened no requests.Session: open one with self.client_class(self.options) in a `with` block"
        if len(counts.opened) > 1:
            return (
                f"read() opened {len(counts.opened)} sessions for one partition of {pages} pages: open one client "
                "per partition (with self.client_class(self.options) as client:) and reuse it for every page"
            )
        if still_open(counts):
            return "read() left its session open after the last page: use `with self.client_class(self.options) as client:`"

    def closed_when_stopped_early():
        checked = reader()
        with counting_sessions() as counts:
            rows = checked.read(window)
            first = list(itertools.islice(rows, 5))
            rows.close()  # what happens when Spark stops reading early, e.g. for a LIMIT
        if len(first) < 5:
            return f"read() gave only {len(first)} rows"
        if still_open(counts):
            return (
                f"after the read was stopped early (generator.close(), as for a LIMIT) {still_open(counts)} session(s) "
                "stayed open: code after the loop never runs then; put the loop inside `with self.client_class(self.options) as client:`"
            )

    def closed_when_failing():
        checked = reader()
        backwards = TimeWindowPartition(0, window.end, window.start)  # end before start: HTTP 400
        with counting_sessions() as counts:
            try:
                rows = list(itertools.islice(checked.read(backwards), 10))
            except Exception:
                rows = None
        if rows is not None:
            return f"the service answered HTTP 400, yet read() gave {len(rows)} rows and no error"
        if still_open(counts):
            return (
                f"after read() failed, {still_open(counts)} session(s) stayed open: `with self.client_class(self.options) as client:` "
                "closes it when an exception passes through"
            )

    # -- on Spark ----------------------------------------------------------------------------

    def reads_on_spark():
        spark = get_spark()
        spark.dataSource.register(source)
        expected = truth.count("events", start=START, end=END)
        try:
            rows = (
                spark.read.format(source.name())
                .option("url", url)
                .option("start", START)
                .option("end", END)
                .option("numPartitions", "3")
                .option("pageSize", "300")
                .option("logLevel", "WARNING")
                .load()
                .limit(2 * expected + 10)  # a page read forever ends here
                .collect()
            )
        except Exception as error:
            return f"the read failed: {spark_error_text(error)}"
        seqs = [row.seq for row in rows]
        if len(seqs) != len(set(seqs)):
            return f"{len(seqs) - len(set(seqs))} events were read twice"
        if len(rows) != expected:
            return f"read {len(rows)} events; the window holds {expected}"
        if checksum(to_json_record(row) for row in rows) != truth.checksum("events", start=START, end=END):
            return "the right number of events, but their values differ from the served ones"

    report.require("pages() follows next_cursor to the last page, each entity once", follows_the_cursor)
    report.require("pages() asks for pageSize items per page", uses_page_size)
    report.require("pages() raises on an HTTP error", raises_on_errors)
    report.require("read() opens one session per partition and reuses it for every page", one_session_reused)
    report.require("read() closes the session when Spark stops early", closed_when_stopped_early)
    report.require("read() closes the session when the read fails", closed_when_failing)
    report.require("on Spark: a window of events, 3 partitions, equals ground truth", reads_on_spark)

