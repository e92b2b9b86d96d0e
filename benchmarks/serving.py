"""The serving limit: how fast can clients drain the practice service?

Starts the service (in its own process, so clients and server do not share a GIL) with
1,000,000 events, then measures rows/s and MB/s for 1, 2 and 4 concurrent clients, each a
process with its own keep-alive connection, draining time windows (`/v1/events`) and the feed
(`/v1/events/feed`) with the largest page. Each figure is the median of several runs after a
warm-up. Later benchmarks (the connector's reads) compare with these figures.

    python benchmarks/serving.py                  # figures as text
    python benchmarks/serving.py --json           # machine-readable
    python benchmarks/serving.py --events 200000 --rows 50000 --clients 1,2 --mode feed
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


def measure_startup(events):
    """Seconds from constructing a service to its first /health answer, in this process."""
    sys.path.insert(0, ROOT)
    from workshop.service import PracticeService

    started = time.perf_counter()
    with PracticeService(events=events) as service:
        urllib.request.urlopen(service.url + "/health").read()
        return time.perf_counter() - started


def start_server(events, page, max_window_rows=None):
    command = [sys.executable, "-m", "workshop.service", "--port", "0", "--events", str(events),
               "--max-page-size", str(page), "--max-window-rows", str(max_window_rows or max(page, 20_000))]
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


def drain(url, requests_to_make, use_gzip, barrier):
    """One client: its own keep-alive connection; returns (rows, wire bytes, json bytes, start, end)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Accept-Encoding": "gzip"} if use_gzip else {}
    connection.request("GET", "/health", headers=headers)
    connection.getresponse().read()
    barrier.wait()
    rows = wire = raw = 0
    started = time.perf_counter()
    for path in requests_to_make:
        cursor = None
        while True:
            connection.request("GET", path + (f"&cursor={cursor}" if cursor else ""), headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status} {body[:200]!r}")
            wire += len(body)
            if response.getheader("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            raw += len(body)
            page = json.loads(body)
            rows += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    finished = time.perf_counter()
    connection.close()
    return rows, wire, raw, started, finished


def _client(args):
    url, paths, use_gzip, barrier, results = args
    results.put(drain(url, paths, use_gzip, barrier))


def run_once(url, work, use_gzip):
    """All clients at once (one process each); aggregate rows/s and MB/s over the wall time."""
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier, results = context.Barrier(len(work)), context.Queue()
    processes = [context.Process(target=_client, args=((url, paths, use_gzip, barrier, results),)) for paths in work]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    seconds = max(o[4] for o in outcomes) - min(o[3] for o in outcomes)
    rows, wire, raw = (sum(o[i] for o in outcomes) for i in range(3))
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "mb_per_s": wire / seconds / 1e6,
            "json_mb_per_s": raw / seconds / 1e6}


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events the service holds (default 1000000)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows drained per run (default 200000)")
    parser.add_argument("--clients", default="1,2,4", help="client counts to measure (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per figure, after one warm-up (default 3)")
    parser.add_argument("--page", type=int, default=10_000, help="page size, the service's largest (default 10000)")
    parser.add_argument("--mode", choices=("window", "feed", "both"), default="both", help="what to drain")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip responses")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    clients = [int(part) for part in args.clients.split(",")]
    say = (lambda *a: None) if args.json else print

    startup = measure_startup(args.events)
    say(f"start-up with {args.events} events: {startup * 1000:.0f} ms (construct, start, first /health)")
    process, url = start_server(args.events, args.page)
    figures = []
    try:
        modes = ["window", "feed"] if args.mode == "both" else [args.mode]
        windows = plan_windows(url, args.rows) if "window" in modes else []
        say(f"service {url}; {args.rows} rows per run, page {args.page}, gzip {'on' if args.gzip else 'off'}, "
            f"{os.cpu_count()} CPUs")
        for mode in modes:
            for count in clients:
                if mode == "feed":
                    work, warm = feed_work(count, args.rows, args.page), feed_work(count, args.rows // 5, args.page)
                else:
                    work, warm = window_work(count, windows, args.page), window_work(count, windows[: max(count, 2)], args.page)
                run_once(url, warm, args.gzip)
                runs = [run_once(url, work, args.gzip) for _ in range(args.runs)]
                figure = {
                    "mode": mode, "clients": count, "rows": runs[0]["rows"],
                    "rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
                    "mb_per_s": statistics.median(r["mb_per_s"] for r in runs),
                    "json_mb_per_s": statistics.median(r["json_mb_per_s"] for r in runs),
                    "runs_rows_per_s": [round(r["rows_per_s"]) for r in runs],
                }
                figures.append(figure)
                say(f"{mode:6} {count} client{'s' if count > 1 else ' '}: {figure['rows_per_s']:>9,.0f} rows/s "
                    f"{figure['mb_per_s']:6.1f} MB/s on the wire  (runs: {figure['runs_rows_per_s']})")
    finally:
        process.terminate()
        process.wait(timeout=10)
    if args.json:
        print(json.dumps({"events": args.events, "startup_seconds": round(startup, 4), "page": args.page,
                          "gzip": args.gzip, "cpus": os.cpu_count(), "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
