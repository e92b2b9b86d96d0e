"""The `workshop` command: serve, doctor, run (and the commands later labs add)."""
import argparse
import os
import platform
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


def cmd_check(args):
    """Run a learner's notebook top to bottom and show what its check says."""
    import glob

    from workshop import labs
    from workshop.run_notebooks import execute

    path = args.notebook or (glob.glob(os.path.join(labs.LEARNER_DIR, f"{args.lab}_*.ipynb")) or [None])[0]
    if not path or not os.path.exists(path):
        print(f"no notebook for lab {args.lab!r}; labs are {', '.join(sorted(os.listdir(labs.LEARNER_DIR)))}")
        return 2
    print(f"running {path} ...", flush=True)
    result = execute(os.path.abspath(path))
    check_lines = [line for line in result.output.splitlines() if line.strip().startswith(("PASS", "FAIL", "Lab ", "Checking"))]
    print("\n".join(check_lines) or "(the notebook printed no check results)")
    if not result.ok:
        todo = "NotImplementedError" in result.error
        print(("a TODO is not done yet: " if todo else "the notebook stopped with ") + result.error)
        return 1
    return 0 if "all requirements met" in result.output else 1


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
    bench.add_argument("--partitions", default="1,2,4,8", help="partition and client counts (default 1,2,4,8)")
    bench.add_argument("--runs", type=int, default=3, help="measured runs per figure, after a warm-up (default 3)")
    bench.add_argument("--rate", type=float, default=100, help="events/s appended in the latency run (default 100)")
    bench.add_argument("--seconds", type=float, default=20, help="length of the latency run (default 20)")
    bench.add_argument("--stream-events", type=int, default=50_000, help="events in each streaming throughput run")
    bench.add_argument("--stream-batch", type=int, default=10_000, help="maxRecordsPerTrigger of those runs")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--plot", metavar="PATH", help="also draw the rows/s figures to PATH (.svg or .png)")
    bench.set_defaults(func=cmd_bench)

    check = sub.add_parser("check", help="run your lab notebook and show its check")
    check.add_argument("lab", help="lab number, e.g. 03")
    check.add_argument("notebook", nargs="?", help="notebook to check (default: labs/NN_*.ipynb)")
    check.set_defaults(func=cmd_check)

    build = sub.add_parser("build-labs", help="generate labs/ and solutions/notebooks/ from the lab sources")
    build.add_argument("--check", action="store_true", help="write nothing; fail when a notebook is out of date")
    build.set_defaults(func=cmd_build_labs)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
