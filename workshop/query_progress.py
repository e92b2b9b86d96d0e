"""A streaming query's micro-batches, live: for the notebooks of labs 06 and 07 (and lab 06's check).

`follow_query(query, until_seq)` prints each micro-batch as it completes, from the query's
progress; `batch_progress(query)` gives the same as dicts; `plot_batches(batches, title)` draws
rows and milliseconds per batch.
"""
import json
import time


def batch_progress(query):
    """One dict per micro-batch that read rows: batch, start and end seq, rows, milliseconds."""
    batches = []
    for item in query.recentProgress:
        entry = json.loads(item.json)  # the same in classic and Connect mode
        source = (entry.get("sources") or [{}])[0]
        if not source.get("numInputRows"):
            continue
        offsets = {}
        for key in ("startOffset", "endOffset", "latestOffset"):
            value = source.get(key)
            offsets[key] = json.loads(value) if isinstance(value, str) else value  # Connect: JSON text
        batches.append({
            "batch": entry["batchId"],
            "start": (offsets["startOffset"] or {}).get("seq", 0),
            "end": (offsets["endOffset"] or {}).get("seq"),
            "latest": (offsets["latestOffset"] or {}).get("seq"),
            "rows": source["numInputRows"],
            "ms": entry.get("durationMs", {}).get("triggerExecution", 0),
        })
    return batches


def follow_query(query, until_seq, timeout=180, quiet=False):
    """Print each micro-batch as it completes, until the query has read up to `until_seq`.

    Returns the batches (see `batch_progress`); the query keeps running: stop it yourself.
    """
    printed, deadline = set(), time.monotonic() + timeout
    while True:
        batches = batch_progress(query)
        for batch in batches:
            if batch["batch"] not in printed:
                printed.add(batch["batch"])
                if not quiet:
                    latest = f", feed at {batch['latest']}" if batch["latest"] is not None else ""
                    print(f"batch {batch['batch']:>3}: {batch['rows']:>5} rows, seq {batch['start']} -> "
                          f"{batch['end']}{latest}, {batch['ms']} ms", flush=True)
        if batches and batches[-1]["end"] is not None and batches[-1]["end"] >= until_seq:
            return batches
        if not query.isActive:
            error = query.exception()
            raise RuntimeError(f"the query stopped: {error}" if error else "the query stopped")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the query did not reach seq {until_seq} within {timeout} s")
        time.sleep(0.3)


def plot_batches(batches, title):
    """Rows and milliseconds per micro-batch, side by side."""
    import matplotlib.pyplot as plt

    ids = [batch["batch"] for batch in batches]
    figure, (rows, ms) = plt.subplots(1, 2, figsize=(9, 2.8))
    rows.bar(ids, [batch["rows"] for batch in batches], color="#2e86c1")
    rows.set_xlabel("batch id")
    rows.set_ylabel("rows")
    ms.plot(ids, [batch["ms"] for batch in batches], marker="o", color="#e08a00")
    ms.set_xlabel("batch id")
    ms.set_ylabel("ms per batch")
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()
