"""What the course says about Spark versions and Spark's machinery, checked on the Spark that runs.

Run on each PySpark of the matrix (4.0.1, 4.1.4, 4.2.1, 4.3.0): each test observes the fact on
Spark itself and checks that the course's text states what this version does.
- The stand-in Spark reads for an empty plan: `None` on 4.0 and 4.1, `InputPartition(None)` from 4.2
  (observed in tests/connector/test_mistakes_batch.py).
- Secrets in plans: a Python data source's batch plans list no options at all; a stream read's
  plan lists them all, hiding only the values of names the redaction regexes match; the default
  `spark.redaction.regex` adds `credential` from 4.1.
- Tokens live per Python process (circuit breakers too: the same module-level state): each of
  Spark's Python workers has its own.
"""
import contextlib
import io
import json
import os
import re
import uuid

import pytest

from solutions import PracticeDataSource

pytestmark = pytest.mark.version_matrix  # each claim names the versions it holds for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXTS = ("solutions", "workshop/lab_sources", "workshop/checks", "docs", "README.md")


def spark_version(spark):
    """(major, minor) of the Spark that runs the Python workers (the server's, under Connect)."""
    major, minor = spark.version.split(".")[:2]
    return int(major), int(minor)


def course_texts():
    """{path: text} of the connector, the lab sources, the checks and the docs."""
    found = {}
    for entry in TEXTS:
        path = os.path.join(ROOT, entry)
        names = [path] if os.path.isfile(path) else [
            os.path.join(folder, name) for folder, _, files in os.walk(path) for name in files if name.endswith((".py", ".md"))]
        for name in names:
            with open(name, encoding="utf-8") as text:
                found[os.path.relpath(name, ROOT)] = text.read()
    return found


def is_classic(spark):
    from workshop.spark import is_connect

    return not is_connect(spark)


# -- defect 11: the empty plan ----------------------------------------------------------------


def test_the_course_says_an_empty_plan_is_read_as_none_before_4_2():
    # Spark reads an empty plan as None on 4.0 and 4.1 and as InputPartition(None) from 4.2:
    # tests/connector/test_mistakes_batch.py observes it on each version. The course said 4.1 (issue 12, defect 11).
    texts = course_texts()
    wrong = [path for path, text in texts.items() if re.search(r"InputPartition\(None\)\)?`?\s*\(?(on\s*)?4\.1\+", text)]
    assert not wrong, f"these still say InputPartition(None) from 4.1: {wrong}"
    for path in ("workshop/lab_sources/01_first_datasource.py", "workshop/lab_sources/03_partitioning.py",
                 "solutions/reader.py"):
        said = r"(4\.0 and 4\.1|up to Spark 4\.1).{0,30}InputPartition\(None\)\)?`?\s*(#\s*)?(\(|on |from )4\.2"
        assert re.search(said, texts[path], re.S), path


# -- defect 12: secrets in plans and the redaction regex -------------------------------------


def executions(spark):
    """The executions of the SQL tab of the Spark UI (its status store), classic only."""
    listed = spark._jsparkSession.sharedState().statusStore().executionsList().iterator()
    while listed.hasNext():
        yield listed.next()


def plans_of_executions(spark, after=-1):
    """The physical plan descriptions of the executions whose id is above `after` (other tests'
    queries ran in this session too)."""
    return [execution.physicalPlanDescription() for execution in executions(spark) if execution.executionId() > after]


def last_execution_id(spark):
    return max((execution.executionId() for execution in executions(spark)), default=-1)


def test_python_data_source_plans_list_no_options(spark, spark_service_url, service):
    spark.dataSource.register(PracticeDataSource)
    before = last_execution_id(spark) if is_classic(spark) else -1
    secret = f"tok-{uuid.uuid4().hex}"  # the service ignores an API key it does not ask for
    marker = f"marker-{uuid.uuid4().hex[:8]}"  # not a secret: shows whether options are listed at all
    options = {"url": spark_service_url, "apiToken": secret, "resource": "entities", "idempotencyKey": marker,
               "logLevel": "WARNING"}
    frame = spark.read.format("practice").options(**options).load()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        frame.explain("extended")
        frame.explain("formatted")
    frame.write.format("practice").options(**options, table=f"plans_{uuid.uuid4().hex[:8]}").mode("append").save()
    texts = [printed.getvalue()] + (plans_of_executions(spark, before) if is_classic(spark) else [])
    assert "BatchScan practice" in texts[0]
    if is_classic(spark):
        assert any("AppendData" in text for text in texts), "the write's plan is in the SQL tab"
    for text in texts:
        assert secret not in text and marker not in text and spark_service_url not in text
        assert not re.search(r"(?i)apitoken|idempotencykey", text)


def test_a_stream_reads_plan_prints_each_option_whose_name_no_redaction_regex_matches(spark, spark_service_url):
    spark.dataSource.register(PracticeDataSource)
    secret, plain = f"tok-{uuid.uuid4().hex}", f"dead_{uuid.uuid4().hex[:8]}"
    frame = (spark.readStream.format("practice").option("url", spark_service_url).option("apiToken", secret)
             .option("deadLetterTable", plain).load())
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        frame.explain("extended")
    text = printed.getvalue()
    assert f"deadLetterTable={plain}" in text  # a name outside the regexes: its value in plain text
    assert "apiToken=*********(redacted)" in text and secret not in text  # spark.redaction.regex
    assert "url=*********(redacted)" in text and spark_service_url not in text  # spark.sql.redaction.options.regex
    # The course says so, and names its secret options to match.
    assert "the plan of a stream read lists every" in " ".join(course_texts()["docs/options.md"].split())


REDACTION_REGEX = {
    (4, 0): "(?i)secret|password|token|access[.]?key",
    (4, 1): "(?i)secret|password|token|access[.]?key|credential",  # and 4.2, 4.3
}


def test_the_default_redaction_regex_per_version_and_what_it_hides(spark, tmp_path):
    if not is_classic(spark):
        pytest.skip("reads Spark's defaults and plans through the JVM (classic Spark only)")
    jvm = spark.sparkContext._jvm  # classic only: the test skips on Spark Connect
    config = getattr(getattr(jvm.org.apache.spark.internal.config, "package$"), "MODULE$")
    default = config.SECRET_REDACTION_PATTERN().defaultValueString()
    version = spark_version(spark)
    assert default == REDACTION_REGEX[min(version, (4, 1))]
    # Where Spark does print options (a file source's write command), it hides the matching ones.
    values = {"apiToken": f"t-{uuid.uuid4().hex}", "serviceCredential": f"c-{uuid.uuid4().hex}", "plain": f"p-{uuid.uuid4().hex}"}
    spark.range(1).write.format("json").options(**values).mode("overwrite").save(str(tmp_path / "out"))
    plan = next(text for text in reversed(plans_of_executions(spark)) if "InsertIntoHadoopFsRelationCommand" in text)
    assert values["plain"] in plan and values["apiToken"] not in plan
    assert (values["serviceCredential"] in plan) == (version < (4, 1))
    # The course says so: both defaults, with their versions, and no claim that plans redact options.
    options_doc = course_texts()["docs/options.md"]
    assert all(regex in options_doc for regex in REDACTION_REGEX.values())
    assert "list no" in options_doc and "in plans and the Spark UI" not in options_doc


# -- defect 13: per Python process, not per executor ------------------------------------------


def test_tokens_are_cached_per_python_worker_process(spark, tmp_path):
    from workshop.service import PracticeService

    spark.dataSource.register(PracticeDataSource)
    log_file = tmp_path / "connector.jsonl"
    with PracticeService(seed=3, events=10, entities=400, ring_rows=10, auth="oauth") as secured:
        credentials = secured.credentials
        frame = (spark.read.format("practice").option("url", secured.url).option("resource", "entities")
                 .option("numPartitions", "4").option("clientId", credentials["client_id"])
                 .option("clientSecret", credentials["client_secret"]).option("logFile", str(log_file))
                 .option("logLevel", "INFO").load())
        assert frame.count() == secured.truth.count("entities")
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    fetches = [line["pid"] for line in lines if line["message"].startswith("got a new access token")]
    task_pids = {line["pid"] for line in lines if line["message"].startswith("read partition")}
    # Spark runs the 4 read tasks in its Python workers (local[2]: one executor, several workers);
    # each worker fetched its own token once, and every task used its worker's.
    assert len(task_pids) >= 2, "several Python workers in one executor"
    assert task_pids <= set(fetches) and len(fetches) == len(set(fetches))
    # The course says so (it said "per executor process": issue 12, defect 13).
    texts = course_texts()
    assert not [path for path, text in texts.items() if re.search(r"(?i)per executor process", text)]
    assert "cached per Python process" in texts["docs/options.md"]
