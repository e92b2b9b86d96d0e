"""What lab 09 says about random waits in Spark tasks, observed on the Spark that runs.

A `random.Random` of your own, in code Spark's workers cannot import (a notebook's, or this
module's, pickled by value), reaches every task as a copy with the same state: every task draws
the same "random" wait. `random`'s own functions (reseeded in each forked worker since Python 3.7)
and `random.SystemRandom()` draw differently in each task. Observed on 4.0.1 and 4.3.0.
"""
import os
import random

import pytest

pytestmark = [pytest.mark.version_matrix, pytest.mark.usefixtures("pickled_by_value")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASKS = 6

GENERATOR = random.Random()  # a module global of a module pickled by value, like a notebook's


class Waits:
    generator = random.Random()  # a class attribute of a class pickled by value

    def own_class_attribute(self):
        return self.generator.uniform(0, 1)

    def own_module_global(self):
        return GENERATOR.uniform(0, 1)

    def random_functions(self):
        return random.uniform(0, 1)

    def system_random(self):
        return random.SystemRandom().uniform(0, 1)


def first_draws(spark, draw):
    """The first draw of `draw` in each of TASKS tasks (one row per task)."""
    from pyspark.sql import functions as F

    first = F.udf(lambda _: draw(), "double")
    return [row[0] for row in spark.range(TASKS, numPartitions=TASKS).select(first("id")).collect()]


def test_a_generator_of_your_own_draws_the_same_waits_in_every_task(spark):
    waits = Waits()
    assert len(set(first_draws(spark, waits.own_class_attribute))) == 1
    assert len(set(first_draws(spark, waits.own_module_global))) == 1
    assert len(set(first_draws(spark, waits.random_functions))) == TASKS
    assert len(set(first_draws(spark, waits.system_random))) == TASKS
    # The lab says so, and no longer that `random`'s module state is the same in every forked worker.
    with open(os.path.join(ROOT, "workshop", "lab_sources", "09_resilience.py"), encoding="utf-8") as text:
        lab = " ".join(text.read().replace("#", " ").split())
    assert "reaches every task as a copy with the same state" in lab
    assert "`random`'s state would be the same in each" not in lab
