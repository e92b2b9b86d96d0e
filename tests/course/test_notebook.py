"""What a lab's first cell relies on: the kit found wherever the lab sits, the version branches
of the lab named for the runtime, and hints given one step at a time."""
import os
import shutil
import subprocess
import sys

import pytest

from workshop import labs, notebook

IMPORT_THE_KIT = "import workshop.notebook, solutions; print(workshop.__file__); print(solutions.__file__)"


def run_in(folder, code, *flags):
    """Python in `folder` with that folder first on sys.path, as a notebook kernel there has it."""
    return subprocess.run([sys.executable, *flags, "-c", f"import sys; sys.path.insert(0, ''); {code}"],
                          cwd=folder, capture_output=True, text=True, timeout=60)


def test_a_lab_in_the_course_folder_imports_the_course_above_it():
    found = run_in(labs.LEARNER_DIR, IMPORT_THE_KIT)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [os.path.join(labs.ROOT, "workshop", "__init__.py"),
                                    os.path.join(labs.ROOT, "solutions", "__init__.py")]


def test_a_copy_of_the_labs_folder_uses_the_installed_course(tmp_path):
    shutil.copytree(os.path.join(labs.LEARNER_DIR, "workshop"), tmp_path / "labs" / "workshop")
    found = run_in(tmp_path / "labs", IMPORT_THE_KIT)
    assert found.returncode == 0, found.stderr
    assert not found.stdout.startswith(str(tmp_path))  # the installed package, not the stand-in


def test_without_the_course_the_error_says_what_to_do(tmp_path):
    shutil.copytree(os.path.join(labs.LEARNER_DIR, "workshop"), tmp_path / "labs" / "workshop")
    missing = run_in(tmp_path / "labs", IMPORT_THE_KIT, "-S")  # no site-packages: nothing installed
    assert missing.returncode != 0
    last = missing.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: the course kit (package workshop) is neither in the folder above")
    assert "Git folder" in last and "pip install -e" in last and "lab cluster" in last


def test_the_setup_cell_names_only_the_branches_of_its_lab():
    import pyspark
    import pyspark.sql.datasource as api

    pushdown = hasattr(api.DataSourceReader, "pushFilters")
    worker_logs = tuple(int(part) for part in pyspark.__version__.split(".")[:2]) >= (4, 1)  # both came with 4.1
    assert notebook.version_branches("10") == [
        f"  filter pushdown (pushFilters): {'yes' if pushdown else 'no'} (PySpark 4.1+)",
        f"  Python worker logs (python_worker_logs): {'yes' if worker_logs else 'no'} (PySpark 4.1+)"]
    assert notebook.version_branches("00") == []
    assert {lab for *_, labs_of in notebook.FEATURES for lab in labs_of} <= set(labs.lab_numbers())


def test_hints_come_one_step_at_a_time_and_stop_at_the_last(monkeypatch, capsys):
    from workshop import checks

    monkeypatch.setattr(checks, "hints_of", lambda lab: {"plan_id_ranges": ["the idea", "the pitfall"]})
    monkeypatch.setattr(notebook, "_given", {})
    for _ in range(3):
        notebook.hint("03", "plan_id_ranges")
    printed = capsys.readouterr().out
    assert printed.count("hint 1 of 2 for plan_id_ranges (again for hint 2):\nthe idea") == 1
    assert printed.count("hint 2 of 2 for plan_id_ranges:\nthe pitfall") == 2  # the last one again
    with pytest.raises(KeyError, match="lab 03 has no hints for 'fit_window'; it has hints for: plan_id_ranges"):
        notebook.hint("03", "fit_window")


def test_every_check_is_kept_for_the_overview_of_all_labs(tmp_path, monkeypatch):
    from workshop import progress
    from workshop.checks import Report

    monkeypatch.setenv("WORKSHOP_PROGRESS_FILE", str(tmp_path / "progress.json"))
    assert progress.overview().splitlines()[1].split() == ["00", "not", "checked"]
    failing, passing = Report("03"), Report("04")
    failing.record("a", True)
    failing.record("b", False, "why")
    passing.record("a", True)
    progress.record(failing, 2.0)
    progress.record(passing, 1.5)
    lines = {line.split()[0]: line.split() for line in progress.overview().splitlines()[1:-1]}
    assert lines["03"][:3] == ["03", "fail", "1/2"] and lines["04"][:3] == ["04", "pass", "1/1"]
    assert lines["05"][1:] == ["not", "checked"]
    assert progress.overview().splitlines()[-1] == f"1 of {len(labs.lab_numbers())} labs pass their check"
