"""Lab 02's check accepts the reference and other right answers, and rejects the plausible mistakes, saying why."""
import contextlib

import pytest

from solutions.client import PracticeClient, ServiceError
from solutions.datasource import PracticeDataSource
from solutions.reader import PracticeBatchReader
from workshop import labs
from workshop.checks import check_lab

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]

PAGES = "pages() follows next_cursor to the last page, each entity once, the same params each time"
PAGE_SIZE = "pages() asks for pageSize items per page (page_size= when given)"
ERRORS = "pages() raises on an HTTP error"
ONE_SESSION = "read() opens one session per partition, uses it for every page, closes it after the last"
EARLY = "read() closes the session when Spark stops early"
FAILING = "read() closes the session when the read fails"
ON_SPARK = "on Spark: Lab02DataSource reads a window of events in 3 partitions, as ground truth"


class ReferenceSource(PracticeDataSource):
    short_name = "lab02_test"
    batch_reader = PracticeBatchReader


def run(service, url, client=PracticeClient, reader=PracticeBatchReader, source=ReferenceSource):
    return check_lab("02", PracticeClient=client, PracticeBatchReader=reader, Lab02DataSource=source, url=url, service=service)


# -- right, written differently ------------------------------------------------------------------


class ForLoopPages(PracticeClient):
    def pages(self, path, params, page_size=None):
        cursor = None
        for _ in range(1_000_000):
            query = dict(params, limit=page_size or self.options["pageSize"], **({"cursor": cursor} if cursor else {}))
            page = self.get(path, query)
            yield page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break


class RecursivePages(PracticeClient):
    def pages(self, path, params, page_size=None, cursor=None):
        size = self.options["pageSize"] if page_size is None else page_size
        page = self.get(path, {**params, "limit": size, **({"cursor": cursor} if cursor else {})})
        yield page["items"]
        if page["next_cursor"]:
            yield from self.pages(path, params, page_size, page["next_cursor"])


class TryFinallyRead(PracticeBatchReader):
    client_class = ForLoopPages

    def read(self, partition):
        client = self.client_class(self.options)
        client.__enter__()
        try:
            for row in self.convert_pages(client, self._pages(client, partition), partition.index):
                yield row
        finally:
            client.close()


class ExitStackRead(PracticeBatchReader):
    client_class = RecursivePages

    def read(self, partition):
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(self.client_class(self.options))
            pages = self._pages(client, partition)
            yield from self.convert_pages(client, pages, partition.index)


class TryFinallySource(PracticeDataSource):
    short_name = "lab02_test"
    batch_reader = TryFinallyRead


class ExitStackSource(PracticeDataSource):
    short_name = "lab02_test"
    batch_reader = ExitStackRead


# -- mistakes: pages -----------------------------------------------------------------------------


class NoCursor(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params, limit=self.options["pageSize"])
        while True:
            page = self.get(path, query)  # the mistake: the cursor is never sent
            yield page["items"]
            if not page["next_cursor"]:
                return


class FirstPageOnly(PracticeClient):
    def pages(self, path, params, page_size=None):
        yield self.get(path, dict(params, limit=self.options["pageSize"]))["items"]


class LastIdAgain(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params, limit=self.options["pageSize"])
        while True:
            items = self.get(path, query)["items"]
            if not items:
                return
            yield items
            if len(items) < query["limit"]:
                return
            query["id_gte"] = items[-1]["id"]  # the mistake: the last id is read again


class ParamsDropped(PracticeClient):
    def pages(self, path, params, page_size=None):
        page = self.get(path, dict(params, limit=self.options["pageSize"]))
        yield page["items"]
        while page["next_cursor"]:
            # the mistake: the next request has the cursor but not the caller's range
            page = self.get(path, {"cursor": page["next_cursor"], "limit": self.options["pageSize"]})
            yield page["items"]


class NullCursorIgnored(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params, limit=page_size or self.options["pageSize"])
        for _ in range(30):  # the mistake: next_cursor null is sent as no cursor, which starts again
            page = self.get(path, query)
            yield page["items"]
            query["cursor"] = page["next_cursor"]


class TruthyResponse(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params, limit=self.options["pageSize"])
        while True:
            response = self.session.get(self.url + path, params=query, timeout=self.timeout)
            if not response:  # the mistake: an HTTP error ends the read quietly
                return
            page = response.json()
            yield page["items"]
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]


class ErrorsSwallowed(PracticeClient):
    def pages(self, path, params, page_size=None):
        try:
            yield from PracticeClient.pages(self, path, params, page_size)
        except ServiceError:  # the mistake: an error looks like the end of the data
            return


class NoLimit(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params)  # the mistake: the service's default page size, not pageSize
        while True:
            page = self.get(path, query)
            yield page["items"]
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]


class FixedLimit(PracticeClient):
    def pages(self, path, params, page_size=None):
        yield from PracticeClient.pages(self, path, params, page_size=100)  # the mistake: a size of its own


class PageSizeIgnored(PracticeClient):
    def pages(self, path, params, page_size=None):
        yield from PracticeClient.pages(self, path, params)  # the mistake: page_size= has no effect


class YieldsRecords(PracticeClient):
    def pages(self, path, params, page_size=None):
        for items in PracticeClient.pages(self, path, params, page_size):
            yield from items  # the mistake: records, not pages


class YieldsWholePages(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params, limit=page_size or self.options["pageSize"])
        while True:
            page = self.get(path, query)
            yield page  # the mistake: the page, not its items
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]


# -- mistakes: read ------------------------------------------------------------------------------


class NoWith(PracticeBatchReader):
    def read(self, partition):
        client = self.client_class(self.options).__enter__()
        yield from self.convert_pages(client, self._pages(client, partition), partition.index)
        client.close()  # the mistake: never reached after an error or an early stop


class FreshSessionPerRequest(PracticeClient):
    def get(self, path, params=None):
        with PracticeClient(self.options) as fresh:  # the mistake: a new session for every page
            return fresh.get(path, params)


class SessionPerPage(PracticeBatchReader):
    def read(self, partition):
        client = FreshSessionPerRequest(self.options)
        yield from self.convert_pages(client, self._pages(client, partition), partition.index)


class ReturnInsideWith(PracticeBatchReader):
    def read(self, partition):
        with self.client_class(self.options) as client:
            # the mistake: the with block ends here, before Spark reads a single row
            return self.convert_pages(client, self._pages(client, partition), partition.index)


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("02")

    class Lab02DataSource(PracticeDataSource):  # as the lab defines it, around the solution's reader
        short_name = "practice_lab02"
        batch_reader = solution["PracticeBatchReader"]

    report = run(service, spark_service_url, solution["PracticeClient"], solution["PracticeBatchReader"], Lab02DataSource)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "client, reader, source",
    [(ForLoopPages, TryFinallyRead, TryFinallySource), (RecursivePages, ExitStackRead, ExitStackSource)],
)
def test_other_right_answers_pass(spark, spark_service_url, service, client, reader, source):
    report = run(service, spark_service_url, client, reader, source)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "client, requirement, says",
    [
        (NoCursor, PAGES, "the second page repeats the first"),
        (FirstPageOnly, PAGES, "pages() stopped after the first page"),
        (LastIdAgain, PAGES, "came back twice (pages 0 and 1 overlap)"),
        (ParamsDropped, PAGES, "outside the range asked for (id_lt=6000): a request after the first dropped the caller's params"),
        (NullCursorIgnored, PAGES, "pages() gave every entity, then asked again after the last page"),
        (TruthyResponse, ERRORS, "yielded 0 pages and no error"),
        (ErrorsSwallowed, ERRORS, "yielded 0 pages and no error"),
        (NoLimit, PAGE_SIZE, "with pageSize=170 a page held 1000 items, not 170: send limit=self.options['pageSize']"),
        (FixedLimit, PAGE_SIZE, "with pageSize=170 a page held 100 items, not 170"),
        (PageSizeIgnored, PAGE_SIZE, "with page_size=60 a page held 170 items, not 60: send limit=page_size when it is given"),
        (YieldsRecords, PAGES, "pages() yielded one record ({'id': "),
        (YieldsWholePages, PAGES, "pages() yielded the whole page"),
    ],
)
def test_pagination_mistakes_fail_with_the_reason(spark, spark_service_url, service, client, requirement, says):
    report = run(service, spark_service_url, client=client)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


@pytest.mark.parametrize(
    "reader, requirement, says",
    [
        (NoWith, EARLY, "1 session(s) stayed open"),
        (NoWith, FAILING, "stayed open"),
        (SessionPerPage, ONE_SESSION, "sessions for one partition of 7 pages"),
        (ReturnInsideWith, ONE_SESSION, "read() used its client after the with block had closed it"),
    ],
)
def test_session_mistakes_fail_with_the_reason(spark, spark_service_url, service, reader, requirement, says):
    report = run(service, spark_service_url, reader=reader)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


def test_a_data_source_that_reads_with_another_reader_is_named(spark, spark_service_url, service):
    report = run(service, spark_service_url, reader=ReturnInsideWith, source=ReferenceSource)
    assert "Lab02DataSource.batch_reader is solutions.reader.PracticeBatchReader, not your PracticeBatchReader" in \
        report.failures[ON_SPARK]


def test_a_page_size_mistake_is_not_called_a_pagination_mistake(spark, spark_service_url, service):
    report = run(service, spark_service_url, client=FixedLimit)
    assert PAGE_SIZE in report.failures and PAGES not in report.failures, report.failures
