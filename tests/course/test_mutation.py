"""The mutator behind `workshop mutate`: its mutants change the solution regions and nothing else.

No Spark here: the mutants are made and compiled, and a few small ones run in plain Python.
"""
import ast
import json
import subprocess
import sys
import time

import pytest

from workshop import labs, mutation

SNIPPET = '''\
import contextlib
import logging

log = logging.getLogger("snippet")


def outside(a, b):
    return a < b and a + 1 > 0


def inside(a, b, entered):
    # BEGIN SOLUTION: compare, add, open, protect
    if a < b and b >= 0:
        total = min(a, b) + 1
    else:
        total = a * 2
    with contextlib.ExitStack() as stack:
        stack.callback(entered.append, "exit")
        total += 0
    log.info("total %d after %s", total, "adding", extra={"step": 1})
    try:
        total = total // (b - b)
    except ZeroDivisionError:
        total = -total
    return total
    # END SOLUTION


def after(a, b):
    return a <= b or b != 1
'''


def snippet_cell():
    lines = SNIPPET.splitlines()
    return mutation.Cell(lines, [f"snippet:{number}" for number in range(1, len(lines) + 1)], mutation.regions_of(lines))


def run(text, *args):
    namespace = {}
    exec(compile(text, "mutant", "exec"), namespace)
    return namespace["inside"](*args)


def assert_only_regions_change(cell, mutant):
    """The mutant's lines before and after some region are the cell's, line for line."""
    before, after = cell.lines, mutant.text.splitlines()
    assert any(
        after[:first - 1] == before[:first - 1] and after[len(after) - (len(before) - last):] == before[last:]
        for first, last in cell.regions
    ), mutant.diff()


def test_snippet_mutants_differ_compile_and_stay_in_the_region():
    cell = snippet_cell()
    mutants = mutation.cell_mutants("xx", 0, cell)
    assert len(mutants) > 30
    assert len({m.text for m in mutants}) == len(mutants), "each mutant is made once"
    reference = ast.dump(ast.parse(cell.text))
    for mutant in mutants:
        assert ast.dump(ast.parse(mutant.text)) != reference, mutant.diff()
        compile(mutant.text, "mutant", "exec")
        assert_only_regions_change(cell, mutant)
        assert mutant.where == "inside" and mutant.origin.startswith("snippet:")
        first = int(mutant.origin.split(":")[1])
        assert 13 <= first <= 26, mutant.diff()  # the region's lines


def test_snippet_gets_each_kind_of_change():
    changes = {(m.operator, m.before.strip(), m.after.strip()) for m in mutation.cell_mutants("xx", 0, snippet_cell())}
    expected = [
        ("comparison", "if a < b and b >= 0:", "if a <= b and b >= 0:"),
        ("comparison", "if a < b and b >= 0:", "if a > b and b >= 0:"),
        ("comparison", "if a < b and b >= 0:", "if a < b and b > 0:"),
        ("boolean", "if a < b and b >= 0:", "if a < b or b >= 0:"),
        ("boolean", "if a < b and b >= 0:", "if (b >= 0):"),
        ("condition", "if a < b and b >= 0:", "if not (a < b and b >= 0):"),
        ("arithmetic", "total = min(a, b) + 1", "total = min(a, b) - 1"),
        ("builtin", "total = min(a, b) + 1", "total = max(a, b) + 1"),
        ("constant", "total = min(a, b) + 1", "total = min(a, b) + 0"),
        ("constant", "total = min(a, b) + 1", "total = min(a, b) + 2"),
        ("arithmetic", "total = a * 2", "total = a // 2"),
        ("arithmetic", "total += 0", "total -= 0"),
        ("arithmetic", "total = -total", "total = (total)"),
        ("statement", "total = a * 2", "pass"),
        ("return", "return total", "return None"),
        ("with", "with contextlib.ExitStack() as stack:", "if [(stack := contextlib.ExitStack())]:"),
    ]
    for change in expected:
        assert change in changes, change
    assert ("arguments", "total = min(a, b) + 1", "total = min(b, a) + 1") not in changes, "min and max commute"
    logging_changes = [change for change in changes if change[1].startswith("log.info")]
    assert logging_changes == [("statement", 'log.info("total %d after %s", total, "adding", extra={"step": 1})', "pass")]


def test_mutants_change_what_the_code_does():
    cell = snippet_cell()
    mutants = {(m.operator, m.after.strip()): m for m in mutation.cell_mutants("xx", 0, cell)}
    entered = []
    assert run(cell.text, 1, 2, entered) == -2  # min(1, 2) + 1, then 2 // 0 fails and is negated
    assert entered == ["exit"]
    assert run(mutants["builtin", "total = max(a, b) + 1"].text, 1, 2, []) == -3
    assert run(mutants["return", "return None"].text, 1, 2, []) is None
    entered = []
    without_with = mutants["with", "if [(stack := contextlib.ExitStack())]:"].text
    run(without_with, 1, 2, entered)
    assert entered == [], "without `with`, the stack is never closed, so its callback never runs"
    dropped = [m for m in mutants.values() if m.operator == "try"]
    assert len(dropped) == 1
    with pytest.raises(ZeroDivisionError):
        run(dropped[0].text, 1, 2, [])


def test_lab_mutants_differ_compile_and_leave_the_rest_of_the_cell_alone():
    for lab in labs.lab_numbers():
        cells = mutation.solution_cells(lab)
        mutants = mutation.lab_mutants(lab)
        assert mutants, f"lab {lab} has solution regions, so it has mutants"
        for mutant in mutants:
            cell = cells[mutant.cell]
            assert mutant.text != cell.text
            compile("\n".join(labs.render_code(mutant.text.splitlines(), learner=False)), "mutant", "exec")
            assert_only_regions_change(cell, mutant)


def test_solution_cells_are_what_solution_namespace_runs():
    """run_cells on the unmutated cells defines what labs.solution_namespace does, and the check
    cell's arguments name things those cells define (or the lab's url)."""
    for lab in ("03", "07"):
        namespace = mutation.run_cells(lab, [cell.text for cell in mutation.solution_cells(lab)])
        assert set(namespace) == set(labs.solution_namespace(lab))
        arguments = mutation.check_arguments(lab)
        assert [name for name, _ in arguments][:1] and all(
            expression == "lab.url" or expression in namespace for _, expression in arguments), arguments
    assert mutation.check_arguments("03") == [
        ("plan_id_ranges", "plan_id_ranges"), ("plan_token_ranges", "plan_token_ranges"),
        ("fit_windows", "fit_windows")]  # the check starts a small service of its own


def test_every_labs_check_arguments_resolve_in_the_names_mutants_run_with():
    """What the check cell passes is defined by the solution cells, or by a plug-in subclass the
    mutator defines beside them (lab 02's Lab02DataSource), or is the context (lab, spark)."""
    import types

    for lab in sorted(labs.lab_numbers()):
        scope = {**mutation.run_cells(lab, [cell.text for cell in mutation.solution_cells(lab)]),
                 "lab": types.SimpleNamespace(url="http://127.0.0.1:1"), "spark": None}
        arguments = mutation.check_arguments(lab)
        mutation.define_plug_ins(lab, scope, arguments)
        for name, expression in arguments:
            assert eval(expression, dict(scope)) is not None or expression == "spark", (lab, name)


def test_origins_point_at_the_line_in_its_file():
    for lab in ("03", "10"):
        for cell in mutation.solution_cells(lab):
            for line, origin in zip(cell.lines, cell.origins):
                path, number = origin.rsplit(":", 1)
                with open(f"{labs.ROOT}/{path}") as f:
                    assert f.read().splitlines()[int(number) - 1].strip() == line.strip(), origin


def test_each_judged_equivalent_mutant_is_made_today_and_says_why():
    with open(mutation.EQUIVALENT_PATH) as f:
        entries = json.load(f)
    made = {mutant.key for lab in {entry["lab"] for entry in entries} for mutant in mutation.lab_mutants(lab)}
    for entry in entries:
        assert len(entry["reason"]) > 20, entry
        key = (entry["lab"], entry["where"], entry["before"].strip(), entry["after"].strip())
        assert key in made, f"no such mutant any more (the code changed?): {entry}"


def test_time_limit_stops_a_loop_that_never_ends():
    started = time.monotonic()
    with pytest.raises(mutation.MutantTimeout):
        with mutation.time_limit(0.2):
            while True:
                pass
    assert time.monotonic() - started < 5


def test_tally_counts_judged_equivalent_survivors_apart():
    def result(*outcomes):
        return {"lab": "xx", "mutants": [{"outcome": outcome, "equivalent": judged} for outcome, judged in outcomes]}

    counts = mutation.tally(result(("killed", None), ("killed", None), ("timeout", None), ("error", None),
                                   ("survived", None), ("survived", "same output"), ("killed", "wrongly judged")))
    assert counts == {"killed": 3, "error": 1, "timeout": 1, "survived": 1, "equivalent": 1, "total": 7, "rate": 5 / 6}


def test_mutate_list_runs_without_spark():
    result = subprocess.run([sys.executable, "-m", "workshop.cli", "mutate", "3", "--list", "--where", "fit_windows"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = [m for m in mutation.lab_mutants("03") if "fit_windows" in m.where]
    assert result.stdout.splitlines()[0] == f"lab 03: {len(expected)} mutants"
    assert result.stdout.count("(fit_windows, ") == len(expected)
