# Lab 02 source: the batch reader and cursor pagination. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 02 · A batch reader with pagination
#
# **Goal:** read a whole resource, not one page: follow the service's cursors from page to page,
# and give each Spark task one HTTP session that is closed however the task ends.
#
# **Time:** 40 minutes.
#
# From here on you work inside the course's reference connector (`solutions/`), one layer per
# lab. Its options layer (typed options from Spark's strings) and most of its client are given;
# you write the two pieces this lab is about, and the rest of the connector runs with them.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![A session per partition, a page per request](images/02_pagination.svg)
#
# The reference connector is layered: `options` (typed options from Spark's strings, checked on
# the driver), `client` (HTTP), `partitioning`, `conversion` (JSON to Spark values), then
# `reader`, `writer` and `datasource`. `PracticeDataSource.reader(schema)` parses the options and
# returns a `PracticeBatchReader`; its `__init__` asks the service for the resource's schema and
# checks the user's schema against it, so a wrong column fails on the driver, before any task.
# (With option `filterPushdown` it returns a subclass with `pushFilters`: lab 10.)
#
# **Cursor pagination.** A paged endpoint answers `{"items": [...], "next_cursor": "..."}`. Ask
# again with `cursor=<next_cursor>` (and the same other parameters) until `next_cursor` is
# `null`. The cursor is opaque: do not build your own from the last id or an offset. Offsets
# skip or repeat records when the data changes between requests, and "the last id again" reads
# it twice.
#
# **One session per partition.** A `requests.Session` keeps the TCP (and TLS) connection open
# between requests and carries the headers; opening one per page costs a handshake per page.
# It cannot be opened on the driver and shipped: the reader is pickled for each task, and tasks
# run in Python worker processes of their own. So `read` opens it: one per partition, reused for
# every page of that partition.
#
# **Closed on every way out.** `read` is a generator. It can end three ways: the last page is
# read; an exception (an HTTP error, a record that cannot be converted); or Spark stops
# consuming early (a `LIMIT` is satisfied), in which case the generator is closed: Python raises
# `GeneratorExit` at the paused `yield`, and the code after the loop never runs. A `with` block
# around the loop closes the session in all three cases.
#
# Here is the reference client's first page of entities, and its cursor:

# %%
from solutions.client import PracticeClient as ReferenceClient
from solutions.options import parse_options

options = parse_options({"url": lab.url, "pageSize": "3"})
with ReferenceClient(options) as client:
    page = client.get("/v1/entities", {"limit": options["pageSize"]})
[item["id"] for item in page["items"]], page["next_cursor"]

# %% [markdown]
# ## Your task 1: follow the cursors
#
# Your `PracticeClient` is the reference client with its `pages` method left to you. Use
# `self.get(path, params)`: it sends the request through the session, raises a `ServiceError`
# (with the service's message) for any HTTP error status, and returns the decoded JSON. `pages`
# is a generator that yields each page's `items` list. Every request carries the caller's
# `params` (a range such as `id_lt` holds for every page, not only the first) and asks for
# `page_size` items, or the option `pageSize` when `page_size` is not given. (The reference's
# `get` also retries transient failures with backoff; that is lab 09's subject.)
#
# Stuck? `lab.hint("PracticeClient.pages")` gives a hint; run it again for the next (the idea, the
# pitfall, then nearly the answer). Task 2's is `lab.hint("PracticeBatchReader.read")`.

# %%
from solutions import client as reference_client


class PracticeClient(reference_client.PracticeClient):
    """The reference client, with your pages()."""

    # %include solutions.client:PracticeClient.pages


# %%
with PracticeClient(parse_options({"url": lab.url, "pageSize": "400"})) as client:
    sizes = [len(items) for items in client.pages("/v1/entities", {"id_lt": 10_000})]
sizes

# %% [markdown]
# ## Your task 2: a session per partition
#
# Your `PracticeBatchReader` is the reference batch reader with `read(partition)` left to you.
# Planning (`partitions`) is lab 03's subject. Open one client for the partition,
# `self.client_class(self.options)`, in a `with` block, and yield the converted rows of its
# pages: `self.convert_pages(client, self._pages(client, partition), partition.index)`. `_pages`
# picks the endpoint and parameters for the partition (a time window of events, an id range, a
# token range) and calls `client.pages`; `convert_pages` turns JSON records into row tuples
# (lab 04) and reports the task's metrics with the client's counts.
#
# The reader names its client in one class attribute, `client_class`: set to *your*
# `PracticeClient` from task 1, the data source below runs your pagination too.

# %%
from pyspark.sql.datasource import InputPartition

from solutions import reader as reference_reader
from solutions.partitioning import EmptyPartition


class PracticeBatchReader(reference_reader.PracticeBatchReader):
    """The reference batch reader, with your read() and your PracticeClient."""

    client_class = PracticeClient  # yours, from task 1

    # %include solutions.reader:PracticeBatchReader.read


# %% [markdown]
# A data source that uses your reader: the reference `PracticeDataSource` names its pieces in
# class attributes, so a subclass that sets `batch_reader` plugs yours in (and `short_name`
# registers it beside the reference). Read one minute of events (about 6,000) in 4 partitions.

# %%
from solutions.datasource import PracticeDataSource


class Lab02DataSource(PracticeDataSource):
    short_name = "practice_lab02"
    batch_reader = PracticeBatchReader  # yours


spark.dataSource.register(Lab02DataSource)
events = (
    spark.read.format("practice_lab02")
    .option("url", lab.url)
    .option("start", "2026-01-01T00:00:00Z")
    .option("end", "2026-01-01T00:01:00Z")
    .option("pageSize", 500)
    .load()
)
print(events.count(), "events")
events.select("seq", "event_time", "kind", "amount").show(3, truncate=False)

# %% [markdown]
# ## Check
#
# The check runs your `pages` against the service (page sizes, every entity once, the same
# params on every page, errors), runs your `read` in this Python process while counting the
# `requests` sessions it opens, uses and closes (to the end, stopped early, failing), and reads a
# window of events on Spark with `Lab02DataSource`, which reads with both.

# %%
from workshop.checks import check_lab

check_lab("02", PracticeClient=PracticeClient, PracticeBatchReader=PracticeBatchReader, Lab02DataSource=Lab02DataSource,
          url=lab.url)

# %% [markdown]
# ## Stretch
#
# - Time `events.count()` with `pageSize` 100, 1000 and 10000. Where does the time go with small
#   pages? (Each page is one request; the session saves the connection setup, not the round trip.)
# - Compare `len(response.content)` with and without the header `Accept-Encoding: gzip` for one
#   page of 1000 events. The connector's option `gzip` (default `true`) sets that header;
#   `requests` decompresses for you.
# - Read `_event_pages` in the reader above: when the service refuses a window with 413 at read
#   time (late events arrived since planning), the reader halves the window and carries on.
#
# ## Recap
#
# - Follow `next_cursor` until it is `null`; send it back unchanged; never build your own.
# - Errors are raised from the status code, with the service's message, never from `if response:`.
# - `read` opens one session per partition and reuses it for every page.
# - A `with` block closes it on every way out: end, exception, and `GeneratorExit` when Spark
#   stops reading early.
