"""The `workshop` command: the course's practice service, runs, checks and tools."""
import argparse
import contextlib
import os
import platform
import re
import sys
import time


def cmd_serve(args):
    from workshop import service

    service.serve_forever(**service.settings_from_args(args))
    return 0


def cmd_doctor(args):
    """Print what the course needs and what this machine has; exit 1 when something is missing."""
    from workshop import spark as sparkhelp

    ok = True

    def line(name, value, good=True):
        nonlocal ok
        ok = ok and good
        print(f"  {'ok ' if good else 'BAD'}  {name:<22} {value}")

    print("workshop doctor")
    line("python", f"{platform.python_version()} ({sys.executable})", sys.version_info >= (3, 10))
    try:
        major, java = sparkhelp.java_version()
        line("java", f"{major} ({java})")
    except sparkhelp.SetupError as error:
        line("java", str(error), good=False)
    try:
        import pyspark

        line("pyspark", pyspark.__version__)
    except ImportError:
        line("pyspark", "not installed (pip install -e '.[local]')", good=False)
    try:
        from importlib.metadata import version

        line("databricks-connect", version("databricks-connect"))
    except Exception:
        line("databricks-connect", "not installed (optional: the `connect` extra, Python 3.12)")
    try:
        mode = sparkhelp.resolve_mode(args.mode)
        line("spark mode", mode)
    except sparkhelp.SetupError as error:
        line("spark mode", str(error), good=False)
        mode = None
    if mode == "databricks":
        remote = os.environ.get("SPARK_REMOTE") or os.environ.get("DATABRICKS_HOST")
        profile = os.environ.get("DATABRICKS_CONFIG_PROFILE", "DEFAULT")
        line("databricks config", remote and "from environment" or f"profile {profile} (~/.databrickscfg)")
    if args.spark and ok:
        started = time.time()
        spark = sparkhelp.get_spark(mode)
        line("spark session", f"Spark {spark.version} in {time.time() - started:.1f} s")
    print("all good" if ok else "fix the lines marked BAD, then run `workshop doctor` again")
    return 0 if ok else 1


def cmd_run(args):
    from workshop import course_run

    return course_run.run(args)


def cmd_bench(args):
    from workshop import bench

    return bench.run(args)


def cmd_build_labs(args):
    from workshop import labs

    stale = labs.build(check=args.check)
    if args.check:
        for path in stale:
            print(f"out of date: {path}")
        print("labs are up to date" if not stale else "run `workshop build-labs` and commit the notebooks")
        return 1 if stale else 0
    print(f"wrote {len(stale)} notebooks" if stale else "labs already up to date")
    return 0


def lab_number(text):
    """ "3", "03", "lab3", "03_partitioning" -> "03"; SystemExit naming the labs for anything else."""
    from workshop import labs

    numbers = labs.lab_numbers()
    match = re.fullmatch(r"(?:lab)?[ _-]?0*(\d{1,2})(?:_\w*)?(?:\.ipynb)?", text.strip().lower())
    number = f"{int(match.group(1)):02d}" if match else None
    if number not in numbers:
        raise SystemExit(f"no lab {text!r}: the labs are {', '.join(numbers)} (e.g. `workshop check 3`)")
    return number


def learner_notebook(number):
    from workshop import labs

    learner, _ = labs.targets(labs.source_path(number))
    return learner


@contextlib.contextmanager
def warm_spark(log_path):
    """The environment for lab kernels attached to a warm Spark: a running one, else one of our own.

    Ours lives as long as this command (its JVM and Python workers write to `log_path`).
    """
    from workshop.course_run import stderr_to
    from workshop.spark import resolve_mode, serve_connect, shown_url, warm_spark_env, warm_spark_url

    url = warm_spark_url()
    if url:
        print(f"attaching to the warm Spark at {shown_url(url)}", flush=True)
    elif resolve_mode() in ("classic", "connect"):
        print("starting Spark for the lab kernels ...", flush=True)
        with stderr_to(log_path):
            url = serve_connect("workshop")
    yield warm_spark_env(url) if url else None


def check_status(number, path, run):
    """(status, requirements passed, detail) of one learner notebook's run."""
    from workshop import labs

    summary = re.search(r"Lab \d\d: (\d+)/(\d+) passed", run.output)
    counts = f"{summary.group(1)}/{summary.group(2)}" if summary else ""
    if run.ok and "all requirements met" in run.output:
        return "pass", counts, ""
    if summary:
        failed = [line.strip()[6:] for line in run.output.splitlines() if line.strip().startswith("FAIL")]
        return "fail", counts, failed[0][:90] if failed else ""
    if run.stopped_at_todo:
        fresh = labs.code_cells(labs.make_notebook(labs.source_path(number), learner=True))
        with open(path) as f:
            started = labs.code_cells(f.read()) != fresh
        return ("in progress" if started else "not started"), "", "a TODO still raises NotImplementedError"
    return "error", "", run.error[:90]


def cmd_check(args):
    """Run learner notebooks top to bottom and show what their checks say."""
    from workshop import labs
    from workshop.run_notebooks import start_runs

    if args.all == bool(args.lab):
        raise SystemExit("name one lab (`workshop check 3`) or use --all")
    if args.all:
        notebooks = {number: learner_notebook(number) for number in labs.lab_numbers()}
    else:
        number = lab_number(args.lab)
        notebooks = {number: os.path.abspath(args.notebook or learner_notebook(number))}
        if not os.path.exists(notebooks[number]):
            raise SystemExit(f"no notebook {notebooks[number]}")
    from workshop.course_run import stderr_to

    log_path = os.path.join(labs.ROOT, "build", "workshop-check.log")
    with warm_spark(log_path) as env:
        print(f"running {len(notebooks)} notebook{'s' if len(notebooks) > 1 else ''} (kernel logs: "
              f"{os.path.relpath(log_path)}) ...", flush=True)
        with stderr_to(log_path):  # the kernels started here inherit it
            pool, futures = start_runs([(path, True) for path in notebooks.values()], env=env)
        try:
            runs = {number: futures[(path, True)].result() for number, path in notebooks.items()}
        finally:
            pool.shutdown(cancel_futures=True)
    if not args.all:
        (number, run), = runs.items()
        lines = [line for line in run.output.splitlines() if line.strip().startswith(("PASS", "FAIL", "SKIP", "Lab ", "Checking"))]
        print("\n".join(lines) or "(the notebook printed no check results)")
        status, _, detail = check_status(number, notebooks[number], run)
        if status in ("not started", "in progress", "error"):
            print(("a TODO is not done yet: " if run.stopped_at_todo else "the notebook stopped with ") + run.error)
        return 0 if status == "pass" else 1
    print(f"\n{'lab':<28} {'status':<12} {'passed':>6}  {'time':>6}  detail")
    for number, run in runs.items():
        status, counts, detail = check_status(number, notebooks[number], run)
        name = os.path.basename(notebooks[number])[:-6]
        print(f"{name:<28} {status:<12} {counts:>6}  {run.seconds:5.0f}s  {detail}")
    done = sum(check_status(number, notebooks[number], run)[0] == "pass" for number, run in runs.items())
    print(f"{done} of {len(runs)} labs pass their check")
    return 0 if done == len(runs) else 1


def cmd_mutate(args):
    """Mutation testing of the labs' checks (docs/mutation.md)."""
    from workshop import labs, mutation

    numbers = [lab_number(lab) for lab in args.labs] or labs.lab_numbers()
    if args.list:
        mutation.list_mutants(numbers, where=args.where)
        return 0
    if args.summary:
        print("\n".join(mutation.summary_lines(mutation.load_results(numbers))))
        return 0
    results = mutation.run(numbers, timeout=args.timeout, full=args.full, where=args.where)
    return 0 if all(not mutation.tally(result)["survived"] for result in results) else 1


def cmd_reset(args):
    """Put a fresh copy of a lab in labs/, keeping the old one in build/lab-backups/."""
    import shutil

    from workshop import labs

    number = lab_number(args.lab)
    path = learner_notebook(number)
    if os.path.exists(path):
        os.makedirs(labs.BACKUP_DIR, exist_ok=True)
        backup = os.path.join(labs.BACKUP_DIR, f"{os.path.basename(path)[:-6]}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
        shutil.copy2(path, backup)
        print(f"your copy is kept in {os.path.relpath(backup)}")
    with open(path, "w") as f:
        f.write(labs.make_notebook(labs.source_path(number), learner=True))
    print(f"{os.path.relpath(path)} is a fresh copy of lab {number}")
    return 0


def cmd_lab(args):
    """JupyterLab on labs/, its kernels attached to one warm Spark; Ctrl-C stops both."""
    import shutil
    import subprocess

    from workshop import labs

    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable))
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        jupyter = None
    if not jupyter:
        raise SystemExit("JupyterLab is not installed here: run `python3 course.py lab` (it installs the `lab` extra), "
                         "or `pip install -e '.[local,dev,lab]'`")
    with warm_spark(os.path.join(labs.ROOT, "build", "workshop-lab.log")) as env:
        command = [jupyter, "lab", labs.LEARNER_DIR, *args.jupyter_args]
        server = subprocess.Popen(command, env=env)
        while True:
            try:  # Ctrl-C reaches JupyterLab too: it shuts its kernels down, then this Spark stops
                return server.wait()
            except KeyboardInterrupt:
                continue


def build_parser():
    parser = argparse.ArgumentParser(prog="workshop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the practice service until Ctrl-C")
    from workshop import service

    service.add_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    doctor = sub.add_parser("doctor", help="check Python, Java, Spark and the Spark mode")
    doctor.add_argument("--mode", help="Spark mode to check (default: WORKSHOP_SPARK_MODE or auto)")
    doctor.add_argument("--spark", action="store_true", help="also start a Spark session")
    doctor.set_defaults(func=cmd_doctor)

    run = sub.add_parser("run", help="run the course end to end locally")
    run.add_argument("--mode", help="Spark mode (classic, connect, databricks, auto)")
    run.add_argument("--events", type=int, default=20_000, help="events the service holds")
    run.add_argument("--skip-labs", action="store_true", help="only the connector tour, not the lab notebooks")
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="measure every performance figure next to its reference (~10 min)")
    bench.add_argument("--events", type=int, default=200_000, help="events to read (default 200000)")
    bench.add_argument("--rows", type=int, default=200_000, help="rows to write (default 200000)")
    bench.add_argument("--generated-rows", type=int, default=1_000_000,
                       help="rows of the generated source, Arrow vs rows (default 1000000)")
    bench.add_argument("--partitions", default="1,2,4", help="partition and client counts (default 1,2,4)")
    bench.add_argument("--runs", type=int, default=3, help="measured runs per figure, after a warm-up (default 3)")
    bench.add_argument("--rate", type=float, default=100, help="events/s appended in the latency run (default 100)")
    bench.add_argument("--seconds", type=float, default=20, help="length of the latency run (default 20)")
    bench.add_argument("--stream-events", type=int, default=50_000, help="events in each streaming throughput run")
    bench.add_argument("--stream-batch", type=int, default=10_000, help="maxRecordsPerTrigger of those runs")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--loops", action="store_true",
                       help="instead: where the time of the course's own loops goes (Spark start-ups, kernels, checks)")
    bench.add_argument("--labs", action="store_true", help="with --loops: every solution notebook, cell by cell")
    bench.add_argument("--plot", metavar="PATH", help="also draw the rows/s figures to PATH (.svg or .png)")
    bench.set_defaults(func=cmd_bench)

    check = sub.add_parser("check", help="run your lab notebook (or all of them) and show what the check says")
    check.add_argument("lab", nargs="?", help="lab number, e.g. 3 or 03")
    check.add_argument("notebook", nargs="?", help="notebook to check (default: labs/NN_*.ipynb)")
    check.add_argument("--all", action="store_true", help="every lab: a table of pass / fail / not started")
    check.set_defaults(func=cmd_check)

    mutate = sub.add_parser("mutate", help="mutation testing: run each lab's check on small changes to its solution "
                                           "(long: see docs/mutation.md)")
    mutate.add_argument("labs", nargs="*", help="lab numbers (default: every lab)")
    mutate.add_argument("--list", action="store_true", help="only list the mutants (no Spark)")
    mutate.add_argument("--summary", action="store_true", help="print the figures of the last run (build/mutation/)")
    mutate.add_argument("--where", help="only mutants in functions or classes whose name contains this")
    mutate.add_argument("--timeout", type=float, help="seconds per mutant (default: 4 x the reference's check, >= 60)")
    mutate.add_argument("--full", action="store_true", help="run every requirement, not only up to the first failure")
    mutate.set_defaults(func=cmd_mutate)

    reset = sub.add_parser("reset", help="put a fresh copy of a lab in labs/ (your copy is kept in build/)")
    reset.add_argument("lab", help="lab number, e.g. 3 or 03")
    reset.set_defaults(func=cmd_reset)

    lab = sub.add_parser("lab", help="open the labs in JupyterLab, on one warm Spark (Ctrl-C stops it)",
                         description="Any other arguments (e.g. --no-browser --port 8899) go to `jupyter lab`.")
    lab.set_defaults(func=cmd_lab, jupyter_args=[])

    build = sub.add_parser("build-labs", help="generate labs/ and solutions/notebooks/ from the lab sources")
    build.add_argument("--check", action="store_true", help="write nothing; fail when a notebook is out of date")
    build.set_defaults(func=cmd_build_labs)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not cmd_lab:  # only `lab` passes arguments on (to jupyter lab)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
