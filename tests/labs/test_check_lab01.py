"""Lab 01's check accepts the reference and rejects the plausible mistakes, saying why."""

import pytest
from pyspark.sql.datasource import DataSource, DataSourceReader

from workshop import labs
from workshop.checks import check_lab

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]


class Source(DataSource):
    reader_class = None

    @classmethod
    def name(cls):
        return "entities_page"

    def schema(self):
        return "id bigint, name string, email string, score double, active boolean"

    def reader(self, schema):
        return self.reader_class(self.options, schema)


class GoodReader(DataSourceReader):
    """A correct reader written differently from the reference: a Session, raise_for_status."""

    def __init__(self, options, schema):
        self.columns = schema.fieldNames()
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


class BoolOption(GoodReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.active_only = bool(options.get("activeOnly", False))  # the mistake: bool("false") is True


class LimitIgnored(GoodReader):
    def __init__(self, options, schema):
        super().__init__(options, schema)
        self.limit = 10  # the mistake: the option is never read


class TruthyResponse(GoodReader):
    def fetch(self):
        import requests

        response = requests.get(self.url + "/v1/entities", params={"limit": self.limit}, timeout=30)
        if response:  # the mistake: an HTTP error becomes "no entities"
            return response.json()["items"]
        return []


class FixedColumns(GoodReader):
    def read(self, partition):
        for item in self.fetch():
            if item["active"] or not self.active_only:
                yield (item["id"], item["name"], item["email"], item["score"], item["active"])


def source(reader_class, name="entities_page"):
    return type(f"Source_{reader_class.__name__}", (Source,), {"reader_class": reader_class, "name": classmethod(lambda cls: name)})


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("01")
    report = check_lab("01", EntitiesPageDataSource=solution["EntitiesPageDataSource"], url=spark_service_url, service=service)
    assert report.passed, report.failures


def test_another_correct_implementation_passes(spark, spark_service_url, service):
    report = check_lab("01", EntitiesPageDataSource=source(GoodReader), url=spark_service_url, service=service)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "reader_class, requirement, says",
    [
        (BoolOption, "option activeOnly: 'true' keeps active entities, 'false' keeps all", "bool('false') is True"),
        (LimitIgnored, "option limit (a string) sets the page size", "got 10 rows, expected 25"),
        (TruthyResponse, "an HTTP error fails the read instead of giving no rows", "never `if response:`"),
        (FixedColumns, "a user schema chooses and orders the columns", "yield the values of schema.fieldNames()"),
    ],
)
def test_mistakes_fail_with_the_reason(spark, spark_service_url, service, reader_class, requirement, says):
    report = check_lab("01", EntitiesPageDataSource=source(reader_class), url=spark_service_url, service=service)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


def test_a_wrong_name_is_named(spark, spark_service_url, service):
    report = check_lab("01", EntitiesPageDataSource=source(GoodReader, "entities"), url=spark_service_url, service=service)
    assert "the task asks for the short name 'entities_page'" in report.failures["name() is the short name 'entities_page'"]
