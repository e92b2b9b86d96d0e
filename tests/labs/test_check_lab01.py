"""Lab 01's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why."""
import json
import urllib.request

import pytest
from pyspark.sql.datasource import DataSource, DataSourceReader

from workshop import labs
from workshop.checks import check_lab

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]

NAME = "name() is the short name 'entities_page'"
SCHEMA = "schema() declares id, name, email, score, active"
LIMIT = "option limit (a string) sets the page size"
ACTIVE = "option activeOnly: 'true' (any case) keeps active entities, 'false' keeps all"
USER_SCHEMA = "a user schema chooses and orders the columns"
URL = "a missing url is refused on the driver, with an error naming it"
TIMEOUT = "read() asks the service itself, with a timeout"
HTTP_ERRORS = "an HTTP error (400, 404, 500) fails the read instead of giving no rows"


class Source(DataSource):
    reader_class = None

    @classmethod
    def name(cls):
        return "entities_page"

    def schema(self):
        return "id bigint, name string, email string, score double, active boolean"

    def reader(self, schema):
        return self.reader_class(self.options, schema)


# -- right, written differently ------------------------------------------------------------------


class SessionReader(DataSourceReader):
    """A Session, raise_for_status, lists instead of tuples, the limit kept as its string."""

    def __init__(self, options, schema):
        self.columns = schema.fieldNames()
        if not options.get("url"):
            raise ValueError("the url option is missing")
        self.url = options["url"]
        self.limit = options.get("limit", "10")
        self.active_only = options.get("activeonly", "FALSE").lower() in ("true",)

    def fetch(self):
        import requests

        with requests.Session() as session:
            response = session.get(self.url + "/v1/entities", params={"limit": self.limit}, timeout=30)
            response.raise_for_status()
            return response.json()["items"]

    def read(self, partition):
        for item in self.fetch():
            if item["active"] or not self.active_only:
                yield [item[column] for column in self.columns]


class SessionSource(Source):
    reader_class = SessionReader


class UrllibSource(DataSource):
    """Options parsed in reader(), a StructType schema, the standard library's urlopen."""

    @classmethod
    def name(cls):
        return "entities_page"

    def schema(self):
        from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

        return StructType([StructField("id", LongType()), StructField("name", StringType()), StructField("email", StringType()),
                           StructField("score", DoubleType()), StructField("active", BooleanType())])

    def reader(self, schema):
        if "url" not in self.options:
            raise KeyError("the option url is required")
        flag = self.options.get("activeOnly", "false").strip().lower()
        if flag not in ("true", "false"):
            raise ValueError(f"activeOnly must be true or false, not {flag!r}")
        return UrllibReader(self.options["url"], int(self.options.get("limit", 10)), flag == "true", schema.fieldNames())


class UrllibReader(DataSourceReader):
    def __init__(self, url, limit, active_only, columns):
        self.url, self.limit, self.active_only, self.columns = url, limit, active_only, columns

    def read(self, partition):
        # urlopen raises HTTPError ("HTTP Error 500: ...") for every error status
        with urllib.request.urlopen(f"{self.url}/v1/entities?limit={self.limit}", timeout=20) as response:
            items = json.load(response)["items"]
        return iter([tuple(item[c] for c in self.columns) for item in items if item["active"] or not self.active_only])


# -- mistakes ------------------------------------------------------------------------------------


class BoolOption(SessionReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.active_only = bool(options.get("activeOnly", False))  # the mistake: bool("false") is True


class CaseSensitiveTrue(SessionReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.active_only = options.get("activeOnly") == "true"  # the mistake: "TRUE" is not true here


class LimitIgnored(SessionReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.limit = 10  # the mistake: the option is never read


class TruthyResponse(SessionReader):
    def fetch(self):
        import requests

        response = requests.get(self.url + "/v1/entities", params={"limit": self.limit}, timeout=30)
        if response:  # the mistake: an HTTP error becomes "no entities"
            return response.json()["items"]
        return []


class NoStatusCheck(SessionReader):
    def fetch(self):
        import requests

        return requests.get(self.url + "/v1/entities", params={"limit": self.limit}, timeout=30).json()["items"]


class ServerErrorsOnly(SessionReader):
    def fetch(self):
        import requests

        response = requests.get(self.url + "/v1/entities", params={"limit": self.limit}, timeout=30)
        if response.status_code > 400:  # the mistake: a 400 is an error too
            raise RuntimeError(f"HTTP {response.status_code}")
        return response.json()["items"]


class NoTimeout(SessionReader):
    def fetch(self):
        import requests

        response = requests.get(self.url + "/v1/entities", params={"limit": self.limit})  # the mistake
        response.raise_for_status()
        return response.json()["items"]


class FixedColumns(SessionReader):
    def read(self, partition):
        for item in self.fetch():
            if item["active"] or not self.active_only:
                yield (item["id"], item["name"], item["email"], item["score"], item["active"])


class UrlUnchecked(SessionReader):
    def __init__(self, options, schema):
        self.columns = schema.fieldNames()
        self.url = options["url"]  # the mistake: a bare KeyError: 'url' without it
        self.limit = options.get("limit", "10")
        self.active_only = options.get("activeOnly", "false").lower() == "true"


class UrlCheckedInRead(SessionReader):
    def __init__(self, options, schema):
        self.columns = schema.fieldNames()
        self.url = options.get("url")
        self.limit = options.get("limit", "10")
        self.active_only = options.get("activeOnly", "false").lower() == "true"

    def read(self, partition):
        if not self.url:  # the mistake: found on an executor, after planning
            raise ValueError("option url is required")
        yield from super().read(partition)


class FetchedInInit(SessionReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.items = self.fetch()  # the mistake: the driver reads, the page travels to the tasks as data

    def read(self, partition):
        for item in self.items:
            if item["active"] or not self.active_only:
                yield tuple(item[column] for column in self.columns)


class BoolOptionSource(Source):
    reader_class = BoolOption


class CaseSensitiveTrueSource(Source):
    reader_class = CaseSensitiveTrue


class LimitIgnoredSource(Source):
    reader_class = LimitIgnored


class TruthyResponseSource(Source):
    reader_class = TruthyResponse


class NoStatusCheckSource(Source):
    reader_class = NoStatusCheck


class ServerErrorsOnlySource(Source):
    reader_class = ServerErrorsOnly


class NoTimeoutSource(Source):
    reader_class = NoTimeout


class FixedColumnsSource(Source):
    reader_class = FixedColumns


class UrlUncheckedSource(Source):
    reader_class = UrlUnchecked


class UrlCheckedInReadSource(Source):
    reader_class = UrlCheckedInRead


class FetchedInInitSource(Source):
    reader_class = FetchedInInit


class WrongNameSource(SessionSource):
    @classmethod
    def name(cls):
        return "entities"


class WrongSchemaSource(SessionSource):
    def schema(self):
        return "id int, name string, email string, score float, active boolean"


def run(source, url, service):
    return check_lab("01", EntitiesPageDataSource=source, url=url, service=service)


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("01")
    report = run(solution["EntitiesPageDataSource"], spark_service_url, service)
    assert report.passed, report.failures


@pytest.mark.parametrize("source", [SessionSource, UrllibSource])
def test_other_right_answers_pass(spark, spark_service_url, service, source):
    report = run(source, spark_service_url, service)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "source, requirement, says",
    [
        (BoolOptionSource, ACTIVE, "bool('false') is True in Python; compare the text"),
        (CaseSensitiveTrueSource, ACTIVE, "with .option('activeOnly', 'TRUE') inactive entities came back"),
        (LimitIgnoredSource, LIMIT, "got 10 rows, expected 25 (10 is the default"),
        (TruthyResponseSource, HTTP_ERRORS, "yet read() gave 0 rows and no error: check response.status_code"),
        (NoStatusCheckSource, HTTP_ERRORS, "failed, but with KeyError: 'items', which does not say so"),
        (ServerErrorsOnlySource, HTTP_ERRORS, "the service answered HTTP 400 and read() failed, but with KeyError"),
        (NoTimeoutSource, TIMEOUT, "connected to the service without a timeout"),
        (FixedColumnsSource, USER_SCHEMA, "yield the values of schema.fieldNames(), in that order"),
        (UrlUncheckedSource, URL, "a bare KeyError: 'url'"),
        (UrlCheckedInReadSource, URL, "read() failed later, on the executor"),
        (FetchedInInitSource, TIMEOUT, "asked the service while it was made (in __init__, on the driver)"),
        (WrongNameSource, NAME, "name() returns 'entities'; the task asks for the short name 'entities_page'"),
        (WrongSchemaSource, SCHEMA, "the DataFrame's schema is struct<id:int,name:string,email:string,score:float"),
    ],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, source, requirement, says):
    report = run(source, spark_service_url, service)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


class StandInReader(DataSourceReader):
    def read(self, partition):
        yield (repr(partition),)


class StandInSource(DataSource):
    """Plans no partitions: Spark reads it with its stand-in for one partition."""

    @classmethod
    def name(cls):
        return "stand_in_probe"

    def schema(self):
        return "partition string"

    def reader(self, schema):
        return StandInReader()


def test_the_setup_cell_names_the_stand_in_spark_really_passes(spark):
    """The check's in-process reads, and the setup cell, go by one_partition_is_input_partition()."""
    from workshop.notebook import one_partition_is_input_partition

    spark.dataSource.register(StandInSource)
    passed = spark.read.format("stand_in_probe").load().collect()[0][0]
    assert passed == ("InputPartition(value=None)" if one_partition_is_input_partition() else "None"), passed
