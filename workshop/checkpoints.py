"""What a streaming query's checkpoint holds, read and edited for lab 07 and its check.

A checkpoint folder has `metadata` (the query id, kept across restarts), `offsets/N` (the range
Spark planned for batch N, written before the batch runs) and `commits/N` (written once batch N
is done). Removing the newest `commits/N` leaves what a crash right after the sink's commit
leaves: the restarted query runs batch N again.
"""
import json
import os


def query_id_in(checkpoint):
    """The query id Spark keeps in the checkpoint's metadata file."""
    with open(os.path.join(checkpoint, "metadata")) as metadata:
        return json.loads(metadata.readline())["id"]


def forget_last_commit(checkpoint):
    """Remove the newest commits/N of a checkpoint: what a crash right after the sink's commit leaves."""
    commits = os.path.join(checkpoint, "commits")
    last = max(int(name) for name in os.listdir(commits) if name.isdigit())
    for name in (str(last), f".{last}.crc"):
        if os.path.exists(os.path.join(commits, name)):
            os.remove(os.path.join(commits, name))
    return last
