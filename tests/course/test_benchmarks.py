"""The benchmarks measure what they say: both paths of the generated source yield the same rows."""
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
if not os.path.isdir(BENCHMARKS):  # a clone always has it; the bundle does not deploy it (sync.exclude)
    pytest.skip("benchmarks/ is not deployed to the workspace; run these tests from a clone", allow_module_level=True)


@pytest.fixture(scope="module")
def generated(spark):
    sys.path.insert(0, BENCHMARKS)
    import generated_source
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(generated_source)  # Spark's workers cannot import benchmarks/
    spark.dataSource.register(generated_source.GeneratedDataSource)
    yield generated_source
    sys.path.remove(BENCHMARKS)


@pytest.mark.parametrize("rows, partitions", [(25_003, 2), (7, 3)])
def test_rows_and_arrow_paths_yield_the_same_rows(spark, generated, rows, partitions):
    def read(arrow):
        df = (spark.read.format("generated").option("rows", rows).option("numPartitions", partitions)
              .option("arrow", arrow).load())
        return sorted(df.groupBy("seq", "event_time", "device_id", "kind", "value", "note").count().collect())

    by_rows, by_arrow = read("false"), read("true")
    assert sum(row["count"] for row in by_rows) == rows  # partial blocks included, none lost
    assert by_rows == by_arrow


def test_a_figure_names_its_ratio_to_the_reference():
    sys.path.insert(0, BENCHMARKS)
    try:
        import batch
    finally:
        sys.path.remove(BENCHMARKS)
    reference = batch.figure("serving limit, JSON, 2 clients", 1000, 0.5, [0.5], 0.9)
    cpu = {"cpu_busy": 0.95, "service_cpu_us_per_row": 250.0, "spark_cpu_us_per_row": 750.0}
    measured = batch.figure("connector read, rows over JSON, 2 partitions", 1000, 1.0, [1.0, 1.2], cpu, reference, 0.9)
    assert measured["rows_per_s"] == 1000 and measured["ratio"] == 0.5
    line, bound = batch.describe(measured).split("\n")
    assert line.endswith("0.50x serving limit, JSON, 2 clients (target 0.9x: missed)")
    # 1 ms of CPU per row in all: n cores allow n * 1000 rows/s
    assert f"{os.cpu_count()} cores allow at most {os.cpu_count() * 1000:,} rows/s at that cost" in bound


def test_the_loops_profile_shows_the_last_full_suite_and_ci_run(tmp_path, monkeypatch):
    import json

    sys.path.insert(0, BENCHMARKS)
    try:
        import loops
    finally:
        sys.path.remove(BENCHMARKS)
    (tmp_path / "build").mkdir()
    suite = {"when": "2026-12-01T10:00:00Z", "exit_status": 0, "mode": None, "seconds": 300.0,
             "files": {"tests/labs/test_lab_notebooks.py": 90.0, "tests/connector/test_reader.py": 10.5}}
    partial = dict(suite, seconds=1.0, files={"tests/course/test_cli.py": 1.0})
    (tmp_path / "build" / "test-durations.json").write_text(json.dumps({"": suite, "tests/course": partial}))
    (tmp_path / "build" / "ci-timings.json").write_text(json.dumps(
        {"when": "2026-12-01T11:00:00Z", "seconds": 1100, "steps": [{"name": "full suite", "seconds": 400, "exit": 0}]}))
    monkeypatch.setattr(loops, "ROOT", str(tmp_path))
    lines = loops.describe_recorded()
    assert lines[0] == "last full test run (2026-12-01T10:00:00Z, exit 0): 300 s of tests"  # not the partial run
    assert lines[1].split() == ["90.0", "s", "tests/labs/test_lab_notebooks.py"]
    assert "last CI run (2026-12-01T11:00:00Z): 1,100 s" in lines and any("full suite (exit 0)" in line for line in lines)
