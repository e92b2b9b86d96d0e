"""The Spark session helper: mode choice, the Java check, and a working session."""
import os
import sys

import pytest

from workshop import spark as sparkhelp


def test_java_check_names_what_is_missing_and_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a JAVA_HOME without bin/java
    with pytest.raises(sparkhelp.SetupError) as error:
        sparkhelp.java_version()
    message = str(error.value)
    assert "Java 17+" in message and str(tmp_path) in message and "install" in message.lower()


def test_java_check_refuses_an_old_java(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(sparkhelp.SetupError, match="is Java 11"):
        sparkhelp.java_version()


def test_java_check_reads_this_machines_java():
    major, java = sparkhelp.java_version()
    assert major >= 17 and os.path.exists(java)


def test_get_spark_fails_with_the_java_message_not_py4j(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(sparkhelp.SetupError, match="Java"):
        sparkhelp.get_spark("classic")


def test_unknown_mode_lists_the_allowed_ones(monkeypatch):
    monkeypatch.setenv("WORKSHOP_SPARK_MODE", "cluster")
    with pytest.raises(sparkhelp.SetupError) as error:
        sparkhelp.resolve_mode()
    assert "'cluster'" in str(error.value) and "classic, connect, databricks" in str(error.value)


def test_auto_mode_is_classic_without_databricks_connect(monkeypatch):
    monkeypatch.delenv("WORKSHOP_SPARK_MODE", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    pytest.importorskip("pyspark")
    try:
        import databricks.connect  # noqa: F401
        expected = "databricks"
    except ImportError:
        expected = "classic"
    assert sparkhelp.resolve_mode() == expected


def test_session_runs_python_workers_on_this_interpreter(spark):
    if sparkhelp.resolve_mode() != "databricks":  # local Spark, started by this process
        assert os.environ["PYSPARK_PYTHON"] == sys.executable
    version = sparkhelp.spark_version(spark)
    assert version >= (4, 0, 0)
    # A Python UDF proves workers start and run the same Python.
    from pyspark.sql.functions import udf

    worker_python = udf(lambda _: sys.version.split()[0])
    (found,) = spark.range(1).select(worker_python("id")).first()
    if sparkhelp.resolve_mode() != "databricks":
        assert found == sys.version.split()[0]
