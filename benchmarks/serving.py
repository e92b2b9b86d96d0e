"""The serving limit: how fast can clients drain the practice service?

Starts the service (in its own process, so clients and server do not share a GIL) with
1,000,000 events, then measures rows/s for 1, 2 and 4 concurrent clients, each a process with
its own keep-alive connection, draining time windows (`/v1/events`) and the feed
(`/v1/events/feed`) with the largest page, in each wire format side by side: JSON, JSON with
gzip, Arrow IPC, Arrow IPC with gzip. A client decodes what it gets, as a reader must: JSON
with `json.loads`, an Arrow stream into a `pyarrow.Table` (its cursor from `X-Next-Cursor`).

Every format starts on a fresh service process, so its first pass is cold (each record made
and encoded, each answer rendered); `--runs` warm passes over the same pages follow (records
and answers come from the service's cache). A figure gives the cold rows/s, the median warm
rows/s, and the CPU time the service and the clients spent per row (from /proc, on Linux):
when other work shares the machine, rows/s move but CPU per row says what bounds them.
Later benchmarks (the connector's reads) compare with these figures.

    python benchmarks/serving.py                  # figures as text
    python benchmarks/serving.py --json           # machine-readable
    python benchmarks/serving.py --events 200000 --rows 50000 --clients 1,2 --mode feed --formats json,arrow
"""
import argparse
import gzip
import http.client
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARROW = "application/vnd.apache.arrow.stream"
FORMATS = ("json", "json+gzip", "arrow", "arrow+gzip")


def measure_startup(events):
    """Seconds from constructing a service to its first /health answer, in this process."""
    sys.path.insert(0, ROOT)
    from workshop.service import PracticeService

    started = time.perf_counter()
    with PracticeService(events=events) as service:
        urllib.request.urlopen(service.url + "/health").read()
        return time.perf_counter() - started


def start_server(events, page, max_window_rows=None, cache_mb=4096, **settings):
    """A service process, (process, url). Its cache holds every page of 1,000,000 events in every
    format (the default 512 MB would not), so warm figures are warm; other settings become flags."""
    command = [sys.executable, "-m", "workshop.service", "--port", "0", "--events", str(events),
               "--max-page-size", str(page), "--max-window-rows", str(max_window_rows or max(page, 20_000)),
               "--cache-mb", str(cache_mb)]
    for name, value in settings.items():
        command += ["--" + name.replace("_", "-"), str(value)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    match = re.search(r"(https?://[^\s]+:\d+)", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the practice service did not start")
    return process, match.group(1)


def get_json(url):
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def plan_windows(url, rows):
    """Consecutive time windows, each accepted by the server, holding about `rows` events together."""
    stats = get_json(url + "/v1/events/stats")
    limit = stats["max_window_rows"]
    start = datetime.fromisoformat(stats["min_event_time"].replace("Z", "+00:00"))
    end_of_data = datetime.fromisoformat(stats["max_event_time"].replace("Z", "+00:00")) + timedelta(seconds=1)
    step, windows, total = timedelta(seconds=120), [], 0
    while total < rows and start < end_of_data:
        end = min(start + step, end_of_data)
        query = urllib.parse.urlencode({"start": iso(start), "end": iso(end)})
        count = get_json(f"{url}/v1/events/count?{query}")["count"]
        if count > limit:
            step /= 2
            continue
        if count:
            windows.append((iso(start), iso(end), count))
            total += count
        start = end
        step = step * 2 if count < limit // 2 else step
    return windows


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(url, requests_to_make, use_gzip, barrier, wire="json"):
    """One client: its own keep-alive connection; (rows, wire bytes, decoded bytes, start, end, CPU s)."""
    if wire == "arrow":
        import pyarrow
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Accept-Encoding": "gzip"} if use_gzip else {}
    if wire == "arrow":
        headers["Accept"] = ARROW
    connection.request("GET", "/health", headers=headers)
    connection.getresponse().read()
    barrier.wait()
    rows = wire_bytes = raw = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for path in requests_to_make:
        cursor = None
        while True:
            connection.request("GET", path + (f"&cursor={cursor}" if cursor else ""), headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status} {body[:200]!r}")
            wire_bytes += len(body)
            if response.getheader("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            raw += len(body)
            if wire == "arrow":
                rows += pyarrow.ipc.open_stream(body).read_all().num_rows
                cursor = response.getheader("X-Next-Cursor")
            else:
                page = json.loads(body)
                rows += len(page["items"])
                cursor = page.get("next_cursor")
            if not cursor:
                break
    finished, cpu = time.perf_counter(), time.process_time() - cpu_started
    connection.close()
    return rows, wire_bytes, raw, started, finished, cpu


def _client(args):
    url, paths, use_gzip, barrier, results, wire = args
    results.put(drain(url, paths, use_gzip, barrier, wire))


def run_once(url, work, use_gzip, wire="json", server_pid=None):
    """All clients at once (one process each); aggregate rows/s and MB/s over the wall time.

    With `server_pid`, also the service's CPU microseconds per row over the run.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier, results = context.Barrier(len(work)), context.Queue()
    processes = [context.Process(target=_client, args=((url, paths, use_gzip, barrier, results, wire),))
                 for paths in work]
    for process in processes:
        process.start()
    server_before = cpu_seconds(server_pid) if server_pid else None
    outcomes = [results.get(timeout=600) for _ in processes]
    server_after = cpu_seconds(server_pid) if server_pid else None
    for process in processes:
        process.join()
    seconds = max(o[4] for o in outcomes) - min(o[3] for o in outcomes)
    rows, wire_bytes, raw, client_cpu = (sum(o[i] for o in outcomes) for i in (0, 1, 2, 5))
    result = {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "mb_per_s": wire_bytes / seconds / 1e6,
              "decoded_mb_per_s": raw / seconds / 1e6, "client_cpu_us_per_row": client_cpu / rows * 1e6}
    if server_before is not None and server_after is not None:
        result["server_cpu_us_per_row"] = (server_after - server_before) / rows * 1e6
    return result


def feed_work(clients, rows, page, offset=0):
    share = rows // clients
    work = []
    for client in range(clients):
        first = offset + client * share
        work.append([f"/v1/events/feed?after_seq={after}&until_seq={first + share}&limit={page}"
                     for after in range(first, first + share, page)])
    return work


def window_work(clients, windows, page):
    work = [[] for _ in range(clients)]
    for index, (start, end, _) in enumerate(windows):
        query = urllib.parse.urlencode({"start": start, "end": end, "limit": page})
        work[index % clients].append(f"/v1/events?{query}")
    return work


def measure_format(events, page, work, fmt, runs):
    """Cold pass on a fresh service, then `runs` warm passes: one figure."""
    process, url = start_server(events, page)
    try:
        wire, use_gzip = fmt.split("+")[0], fmt.endswith("+gzip")
        cold = run_once(url, work, use_gzip, wire, process.pid)
        warm = [run_once(url, work, use_gzip, wire, process.pid) for _ in range(runs)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    figure = {"format": fmt, "rows": cold["rows"], "cold_rows_per_s": round(cold["rows_per_s"]),
              "rows_per_s": round(statistics.median(r["rows_per_s"] for r in warm)),
              "runs_rows_per_s": [round(r["rows_per_s"]) for r in warm],
              "mb_per_s": round(statistics.median(r["mb_per_s"] for r in warm), 1),
              "client_cpu_us_per_row": round(statistics.median(r["client_cpu_us_per_row"] for r in warm), 2)}
    if "server_cpu_us_per_row" in cold:
        figure["cold_server_cpu_us_per_row"] = round(cold["server_cpu_us_per_row"], 2)
        figure["server_cpu_us_per_row"] = round(statistics.median(r["server_cpu_us_per_row"] for r in warm), 2)
    return figure


def describe(figure):
    cpu = ""
    if "server_cpu_us_per_row" in figure:
        cpu = (f"  service {figure['cold_server_cpu_us_per_row']:5.2f} cold {figure['server_cpu_us_per_row']:5.2f} warm"
               f"  clients {figure['client_cpu_us_per_row']:5.2f}")
    return (f"  {figure['format']:11} {figure['cold_rows_per_s']:>9,} cold {figure['rows_per_s']:>9,} warm "
            f"{figure['mb_per_s']:6.1f} MB/s{cpu}  (warm runs: {figure['runs_rows_per_s']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events the service holds (default 1000000)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows drained per run (default 200000)")
    parser.add_argument("--clients", default="1,2,4", help="client counts to measure (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=3, help="warm runs per figure, after the cold one (default 3)")
    parser.add_argument("--page", type=int, default=10_000, help="page size, the service's largest (default 10000)")
    parser.add_argument("--mode", choices=("window", "feed", "both"), default="both", help="what to drain")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"wire formats (default {','.join(FORMATS)})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    clients = [int(part) for part in args.clients.split(",")]
    formats = [part.strip() for part in args.formats.split(",")]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"--formats: unknown {unknown[0]!r}; known: {', '.join(FORMATS)}")
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))

    startup = measure_startup(args.events)
    say(f"start-up with {args.events} events: {startup * 1000:.0f} ms (construct, start, first /health)")
    modes = ["window", "feed"] if args.mode == "both" else [args.mode]
    windows = []
    if "window" in modes:
        process, url = start_server(args.events, args.page)
        try:
            windows = plan_windows(url, args.rows)
        finally:
            process.terminate()
            process.wait(timeout=10)
    say(f"{args.rows} rows per run, page {args.page}, {os.cpu_count()} CPUs; rows/s cold (fresh service) and warm "
        f"(median of {args.runs}); CPU µs per row of the service (cold, warm) and of all clients (warm)")
    figures = []
    for mode in modes:
        for count in clients:
            say(f"{mode} pages, {count} client{'s' if count > 1 else ''}:")
            work = feed_work(count, args.rows, args.page) if mode == "feed" else window_work(count, windows, args.page)
            for fmt in formats:
                figure = {"mode": mode, "clients": count, **measure_format(args.events, args.page, work, fmt, args.runs)}
                figures.append(figure)
                say(describe(figure))
    if args.json:
        print(json.dumps({"events": args.events, "startup_seconds": round(startup, 4), "page": args.page,
                          "cpus": os.cpu_count(), "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
