"""Which labs pass: the last check of each lab, kept in build/progress.json and shown as a table.

`check_lab` records every check it runs (in a notebook, in `workshop check`, in the tests);
`lab.progress()` in a notebook and `workshop check --all` from a shell show the overview.
Best effort: where the course folder cannot be written (a deployed, read-only copy), nothing is
kept. WORKSHOP_PROGRESS_FILE names another file: the tests and `workshop run`, which check the
reference solutions, keep theirs out of the learner's overview.
"""
import json
import os
import time

from workshop.labs import ROOT, lab_numbers

PATH = os.path.join(ROOT, "build", "progress.json")


def path():
    return os.environ.get("WORKSHOP_PROGRESS_FILE") or PATH


def load():
    try:
        with open(path()) as source:
            return json.load(source)
    except (OSError, ValueError):
        return {}


def record(report, seconds):
    """Keep the outcome of one lab's check (passed, requirements passed of all, seconds, when)."""
    results = load()
    good = sum(ok for _, ok, _, _ in report.results)
    results[report.lab] = {"passed": report.passed, "good": good, "total": len(report.results),
                           "seconds": round(seconds, 1), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        os.makedirs(os.path.dirname(path()) or ".", exist_ok=True)
        with open(path(), "w") as out:
            json.dump(results, out, indent=2, sort_keys=True)
    except OSError:
        pass


def overview():
    """A table of every lab: pass, fail (k/n) or not checked yet, with the last check's time."""
    results = load()
    lines = [f"{'lab':<5} {'status':<12} {'passed':>7} {'time':>7}  last checked"]
    for number in lab_numbers():
        result = results.get(number)
        if result is None:
            lines.append(f"{number:<5} {'not checked':<12}")
            continue
        status = "pass" if result["passed"] else "fail"
        lines.append(f"{number:<5} {status:<12} {result['good']:>3}/{result['total']:<3} {result['seconds']:6.1f}s  {result['when']}")
    done = sum(1 for result in results.values() if result.get("passed"))
    lines.append(f"{done} of {len(lab_numbers())} labs pass their check")
    return "\n".join(lines)
