"""What lab 11 says about a connector package that registers itself, observed on the Spark that runs.

Spark 4.0+ looks, once per JVM, for top-level Python modules named `pyspark_*` that define
`DefaultSource` (a DataSource subclass) and registers each under `DefaultSource.name()`
(pyspark/sql/worker/lookup_data_sources.py, the same lookup in 4.0.1, 4.1.4, 4.2.1 and 4.3.0): no
`spark.dataSource.register` needed. The lookup runs at the first Python data source call of the
JVM, so a package that appears later is not found. Each run needs a Spark of its own (a fresh
JVM), in a subprocess. Observed on 4.0.1 and 4.3.0.
"""
import os
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.version_matrix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PACKAGE = '''
from solutions.datasource import PracticeDataSource


class DefaultSource(PracticeDataSource):
    short_name = "{name}"
'''

RUN = '''
import os, sys
from pyspark.sql import SparkSession
from workshop.service import PracticeService

folder = sys.argv[1]
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
with PracticeService(seed=3, events=10, entities=30) as service:
    rows = spark.read.format("practice_self_registered").option("url", service.url).option("resource", "entities").load()
    print("SELF-REGISTERED", rows.count(), service.truth.count("entities"))
    with open(os.path.join(folder, "pyspark_lab11_late.py"), "w") as module:
        module.write(sys.argv[2])
    try:
        spark.read.format("practice_late").option("url", service.url).option("resource", "entities").load().count()
        print("LATE FOUND")
    except Exception as error:
        print("LATE NOT FOUND", type(error).__name__)
spark.stop()
'''


def test_a_pyspark_module_with_a_default_source_registers_itself():
    folder = tempfile.mkdtemp(prefix="lab11-package-")
    with open(os.path.join(folder, "pyspark_lab11_demo.py"), "w") as module:
        module.write(PACKAGE.format(name="practice_self_registered"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([folder, ROOT, os.environ.get("PYTHONPATH", "")]),
               PYSPARK_PYTHON=sys.executable)
    for attached in ("WORKSHOP_SPARK_REMOTE", "WORKSHOP_SPARK_MODE", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        env.pop(attached, None)  # a Spark of its own: the lookup runs once per JVM
    run = subprocess.run([sys.executable, "-c", RUN, folder, PACKAGE.format(name="practice_late")], env=env,
                         capture_output=True, text=True, timeout=240)
    lines = [line for line in run.stdout.splitlines() if line.startswith(("SELF-REGISTERED", "LATE"))]
    assert run.returncode == 0 and lines, run.stdout + run.stderr[-3000:]
    read, truth = lines[0].split()[1:]
    assert read == truth == "30", lines  # found and read without spark.dataSource.register
    assert lines[1].startswith("LATE NOT FOUND"), lines  # a package that appears after the lookup is not found
    # The lab says so.
    with open(os.path.join(ROOT, "workshop", "lab_sources", "11_testing_and_shipping.py"), encoding="utf-8") as text:
        lab = " ".join(text.read().replace("#", " ").split())
    assert "named `pyspark_" in lab and "`DefaultSource`" in lab
    assert "once per JVM" in lab
