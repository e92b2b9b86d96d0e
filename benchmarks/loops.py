"""Where the time of the course's own loops goes: Spark start-ups, Python workers, kernels, checks.

    python benchmarks/loops.py             # measure each phase (about 3 minutes) and print it
    python benchmarks/loops.py --labs      # also every solution notebook, cell by cell

Each phase is timed where it really happens: a cold start in a fresh process, a warm step
after it. It also prints the last recorded runs of the slow loops: `course.py test` per test
file (build/test-durations.json, written by tests/conftest.py), and the CI steps
(build/ci-timings.json, written by .ci/run). `workshop bench --loops` runs this.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Run in a fresh process: the cold costs (a JVM, Python workers) are real only there.
COLD_CLASSIC = textwrap.dedent("""
    import json, sys, time
    from workshop.service import PracticeService
    timings = {}
    started = time.monotonic()
    with PracticeService(events=2000, entities=1000) as service:
        timings["practice service start"] = time.monotonic() - started
        started = time.monotonic()
        from workshop.spark import get_spark, serve_connect
        url = serve_connect("loops") if sys.argv[1] == "serve" else None
        spark = get_spark("classic")
        timings["local Spark start (JVM)" + (" with a Connect server" if url else "")] = time.monotonic() - started
        from pyspark.sql.functions import udf
        started = time.monotonic()
        spark.range(1).select(udf(lambda x: x)("id")).collect()
        timings["first Python UDF (Python workers start)"] = time.monotonic() - started
        from solutions import PracticeDataSource
        spark.dataSource.register(PracticeDataSource)
        for label in ("first Python data source read (1,000 entities)", "next read, warm"):
            started = time.monotonic()
            spark.read.format("practice").option("url", service.url).option("resource", "entities").load().collect()
            timings[label] = time.monotonic() - started
        print(json.dumps({"timings": timings, "url": url}), flush=True)
        if url:
            sys.stdin.read()  # keep serving until the parent closes our stdin
""")

ATTACH = textwrap.dedent("""
    import json, time
    started = time.monotonic()
    from workshop.spark import get_spark
    spark = get_spark()
    timings = {"attach to the warm Spark (a new Connect session)": time.monotonic() - started}
    from solutions import PracticeDataSource
    from workshop.service import PracticeService
    with PracticeService(events=2000, entities=1000) as service:
        spark.dataSource.register(PracticeDataSource)
        for label in ("first read in the new session", "next read, warm"):
            started = time.monotonic()
            spark.read.format("practice").option("url", service.url).option("resource", "entities").load().collect()
            timings[label] = time.monotonic() - started
    print(json.dumps({"timings": timings}))
""")


def run_json(code, *args, env=None):
    finished = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if finished.returncode:
        raise RuntimeError(finished.stderr[-2000:])
    return json.loads(finished.stdout.strip().splitlines()[-1])


def notebook_of(cells):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    path = os.path.join(tempfile.mkdtemp(prefix="loops-"), "probe.ipynb")
    nbformat.write(notebook, path)
    return path


def measure(labs=False):
    """{phase: seconds}, in the order the loops meet them."""
    from workshop import labs as lab_sources
    from workshop.run_notebooks import execute
    from workshop.spark import warm_spark_env

    timings = run_json(COLD_CLASSIC, "classic")["timings"]
    owner = subprocess.Popen([sys.executable, "-c", COLD_CLASSIC, "serve"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        served = json.loads(owner.stdout.readline())
        for label, seconds in served["timings"].items():
            if "JVM" in label:
                timings[label] = seconds
        env = warm_spark_env(served["url"])
        timings.update(run_json(ATTACH, env=env)["timings"])
        started = time.monotonic()
        execute(notebook_of(["1 + 1"]), env=env)
        timings["a notebook kernel: start, one cell, stop"] = time.monotonic() - started
        run = execute(notebook_of(["from workshop.notebook import start_lab\nlab = start_lab()"]), env=env)
        timings["a lab's setup cell, Spark warm"] = run.cells[0][1]
        notebooks = lab_sources.lab_numbers() if labs else ["03"]
        for number in notebooks:
            _, solution = list(lab_sources.targets(lab_sources.source_path(number)))
            run = execute(solution, env=env)
            check = [seconds for _, seconds, line in run.cells if "check_lab" in line or "from workshop.checks import check_lab" in line]
            timings[f"lab {number} solution notebook in a kernel (warm Spark)"] = run.seconds
            if check:
                timings[f"lab {number} check cell, warm kernel"] = check[-1]
            if labs:
                for cell, seconds, line in sorted(run.cells, key=lambda item: -item[1])[:3]:
                    timings[f"    lab {number} cell {cell}: {line[:50]}"] = seconds
    finally:
        owner.stdin.close()
        owner.wait(timeout=60)
    return timings


def recorded(name):
    try:
        with open(os.path.join(ROOT, "build", name)) as source:
            return json.load(source)
    except (OSError, ValueError):
        return None


def describe_recorded():
    """Lines for the last recorded suite (per file) and CI run (per step)."""
    lines = []
    runs = recorded("test-durations.json") or {}
    suite = runs.get("") or runs.get("-q")  # `course.py test` passes no arguments
    if suite:
        lines.append(f"last full test run ({suite['when']}, exit {suite['exit_status']}): {suite['seconds']:,.0f} s of tests")
        lines += [f"  {seconds:8.1f} s  {name}" for name, seconds in list(suite["files"].items())[:15]]
    ci = recorded("ci-timings.json")
    if ci:
        lines.append(f"last CI run ({ci['when']}): {ci['seconds']:,} s")
        lines += [f"  {step['seconds']:8,} s  {step['name']} (exit {step['exit']})" for step in ci["steps"]]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", action="store_true", help="also every solution notebook, cell by cell")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    timings = measure(labs=args.labs)
    if args.json:
        print(json.dumps({"timings": timings, "recorded": describe_recorded()}, indent=2))
        return 0
    for label, seconds in timings.items():
        print(f"{label:64} {seconds:8.2f} s")
    for line in describe_recorded():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
