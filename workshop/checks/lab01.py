"""Lab 01 check: a first DataSource (name, schema, string options, one page) read on Spark."""
from workshop.checks import practice_service, spark_error_text
from workshop.truth import to_json_record

NAME = "entities_page"
SCHEMA = "struct<id:bigint,name:string,email:string,score:double,active:boolean>"
COLUMNS = ["id", "name", "email", "score", "active"]


def check(report, EntitiesPageDataSource, url, service=None):
    from workshop.service import PracticeService
    from workshop.spark import get_spark

    spark = get_spark()
    # The first entities as served (ids grow with gaps: the first 50 have ids below 300).
    served = practice_service(url, service).truth.records("entities", id_lt=300)[:50]
    registered = {}

    def load(target_url=url, schema=None, **options):
        if not registered:
            spark.dataSource.register(EntitiesPageDataSource)
            registered["name"] = EntitiesPageDataSource.name()
        reader = spark.read.format(registered["name"])
        if target_url is not None:
            reader = reader.option("url", target_url)
        for key, value in options.items():
            reader = reader.option(key, value)
        if schema is not None:
            reader = reader.schema(schema)
        return reader.load()

    def collect(columns=COLUMNS, **options):
        """(rows as JSON-form dicts, None) or (None, the reason the read failed)."""
        try:
            rows = load(**options).collect()
        except Exception as error:
            return None, f"the read failed: {spark_error_text(error)}"
        return [to_json_record(row) for row in rows], None

    def expected(limit, columns=COLUMNS, active_only=False):
        records = served[:limit]
        if active_only:
            records = [record for record in records if record["active"]]
        return [{column: record[column] for column in columns} for record in records]

    def compare(got, want, what):
        if len(got) != len(want):
            return f"{what}: got {len(got)} rows, expected {len(want)}"
        missing = [record for record in want if record not in got]
        if missing:
            extra = [row for row in got if row not in want]
            return f"{what}: got the row {extra[0] if extra else got[0]}, the service has {missing[0]}"
        return None

    def name_is_entities_page():
        name = EntitiesPageDataSource.name()
        if name != NAME:
            return f"name() returns {name!r}; the task asks for the short name {NAME!r} (used in format(...))"

    def schema_is_declared():
        try:
            schema = load().schema.simpleString()
        except Exception as error:
            return f"loading failed: {spark_error_text(error)}"
        if schema != SCHEMA:
            return f"the DataFrame's schema is {schema}; expected {SCHEMA}"

    def reads_the_first_page():
        got, problem = collect()
        return problem or compare(got, expected(10), "without options (limit 10)")

    def limit_is_used():
        for limit in ("25", "3"):
            got, problem = collect(limit=limit)
            if problem:
                return f"with .option('limit', '{limit}') {problem}"
            reason = compare(got, expected(int(limit)), f"with .option('limit', '{limit}')")
            if reason:
                return reason + " (the option arrives as a string: int(options['limit']))"

    def active_only_is_parsed():
        for text in ("false", "False"):
            got, problem = collect(limit="25", activeOnly=text)
            if problem:
                return f"with activeOnly={text!r} {problem}"
            if len(got) < 25:
                return (
                    f"with .option('activeOnly', {text!r}) only {len(got)} of 25 rows came back: the option arrives "
                    f"as the string {text!r}, and bool({text!r}) is True in Python; compare the text "
                    "(text.strip().lower() == 'true')"
                )
            reason = compare(got, expected(25), f"with activeOnly={text!r}")
            if reason:
                return reason
        for text in ("true", "TRUE"):
            got, problem = collect(limit="25", activeOnly=text)
            if problem:
                return f"with activeOnly={text!r} {problem}"
            if any(not row["active"] for row in got):
                return f"with .option('activeOnly', {text!r}) inactive entities came back; 'true' in any case means true"
            reason = compare(got, expected(25, active_only=True), f"with activeOnly={text!r}")
            if reason:
                return reason

    def user_schema_is_followed():
        try:
            rows = load(schema="name string, id bigint", limit="5").collect()
        except Exception as error:
            return (
                "with .schema('name string, id bigint') the read failed: "
                f"{spark_error_text(error)}; yield the values of schema.fieldNames(), in that order"
            )
        got = [to_json_record(row) for row in rows]
        return compare(got, expected(5, columns=["name", "id"]), "with .schema('name string, id bigint')")

    def url_is_required():
        try:
            load(target_url=None).collect()
        except Exception as error:
            text = spark_error_text(error)
            if "url" not in text.lower():
                return f"without option url the error should name the option; it says: {text}"
            return None
        return "without option url the read did not fail; raise an error naming the option"

    def http_errors_fail_the_read():
        with PracticeService(seed=7, events=10, entities=50, ring_rows=10, fault_rate=1.0, fault_kinds="500") as failing:
            try:
                rows = load(target_url=failing.url).collect()
            except Exception:
                return None
        return (
            f"the service answered HTTP 500 to every request, yet the read returned {len(rows)} rows and no "
            "error: check response.status_code (or call response.raise_for_status()); never `if response:`"
        )

    report.require("name() is the short name 'entities_page'", name_is_entities_page)
    report.require("schema() declares id, name, email, score, active", schema_is_declared)
    report.require("reads the first page of entities, as served", reads_the_first_page)
    report.require("option limit (a string) sets the page size", limit_is_used)
    report.require("option activeOnly: 'true' keeps active entities, 'false' keeps all", active_only_is_parsed)
    report.require("a user schema chooses and orders the columns", user_schema_is_followed)
    report.require("a missing url is refused with an error naming it", url_is_required)
    report.require("an HTTP error fails the read instead of giving no rows", http_errors_fail_the_read)
