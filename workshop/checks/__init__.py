"""Self-checks: one module per lab, used by the lab's check cell and by pytest.

A check runs the learner's code for real (on Spark, against the practice service) and says,
per requirement, pass, or fail with the reason in plain words. `check_lab` prints each line as
it comes and returns the `Report`, which a notebook shows as a table (HTML in Jupyter and
Databricks, text elsewhere); `report.passed` is True only when every requirement passed.

    from workshop.checks import check_lab
    check_lab("03", plan_id_ranges=plan_id_ranges, ...)

Each `workshop/checks/labNN.py` has `check(report, **learner_code)`, which lists the lab's
requirements in order, and `HINTS`: for each task, the hints `lab.hint(name)` prints one at a
time (workshop/notebook.py).
"""
import html
import importlib
import time
import traceback


class Report:
    """The outcome of one lab's check, requirement by requirement."""

    def __init__(self, lab):
        self.lab = lab
        self.results = []  # (requirement, passed, reason, seconds)
        self.skipped = []  # (requirement, why)

    def record(self, requirement, passed, reason="", seconds=0.0):
        self.results.append((requirement, bool(passed), reason, seconds))
        mark = "PASS" if passed else "FAIL"
        print(f"  {mark}  {requirement}" + (f": {reason}" if reason and not passed else ""), flush=True)
        return passed

    def require(self, requirement, test, *args):
        """Run `test(*args)`; it returns None/"" when right, or a plain-words reason when wrong.

        An exception from the learner's code counts as a failure, with its message and where it was raised.
        """
        started = time.monotonic()
        try:
            reason = test(*args)
        except NotImplementedError as error:
            reason = f"not implemented yet ({error})"
        except Exception as error:  # the learner's code failed: say how, in one line
            where = traceback.extract_tb(error.__traceback__)[-1]
            reason = f"{type(error).__name__}: {error} (at {where.name}, line {where.lineno})"
        return self.record(requirement, not reason, reason or "", time.monotonic() - started)

    def skip(self, requirement, why):
        """Say a requirement does not apply here (e.g. a newer Spark feature); it is not counted."""
        self.skipped.append((requirement, why))
        print(f"  SKIP  {requirement}: {why}", flush=True)

    @property
    def passed(self):
        return bool(self.results) and all(ok for _, ok, _, _ in self.results)

    @property
    def failures(self):
        return {requirement: reason for requirement, ok, reason, _ in self.results if not ok}

    def verdict(self):
        good = sum(ok for _, ok, _, _ in self.results)
        verdict = "all requirements met" if self.passed else "not yet: see the FAIL lines"
        return f"Lab {self.lab}: {good}/{len(self.results)} passed; {verdict}"

    def summary(self):
        print(self.verdict(), flush=True)
        return self

    def rows(self):
        """(status, requirement, reason, seconds) per requirement, skipped ones last."""
        done = [("PASS" if ok else "FAIL", requirement, reason, seconds) for requirement, ok, reason, seconds in self.results]
        return done + [("SKIP", requirement, why, 0.0) for requirement, why in self.skipped]

    def __repr__(self):
        lines = [self.verdict()]
        for status, requirement, reason, seconds in self.rows():
            lines.append(f"  {status}  {requirement} ({seconds:.1f} s)" + (f"\n        {reason}" if reason else ""))
        return "\n".join(lines)

    def _repr_html_(self):
        colours = {"PASS": "#1a7f37", "FAIL": "#cf222e", "SKIP": "#6e7781"}
        cells = "".join(
            f'<tr><td style="color:{colours[status]};font-weight:bold">{status}</td>'
            f"<td style=\"text-align:left\">{html.escape(requirement)}</td>"
            f"<td style=\"text-align:left\">{html.escape(reason)}</td><td>{seconds:.1f} s</td></tr>"
            for status, requirement, reason, seconds in self.rows()
        )
        return (f"<p><b>{html.escape(self.verdict())}</b></p><table><tr><th></th><th>requirement</th>"
                f"<th>why not</th><th>time</th></tr>{cells}</table>")


def check_module(lab):
    return importlib.import_module(f"workshop.checks.lab{lab}")


def check_lab(lab, **learner_code):
    """Run lab `lab`'s check on the learner's functions and classes; print and return the report.

    The outcome is kept for the overview of every lab (`lab.progress()`, workshop/progress.py).
    """
    from workshop import progress

    report = Report(lab)
    print(f"Checking lab {lab} ...", flush=True)
    started = time.monotonic()
    check_module(lab).check(report, **learner_code)
    progress.record(report, time.monotonic() - started)
    return report.summary()


def hints_of(lab):
    """{task name: [hint 1, hint 2, ...]} of lab `lab` (the idea, the pitfall, a near-solution)."""
    return getattr(check_module(lab), "HINTS", {})


def practice_service(url, service=None):
    """The PracticeService serving `url` in this Python process, for ground truth.

    Checks compare what the learner's code read with `service.truth`. In a lab notebook the
    service is the one `start_lab` started (found by its URL); tests pass their own with
    `service=`.
    """
    if service is not None:
        return service
    from workshop.service import service as running

    current = running._running
    if current is not None and current.running and current.url == url.rstrip("/"):
        return current
    raise LookupError(
        f"no practice service at {url} runs in this Python process; pass the PracticeService "
        "object to check_lab as service=... (ground truth comes from it)"
    )


class FixedAnswer:
    """A server on a free local port that answers every GET with one status and body, for the error
    answers the practice service never gives (a proxy's HTML page, a 400 to any request).

        with FixedAnswer(502, "text/html", b"<html>...</html>") as url:
            ...
    """

    def __init__(self, status, content_type, body):
        self.status, self.content_type, self.body = status, content_type, body

    def __enter__(self):
        import http.server
        import threading

        answer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def new_name(prefix):
    """A fresh, valid table or data source name, so reruns of a check never collide."""
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def spark_error_text(error):
    """The useful line of an error from a Spark job: the Python exception raised in a task
    (the last line of its traceback), else Spark's own message without the JVM stack."""
    text = str(error).split("JVM stacktrace:")[0]  # Spark Connect appends the JVM's stack
    if "Traceback (most recent call last)" in text:
        tail = text[text.rindex("Traceback (most recent call last)"):]
        for line in reversed([line for line in tail.splitlines() if line.strip()]):
            if not line.startswith((" ", "\t", "Traceback")) and ":" in line:
                return line.strip()
    for line in text.splitlines():
        line = line.strip().lstrip(": ").strip()
        if line and not line.startswith(("An error occurred while calling", "at ")):
            return line
    return type(error).__name__
