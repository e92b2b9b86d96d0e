"""Every lab's TODOs and hints, from the lab sources: short TODOs, 2-3 hints per task, the first
giving no formula, and hints that only name what the signature and the lab name.

A task is what the learner writes: the function or `Class.method` that holds a `# BEGIN SOLUTION`
region, in what `%include` brings into a lab or in the lab source itself.
"""
import ast
import builtins
import glob
import keyword
import os
import re

import pytest

from workshop import labs
from workshop.checks import hints_of

TODO_LIMIT = 100  # the longest `# TODO: ...` line, indent included
# A formula in code: an operator between two operands ("a+b", "i // parts"), an assignment, a call
# with arguments. In prose only an operator set off by spaces counts ("lo + (hi - lo) * i").
CODE_FORMULA = re.compile(r"\w\s*(//|\*\*|==|<=|>=|[-+*/%<>])\s*[\w(]|\w\s*=\s*\w|\w\([^)]+\)")
PROSE_FORMULA = re.compile(r"[\w)]\s+(//|\*\*|==|<=|>=|[-+*/%<>])\s+[\w(]")
BACKTICKED = re.compile(r"`([^`]+)`")
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _tasks(source_path):
    """{task name: [the `# BEGIN SOLUTION` lines of that task]} of one lab source."""
    with open(source_path) as f:
        lines = f.read().splitlines()
    tasks = {}
    for number, line in enumerate(lines):
        include = labs.INCLUDE.match(line)
        if include:
            _, module, name = include.groups()
            included = labs.object_source(module, name)
            for index, text in enumerate(included):
                if labs.BEGIN.match(text):  # an included class: the task is the method that holds it
                    task = name if "." in name else _enclosing_function(included, index)
                    tasks.setdefault(task, []).append(text)
        elif labs.BEGIN.match(line):
            tasks.setdefault(_enclosing_function(lines, number), []).append(line)
    return tasks


def _enclosing_function(lines, number):
    """`name` or `Class.name` of the def that holds line `number` of a lab source."""
    indent, names = labs._indent(lines[number]), []
    for line in reversed(lines[:number]):
        match = re.match(r"(\s*)(?:async\s+)?(def|class)\s+(\w+)", line)
        if match and len(match.group(1)) < indent:
            names.insert(0, (match.group(2), match.group(3)))
            indent = len(match.group(1))
    if not names:
        raise AssertionError(f"a solution region outside any function: {lines[number].strip()}")
    # The outermost def (a closure belongs to the function that makes it), or Class.method.
    if names[0][0] == "class" and len(names) > 1:
        return f"{names[0][1]}.{names[1][1]}"
    return names[0][1]


LABS = {os.path.basename(path)[:2]: path for path in labs.lab_sources()}
TASKS = [(lab, task) for lab, path in LABS.items() for task in _tasks(path)]


def _defined_names(tree):
    """The names a module offers a reader: its functions, classes, parameters, attributes, imports,
    module- and class-level names, keywords and identifier-like strings (option names); not locals."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            for statement in node.body if isinstance(node, ast.ClassDef) else []:
                names |= {target.id for target in getattr(statement, "targets", [getattr(statement, "target", None)])
                          if isinstance(target, ast.Name)}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names |= set(IDENTIFIER.findall(node.asname or node.name))
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names |= set(IDENTIFIER.findall(node.value))
    for statement in tree.body:
        names |= {target.id for target in getattr(statement, "targets", [getattr(statement, "target", None)])
                  if isinstance(target, ast.Name)}
    return names


def _names_known_to(lab):
    """Every name a hint of lab `lab` may put in backticks: what the connector defines (not its
    local variables), what the lab's code uses, what its text names, and Python's own names."""
    known = set(dir(builtins)) | set(keyword.kwlist)
    for path in glob.glob(os.path.join(labs.ROOT, "solutions", "*.py")):
        with open(path) as f:
            known |= _defined_names(ast.parse(f.read()))
    with open(LABS[lab]) as f:
        for kind, lines in labs.parse_cells(f.read()):
            if kind == "markdown":
                known |= {name for code in BACKTICKED.findall("\n".join(lines)) for name in IDENTIFIER.findall(code)}
            else:
                known |= set(IDENTIFIER.findall("\n".join(labs.expand_includes(lines, lab))))
    return known


def test_every_lab_has_tasks():
    """The parse below finds the tasks (a broken parse would make every other test pass vacuously)."""
    assert len(TASKS) >= 20, TASKS
    assert ("03", "plan_id_ranges") in TASKS


@pytest.mark.parametrize("lab", sorted(LABS))
def test_no_todo_line_is_longer_than_100_characters(lab):
    todo_lines = []
    for notebook in labs.targets(LABS[lab]):
        if not labs.targets(LABS[lab])[notebook]:
            continue
        with open(notebook) as f:
            for cell in labs.code_cells(f.read()):
                todo_lines += [line for line in cell.splitlines() if line.lstrip().startswith("# TODO")]
    assert todo_lines or lab == "00", f"lab {lab}'s learner notebook has no TODO"
    long = [line for line in todo_lines if len(line) > TODO_LIMIT]
    assert not long, f"lab {lab}: TODO lines over {TODO_LIMIT} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("lab,task", TASKS)
def test_every_task_has_two_or_three_hints(lab, task):
    hints = hints_of(lab).get(task)
    assert hints, f"lab {lab}: no HINTS[{task!r}] in workshop/checks/lab{lab}.py"
    assert 2 <= len(hints) <= 3, f"lab {lab}: HINTS[{task!r}] has {len(hints)} hints; a task has 2 or 3"
    assert all(isinstance(hint, str) and hint.strip() for hint in hints), hints


@pytest.mark.parametrize("lab", sorted(LABS))
def test_hints_name_only_tasks_of_the_lab(lab):
    tasks = {task for task_lab, task in TASKS if task_lab == lab}
    assert not set(hints_of(lab)) - tasks, f"lab {lab}: hints for no task: {set(hints_of(lab)) - tasks}"


@pytest.mark.parametrize("lab,task", TASKS)
def test_the_first_hint_gives_no_formula(lab, task):
    first = hints_of(lab).get(task, [""])[0]
    code = [snippet for snippet in BACKTICKED.findall(first) if CODE_FORMULA.search(snippet)]
    assert not code, f"lab {lab}: the first hint for {task} gives code {code}: {first!r}"
    prose = PROSE_FORMULA.search(BACKTICKED.sub("", first))
    assert not prose, f"lab {lab}: the first hint for {task} reads like a formula ({prose.group()!r}): {first!r}"


@pytest.mark.parametrize("lab,task", TASKS)
def test_hints_name_nothing_the_signature_and_the_lab_do_not(lab, task):
    """A hint that says `parts` where the signature says `num_partitions` sends the learner looking."""
    known = _names_known_to(lab)
    hints = hints_of(lab).get(task, []) + [line.split(":", 1)[1] for line in _tasks(LABS[lab])[task]]
    unknown = {
        name
        for hint in hints
        for code in BACKTICKED.findall(hint)
        for name in IDENTIFIER.findall(code)
        if name not in known and not code.strip().startswith(("'", '"'))
    }
    assert not unknown, f"lab {lab}: the hints for {task} name {sorted(unknown)}, which neither its code nor the lab defines"
