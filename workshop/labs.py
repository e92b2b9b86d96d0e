"""Generate the lab notebooks from one source of truth per lab.

A lab source (`workshop/lab_sources/NN_slug.py`) is a Python file in the "percent" format
that Jupyter, VS Code and Databricks understand: cells start with `# %%` (code) or
`# %% [markdown]`. In code, two directives keep code from being written twice:

- `# %include solutions.partitioning:plan_id_ranges` inserts the source of that top-level
  function or class from the reference connector, so the notebook shows the real code;
  `# %include solutions.reader:PracticeBatchReader.read` inserts one method, at the indent of
  the directive (so a lab can override just that method in a subclass).
- `# %setup` becomes every lab's first cell, one line (`setup_line`): import the kit (labs/workshop
  finds it wherever the course is), start Spark and the practice service, name the lab.
- A region between `# BEGIN SOLUTION: <hint>` and `# END SOLUTION` is the answer: the
  solution notebook keeps it, the learner notebook gets `# TODO: <hint>` (one line of intent)
  and a `raise NotImplementedError` (`lab.hint(name)` gives more help, step by step).

In markdown, `![alt](images/name.svg)` is embedded as a data URI, so pictures render in the
Databricks workspace, Jupyter and VS Code without files beside the notebook.

`build(check=False)` writes `labs/NN_slug.ipynb` (learner) and
`solutions/notebooks/NN_slug.ipynb` (solution); with `check=True` it writes nothing and
returns the notebooks that differ from what it would make.
"""
import ast
import base64
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = os.path.join(ROOT, "workshop", "lab_sources")
LEARNER_DIR = os.path.join(ROOT, "labs")
SOLUTION_DIR = os.path.join(ROOT, "solutions", "notebooks")
BACKUP_DIR = os.path.join(ROOT, "build", "lab-backups")  # `workshop reset` keeps the learner's copy here

CELL_START = re.compile(r"^# %%( \[markdown\])?\s*$")
INCLUDE = re.compile(r"^(\s*)# %include ([\w.]+):([\w.]+)\s*$")
BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION(?::\s*(.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
IMAGE = re.compile(r"!\[([^\]]*)\]\((images/[\w.-]+\.(svg|png))\)")


SETUP = re.compile(r"^# %setup\s*$")


def setup_line(lab):
    """The first cell of lab `lab`: one line (labs/workshop makes the kit importable from the labs)."""
    return f'from workshop.notebook import start_lab; lab = start_lab("{lab}"); spark = lab.spark'


def lab_sources():
    return sorted(glob.glob(os.path.join(SOURCES, "[0-9][0-9]_*.py")))


def lab_numbers():
    """["00", "01", ...]: every lab, in order."""
    return [os.path.basename(path)[:2] for path in lab_sources()]


def code_cells(notebook_text):
    """The source of each code cell of a notebook, without outputs: tells an edited lab from a fresh one."""
    import nbformat

    return [cell.source for cell in nbformat.reads(notebook_text, as_version=4).cells if cell.cell_type == "code"]


def parse_cells(text):
    """[(kind, lines)] with kind "code" or "markdown"; text before the first marker is a header."""
    cells = []
    for line in text.splitlines():
        match = CELL_START.match(line)
        if match:
            cells.append(("markdown" if match.group(1) else "code", []))
        elif cells:
            cells[-1][1].append(line)
    return [(kind, _trim(lines)) for kind, lines in cells]


def _trim(lines):
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def object_source(module, name):
    """Source lines of a top-level function or class (with decorators) of a repo module.

    `Class.method` names one method of a top-level class; its lines come dedented to column 0,
    so `    # %include module:Class.method` inside a class in a lab puts it at that indent.
    """
    path = os.path.join(ROOT, *module.split(".")) + ".py"
    with open(path) as f:
        text = f.read()
    kinds = (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)
    nodes = ast.parse(text).body
    *owners, wanted = name.split(".")
    for owner in owners:  # walk down to the class that holds the method
        found = [node for node in nodes if isinstance(node, ast.ClassDef) and node.name == owner]
        nodes = found[0].body if found else []
    for node in nodes:
        if isinstance(node, kinds) and node.name == wanted:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = text.splitlines()
            last = node.end_lineno
            # The AST ends at the last statement; comments right after it that are indented
            # inside the object (a closing `# END SOLUTION`) belong to it too.
            while last < len(lines) and lines[last].lstrip().startswith("#") and _indent(lines[last]) > node.col_offset:
                last += 1
            return [line[node.col_offset :] if line.strip() else "" for line in lines[first - 1 : last]]
    what = "method" if owners else "top-level function or class"
    raise ValueError(f"%include {module}:{name}: no {what} {name!r} in {path}")


def _indent(line):
    return len(line) - len(line.lstrip())


def expand_includes(lines, lab=None):
    out = []
    for line in lines:
        match = INCLUDE.match(line)
        if SETUP.match(line):
            out.append(setup_line(lab))
        elif match:
            indent, module, name = match.groups()
            out.extend(indent + source_line if source_line else "" for source_line in object_source(module, name))
        else:
            out.append(line)
    return out


def render_code(lines, learner):
    """Keep or replace the solution regions."""
    out, in_solution = [], False
    for line in lines:
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if in_solution:
                raise ValueError("nested # BEGIN SOLUTION")
            in_solution = True
            if learner:
                indent, hint = begin.group(1), (begin.group(2) or "implement this").strip()
                out.append(f"{indent}# TODO: {hint}")
                out.append(f'{indent}raise NotImplementedError("your code here: see the TODO above")')
        elif end:
            if not in_solution:
                raise ValueError("# END SOLUTION without # BEGIN SOLUTION")
            in_solution = False
        elif not (learner and in_solution):
            out.append(line)
    if in_solution:
        raise ValueError("# BEGIN SOLUTION without # END SOLUTION")
    return out


def render_markdown(lines):
    text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)

    def embed(match):
        alt, relative, kind = match.groups()
        with open(os.path.join(SOURCES, relative), "rb") as f:
            data = base64.b64encode(f.read()).decode()
        mime = "image/svg+xml" if kind == "svg" else "image/png"
        return f"![{alt}](data:{mime};base64,{data})"

    return IMAGE.sub(embed, text)


def make_notebook(source_path, learner):
    import nbformat

    with open(source_path) as f:
        cells = parse_cells(f.read())
    lab = os.path.basename(source_path)[:2]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for index, (kind, lines) in enumerate(cells):
        cell_id = f"cell-{index:02d}"
        if kind == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(render_markdown(lines), id=cell_id))
        else:
            code = "\n".join(render_code(expand_includes(lines, lab), learner))
            notebook.cells.append(nbformat.v4.new_code_cell(code, id=cell_id))
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def source_path(lab):
    """The source file of lab "NN"."""
    (path,) = glob.glob(os.path.join(SOURCES, f"{lab}_*.py"))
    return path


def solution_namespace(lab):
    """Run the reference answer of lab "NN" and return its names.

    By convention a cell with a solution region imports what it uses, so these cells run
    on their own; tests and `workshop check` use this as the known-good implementation.
    """
    namespace = {"__name__": f"lab{lab}_solution"}
    with open(source_path(lab)) as f:
        cells = parse_cells(f.read())
    for kind, lines in cells:
        lines = expand_includes(lines, lab)
        if kind == "code" and any(BEGIN.match(line) for line in lines):
            exec(compile("\n".join(render_code(lines, learner=False)), f"lab {lab} solution", "exec"), namespace)
    return namespace


def targets(source):
    name = os.path.splitext(os.path.basename(source))[0] + ".ipynb"
    return {os.path.join(LEARNER_DIR, name): True, os.path.join(SOLUTION_DIR, name): False}


def build(check=False):
    """Write every lab's notebooks, or with check=True list those that differ (nothing written)."""
    stale = []
    for source in lab_sources():
        for path, learner in targets(source).items():
            text = make_notebook(source, learner)
            current = open(path).read() if os.path.exists(path) else None
            if current == text:
                continue
            stale.append(os.path.relpath(path, ROOT))
            if not check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
    expected = {p for source in lab_sources() for p in targets(source)}
    for folder in (LEARNER_DIR, SOLUTION_DIR):
        for path in glob.glob(os.path.join(folder, "[0-9][0-9]_*.ipynb")):
            if path not in expected:  # a notebook whose source is gone
                stale.append(os.path.relpath(path, ROOT))
                if not check:
                    os.remove(path)
    return stale
