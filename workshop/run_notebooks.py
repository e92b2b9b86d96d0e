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


def execute(path, timeout=900, until_todo=False):
    """Run every cell of the notebook at `path` in its folder.

    With `until_todo`, a NotImplementedError (an unfinished TODO) ends the run successfully:
    what matters is that every cell before it worked.
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
        client.execute()
    except CellExecutionError as failure:
        if until_todo and failure.ename == "NotImplementedError":
            stopped = True
        else:
            ok, error = False, f"{failure.ename}: {failure.evalue}"
    except Exception as failure:  # kernel died, timeout
        ok, error = False, f"{type(failure).__name__}: {failure}"
    output = "".join(cell_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    return NotebookRun(path, ok, time.time() - started, stopped, error, output)
