"""Execute lab notebooks with a Jupyter kernel, as a learner would run them top to bottom."""
import os
import time
from dataclasses import dataclass


@dataclass
class NotebookRun:
    path: str
    ok: bool
    seconds: float
    stopped_at_todo: bool = False  # a learner notebook ran up to its first unfinished TODO
    error: str = ""
    output: str = ""  # everything the cells printed, for `workshop check`
    cells: list = None  # [(cell number, seconds, first line)] of the code cells that ran, for profiles


def cell_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"] + "\n")
        elif output.get("output_type") == "error":
            parts.append(f"{output['ename']}: {output['evalue']}\n")
    return "".join(parts)


def execute(path, timeout=900, until_todo=False, env=None):
    """Run every cell of the notebook at `path` in its folder, in a new kernel.

    With `until_todo`, a NotImplementedError (an unfinished TODO) ends the run successfully:
    what matters is that every cell before it worked. `env` is the kernel's environment
    (default: this process's), e.g. `workshop.spark.warm_spark_env(url)` to attach to a warm Spark.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
    )
    started = time.time()
    ok, stopped, error = True, False, ""
    try:
        client.execute(**({} if env is None else {"env": env}))
    except CellExecutionError as failure:
        if until_todo and failure.ename == "NotImplementedError":
            stopped = True
        else:
            ok, error = False, f"{failure.ename}: {failure.evalue}"
    except Exception as failure:  # kernel died, timeout
        ok, error = False, f"{type(failure).__name__}: {failure}"
    output = "".join(cell_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    return NotebookRun(path, ok, time.time() - started, stopped, error, output, cell_seconds(notebook))


def cell_seconds(notebook):
    """[(cell number, seconds, first line)] from the timings nbclient records in each cell."""
    from datetime import datetime

    timed = []
    for number, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        begun, done = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and begun and done:
            seconds = (datetime.fromisoformat(done.replace("Z", "+00:00"))
                       - datetime.fromisoformat(begun.replace("Z", "+00:00"))).total_seconds()
            timed.append((number, round(seconds, 2), (cell.source.strip().splitlines() or [""])[0][:70]))
    return timed


# Two at a time: a kernel spends much of its time waiting (the service, streaming triggers),
# so two kernels share two cores well; more would only queue for the cores.
WORKERS = int(os.environ.get("WORKSHOP_NOTEBOOK_WORKERS", "2"))


def start_runs(notebooks, env=None, workers=WORKERS):
    """Start running `notebooks` ([(path, until_todo)]), `workers` at a time, each in its own process.

    Returns (pool, {notebook: future of its NotebookRun}); shut the pool down when done.
    """
    import concurrent.futures
    import multiprocessing

    # spawn, not fork: this process may hold a Spark session and its threads.
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    futures = {notebook: pool.submit(execute, notebook[0], until_todo=notebook[1], env=env) for notebook in notebooks}
    return pool, futures
