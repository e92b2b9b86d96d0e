"""Every solution notebook runs top to bottom; every learner notebook runs up to its first TODO.

Each notebook runs in its own Jupyter kernel with its own Spark session, as a learner's would.
"""
import os

import pytest

from workshop import labs
from workshop.run_notebooks import execute

LABS = [os.path.basename(path)[:2] for path in labs.lab_sources()]


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_runs_end_to_end(lab):
    _, solution = list(labs.targets(labs.source_path(lab)))
    run = execute(solution)
    assert run.ok, f"{run.error}\n--- output ---\n{run.output[-3000:]}"
    assert "all requirements met" in run.output, run.output[-3000:]


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_learner_notebook_runs_up_to_its_first_todo(lab):
    learner, _ = list(labs.targets(labs.source_path(lab)))
    run = execute(learner, until_todo=True)
    assert run.ok and run.stopped_at_todo, f"{run.error}\n--- output ---\n{run.output[-3000:]}"
