"""`workshop run`: the course end to end on this machine, with progress and a summary table."""
import concurrent.futures
import contextlib
import os
import sys
import time

# The connector's JSON logs are for operators; the run's own progress lines say enough here.
LOG_LEVEL = "WARNING"


class Steps:
    """Numbered progress lines and a summary table, printed as the run goes."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.rows = []

    def run(self, name, action):
        self.done += 1
        print(f"[{self.done}/{self.total}] {name} ...", flush=True)
        started = time.time()
        try:
            detail = action()
            status = "ok"
        except Exception as error:  # the summary reports it; the exit code says it failed
            detail = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            status = "FAILED"
        seconds = time.time() - started
        print(f"      {status} in {seconds:.1f} s  {detail or ''}", flush=True)
        self.rows.append((name, status, seconds, detail or ""))
        return status == "ok"



def print_summary(rows):
    """A table of (name, status, seconds, detail) rows; returns how many failed."""
    width = max(len(name) for name, *_ in rows)
    print("\nsummary")
    for name, status, seconds, detail in rows:
        print(f"  {name:<{width}}  {status:<6} {seconds:6.1f} s  {detail}")
    failed = sum(status != "ok" for _, status, _, _ in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    return failed


def read_resource(spark, url, resource, truth, **options):
    from workshop.truth import checksum, to_json_record

    reader = spark.read.format("practice").options(url=url, resource=resource, logLevel=LOG_LEVEL)
    for key, value in options.items():
        reader = reader.option(key, value)
    rows = reader.load().collect()
    got = checksum(to_json_record(row) for row in rows)
    expected = truth.checksum(resource)
    if len(rows) != truth.count(resource) or got != expected:
        raise AssertionError(f"{resource}: read {len(rows)} rows, checksum {got}; ground truth {truth.count(resource)} rows, {expected}")
    return f"{len(rows)} rows equal to ground truth"


def write_table(spark, url, service, source, table, **options):
    df = spark.read.format("practice").options(url=url, resource=source, logLevel=LOG_LEVEL).load()
    writer = df.write.format("practice").options(url=url, table=table, logLevel=LOG_LEVEL).mode("overwrite")
    for key, value in options.items():
        writer = writer.option(key, value)
    writer.save()
    written = len(service.truth.table(table))
    expected = service.truth.count(source)
    if written != expected:
        raise AssertionError(f"table {table} holds {written} rows, expected {expected}")
    return f"{written} rows published to table {table}"


def progress_bar(done, total, width=24):
    filled = width * done // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


@contextlib.contextmanager
def stderr_to(path):
    """Send this process's stderr to `path`, and so that of the kernels and Spark it starts."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def run_solution_notebooks(log_path, env=None):
    """Every solution notebook, top to bottom, each in its own kernel (two at a time); a row per lab.

    `env` is the kernels' environment: `warm_spark_env(url)` attaches them to the run's warm Spark.
    """
    from workshop import labs
    from workshop.run_notebooks import start_runs

    notebooks = {os.path.basename(source)[:-3]: (list(labs.targets(source))[1], False) for source in labs.lab_sources()}
    print(f"{progress_bar(0, len(notebooks))} running {len(notebooks)} labs ...", flush=True)
    with stderr_to(log_path):  # the kernels started here inherit it
        pool, futures = start_runs(list(notebooks.values()), env=env)
    lab_of = {futures[notebook]: lab for lab, notebook in notebooks.items()}
    rows = {}
    try:
        for future in concurrent.futures.as_completed(lab_of):
            result, lab = future.result(), lab_of[future]
            passed = result.ok and "all requirements met" in result.output
            detail = "check passed" if passed else (result.error or "the check did not pass")
            rows[lab] = (f"lab {lab}", "ok" if passed else "FAILED", result.seconds, detail)
            print(f"{progress_bar(len(rows), len(notebooks))} lab {lab} {'ok' if passed else 'FAILED'} "
                  f"in {result.seconds:.1f} s", flush=True)
    finally:
        pool.shutdown(cancel_futures=True)
    return [rows[lab] for lab in sorted(rows)]


def run(args):
    """The connector against the service, then every lab's solution notebook, on one warm Spark."""
    from workshop.labs import ROOT
    from workshop.spark import get_spark, resolve_mode, serve_connect, warm_spark_env

    log_path = os.path.join(ROOT, "build", "workshop-run.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    open(log_path, "w").close()
    print(f"Spark's and the lab kernels' logs go to {os.path.relpath(log_path)}", flush=True)
    state = {"mode": resolve_mode(args.mode), "url": None}

    def start_spark():
        if state["mode"] in ("classic", "connect"):
            # Local runs start Spark once, with a Connect server in it that the lab kernels attach
            # to; its JVM and Python workers write to the log.
            with stderr_to(log_path):
                state["url"] = serve_connect("workshop-run")
        state["spark"] = get_spark(state["mode"], app_name="workshop-run")
        return f"Spark {state['spark'].version}" + (" (the labs attach to it)" if state["url"] else "")

    failed = run_connector_tour(args, start_spark, state)
    if not args.skip_labs:
        env = warm_spark_env(state["url"]) if state["url"] else dict(os.environ)
        env["WORKSHOP_PROGRESS_FILE"] = os.devnull  # the reference solutions are not the learner's progress
        failed += print_summary(run_solution_notebooks(log_path, env))
    return 1 if failed else 0


def run_connector_tour(args, start_spark, state):
    """Read every resource and write a table on Spark, each step checked against ground truth."""
    from solutions import PracticeDataSource
    from workshop.service import PracticeService

    steps = Steps(total=7)
    with PracticeService(events=args.events, entities=args.events // 2, ring_rows=args.events // 4) as service:
        url = service.url
        print(f"practice service at {url} ({args.events} events)")
        if steps.run("start Spark", start_spark):
            spark = state["spark"]
            spark.dataSource.register(PracticeDataSource)
            truth = service.truth
            steps.run("read events (time windows)", lambda: read_resource(spark, url, "events", truth))
            steps.run("read events (Arrow batches)", lambda: read_resource(spark, url, "events", truth, arrow="true"))
            steps.run("read entities (id ranges)", lambda: read_resource(spark, url, "entities", truth))
            steps.run("read kv (token ranges)", lambda: read_resource(spark, url, "kv", truth))
            steps.run("write entities (staged commit)", lambda: write_table(spark, url, service, "entities", "run_entities"))
            steps.run(
                "write entities (Arrow writer)",
                lambda: write_table(spark, url, service, "entities", "run_entities_arrow", arrow="true"),
            )
        return print_summary(steps.rows)
