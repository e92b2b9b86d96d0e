"""Lab 02's check accepts the reference and rejects the plausible mistakes, saying why."""

import pytest

from solutions.client import PracticeClient
from solutions.reader import PracticeBatchReader
from workshop import labs
from workshop.checks import check_lab

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("pickled_by_value")]

PAGES = "pages() follows next_cursor to the last page, each entity once"


def run(service, url, client=PracticeClient, reader=PracticeBatchReader):
    return check_lab("02", PracticeClient=client, PracticeBatchReader=reader, url=url, service=service)


# -- correct, written differently ---------------------------------------------------------------


class ForLoopPages(PracticeClient):
    def pages(self, path, params, page_size=None):
        cursor = None
        for _ in range(1_000_000):
            query = dict(params, limit=self.options["pageSize"], **({"cursor": cursor} if cursor else {}))
            page = self.get(path, query)
            yield page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break


class TryFinallyRead(PracticeBatchReader):
    def read(self, partition):
        client = self.client_class(self.options)
        client.__enter__()
        try:
            for row in self.convert_pages(client, self._pages(client, partition), partition.index):
                yield row
        finally:
            client.close()


# -- mistakes -----------------------------------------------------------------------------------


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


class NoLimit(PracticeClient):
    def pages(self, path, params, page_size=None):
        query = dict(params)  # the mistake: the service's default page size, not pageSize
        while True:
            page = self.get(path, query)
            yield page["items"]
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]


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


def test_reference_passes(spark, spark_service_url, service):
    solution = labs.solution_namespace("02")
    report = run(service, spark_service_url, solution["PracticeClient"], solution["PracticeBatchReader"])
    assert report.passed, report.failures


def test_other_correct_implementations_pass(spark, spark_service_url, service):
    report = run(service, spark_service_url, ForLoopPages, TryFinallyRead)
    assert report.passed, report.failures


@pytest.mark.parametrize(
    "client, requirement, says",
    [
        (NoCursor, PAGES, "the second page repeats the first"),
        (FirstPageOnly, PAGES, "pages() stopped after the first page"),
        (LastIdAgain, PAGES, "came back twice (pages 0 and 1 overlap)"),
        (TruthyResponse, "pages() raises on an HTTP error", "yielded 0 pages and no error"),
        (NoLimit, "pages() asks for pageSize items per page", "a page held 1000 items"),
    ],
)
def test_pagination_mistakes_fail_with_the_reason(spark, spark_service_url, service, client, requirement, says):
    report = run(service, spark_service_url, client=client)
    assert not report.passed
    assert says in report.failures[requirement], report.failures


@pytest.mark.parametrize(
    "reader, requirement, says",
    [
        (NoWith, "read() closes the session when Spark stops early", "1 session(s) stayed open"),
        (NoWith, "read() closes the session when the read fails", "stayed open"),
        (SessionPerPage, "read() opens one session per partition and reuses it for every page", "sessions for one partition"),
    ],
)
def test_session_mistakes_fail_with_the_reason(spark, spark_service_url, service, reader, requirement, says):
    report = run(service, spark_service_url, reader=reader)
    assert not report.passed
    assert says in report.failures[requirement], report.failures
