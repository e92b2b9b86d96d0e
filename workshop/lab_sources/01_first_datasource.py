# Lab 01 source: a first DataSource. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 01 · A first data source
#
# **Goal:** write the smallest complete Python data source: a name, a schema, options and one
# partition, reading one page of the practice service's entities with `requests`. Along the way:
# which of your methods run on the driver, which on the executors, and why every option is a
# string.
#
# **Time:** 30 minutes.

# %% [markdown]
# ## Setup
#
# The same first cell as in every lab: Spark, the practice service, the reference connector.

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![What Spark calls, and where](images/01_lifecycle.svg)
#
# A Python data source is two small classes from `pyspark.sql.datasource` (Spark 4.0+):
#
# - **`DataSource`**, the entry point. `name()` (a class method) is the short name you use in
#   `spark.read.format(...)`; the default is the class name. `schema()` returns the schema when
#   the user gives none, as a DDL string such as `"id bigint, name string"` or a `StructType`.
#   `reader(schema)` returns the reader; `schema` is the user's schema if they gave one with
#   `.schema(...)`, else yours. Spark gives the options to the constructor (`self.options`).
# - **`DataSourceReader`**, with `partitions()` (what each task reads; optional) and
#   `read(partition)`, a generator that yields one tuple (or `Row`) per row, in schema order.
#
# **Driver and executors.** Spark calls `schema()`, `reader()` and `partitions()` while it plans
# the query, on the driver. Then it pickles the reader and each partition and calls
# `read(partition)` in a task on an executor. Both happen in Python processes that Spark starts,
# not in your notebook's Python: a `print` in `read` does not appear here, a global variable set
# in the notebook after registering is not seen, and anything you store on `self` in the
# reader's `__init__` must pickle (plain values: strings, numbers; no open sessions or sockets).
# That is also why `import requests` sits inside `read`: it runs where the I/O happens.
#
# **Options are strings.** `.option("limit", 25)` arrives as `"25"`, `.option("activeOnly",
# False)` as `"false"`. Keys are case-insensitive (`self.options` is a `CaseInsensitiveDict`:
# `.option("LIMIT", "5")` is `options["limit"]`). Python's `bool("false")` is `True`, so a
# boolean option must be compared as text, never tested for truth.
#
# **Registration.** `spark.dataSource.register(MyDataSource)` makes the short name known to this
# Spark session; register again after changing the class. Without `partitions()` Spark reads
# one partition, with a stand-in for it: `read(None)` up to Spark 4.1, `read(InputPartition(None))`
# from 4.2 (the setup cell says which this runtime does). A reader of one partition ignores it.
#
# One page of entities, as the service sends it:

# %%
import requests

page = requests.get(f"{lab.url}/v1/entities", params={"limit": 3}, timeout=(5, 30)).json()
page["items"][0], page["next_cursor"]

# %% [markdown]
# ## Your task: a data source for one page of entities
#
# Finish `EntitiesPageReader` so that
# `spark.read.format("entities_page").option("url", lab.url).load()` returns the first page of
# entities with the columns `id bigint, name string, email string, score double, active boolean`:
#
# 1. In `__init__` (driver): take the options. `url` is required: without it, raise an error
#    that says so (a bare `KeyError: 'url'` does not); `limit` is the page size, a whole number,
#    default 10; `activeOnly` keeps only the active entities of the page when it is `true` (any
#    case), default `false`.
# 2. In `read` (executor): `GET {url}/v1/entities?limit=...` with a timeout; an HTTP error (any
#    4xx or 5xx) must fail the read, with an error that says so (check the status code, never `if response:`);
#    yield one tuple per entity, with the values in the order of the schema's columns.
#
# Stuck? `lab.hint("EntitiesPageReader.__init__")` and `lab.hint("EntitiesPageReader.read")` give
# a hint; run one again for the next (the idea, the pitfall, then nearly the answer).

# %%
from pyspark.sql.datasource import DataSource, DataSourceReader


class EntitiesPageDataSource(DataSource):
    """One page of the practice service's entities: spark.read.format("entities_page")."""

    @classmethod
    def name(cls):
        return "entities_page"

    def schema(self):
        return "id bigint, name string, email string, score double, active boolean"

    def reader(self, schema):
        return EntitiesPageReader(self.options, schema)


class EntitiesPageReader(DataSourceReader):
    def __init__(self, options, schema):
        # Driver. Everything stored on self is pickled and sent to the executors.
        self.columns = schema.fieldNames()  # the user's schema, or ours
        # BEGIN SOLUTION: url (required), limit (a number) and activeOnly (true/false) from the strings
        if "url" not in options:
            raise ValueError("option url is required, e.g. .option('url', 'http://127.0.0.1:8765')")
        self.url = options["url"].rstrip("/")
        self.limit = int(options.get("limit", "10"))
        self.active_only = options.get("activeOnly", "false").strip().lower() == "true"
        # END SOLUTION

    def read(self, partition):
        # Executor. partition is None (Spark 4.0, 4.1) or InputPartition(None) (4.2+): one partition.
        import requests

        # BEGIN SOLUTION: GET one page of entities with a timeout; fail on an error status; yield tuples
        response = requests.get(f"{self.url}/v1/entities", params={"limit": self.limit}, timeout=(5, 30))
        if response.status_code >= 400:
            raise RuntimeError(f"GET /v1/entities failed with HTTP {response.status_code}: {response.text[:200]}")
        for item in response.json()["items"]:
            if self.active_only and not item["active"]:
                continue
            yield tuple(item[column] for column in self.columns)
        # END SOLUTION


# %% [markdown]
# First try it by hand, in this Python process, the way Spark will call it: errors and `print`
# output show up right here. Spark passes the options as a `CaseInsensitiveDict` of strings.

# %%
from pyspark.sql.datasource import CaseInsensitiveDict
from pyspark.sql.types import StructType

source = EntitiesPageDataSource(CaseInsensitiveDict({"url": lab.url, "LIMIT": "3"}))
reader = source.reader(StructType.fromDDL(source.schema()))
list(reader.read(None))

# %% [markdown]
# Now register it and read it with Spark. Try other options: `limit` 25, `activeOnly` `true`, a
# user schema such as `.schema("name string, id bigint")`.

# %%
spark.dataSource.register(EntitiesPageDataSource)

df = spark.read.format("entities_page").option("url", lab.url).option("limit", 5).load()
df.show(truncate=False)
df.printSchema()

# %% [markdown]
# ## Check
#
# The check registers your data source and reads it on Spark with several options and a user
# schema (in one Spark job), comparing the rows with the service's ground truth. Then it runs your
# reader here, as Spark would: without a url, watching its connections for a timeout, and against
# a missing path and a service that fails every request.

# %%
from workshop.checks import check_lab

check_lab("01", EntitiesPageDataSource=EntitiesPageDataSource, url=lab.url)

# %% [markdown]
# ## Stretch
#
# - Give the reader a `partitions()` that returns two `InputPartition`s, one per page: the first
#   with no cursor, the second with the first page's `next_cursor` (ask for it on the driver, in
#   `partitions()`). `read(partition)` then uses `partition.value`. How many tasks run now
#   (`df.select(spark_partition_id()).distinct().count()`)?
# - Add an option `columns` and see what happens when a user's `.schema(...)` names a column the
#   service does not have. Lab 02 answers it with a clear error, raised on the driver.
#
# ## Recap
#
# - `DataSource` is the entry point: `name()`, `schema()` (a DDL string is fine), `reader(schema)`.
# - The driver plans (`schema`, `reader`, `partitions`); executors run `read(partition)`; both in
#   Python processes Spark starts, so the reader carries plain, picklable values.
# - Options are case-insensitive strings: parse them once, on the driver; `"false"` is not false.
# - Without `partitions()` there is one partition; `read` yields tuples in schema order.
