"""The labs: generated from one source each, up to date, valid, and they run end to end."""
import os

import nbformat
import pytest

from workshop import labs

LABS = labs.lab_numbers()


def test_committed_notebooks_match_the_generator():
    stale = labs.build(check=True)
    assert stale == [], f"run `workshop build-labs`: out of date: {stale}"


def test_build_labs_check_command_runs_clean():
    from workshop.cli import main

    assert main(["build-labs", "--check"]) == 0


@pytest.mark.parametrize("lab", LABS)
def test_notebooks_are_valid_and_learner_copies_hide_the_answers(lab):
    source = labs.source_path(lab)
    learner_path, solution_path = list(labs.targets(source))
    learner = nbformat.read(learner_path, as_version=4)
    solution = nbformat.read(solution_path, as_version=4)
    nbformat.validate(learner)
    nbformat.validate(solution)
    learner_code = "\n".join(cell.source for cell in learner.cells if cell.cell_type == "code")
    solution_code = "\n".join(cell.source for cell in solution.cells if cell.cell_type == "code")
    assert "SOLUTION" not in learner_code and "SOLUTION" not in solution_code
    assert "raise NotImplementedError" in learner_code, "a lab needs at least one TODO"
    assert "check_lab(" in learner_code, "a lab ends with a check cell"
    markdown = "\n".join(cell.source for cell in learner.cells if cell.cell_type == "markdown")
    for part in ("**Goal:**", "**Time:**", "## Check", "## Stretch", "## Recap"):
        assert part in markdown, f"lab {lab} lacks {part}"
    # The first code cell is the one setup line, naming its lab (the `# %setup` directive).
    for notebook in (learner, solution):
        first = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert first == labs.setup_line(lab) and f'start_lab("{lab}")' in first, f"lab {lab}: setup cell"


def test_solution_regions_become_todos_with_the_hint():
    lines = [
        "def f(x):",
        "    # BEGIN SOLUTION: double it",
        "    return 2 * x",
        "    # END SOLUTION",
    ]
    assert labs.render_code(lines, learner=True) == [
        "def f(x):",
        "    # TODO: double it",
        '    raise NotImplementedError("your code here: see the TODO above")',  # the hint once, not twice
    ]
    assert labs.render_code(lines, learner=False) == ["def f(x):", "    return 2 * x"]


@pytest.mark.parametrize(
    "lines, problem",
    [
        (["# BEGIN SOLUTION", "x = 1"], "without # END"),
        (["# END SOLUTION"], "without # BEGIN"),
        (["# BEGIN SOLUTION", "# BEGIN SOLUTION", "# END SOLUTION"], "nested"),
    ],
)
def test_unbalanced_markers_are_refused(lines, problem):
    with pytest.raises(ValueError, match=problem):
        labs.render_code(lines, learner=True)


def test_include_inserts_the_connectors_own_code():
    expanded = labs.expand_includes(["# %include workshop.labs:parse_cells"])
    assert expanded[0] == "def parse_cells(text):"
    assert expanded[-1].strip().startswith("return")
    with pytest.raises(ValueError, match="no top-level function or class 'nope'"):
        labs.expand_includes(["# %include workshop.labs:nope"])


def test_images_are_embedded_so_every_notebook_viewer_shows_them():
    text = labs.render_markdown(["# ![the picture](images/architecture.svg)"])
    assert text.startswith("![the picture](data:image/svg+xml;base64,")


def test_include_keeps_a_closing_marker_after_the_last_statement():
    # The AST of a function ends at its last statement; a `# END SOLUTION` after it (inside
    # the function, as at the end of solutions.partitioning.plan_id_ranges) belongs to it.
    lines = labs.object_source("solutions.partitioning", "plan_id_ranges")
    assert lines[-1].strip() == "# END SOLUTION"
    assert labs.render_code(lines, learner=True)[-1].strip().startswith("raise NotImplementedError(")


def test_include_of_one_method_lands_at_the_directives_indent():
    expanded = labs.expand_includes(["class Mine(Base):", "    # %include solutions.reader:PracticeBatchReader.read"])
    assert expanded[1] == "    def read(self, partition):"
    assert all(line == "" or line.startswith("    ") for line in expanded[1:])
    assert expanded[-1].strip() == "# END SOLUTION"
    with pytest.raises(ValueError, match="no method 'PracticeBatchReader.nope'"):
        labs.expand_includes(["# %include solutions.reader:PracticeBatchReader.nope"])
