"""Lab 01 check: a first DataSource (name, schema, string options, one page) read on Spark.

The rules the lab states, and the requirement that tests each, with inputs where breaking the
rule changes the outcome:

1. `name()` is the short name "entities_page" (used in `format(...)`).
   `name_is_entities_page`: the class method's answer; any other name is named.
2. The schema is `id bigint, name string, email string, score double, active boolean`.
   `schema_is_declared`: the DataFrame's schema on Spark, type by type.
3. `read` yields one tuple per entity of the first page, in schema order; `limit` defaults to 10.
   `reads_the_first_page`: without options, the first 10 entities as served (ground truth).
4. `limit` is the page size, and arrives as a string.
   `limit_is_the_page_size`: "25" and "3" give the first 25 and 3 (the default, 10, lies between).
5. `activeOnly` keeps only active entities when it is `true` in any case, default `false`; options
   are strings, so `bool("false")` is True: compare the text.
   `active_only_is_text`: "false" and "False" keep all 10, "true" and "TRUE" keep the active ones
   of those 10 (the first page holds both kinds).
6. A user's schema chooses and orders the columns: yield values in `schema.fieldNames()` order.
   `user_schema_is_followed`: `.schema("name string, id bigint")`, two columns in reverse order.
7. `url` is required: raise a clear error without it, in `__init__`, on the driver.
   `url_is_required`: without url the reader must refuse with an error naming the option; a
   bare `KeyError: 'url'`, and an error only from `read()` (on an executor), are named.
8. `read` asks the service (on the executor), with a timeout.
   `read_asks_with_a_timeout`: the reader runs in this process while the check records each
   connection to the service: every one must have a timeout, and none may come from `__init__`.
9. An HTTP error (any 4xx or 5xx) fails the read (check the status code, never `if response:`).
   `http_errors_fail_the_read`: a 400 (a server of the check's own refusing every request), a
   404 (a url with a path the service does not have) and a 500 (a service of the check's own that
   fails every request) must make the read raise, with an error that says which (the status, or
   the service's message); "no rows" is named.

Rules 2, 3 and 6 read on Spark, in one job (the two reads unioned; when that job fails, each runs
alone, so that the failure is pinned on one). Rules 4 and 5 (six reads) and 7-9 call the source
in this Python process as Spark would, on the driver and then, with the reader pickled, on an
executor: the same calls, without a Spark planning round for each.
"""
import contextlib
import functools
import json
import urllib.parse

from workshop.checks import FixedAnswer, practice_service, spark_error_text

NAME = "entities_page"
SCHEMA = "struct<id:bigint,name:string,email:string,score:double,active:boolean>"
COLUMNS = ["id", "name", "email", "score", "active"]

# The reads made on Spark: name -> (options, user schema or None, page size, active only).
# Only the limit reads set a limit, so a mistake with limit shows there alone (the first 10
# entities hold active and inactive ones).
READS = {
    "without options": ({}, None, 10, False),
    "limit 25": ({"limit": "25"}, None, 25, False),
    "limit 3": ({"limit": "3"}, None, 3, False),
    "activeOnly false": ({"activeOnly": "false"}, None, 10, False),
    "activeOnly False": ({"activeOnly": "False"}, None, 10, False),
    "activeOnly true": ({"activeOnly": "true"}, None, 10, True),
    "activeOnly TRUE": ({"activeOnly": "TRUE"}, None, 10, True),
    "user schema": ({}, "name string, id bigint", 10, False),
}

HINTS = {
    "EntitiesPageReader.__init__": [
        "Spark hands the options over as strings in a case-insensitive dict: read each one here, once, "
        "turn it into what you need (a number, True or False) and refuse what you cannot use, naming the option.",
        "bool('false') is True, so a boolean option is compared as text, in any case; and options['url'] "
        "without a url is a bare KeyError: 'url', which says little: check first and say what is missing.",
        "if 'url' not in options: raise ValueError('option url is required'); self.url = options['url']; "
        "self.limit = int(options.get('limit', '10')); "
        "self.active_only = options.get('activeOnly', 'false').strip().lower() == 'true'",
    ],
    "EntitiesPageReader.read": [
        "One GET of /v1/entities asking for self.limit items, with a timeout; fail on an error status; "
        "then one tuple per entity, its values in the order of self.columns.",
        "Without timeout= a stuck server holds the task forever; `if response:` turns an HTTP error into "
        "\"no rows\"; and a user's schema may drop or reorder columns, so never yield a fixed tuple.",
        "response = requests.get(f'{self.url}/v1/entities', params={'limit': self.limit}, timeout=(5, 30)); "
        "if response.status_code >= 400: raise RuntimeError(...); for item in response.json()['items']: "
        "skip inactive ones when self.active_only, else yield tuple(item[c] for c in self.columns)",
    ],
}


def check(report, EntitiesPageDataSource, url, service=None):
    from workshop.service import PracticeService

    served = practice_service(url, service).truth.records("entities", id_lt=5000)[:25]  # the first entities
    reads = Reads(EntitiesPageDataSource, url)
    failing = PracticeService(seed=7, events=10, entities=50, ring_rows=10, fault_rate=1.0, fault_kinds="500")
    report.require("name() is the short name 'entities_page'", name_is_entities_page, EntitiesPageDataSource)
    report.require("schema() declares id, name, email, score, active", schema_is_declared, reads)
    report.require("reads the first page of entities, as served (limit 10 by default)", reads_the_first_page, reads, served)
    report.require("option limit (a string) sets the page size", limit_is_the_page_size, reads, served)
    report.require("option activeOnly: 'true' (any case) keeps active entities, 'false' keeps all",
                   active_only_is_text, reads, served)
    report.require("a user schema chooses and orders the columns", user_schema_is_followed, reads, served)
    report.require("a missing url is refused on the driver, with an error naming it", url_is_required, EntitiesPageDataSource)
    report.require("read() asks the service itself, with a timeout", read_asks_with_a_timeout, EntitiesPageDataSource, url)
    refusing = FixedAnswer(400, "application/json", json.dumps(
        {"error": "bad_request", "message": "this server refuses every request"}).encode())
    with failing, refusing as refusing_url:
        report.require("an HTTP error (400, 404, 500) fails the read instead of giving no rows",
                       http_errors_fail_the_read, EntitiesPageDataSource, url, failing.url, refusing_url)


# -- the requirements ------------------------------------------------------------------------------


def name_is_entities_page(source_class):
    name = source_class.name()
    if name != NAME:
        return f"name() returns {name!r}; the task asks for the short name {NAME!r} (used in format(...))"
    return None


def schema_is_declared(reads):
    try:
        schema = reads.load().schema.simpleString()
    except Exception as error:
        return f"loading failed: {spark_error_text(error)}"
    if schema != SCHEMA:
        return f"the DataFrame's schema is {schema}; expected {SCHEMA}"
    return None


def reads_the_first_page(reads, served):
    return compare(reads, "without options", served)


def limit_is_the_page_size(reads, served):
    for name in ("limit 25", "limit 3"):
        reason = compare(reads, name, served)
        if reason:
            got, _ = reads.rows(name)
            if got is not None and len(got) == 10:
                reason += " (10 is the default: read options['limit'], a string, with int(...))"
            return reason
    return None


def active_only_is_text(reads, served):
    for name in ("activeOnly false", "activeOnly False", "activeOnly true", "activeOnly TRUE"):
        options, _, limit, active_only = READS[name]
        text = options["activeOnly"]
        got, problem = reads.rows(name)
        if problem:
            return f"with .option('activeOnly', {text!r}) {problem}"
        if not active_only and len(got) < limit:
            if all(row.get("active") for row in got):
                return (
                    f"with .option('activeOnly', {text!r}) only the {len(got)} active of {limit} rows came back: the "
                    f"option arrives as the string {text!r}, and bool({text!r}) is True in Python; compare the text "
                    "(text.strip().lower() == 'true')"
                )
            return f"with .option('activeOnly', {text!r}) only {len(got)} of {limit} rows came back; expected all {limit}"
        if active_only and any(not row.get("active") for row in got):
            return (
                f"with .option('activeOnly', {text!r}) inactive entities came back: {text!r} means true "
                "(compare the text in any case: text.strip().lower() == 'true')"
            )
        reason = compare(reads, name, served)
        if reason:
            return reason
    return None


def user_schema_is_followed(reads, served):
    got, problem = reads.rows("user schema")
    if problem:
        return f"{problem}; yield the values of schema.fieldNames(), in that order"
    return compare(reads, "user schema", served)


def url_is_required(source_class):
    from pyspark.sql.datasource import CaseInsensitiveDict

    source = source_class(CaseInsensitiveDict({"limit": "3"}))
    try:
        reader = source.reader(page_schema())
    except Exception as error:
        if isinstance(error, KeyError) and error.args == ("url",):
            return (
                "without option url the reader failed with a bare KeyError: 'url', which does not say what is "
                "wrong: check for it and raise ValueError('option url is required, e.g. ...')"
            )
        if "url" not in str(error).lower():
            return f"without option url the error should name the option; it says: {type(error).__name__}: {error}"
        return None
    try:
        read_in_process(reader)
    except Exception as error:
        return (
            f"without option url, reader() accepted the options and read() failed later, on the executor, with "
            f"{type(error).__name__}: {str(error)[:80]}: check the options in the reader's __init__, on the driver, "
            "so the query fails before any task starts"
        )
    return "without option url nothing failed; raise an error naming the option in the reader's __init__"


def read_asks_with_a_timeout(source_class, url):
    from pyspark.sql.datasource import CaseInsensitiveDict

    source = source_class(CaseInsensitiveDict({"url": url, "limit": "3"}))
    with connections_to(url) as made:
        reader = source.reader(page_schema())
        at_planning = len(made)
        rows = read_in_process(reader)
    if at_planning:
        return (
            "the reader asked the service while it was made (in __init__, on the driver), which ships the page "
            "to the tasks as data: ask in read(), which runs on the executors"
        )
    if not made:
        return f"read() gave {len(rows)} rows but made no connection to the service at {url}"
    if any(timeout is None for timeout in made):
        return (
            "read() connected to the service without a timeout, so a stuck server would hold the Spark task "
            "forever: pass timeout=(5, 30) to requests.get"
        )
    return None


def http_errors_fail_the_read(source_class, url, failing_url, refusing_url):
    from pyspark.sql.datasource import CaseInsensitiveDict

    missing = url.rstrip("/") + "/no-such-prefix"  # GET .../no-such-prefix/v1/entities answers 404
    for target, status in ((refusing_url, 400), (missing, 404), (failing_url, 500)):
        error_code, message = service_error(target)
        try:
            rows = read_in_process(source_class(CaseInsensitiveDict({"url": target})).reader(page_schema()))
        except NotImplementedError:
            raise
        except Exception as error:
            said = error_texts(error)
            if not any(word in said for word in (str(status), error_code, message)):
                return (
                    f"the service answered HTTP {status} and read() failed, but with {type(error).__name__}: "
                    f"{str(error)[:80]}, which does not say so: check response.status_code and raise an error "
                    "that names the status (or response.raise_for_status())"
                )
            continue
        return (
            f"the service answered HTTP {status} to GET {target}/v1/entities, yet read() gave {len(rows)} rows and "
            "no error: check response.status_code (or call response.raise_for_status()); never `if response:`"
        )
    return None


# -- the reads: two on Spark in one job, the option variants in this process ----------------------


class Reads:
    """The learner's source read with each of READS, each read's rows (as dicts) or why it failed.

    The reads without options and with a user schema run on Spark, in one job (unioned, each row
    as JSON text beside the read's name; when that job fails, each alone, to pin the failure on
    one). The option variants run in this process as Spark runs a read (the options a
    CaseInsensitiveDict of strings, the reader pickled as for a task, then read): the same calls,
    without a Spark planning round per variant.
    """

    on_spark = ("without options", "user schema")

    def __init__(self, source_class, url):
        self.source_class = source_class
        self.url = url
        self.registered = None
        self.results = {}

    def load(self, options=None, schema=None):
        from workshop.spark import get_spark

        spark = get_spark()
        if self.registered is None:
            spark.dataSource.register(self.source_class)
            self.registered = self.source_class.name()
        reader = spark.read.format(self.registered).option("url", self.url)
        for key, value in (options or {}).items():
            reader = reader.option(key, value)
        if schema is not None:
            reader = reader.schema(schema)
        return reader.load()

    def rows(self, name):
        """(rows as dicts of the read's columns, None), or (None, the reason that read failed)."""
        if name not in self.results:
            if name in self.on_spark:
                self.results.update(self.read_on_spark())
            else:
                self.results[name] = self.read_here(name)
        return self.results[name]

    def read_here(self, name):
        from pyspark import cloudpickle
        from pyspark.sql.datasource import CaseInsensitiveDict

        options, _, _, _ = READS[name]
        try:
            source = self.source_class(CaseInsensitiveDict({"url": self.url, **options}))
            reader = cloudpickle.loads(cloudpickle.dumps(source.reader(page_schema())))  # as Spark ships it
            rows = read_in_process(reader)
        except Exception as error:
            return None, f"the read failed: {type(error).__name__}: {error}"
        return [dict(zip(COLUMNS, row)) for row in rows], None

    def framed(self, name):
        from pyspark.sql.functions import lit, struct, to_json

        options, schema, _, _ = READS[name]
        frame = self.load(options, schema)
        return frame.select(lit(name).alias("read"), to_json(struct(*frame.columns)).alias("row"))

    def read_on_spark(self):
        try:
            frames = [self.framed(name) for name in self.on_spark]
            rows = functools.reduce(lambda one, other: one.unionByName(other), frames).collect()
        except Exception:
            return {name: self.read_one_on_spark(name) for name in self.on_spark}
        results = {name: ([], None) for name in self.on_spark}
        for row in rows:
            results[row["read"]][0].append(json.loads(row["row"]))
        return results

    def read_one_on_spark(self, name):
        try:
            return [json.loads(row["row"]) for row in self.framed(name).collect()], None
        except Exception as error:
            return None, f"the read failed: {spark_error_text(error)}"


def compare(reads, name, served):
    """None when read `name` gave exactly the entities it should, in JSON form; else what differs."""
    options, schema, limit, active_only = READS[name]
    got, problem = reads.rows(name)
    what = "without options" if not options else "with " + ", ".join(f".option({k!r}, {v!r})" for k, v in options.items())
    if schema:
        what += f" and .schema({schema!r})"
    if problem:
        return f"{what} {problem}"
    columns = [part.split()[0] for part in schema.split(",")] if schema else COLUMNS
    want = [{column: record[column] for column in columns} for record in served[:limit] if record["active"] or not active_only]
    got = [{column: row.get(column) for column in columns} for row in got]
    if len(got) != len(want):
        return f"{what}: got {len(got)} rows, expected {len(want)}"
    missing = [record for record in want if record not in got]
    if missing:
        extra = [row for row in got if row not in want]
        return f"{what}: got the row {extra[0] if extra else got[0]}, the service has {missing[0]}"
    return None


# -- running the source in this process, as Spark would ------------------------------------------


def page_schema():
    """The StructType Spark passes to reader(schema) for the task's schema."""
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    types = {"id": LongType(), "name": StringType(), "email": StringType(), "score": DoubleType(), "active": BooleanType()}
    return StructType([StructField(column, types[column]) for column in COLUMNS])


def read_in_process(reader):
    """Every row `reader` yields, read as Spark reads it: each partition of partitions(), or, when it
    plans none, Spark's stand-in for one partition (None, or InputPartition(None) from Spark 4.2)."""
    from pyspark.sql.datasource import InputPartition

    from workshop.notebook import one_partition_is_input_partition

    try:
        partitions = reader.partitions()
    except NotImplementedError:
        partitions = []
    if not partitions:
        partitions = [InputPartition(None) if one_partition_is_input_partition() else None]
    return [row for partition in partitions for row in reader.read(partition)]


@contextlib.contextmanager
def connections_to(url):
    """The timeouts (None: no timeout) of the sockets this process connects to `url`'s port meanwhile.

    Every HTTP library connects a socket (requests through urllib3, urllib through http.client), and
    sets the connect timeout it was given on the socket first: reading it there needs no library's
    internals.
    """
    import socket

    port = urllib.parse.urlparse(url).port
    made = []
    own = "connect" in vars(socket.socket)  # connect is normally inherited from _socket.socket
    original = socket.socket.connect

    def connect(sock, address):
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == port:
            made.append(sock.gettimeout())
        return original(sock, address)

    socket.socket.connect = connect
    try:
        yield made
    finally:
        if own:
            socket.socket.connect = original
        else:
            del socket.socket.connect


def service_error(url):
    """(error code, message) of the service's error answer to GET url/v1/entities."""
    import requests

    body = requests.get(url + "/v1/entities", timeout=10).json()
    return body["error"], body["message"]


def error_texts(error):
    """The text of an error and of the errors it was raised from."""
    texts = []
    for _ in range(10):
        if error is None:
            break
        texts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return " | ".join(texts)
