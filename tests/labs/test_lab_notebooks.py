"""Every solution notebook runs top to bottom; every learner notebook runs up to its first TODO.

Each notebook runs in its own Jupyter kernel, as a learner's would, attached to this run's warm
Spark (a Spark Connect server in the test run's JVM) as `workshop lab` attaches a learner's
kernels: each kernel has a Spark session of its own, and no kernel waits for a JVM to start.
The selected notebooks run two at a time (WORKSHOP_NOTEBOOK_WORKERS), in processes of their
own: a kernel spends much of its time waiting (streaming triggers, the service), so two
kernels share two cores well. Each test then judges its notebook's run.
"""
import pytest

from workshop import labs
from workshop.run_notebooks import start_runs

LABS = labs.lab_numbers()


def notebook_of(test_name, lab):
    learner, solution = list(labs.targets(labs.source_path(lab)))
    return (solution, False) if test_name == "test_solution_notebook_runs_end_to_end" else (learner, True)


@pytest.fixture(scope="module")
def notebook_runs(request, warm_spark_url):
    """Start every notebook this session selected; {(path, until_todo): future of its run}."""
    from workshop.spark import warm_spark_env

    selected = [
        notebook_of(item.originalname, item.callspec.params["lab"])
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    ]
    pool, runs = start_runs(selected, env=warm_spark_env(warm_spark_url))
    yield runs
    pool.shutdown(cancel_futures=True)


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_runs_end_to_end(lab, notebook_runs):
    run = notebook_runs[notebook_of("test_solution_notebook_runs_end_to_end", lab)].result()
    assert run.ok, f"{run.error}\n--- output ---\n{run.output[-3000:]}"
    assert "all requirements met" in run.output, run.output[-3000:]


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_learner_notebook_runs_up_to_its_first_todo(lab, notebook_runs):
    run = notebook_runs[notebook_of("test_learner_notebook_runs_up_to_its_first_todo", lab)].result()
    assert run.ok and run.stopped_at_todo, f"{run.error}\n--- output ---\n{run.output[-3000:]}"
