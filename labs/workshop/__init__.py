"""Lets a lab notebook in this folder import the course kit, `workshop`, wherever the course is.

A notebook runs with its own folder on sys.path (Jupyter, VS Code, and Databricks for workspace
files and Git folders), so `import workshop` finds this stand-in first. It hands over to the
real package: the course folder above it, put first on sys.path (on Databricks Runtime 13.3+ a
folder on sys.path reaches the executors too); else, in a copy of this folder elsewhere, the
installed course (a clone's `.venv`, the course wheel on a cluster); else, on a Databricks
cluster of the course (its WORKSHOP_ARTIFACT_PATH names the deployed wheel), that wheel,
installed notebook-scoped. Nothing else of the course lives here.
"""
import importlib
import os
import sys

_LABS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COURSE = os.path.dirname(_LABS)


def _hand_over():
    if os.path.isfile(os.path.join(_COURSE, "workshop", "__init__.py")) and _COURSE not in sys.path:
        sys.path.insert(0, _COURSE)
    kept = list(sys.path)
    sys.path[:] = [path for path in kept if os.path.abspath(path or os.curdir) != _LABS]  # not this stand-in again
    del sys.modules[__name__]
    try:
        try:
            importlib.import_module(__name__)  # the real package: it takes this one's place in sys.modules
        except ModuleNotFoundError as missing:
            if missing.name != __name__ or not _install_the_deployed_wheel():
                raise
            importlib.import_module(__name__)
    except ModuleNotFoundError as missing:
        if missing.name != __name__:
            raise
        raise ModuleNotFoundError(
            f"the course kit (package workshop) is neither in the folder above this lab ({_COURSE}) nor installed. "
            "Open the lab from the course folder (the folder the bundle deploys, a Git folder of the course, or a "
            "clone), or install the course: `pip install -e <course folder>` locally, or on Databricks attach the "
            "lab to the course's lab cluster",
            name=__name__,
        ) from None
    finally:
        sys.path[:] = kept


def _install_the_deployed_wheel():
    """On a course cluster, `%pip install` the newest wheel its deployment built; True if it did."""
    import glob

    wheels = glob.glob(os.path.join(os.environ.get("WORKSHOP_ARTIFACT_PATH", "/nonexistent"), ".internal", "*.whl"))
    if not (os.environ.get("DATABRICKS_RUNTIME_VERSION") and wheels):
        return False
    from IPython import get_ipython

    get_ipython().run_line_magic("pip", f"install --quiet {max(wheels, key=os.path.getmtime)}")
    importlib.invalidate_caches()
    return True


_hand_over()
