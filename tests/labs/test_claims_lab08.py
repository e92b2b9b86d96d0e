"""What lab 08 says about where a token cache lives, observed on the Spark that runs.

Spark pickles a Python data source's reader on the driver (before `partitions()`), and every
task unpickles it. Code that Python workers cannot import (a notebook's, or this module's,
registered to be pickled by value) travels by value with every dict it names: each task starts
from its own copy, as the dict was when the reader was pickled. A module the workers import (an
installed one, such as `solutions.auth`) is pickled by reference, so its state is the worker
process's own, shared by the tasks the process runs. Observed on 4.0.1 and 4.3.0.
"""
import os
import uuid

import pytest

from solutions.auth import process_tokens

pytestmark = [pytest.mark.version_matrix, pytest.mark.usefixtures("pickled_by_value")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OWN = {}  # a module global of a module pickled by value, like a notebook's


class Holder:
    own = {}  # a class attribute of a class pickled by value


def seen_and_add(tag, run):
    """What each cache held before this call (this run's entries only), then add `tag` to each."""
    tokens, lock = process_tokens()
    with lock:
        shared = sorted(key[2] for key in tokens if key[:2] == ("lab08-claim", run))
        tokens[("lab08-claim", run, tag)] = os.getpid()
    seen = {"module global": sorted(OWN), "class attribute": sorted(Holder.own), "installed module": shared}
    OWN[tag] = Holder.own[tag] = os.getpid()
    return seen


def test_a_dict_of_your_own_reaches_each_task_as_a_copy(spark):
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

    run = uuid.uuid4().hex

    class Reader(DataSourceReader):
        def partitions(self):
            seen_and_add("partitions", run)  # after Spark pickled the reader: no task sees it
            return [InputPartition(i) for i in range(6)]

        def read(self, partition):
            seen = seen_and_add(f"task {partition.value}", run)
            yield (partition.value, os.getpid(), *(",".join(seen[what]) for what in sorted(seen)))

    class Source(DataSource):
        @classmethod
        def name(cls):
            return "lab08_claims"

        def schema(self):
            return "task int, pid int, class_attribute string, installed_module string, module_global string"

        def reader(self, schema):
            return Reader()

    OWN.clear()
    Holder.own.clear()
    OWN["driver"] = Holder.own["driver"] = os.getpid()  # before the reader is pickled: every task sees it
    spark.dataSource.register(Source)
    rows = spark.read.format("lab08_claims").load().collect()
    by_pid = {}
    for row in rows:
        by_pid.setdefault(row.pid, []).append(row)
        # Every task starts from the driver's copy: nothing another task (or partitions()) added.
        assert row.module_global == "driver", row
        assert row.class_attribute == "driver", row
    # The installed module's dict is the worker process's own: a worker's later tasks see its earlier ones.
    assert any(len(tasks) >= 2 for tasks in by_pid.values()), "a Python worker ran two tasks or more"
    for tasks in by_pid.values():
        own_tasks = {f"task {row.task}" for row in tasks}
        for row in tasks:
            seen = set(filter(None, row.installed_module.split(",")))
            assert seen <= own_tasks - {f"task {row.task}"}, row
        assert max(len(set(filter(None, row.installed_module.split(",")))) for row in tasks) == len(tasks) - 1
    # The lab says so.
    with open(os.path.join(ROOT, "workshop", "lab_sources", "08_authentication.py"), encoding="utf-8") as text:
        lab = " ".join(text.read().replace("#", " ").split())
    assert "each task unpickles its own copy, as the dict was when Spark pickled the reader" in lab
