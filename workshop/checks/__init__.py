"""Self-checks: one function per lab, used by the lab's check cell and by pytest.

A check runs the learner's code for real (on Spark, against the practice service) and
prints one line per requirement: pass, or fail with the reason in plain words. It returns
the `Report`, whose `passed` is True only when every requirement passed.

    from workshop.checks import check_lab
    check_lab("03", plan_id_ranges=plan_id_ranges, ...)
"""
import importlib
import traceback


class Report:
    """The outcome of one lab's check, requirement by requirement."""

    def __init__(self, lab):
        self.lab = lab
        self.results = []  # (requirement, passed, reason)

    def record(self, requirement, passed, reason=""):
        self.results.append((requirement, bool(passed), reason))
        mark = "PASS" if passed else "FAIL"
        print(f"  {mark}  {requirement}" + (f": {reason}" if reason and not passed else ""), flush=True)
        return passed

    def require(self, requirement, test):
        """Run `test()`; it returns None/"" when right, or a plain-words reason when wrong.

        An exception from the learner's code counts as a failure, with its message.
        """
        try:
            reason = test()
        except NotImplementedError as error:
            reason = f"not implemented yet ({error})"
        except Exception as error:  # the learner's code failed: say how, in one line
            where = traceback.extract_tb(error.__traceback__)[-1]
            reason = f"{type(error).__name__}: {error} (at {where.name}, line {where.lineno})"
        return self.record(requirement, not reason, reason or "")

    @property
    def passed(self):
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    @property
    def failures(self):
        return {requirement: reason for requirement, ok, reason in self.results if not ok}

    def summary(self):
        good = sum(ok for _, ok, _ in self.results)
        verdict = "all requirements met" if self.passed else "not yet: see the FAIL lines above"
        print(f"Lab {self.lab}: {good}/{len(self.results)} passed; {verdict}", flush=True)
        return self


def check_lab(lab, **learner_code):
    """Run lab `lab`'s check on the learner's functions and classes; print and return the report."""
    module = importlib.import_module(f"workshop.checks.lab{lab}")
    report = Report(lab)
    print(f"Checking lab {lab} ...", flush=True)
    module.check(report, **learner_code)
    return report.summary()
