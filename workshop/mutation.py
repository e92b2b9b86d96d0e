"""Mutation testing of the labs' checks: does a check reject small changes to the reference answer?

`workshop mutate [LAB ...]` takes each lab's solution cells (the code the solution notebook
runs, `# %include`s expanded), makes mutants of the code between `# BEGIN SOLUTION` and
`# END SOLUTION` (one small change each: an operator swapped, a boundary moved by one, a
constant changed, a statement removed, arguments swapped, `None` returned, a `with` or `try`
dropped, ...), and runs the lab's check on each with the arguments its check cell passes, in
this one Python process on one warm Spark session, each mutant within a time limit.

A mutant is **killed** when the check fails it, **survives** when the check passes it; an
**error** (its cells or the check raised instead of reporting) and a **timeout** are not
passes either, so they count as detected. Some mutants behave exactly like the reference
(equivalent): they are judged by hand and listed, each with the reason, in
`workshop/mutation_equivalent.json`, so a rerun does not count them. `docs/mutation.md` has the
latest figures.

Only the standard library: `ast` finds what to change, and each change is made in the text,
so the mutant differs from the reference by that change only and the diff shows it.
"""
import ast
import contextlib
import dataclasses
import difflib
import json
import os
import re
import signal
import sys
import time

from workshop import labs

EQUIVALENT_PATH = os.path.join(labs.ROOT, "workshop", "mutation_equivalent.json")
RESULTS_DIR = os.path.join(labs.ROOT, "build", "mutation")
DETECTED = ("killed", "error", "timeout")


# -- the solution cells and their regions -------------------------------------------------------


@dataclasses.dataclass
class Cell:
    """One solution cell of a lab: its code with includes expanded and the markers kept."""

    lines: list
    origins: list  # for each line: "path:line" of the file it comes from
    regions: list  # (first, last): 1-based line numbers inside a BEGIN/END pair

    @property
    def text(self):
        return "\n".join(self.lines) + "\n"


def _relative(path):
    return os.path.relpath(path, labs.ROOT)


def _included_origins(module, indent, block):
    """ "path:line" for each line that `# %include module:...` put in the cell."""
    path = os.path.join(labs.ROOT, *module.split(".")) + ".py"
    with open(path) as f:
        lines = f.read().splitlines()
    body = [line[indent:] for line in block]
    first = next(number for number in range(len(lines))
                 if [line.strip() for line in lines[number:number + len(body)]] == [line.strip() for line in body])
    return [f"{_relative(path)}:{first + offset + 1}" for offset in range(len(body))]


def solution_cells(lab):
    """The cells `labs.solution_namespace(lab)` runs, as Cells (in the same order)."""
    path = labs.source_path(lab)
    with open(path) as f:
        text = f.read()
    file_lines, cursor, cells = text.splitlines(), 0, []
    for kind, lines in labs.parse_cells(text):
        numbers = []
        for line in lines:  # where each line of the cell is in the lab source
            while file_lines[cursor] != line:
                cursor += 1
            numbers.append(cursor + 1)
            cursor += 1
        if kind != "code":
            continue
        code, origins = [], []
        for line, number in zip(lines, numbers):
            expanded = labs.expand_includes([line], lab)
            include = labs.INCLUDE.match(line)
            if include:
                origins += _included_origins(include.group(2), len(include.group(1)), expanded)
            else:
                origins.append(f"{_relative(path)}:{number}")
            code += expanded
        if any(labs.BEGIN.match(line) for line in code):
            cells.append(Cell(code, origins, regions_of(code)))
    return cells


def regions_of(lines):
    """[(first, last)]: the 1-based lines between each `# BEGIN SOLUTION` and its `# END SOLUTION`."""
    regions, start = [], None
    for number, line in enumerate(lines, 1):
        if labs.BEGIN.match(line):
            start = number + 1
        elif labs.END.match(line):
            regions.append((start, number - 1))
    return regions


def run_cells(lab, texts):
    """Run a lab's solution cells (their text, markers and all) and return the names they define.

    What `labs.solution_namespace(lab)` does, on cells that may be mutated.
    """
    namespace = {"__name__": f"lab{lab}_solution"}
    for text in texts:
        code = "\n".join(labs.render_code(text.splitlines(), learner=False))
        exec(compile(code, f"lab {lab} solution", "exec"), namespace)
    return namespace


def check_arguments(lab):
    """[(name, expression)] of the keyword arguments the lab's check cell passes to check_lab."""
    with open(labs.source_path(lab)) as f:
        cells = labs.parse_cells(f.read())
    for kind, lines in reversed(cells):
        if kind != "code":
            continue
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check_lab":
                return [(keyword.arg, ast.unparse(keyword.value)) for keyword in node.keywords]
    raise ValueError(f"lab {lab} has no check cell calling check_lab(...)")


def define_plug_ins(lab, scope, arguments):
    """Define in `scope` the classes and functions the check cell passes that no solution cell
    defines: a lab's one-line subclass that plugs the learner's piece into the reference (lab
    02's `Lab02DataSource`). Only the definition and its cell's imports run, not the cell's demo."""
    wanted = {node.id for _, expression in arguments for node in ast.walk(ast.parse(expression))
              if isinstance(node, ast.Name) and node.id not in scope}
    if not wanted:
        return
    with open(labs.source_path(lab)) as f:
        cells = labs.parse_cells(f.read())
    for kind, lines in cells:
        if kind != "code":
            continue
        tree = ast.parse("\n".join(labs.render_code(labs.expand_includes(lines, lab), learner=False)))
        defining = [node for node in tree.body
                    if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in wanted]
        if defining:
            imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
            module = ast.Module(body=imports + defining, type_ignores=[])
            exec(compile(module, f"lab {lab} plug-ins", "exec"), scope)


# -- mutants ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Mutant:
    lab: str
    cell: int  # index of the mutated cell in solution_cells(lab)
    where: str  # the function or class it is in, e.g. "Lab06StreamReader.latestOffset"
    origin: str  # "path:line" of the first changed line
    operator: str  # the kind of change, e.g. "comparison"
    before: str  # the changed lines of the reference
    after: str  # the same lines in the mutant
    text: str  # the whole mutated cell

    @property
    def key(self):
        """What names a mutant across runs (and in mutation_equivalent.json)."""
        return (self.lab, self.where, self.before.strip(), self.after.strip())

    def diff(self):
        minus = "\n".join("  - " + line for line in self.before.splitlines())
        plus = "\n".join("  + " + line for line in self.after.splitlines())
        return f"{self.origin} ({self.where}, {self.operator})\n{minus}\n{plus}"


BINARY = {
    ast.Add: ["-"], ast.Sub: ["+"], ast.Mult: ["//", "/"], ast.Div: ["*", "//"], ast.FloorDiv: ["*", "/"],
    ast.Mod: ["//"], ast.Pow: ["*"], ast.LShift: [">>"], ast.RShift: ["<<"],
    ast.BitAnd: ["|"], ast.BitOr: ["&"], ast.BitXor: ["|"],
}
BINARY_TEXT = re.compile(r"\*\*|//|<<|>>|[-+*/%@&|^]")
COMPARE = {
    ast.Lt: ["<=", ">"], ast.LtE: ["<", ">="], ast.Gt: [">=", "<"], ast.GtE: [">", "<="],
    ast.Eq: ["!="], ast.NotEq: ["=="], ast.Is: ["is not"], ast.IsNot: ["is"], ast.In: ["not in"], ast.NotIn: ["in"],
}
COMPARE_TEXT = re.compile(r"<=|>=|==|!=|<|>|\bnot\s+in\b|\bis\s+not\b|\bin\b|\bis\b")
BUILTINS = {"min": "max", "max": "min", "any": "all", "all": "any"}


def _constant_changes(value):
    if isinstance(value, bool):
        return [repr(not value)]
    if isinstance(value, int):
        return {0: ["1"], 1: ["0", "2"]}.get(value, [str(value - 1), str(value + 1)])
    if isinstance(value, float):
        return ["0.0", repr(value + 1)] if value else ["1.0"]
    if isinstance(value, str):
        return ['""'] if value else ['"x"']
    return []


class _Source:
    """The cell's text as bytes (ast columns count UTF-8 bytes), to cut and paste by node."""

    def __init__(self, text):
        self.data = text.encode()
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def start(self, node):
        return self.starts[node.lineno - 1] + node.col_offset

    def end(self, node):
        return self.starts[node.end_lineno - 1] + node.end_col_offset

    def text(self, node):
        return self.data[self.start(node):self.end(node)].decode()

    def line_end(self, number):
        """Offset of the newline ending 1-based line `number`."""
        return self.starts[number] - 1

    def apply(self, edits):
        data = self.data
        for start, end, replacement in sorted(edits, reverse=True):
            data = data[:start] + replacement.encode() + data[end:]
        return data.decode()


def _gap_edit(source, left, right, pattern, replacement):
    """Replace the operator between two operands (found in the text between them, say `) <= (`)."""
    start, end = source.end(left), source.start(right)
    gap = source.data[start:end].decode()
    match = pattern.search(gap)
    if not match:
        return None
    return start + len(gap[:match.start()].encode()), start + len(gap[:match.end()].encode()), replacement


LOGGERS = ("log", "logger", "logging")
LOG_METHODS = ("debug", "info", "warning", "error", "exception", "critical", "log")


def _is_logging_call(node):
    """`log.info(...)` and the like: what a log line says is not mutated (as PIT does by default),
    though the statement that writes it may be removed."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS
            and isinstance(node.func.value, ast.Name) and node.func.value.id in LOGGERS)


def _skipped_nodes(tree):
    """Nodes never mutated: f-string parts, annotations, docstrings and what logging calls say."""
    skipped = set()
    for node in ast.walk(tree):
        roots = []
        if isinstance(node, ast.JoinedStr):
            roots.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                roots.append(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            roots += [node.returns] + [arg.annotation for arg in ast.walk(node.args) if isinstance(arg, ast.arg)]
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        if _is_logging_call(node):
            roots.append(node)
        for root in filter(None, roots):
            skipped.update(id(child) for child in ast.walk(root))
    return skipped


def _edits(node, source, lines):
    """(operator, [edit]) for each mutant of `node`; an edit is (start, end, replacement) in bytes."""
    text = source.text
    if isinstance(node, ast.BinOp):
        for new in BINARY.get(type(node.op), []):
            edit = _gap_edit(source, node.left, node.right, BINARY_TEXT, new)
            if edit:
                yield "arithmetic", [edit]
    elif isinstance(node, ast.AugAssign):
        for new in BINARY.get(type(node.op), []):
            edit = _gap_edit(source, node.target, node.value, re.compile(BINARY_TEXT.pattern + "(?==)"), new)
            if edit:
                yield "arithmetic", [edit]
    elif isinstance(node, ast.Compare):
        operands = [node.left] + node.comparators
        for index, op in enumerate(node.ops):
            for new in COMPARE.get(type(op), []):
                edit = _gap_edit(source, operands[index], operands[index + 1], COMPARE_TEXT, new)
                if edit:
                    yield "comparison", [edit]
    elif isinstance(node, ast.BoolOp):
        other = "or" if isinstance(node.op, ast.And) else "and"
        word = re.compile(r"\b(and|or)\b")
        edits = [_gap_edit(source, a, b, word, other) for a, b in zip(node.values, node.values[1:])]
        if all(edits):
            yield "boolean", edits
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        for dropped in range(len(node.values)):
            kept = [text(value) for index, value in enumerate(node.values) if index != dropped]
            yield "boolean", [(source.start(node), source.end(node), "(" + joiner.join(kept) + ")")]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield ("boolean" if isinstance(node.op, ast.Not) else "arithmetic"), [
            (source.start(node), source.end(node), "(" + text(node.operand) + ")")]
    elif isinstance(node, ast.Constant):
        for new in _constant_changes(node.value):
            yield "constant", [(source.start(node), source.end(node), new)]
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in BUILTINS:
        yield "builtin", [(source.start(node), source.end(node), BUILTINS[node.id])]
    elif isinstance(node, ast.Call):
        positional = [arg for arg in node.args if not isinstance(arg, ast.Starred)]
        commutative = getattr(node.func, "id", None) in ("min", "max")  # swapping their arguments changes nothing
        if len(positional) == len(node.args) and not commutative:
            for a, b in zip(positional, positional[1:]):
                if text(a) != text(b):
                    yield "arguments", [(source.start(a), source.end(a), text(b)), (source.start(b), source.end(b), text(a))]
        arguments = node.args + node.keywords
        arguments.sort(key=lambda argument: (argument.lineno, argument.col_offset))
        for index, keyword in enumerate(arguments):
            if not isinstance(keyword, ast.keyword) or keyword.arg is None:
                continue
            if index:  # from the end of the argument before it: drop ", name=value"
                yield "arguments", [(source.end(arguments[index - 1]), source.end(keyword), "")]
            elif len(arguments) > 1:  # the first argument: drop "name=value, "
                yield "arguments", [(source.start(keyword), source.start(arguments[1]), "")]
            else:
                yield "arguments", [(source.start(keyword), source.end(keyword), "")]

    if isinstance(node, (ast.If, ast.While, ast.IfExp)) and not isinstance(node.test, ast.Constant) and not (
            isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)):  # those change already
        yield "condition", [(source.start(node.test), source.end(node.test), "not (" + text(node.test) + ")")]
    if isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        yield "return", [(source.start(node.value), source.end(node.value), "None")]
    if isinstance(node, ast.Break):
        yield "loop", [(source.start(node), source.end(node), "continue")]
    if isinstance(node, ast.Continue):
        yield "loop", [(source.start(node), source.end(node), "break")]
    if isinstance(node, ast.stmt) and not isinstance(node, (
            ast.Pass, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
            ast.Global, ast.Nonlocal)):
        yield "statement", [(source.start(node), source.end(node), "pass")]
    if isinstance(node, ast.With):
        yield from _without_with(node, source, lines)
    if isinstance(node, ast.Try):
        yield from _without_try(node, source, lines)


def _without_with(node, source, lines):
    """`with A as a:` -> `if [(a := A)]:` (the same body, run once, nothing entered or closed)."""
    last = max(node.items, key=lambda item: (item.optional_vars or item.context_expr).end_lineno)
    last = last.optional_vars or last.context_expr
    rest = lines[last.end_lineno - 1].encode()[last.end_col_offset:].decode()
    targets = [item.optional_vars for item in node.items]
    if not re.fullmatch(r"\s*\)?\s*:\s*(#.*)?", rest) or any(t is not None and not isinstance(t, ast.Name) for t in targets):
        return  # a one-line `with ...: body`, or a target that is not a plain name
    values = [f"({item.optional_vars.id} := {source.text(item.context_expr)})" if item.optional_vars
              else source.text(item.context_expr) for item in node.items]
    header_end = source.line_end(last.end_lineno)
    yield "with", [(source.start(node), header_end, "if [" + ", ".join(values) + "]:")]


def _clause_lines(node, lines):
    """[[keyword, first, last]]: the 1-based lines of each clause (try, except ..., else, finally)."""
    column, clauses = node.col_offset, []
    for number in range(node.lineno, node.end_lineno + 1):
        line = lines[number - 1]
        indent = len(line) - len(line.lstrip())
        keyword = re.match(r"(try|except|else|finally)\b", line.lstrip())
        if indent == column and keyword:
            clauses.append([keyword.group(1), number, number])
        elif clauses:
            clauses[-1][2] = number
    return clauses


def _without_try(node, source, lines):
    """Drop the except clauses (the body runs unprotected), or drop the finally clause."""
    clauses = _clause_lines(node, lines)
    kinds = [clause[0] for clause in clauses]
    if kinds.count("try") != 1 or len(clauses) != 1 + len(node.handlers) + bool(node.orelse) + bool(node.finalbody):
        return  # a clause shares a line: leave it alone

    def remove(clause):
        return (source.starts[clause[1] - 1], source.starts[clause[2]], "")

    def header(clause, replacement):
        start = source.starts[clause[1] - 1] + node.col_offset
        return (start, start + len(clause[0]), replacement)

    if node.handlers and not (node.orelse and node.finalbody):
        edits = [remove(clause) for clause in clauses if clause[0] == "except"]
        if not node.finalbody:  # a try with neither except nor finally is not Python: make it (and else) `if True:`
            edits.append(header(clauses[0], "if True"))
            edits += [header(clause, "if True") for clause in clauses if clause[0] == "else"]
        yield "try", edits
    if node.finalbody and (node.handlers or not node.orelse):
        edits = [remove(clause) for clause in clauses if clause[0] == "finally"]
        if not node.handlers:
            edits.append(header(clauses[0], "if True"))
        yield "try", edits


def _walk(tree):
    """(node, "Outer.inner") for every node, with the functions and classes it is in."""
    pending = [(tree, [])]
    while pending:
        node, names = pending.pop()
        yield node, ".".join(names)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = names + [node.name]
        pending += [(child, names) for child in reversed(list(ast.iter_child_nodes(node)))]


def cell_mutants(lab, index, cell):
    """Every mutant of one cell's solution regions; each compiles and differs from the reference."""
    text = cell.text
    source = _Source(text)
    tree = ast.parse(text)
    reference = ast.dump(tree)
    skipped = _skipped_nodes(tree)
    mutants, seen = [], set()
    for node, where in _walk(tree):
        if not hasattr(node, "lineno") or id(node) in skipped:
            continue
        if not any(first <= node.lineno and node.end_lineno <= last for first, last in cell.regions):
            continue
        for operator, edits in _edits(node, source, cell.lines):
            mutated = source.apply(edits)
            if mutated in seen:
                continue
            seen.add(mutated)
            try:
                compile("\n".join(labs.render_code(mutated.splitlines(), learner=False)), "mutant", "exec")
                changed = ast.dump(ast.parse(mutated)) != reference
            except SyntaxError:
                changed = False
            if changed:
                mutants.append(_mutant(lab, index, cell, where, operator, mutated))
    return mutants


def _mutant(lab, index, cell, where, operator, mutated):
    after_lines = mutated.splitlines()
    matcher = difflib.SequenceMatcher(None, cell.lines, after_lines, autojunk=False)
    changes = [opcode for opcode in matcher.get_opcodes() if opcode[0] != "equal"]
    first, last = changes[0], changes[-1]
    before = "\n".join(cell.lines[first[1]:last[2]])
    after = "\n".join(after_lines[first[3]:last[4]])
    return Mutant(lab, index, where or "<cell>", cell.origins[min(first[1], len(cell.lines) - 1)], operator,
                  before, after, mutated)


def lab_mutants(lab):
    """Every mutant of lab `lab`'s solution regions, in the order of the code."""
    return [mutant for index, cell in enumerate(solution_cells(lab)) for mutant in cell_mutants(lab, index, cell)]


# -- judged equivalent ---------------------------------------------------------------------------


def load_equivalent(path=EQUIVALENT_PATH):
    """{mutant key: reason} of the mutants judged equivalent by hand."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        entries = json.load(f)
    return {(entry["lab"], entry["where"], entry["before"].strip(), entry["after"].strip()): entry["reason"]
            for entry in entries}


# -- running the checks --------------------------------------------------------------------------


class MutantTimeout(BaseException):
    """The mutant ran past its time limit (a BaseException, so the check does not report it)."""


class FirstFailure(BaseException):
    """The check failed one requirement: the mutant is killed; the rest need not run."""


@contextlib.contextmanager
def time_limit(seconds):
    def expire(signum, frame):
        raise MutantTimeout(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _stopping_report(lab):
    from workshop.checks import Report

    class StoppingReport(Report):
        def record(self, requirement, passed, reason="", seconds=0.0):
            super().record(requirement, passed, reason, seconds)
            if not passed:
                raise FirstFailure(requirement)
            return passed

    return StoppingReport(lab)


def run_check(lab, texts, arguments, context, full=False):
    """(outcome, detail) of the lab's check on its solution cells `texts`.

    `arguments` are the check cell's (name, expression) pairs, evaluated in the cells' names
    plus `context` (`lab`, `spark`). With full=False the check stops at the first failure.
    """
    from workshop.checks import Report, check_module

    try:
        namespace = run_cells(lab, texts)
    except Exception as error:
        return "error", f"the solution cells raised {type(error).__name__}: {error}"
    scope = {**namespace, **context}
    define_plug_ins(lab, scope, arguments)
    learner_code = {name: eval(expression, scope) for name, expression in arguments}
    report = Report(lab) if full else _stopping_report(lab)
    try:  # check_lab's body, with the report that stops early
        check_module(lab).check(report, **learner_code)
    except FirstFailure:
        pass
    except Exception as error:
        return "error", f"the check raised {type(error).__name__}: {error}"
    if report.passed:
        return "survived", ""
    if not report.results:
        return "error", "the check recorded no requirement"
    requirement, reason = next(iter(report.failures.items()))
    return "killed", f"{requirement}: {reason}"


def _settle(spark, timed_out):
    """Leave Spark as the next mutant expects it: no jobs left from this one, no streams."""
    with contextlib.suppress(Exception):
        if timed_out:
            spark.sparkContext.cancelAllJobs()
        for query in spark.streams.active:
            query.stop()


def _memory_guard(extra_gb):
    """Cap this process's address space (not the JVM's or Spark's workers', started before):
    a mutant that allocates without end raises MemoryError instead of starving the machine."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = used + int(extra_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    except (ImportError, OSError, ValueError):
        pass


def mutate_lab(lab, context, log, timeout=None, full=False, where=None, equivalent=None, say=print):
    """Run lab `lab`'s check on the reference and on every mutant; return the results as a dict."""
    mutants = [m for m in lab_mutants(lab) if not where or where in m.where]
    cells = [cell.text for cell in solution_cells(lab)]
    arguments = check_arguments(lab)
    equivalent = load_equivalent() if equivalent is None else equivalent
    spark = context["spark"]

    def timed(texts, limit):
        started = time.monotonic()
        timed_out = False
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                with time_limit(limit):
                    outcome = run_check(lab, texts, arguments, context, full)
            except MutantTimeout as error:
                outcome, timed_out = ("timeout", str(error)), True
            _settle(spark, timed_out)
        return outcome, time.monotonic() - started

    started = time.monotonic()
    (outcome, detail), baseline = timed(cells, max(timeout or 0, 600))
    if outcome != "survived":
        say(f"lab {lab}: the reference does not pass its own check ({outcome}: {detail}); skipped")
        return {"lab": lab, "reference": f"{outcome}: {detail}", "mutants": []}
    limit = timeout or max(60.0, 4 * baseline)
    say(f"lab {lab}: {len(mutants)} mutants; the reference passes in {baseline:.1f} s; time limit {limit:.0f} s each")
    results = []
    for number, mutant in enumerate(mutants, 1):
        texts = list(cells)
        texts[mutant.cell] = mutant.text
        (outcome, detail), seconds = timed(texts, limit)
        judged = equivalent.get(mutant.key)
        results.append({**dataclasses.asdict(mutant), "text": None, "outcome": outcome, "detail": detail,
                        "seconds": round(seconds, 1), "equivalent": judged})
        mark = f"{outcome}{' (judged equivalent)' if judged else ''}"
        first_line = mutant.after.strip().splitlines()[0] if mutant.after.strip() else "(removed)"
        say(f"  [{number}/{len(mutants)}] {mark:<10} {seconds:5.1f} s  {mutant.where}: {first_line[:70]}")
        if outcome != "survived" and judged:
            say("      judged equivalent, but the check rejects it: review workshop/mutation_equivalent.json")
    (final, final_detail), _ = timed(cells, max(limit, 600))
    if final != "survived":
        say(f"lab {lab}: WARNING the reference fails after the mutants ({final}: {final_detail}); "
            "a mutant left state behind, so this lab's figures are suspect")
    return {"lab": lab, "reference": "passed", "reference_after": final, "baseline_seconds": round(baseline, 1),
            "time_limit": round(limit), "seconds": round(time.monotonic() - started), "mutants": results}


def tally(result):
    """{killed, error, timeout, survived, equivalent, total, rate}: a lab's figures."""
    counts = dict.fromkeys(("killed", "error", "timeout", "survived", "equivalent"), 0)
    for mutant in result["mutants"]:
        if mutant["equivalent"] and mutant["outcome"] == "survived":
            counts["equivalent"] += 1
        else:
            counts[mutant["outcome"]] += 1
    counts["total"] = len(result["mutants"])
    judged = counts["total"] - counts["equivalent"]
    counts["rate"] = (counts["total"] - counts["equivalent"] - counts["survived"]) / judged if judged else None
    return counts


def summary_lines(results):
    """A Markdown table of the figures per lab, then each lab's survivors with their diff."""
    lines = ["| lab | mutants | killed | error | timeout | survived | equivalent | kill rate | time |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    totals = dict.fromkeys(("total", "killed", "error", "timeout", "survived", "equivalent"), 0)
    seconds = 0
    for result in results:
        counts = tally(result)
        for name in totals:
            totals[name] += counts[name]
        seconds += result.get("seconds", 0)
        rate = f"{counts['rate']:.0%}" if counts["rate"] is not None else "-"
        lines.append(f"| {result['lab']} | {counts['total']} | {counts['killed']} | {counts['error']} | "
                     f"{counts['timeout']} | {counts['survived']} | {counts['equivalent']} | {rate} | "
                     f"{result.get('seconds', 0) / 60:.0f} min |")
    judged = totals["total"] - totals["equivalent"]
    if len(results) > 1 and judged:
        lines.append(f"| all | {totals['total']} | {totals['killed']} | {totals['error']} | {totals['timeout']} | "
                     f"{totals['survived']} | {totals['equivalent']} | {1 - totals['survived'] / judged:.0%} | "
                     f"{seconds / 60:.0f} min |")
    for result in results:
        survivors = [m for m in result["mutants"] if m["outcome"] == "survived" and not m["equivalent"]]
        if survivors:
            lines += ["", f"Lab {result['lab']}: {len(survivors)} survivors", "", "```"]
            for mutant in survivors:
                lines.append(Mutant(**{**{k: mutant[k] for k in ("lab", "cell", "where", "origin", "operator",
                                                                   "before", "after")}, "text": ""}).diff())
            lines.append("```")
    return lines


def save(result, folder=RESULTS_DIR):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"lab{result['lab']}.json"), "w") as f:
        json.dump(result, f, indent=1)


def load_results(numbers, folder=RESULTS_DIR):
    results = []
    for number in numbers:
        path = os.path.join(folder, f"lab{number}.json")
        if os.path.exists(path):
            with open(path) as f:
                results.append(json.load(f))
    return results


def run(numbers, timeout=None, full=False, where=None, memory_gb=6.0, say=print):
    """`workshop mutate`: every mutant of each lab in `numbers`; prints and saves the results."""
    os.environ.setdefault("WORKSHOP_SPARK_MODE", "classic")  # local Spark, never an attached one
    from workshop.course_run import stderr_to
    from workshop.notebook import start_lab

    log_path = os.path.join(RESULTS_DIR, "mutation.log")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    results = []
    with stderr_to(log_path), open(log_path, "a") as log:
        say(f"Spark starts ... (Spark's log and the checks' output: {_relative(log_path)})")
        with contextlib.redirect_stdout(log):
            lab = start_lab()
        _memory_guard(memory_gb)
        context = {"lab": lab, "spark": lab.spark}
        for number in numbers:
            lab.number = number
            result = mutate_lab(number, context, log, timeout=timeout, full=full, where=where, say=say)
            save(result)
            results.append(result)
    say("")
    say("\n".join(summary_lines(results)))
    return results


def list_mutants(numbers, where=None, out=sys.stdout):
    """`workshop mutate --list`: the mutants, without running anything."""
    for number in numbers:
        mutants = [m for m in lab_mutants(number) if not where or where in m.where]
        print(f"lab {number}: {len(mutants)} mutants", file=out)
        for mutant in mutants:
            print(mutant.diff(), file=out)
