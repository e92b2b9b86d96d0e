"""Run the course's pytest suite on a Databricks cluster; fail the job run when a test fails.

The `solution_tests` bundle job runs this file as a Python script task
(resources/solution_tests.job.yml). It is a plain Python file, not a notebook, and it
works the same anywhere:

    python tests/run_on_cluster.py                        # the whole suite in ./tests
    python tests/run_on_cluster.py --root /path/to/course
    python tests/run_on_cluster.py --tests some/dir --pytest-args "-k reader -x"

Exit status: 0 when pytest passes; otherwise pytest's own non-zero code (1 tests failed,
2 interrupted, 3 internal error, 4 usage error, 5 no tests collected), which fails the
job's task. A run that collects no test fails too: a test job that tests nothing must
not look green.
"""
import argparse
import os
import shlex
import sys

EXIT_MEANINGS = {
    1: "some tests failed",
    2: "the run was interrupted",
    3: "pytest hit an internal error",
    4: "pytest was called wrongly",
    5: "no tests were collected",
}


def course_root(given=None):
    """The deployed course folder: --root, else the folder above this file, else the cwd."""
    if given:
        return os.path.abspath(given)
    here = globals().get("__file__")  # not every script runner defines __file__
    if here:
        return os.path.dirname(os.path.dirname(os.path.abspath(here)))
    return os.getcwd()


def pytest_arguments(root, tests=None, extra=""):
    targets = [os.path.abspath(path) for path in tests] if tests else [os.path.join(root, "tests")]
    # No .pytest_cache written into the (workspace) file tree.
    return targets + ["-p", "no:cacheprovider", "-ra"] + shlex.split(extra or "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="course folder (default: the folder above this file)")
    parser.add_argument("--tests", action="append", help="test file or folder (repeatable; default: ROOT/tests)")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, as one shell-style string")
    args = parser.parse_args(argv)

    root = course_root(args.root)
    if not os.path.isdir(root):
        print(f"run_on_cluster: course folder {root} does not exist", file=sys.stderr)
        return 4
    # Workspace files are slow to write and shared: keep bytecode out of them.
    sys.dont_write_bytecode = True
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    # Relative paths in tests resolve as in a local run from the course folder. The
    # course code itself is imported from the installed wheel, as on the executors.
    os.chdir(root)

    import pytest

    arguments = pytest_arguments(root, args.tests, args.pytest_args)
    print(f"run_on_cluster: pytest {shlex.join(arguments)} (in {root})", flush=True)
    code = int(pytest.main(arguments))
    if code:
        why = EXIT_MEANINGS.get(code, "unknown failure")
        print(f"run_on_cluster: FAILED: pytest exited with code {code} ({why})", flush=True)
    else:
        print("run_on_cluster: all tests passed", flush=True)
    return code


if __name__ == "__main__":
    exit_code = main()
    # Only a failure raises: on Databricks a script task that raises SystemExit, even
    # SystemExit(0), may be marked failed, so success simply returns.
    if exit_code:
        raise SystemExit(exit_code)
