"""Lab 02 check: cursor pagination, and one session per partition closed on every way out.

`pages` runs against the service directly. `read` runs in this Python process while the check
counts the `requests.Session`s it opens, uses and closes (patching `requests` here is fine: the
code under test runs here too, not in a Spark worker); then the lab's data source reads on Spark.

The rules the lab states, and the requirement that tests each, with inputs where breaking the
rule changes the outcome:

1. `pages` yields each page's `items`, following `next_cursor` until it is null, sent back
   unchanged; never a cursor of your own (an offset, "the last id again").
   `pages_follow_the_cursor`: about 1,200 entities with id_lt=6000 in pages of 170, compared with
   ground truth id by id and in order. No cursor sent (the first page again), only the first
   page, asking on after the last page, overlapping pages (the last id again), missing entities,
   and pages that are not lists of records are each named.
2. Every request carries the same other parameters ("and the same other parameters").
   The same requirement: an entity beyond id_lt means a later request dropped a parameter, and
   says so before anything else (it is not an ordering problem).
3. Pages of `pageSize` items (`limit=page_size or self.options["pageSize"]`).
   `pages_use_the_page_size`: pageSize=170 must give pages of exactly 170 but the last (the
   service's default page is 1000; a fixed limit shows too), and page_size=60 overrides it.
4. An HTTP error raises (`self.get` raises ServiceError), never an early, quiet end.
   `pages_raise_on_errors`: id_gte=not-a-number answers 400.
5. `read` opens one client (one session) per partition and reuses it for every page.
   `one_session_reused`: a window of about 2,000 events in pages of 300 (7 pages) must open one
   session, use it for every request, and close it after the last.
6. The session is closed on every way out: the end, an exception, Spark stopping early.
   `closed_when_stopped_early` (the generator closed after 5 rows, as for a LIMIT) and
   `closed_when_failing` (a window with end before start: HTTP 400).
7. A session is not used after it is closed (`return` of a generator inside `with` closes the
   client before the pages are read): part of 5, named.
8. On Spark, the lab's data source (its `batch_reader` set to your reader) reads a window in 3
   partitions exactly as ground truth.  `reads_on_spark`.
"""
import contextlib
import itertools
import types

from workshop.checks import practice_service, spark_error_text
from workshop.truth import checksum, to_json_record

START, END = "2026-01-01T00:00:00Z", "2026-01-01T00:00:20Z"  # about 2,000 events
ENTITY_IDS_BELOW = 6000  # about 1,200 entities
PAGE_SIZE = 170  # neither the service's default (1000) nor a round number someone might fix
SMALL_PAGE = 60  # what page_size= asks for instead
READ_PAGE_SIZE = 300

HINTS = {
    "PracticeClient.pages": [
        "Ask for the first page with the caller's params and a page size, yield its items, and while the "
        "page names a next cursor ask again: the same params, plus that cursor.",
        "The cursor is opaque: send next_cursor back unchanged, never an id or an offset of your own; keep "
        "every other parameter (id_lt, start, end) in every request, or later pages leave the range; stop "
        "when next_cursor is null, not on a short page; self.get raises on an error status, so let it.",
        "query = dict(params, limit=page_size or self.options['pageSize']); while True: page = self.get(path, "
        "query); yield page['items']; if not page.get('next_cursor'): return; query['cursor'] = page['next_cursor']",
    ],
    "PracticeBatchReader.read": [
        "One client for the whole partition, opened in a with block, and every row of every page yielded "
        "from inside that block.",
        "Code after the loop never runs when Spark stops reading early (the generator is closed) or an error "
        "passes through: only the with block (or try/finally) closes the session then. And `return` of a "
        "generator inside the with block closes the client before any page is read: yield from it.",
        "with self.client_class(self.options) as client: yield from self.convert_pages(client, "
        "self._pages(client, partition), partition.index)",
    ],
}


def check(report, PracticeClient, PracticeBatchReader, Lab02DataSource, url, service=None):
    truth = practice_service(url, service).truth
    entities = [record["id"] for record in truth.records("entities", id_lt=ENTITY_IDS_BELOW)]
    report.require("pages() follows next_cursor to the last page, each entity once, the same params each time",
                   pages_follow_the_cursor, PracticeClient, url, entities)
    report.require("pages() asks for pageSize items per page (page_size= when given)", pages_use_the_page_size,
                   PracticeClient, url, entities)
    report.require("pages() raises on an HTTP error", pages_raise_on_errors, PracticeClient, url)
    report.require("read() opens one session per partition, uses it for every page, closes it after the last",
                   one_session_reused, PracticeBatchReader, url, truth)
    report.require("read() closes the session when Spark stops early", closed_when_stopped_early, PracticeBatchReader, url)
    report.require("read() closes the session when the read fails", closed_when_failing, PracticeBatchReader, url)
    report.require("on Spark: Lab02DataSource reads a window of events in 3 partitions, as ground truth",
                   reads_on_spark, Lab02DataSource, PracticeBatchReader, url, truth)


# -- pages -----------------------------------------------------------------------------------------


def pages_follow_the_cursor(client_class, url, entities):
    pages = read_pages(client_class, url, {"id_lt": ENTITY_IDS_BELOW}, len(entities))
    problem = page_shape_problem(pages)
    if problem:
        return problem
    ids = [item["id"] for items in pages for item in items]
    if ids == entities:
        return None
    for number, items in enumerate(pages):
        outside = [item["id"] for item in items if item["id"] >= ENTITY_IDS_BELOW]
        if outside:
            return (
                f"page {number} held entity {outside[0]}, outside the range asked for (id_lt={ENTITY_IDS_BELOW}): "
                "a request after the first dropped the caller's params; send them all with every page, adding cursor"
            )
    if len(pages) > 1 and pages[1] == pages[0]:
        return "the second page repeats the first: ask for the next one with cursor=<next_cursor of the page before>"
    if ids[:len(entities)] == entities:
        return (
            f"pages() gave every entity, then asked again after the last page ({len(ids) - len(entities)}+ entities "
            "more): stop when next_cursor is null"
        )
    seen = {}
    for number, items in enumerate(pages):
        for item in items:
            if item["id"] in seen:
                return (
                    f"entity {item['id']} came back twice (pages {seen[item['id']]} and {number} overlap): send the "
                    "service's next_cursor, do not build the next request from the last id"
                )
            seen[item["id"]] = number
    if len(pages) == 1 and len(entities) > len(pages[0]):
        return (
            f"pages() stopped after the first page ({len(ids)} of {len(entities)} entities): ask again with "
            "cursor=next_cursor until it is null"
        )
    missing = [id_ for id_ in entities if id_ not in seen]
    if missing:
        return f"{len(missing)} of {len(entities)} entities never came back (the first: id {missing[0]})"
    first = next(i for i, (got, want) in enumerate(zip(ids, entities)) if got != want)
    return f"every entity came back once, but not in the service's order: entity {ids[first]} came where {entities[first]} belongs"


def pages_use_the_page_size(client_class, url, entities):
    for page_size, call in ((None, f"with pageSize={PAGE_SIZE}"), (SMALL_PAGE, f"with page_size={SMALL_PAGE}")):
        wanted = page_size or PAGE_SIZE
        pages = read_pages(client_class, url, {"id_lt": ENTITY_IDS_BELOW}, len(entities), page_size)
        problem = page_shape_problem(pages)
        if problem:
            return problem
        sizes = [len(items) for items in pages]
        wrong = [size for size in sizes[:-1] if size != wanted] + [size for size in sizes[-1:] if size > wanted]
        if wrong:
            send = "limit=page_size when it is given" if page_size else "limit=self.options['pageSize']"
            return f"{call} a page held {wrong[0]} items, not {wanted}: send {send}"
    return None


def pages_raise_on_errors(client_class, url):
    try:
        pages = read_pages(client_class, url, {"id_gte": "not-a-number"}, 100)
    except NotImplementedError:
        raise
    except Exception:
        return None
    return (
        f"GET /v1/entities?id_gte=not-a-number answers HTTP 400, but pages() yielded {len(pages)} pages and no "
        "error: use self.get(), which raises ServiceError for an error status (never `if response:`)"
    )


# -- read, in this process -------------------------------------------------------------------------


def one_session_reused(reader_class, url, truth):
    from solutions.partitioning import TimeWindowPartition

    expected = truth.count("events", start=START, end=END)
    reader = new_reader(reader_class, url)
    with counting_sessions() as sessions:
        rows = reader.read(TimeWindowPartition(0, *window()))
        try:
            got = list(itertools.islice(rows, 2 * expected + 10))  # a page read forever ends here
        except Exception as error:
            if "session is not open" not in str(error):  # the reference client's refusal of a closed session
                raise
            sessions.used_after_close += 1
        rows.close()
    pages = -(-expected // READ_PAGE_SIZE)
    if sessions.used_after_close:
        return (
            "read() used its client after the with block had closed it: the block ended before the pages were "
            "read (a `return` of the rows generator inside it?); yield from inside the with block"
        )
    if len(got) != expected:
        more = "more than " if len(got) > 2 * expected else ""
        return f"read() gave {more}{len(got)} rows for a window of {expected} events (is pages() right? see above)"
    if not sessions.opened:
        return "read() opened no requests.Session: open one with self.client_class(self.options) in a `with` block"
    if len(sessions.opened) > 1:
        return (
            f"read() opened {len(sessions.opened)} sessions for one partition of {pages} pages: open one client per "
            "partition (with self.client_class(self.options) as client:) and reuse it for every page"
        )
    if sessions.still_open():
        return "read() left its session open after the last page: use `with self.client_class(self.options) as client:`"
    return None


def closed_when_stopped_early(reader_class, url):
    from solutions.partitioning import TimeWindowPartition

    reader = new_reader(reader_class, url)
    with counting_sessions() as sessions:
        rows = reader.read(TimeWindowPartition(0, *window()))
        try:
            first = list(itertools.islice(rows, 5))
        except Exception as error:
            if "session is not open" not in str(error):  # the reference client's refusal of a closed session
                raise
            return (
                "read() used its client after the with block had closed it: the block ended before the pages were "
                "read (a `return` of the rows generator inside it?); yield from inside the with block"
            )
        rows.close()  # what happens when Spark stops reading early, e.g. for a LIMIT
    if len(first) < 5:
        return f"read() gave only {len(first)} rows"
    if sessions.still_open():
        return (
            f"after the read was stopped early (generator.close(), as for a LIMIT) {sessions.still_open()} session(s) "
            "stayed open: code after the loop never runs then; put the loop inside `with self.client_class(self.options) as client:`"
        )
    return None


def closed_when_failing(reader_class, url):
    from solutions.partitioning import TimeWindowPartition

    start, end = window()
    reader = new_reader(reader_class, url)
    with counting_sessions() as sessions:
        try:
            rows = list(itertools.islice(reader.read(TimeWindowPartition(0, end, start)), 10))  # end before start: 400
        except NotImplementedError:
            raise
        except Exception:
            rows = None
    if rows is not None:
        return f"the service answered HTTP 400, yet read() gave {len(rows)} rows and no error"
    if sessions.still_open():
        return (
            f"after read() failed, {sessions.still_open()} session(s) stayed open: `with self.client_class(self.options) "
            "as client:` closes it when an exception passes through"
        )
    return None


# -- on Spark --------------------------------------------------------------------------------------


def reads_on_spark(source_class, reader_class, url, truth):
    from workshop.spark import get_spark

    if source_class.batch_reader is not reader_class:
        return (
            f"Lab02DataSource.batch_reader is {source_class.batch_reader.__module__}.{source_class.batch_reader.__name__}, "
            "not your PracticeBatchReader: set batch_reader = PracticeBatchReader, so Spark reads with yours"
        )
    spark = get_spark()
    spark.dataSource.register(source_class)
    expected = truth.count("events", start=START, end=END)
    try:
        rows = (
            spark.read.format(source_class.name())
            .option("url", url)
            .option("start", START)
            .option("end", END)
            .option("numPartitions", "3")
            .option("pageSize", str(READ_PAGE_SIZE))
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
    return None


# -- helpers ---------------------------------------------------------------------------------------


def read_pages(client_class, url, params, entities, page_size=None):
    """The pages of GET /v1/entities from the learner's client (pageSize=PAGE_SIZE), until they hold
    more than `entities` and two pages besides, or 200 pages: a read that never stops ends there."""
    from solutions.options import parse_options

    pages, held = [], 0
    with client_class(parse_options({"url": url, "pageSize": str(PAGE_SIZE)})) as client:
        for page in client.pages("/v1/entities", dict(params), page_size=page_size):
            pages.append(page)
            held += len(page) if isinstance(page, list) else 1
            if held > entities + 2 * 1000 or len(pages) >= 200:
                break
    return pages


def page_shape_problem(pages):
    """What is wrong with what pages() yielded, when it is not lists of records."""
    for page in pages[:1]:
        if isinstance(page, dict) and "items" in page:
            return "pages() yielded the whole page ({'items': ..., 'next_cursor': ...}); yield page['items'], its records"
        if isinstance(page, dict):
            return f"pages() yielded one record ({page!r:.60}), not a page: yield page['items'], the list of a page's records"
        if not isinstance(page, list):
            return f"pages() yielded {type(page).__name__} {page!r:.60}; yield page['items'], the list of a page's records"
    return None


def window():
    from solutions.conversion import parse_timestamp

    return parse_timestamp(START), parse_timestamp(END)


def new_reader(reader_class, url):
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

    from solutions.options import parse_options

    schema = StructType([StructField("seq", LongType()), StructField("event_time", TimestampType()),
                         StructField("kind", StringType()), StructField("amount", DecimalType(12, 2))])
    raw = {"url": url, "start": START, "end": END, "pageSize": str(READ_PAGE_SIZE), "logLevel": "WARNING"}
    return reader_class(parse_options(raw), schema)


@contextlib.contextmanager
def counting_sessions():
    """The requests.Session objects opened, closed and used after closing in this process meanwhile."""
    import requests

    sessions = types.SimpleNamespace(opened=[], closed=set(), used_after_close=0)
    sessions.still_open = lambda: sum(1 for session in sessions.opened if id(session) not in sessions.closed)
    original_init, original_close, original_send = requests.Session.__init__, requests.Session.close, requests.Session.send

    def init(session, *args, **kwargs):
        original_init(session, *args, **kwargs)
        sessions.opened.append(session)

    def close(session):
        sessions.closed.add(id(session))
        return original_close(session)

    def send(session, request, **kwargs):
        if id(session) in sessions.closed:
            sessions.used_after_close += 1
        return original_send(session, request, **kwargs)

    requests.Session.__init__, requests.Session.close, requests.Session.send = init, close, send
    try:
        yield sessions
    finally:
        requests.Session.__init__, requests.Session.close, requests.Session.send = original_init, original_close, original_send
