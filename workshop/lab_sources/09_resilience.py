# Lab 09 source: errors and resilience. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 09 · Errors and resilience: retries, backoff, budgets, the circuit breaker
#
# **Goal:** keep a read exact while the service fails some of its requests: tell transient
# failures from fatal ones, wait before each retry with exponential backoff and full jitter (never
# sooner than `Retry-After`), stop when a budget is used up, and let a circuit breaker stop a job
# quickly when the service is down. Then see where bad records go: a dead-letter table.
#
# **Time:** 40 minutes.

# %% [markdown]
# ## Setup

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![The retry helper, the backoff and the circuit breaker](images/09_resilience.svg)
#
# Every request of the connector (pages, counts, writes, commits, tokens, the health probe) goes
# through one retry helper, `Retrier.call(attempt, what, idempotent)`, from
# `PracticeClient.request`. For each failed attempt it decides:
#
# | failure | verdict | why |
# |---|---|---|
# | 429 rate limited, 503 unavailable, connection refused | retry | the service did not carry the request out |
# | 500, 502, 504, connection reset, read timeout | retry **only if idempotent** | the service may have carried it out: a blind retry could write twice |
# | 400, 401, 403, 404, 409, 413, 422, TLS error, unknown host | fatal | the same request fails the same way |
#
# GETs, PUTs and DELETEs are idempotent; the writer's POSTs carry an idempotency key or a commit id
# (labs 05 and 07), which makes them safe to repeat too. (A 401 with a bearer token is retried once
# with a new token by the client, lab 08; a 413 makes the reader split its time window, lab 03.)
#
# **Backoff with full jitter.** Retry *n* waits a random time between 0 and
# `min(maxRetryDelay, retryDelay * 2**(n-1))`. Exponential: a struggling service gets more room
# each time. Random over the *whole* range: the tasks that failed together (a 503 hits every task
# at once) come back spread out instead of together. When the service says `Retry-After: s`, wait
# at least that (capped at `maxRetryDelay`). Draw with `random.uniform` or `random.SystemRandom()`,
# never with a `random.Random` of your own: Spark ships a notebook's classes, and the globals they
# use, to each task as pickled copies, so such a generator reaches every task as a copy with the
# same state, and every task waits the same "random" time (on Spark 4.0 to 4.3;
# `tests/labs/test_claims_lab09.py` shows it). `random`'s own functions are reseeded in each
# forked Python worker.
#
# **Budgets.** At most `maxRetries` retries per request, and `retryBudget` retries per task over
# all its requests: a task that keeps failing stops, with the last error and why it gave up, and
# Spark's own task retries take over.
#
# **The circuit breaker** (given, `solutions/resilience.py`). One per service URL per Python
# process, shared by all tasks that process runs. `breakerThreshold` failed attempts in a row open
# it: every request then fails at once, without touching the network, for `breakerCooldown`; then
# one trial request may go (half-open). So a service that is down ends the job in seconds with a
# message that says so, instead of every task sleeping through its whole retry budget. Your retry
# helper feeds it: `record_failure` for each transient failure, `record_success` for an answer
# (an error *with* a status counts: the service is up), `record_neutral` for what says nothing
# about the service (a TLS error).
#
# The practice service fails on demand, reproducibly: `service.set_faults(rate=0.3, kinds=[...])`.
# By hand, twenty requests while 30 % fail:

# %%
import requests

lab.service.set_faults(rate=0.3, kinds=["429", "500", "503", "reset"])
try:
    outcomes = []
    for after in range(20):
        try:
            answer = requests.get(f"{lab.url}/v1/events/feed", params={"after_seq": after, "limit": 5}, timeout=10)
            outcomes.append(answer.status_code if answer.status_code < 400 else f"{answer.status_code} {answer.json()['error']}")
        except requests.exceptions.ConnectionError:
            outcomes.append("connection reset")
finally:
    lab.service.set_faults(rate=0.0)
print(outcomes)

# %% [markdown]
# ## Your task 1: the wait before a retry
#
# `RetryPolicy` holds the settings (`max_retries`, `base_delay` = `retryDelay`, `max_delay` =
# `maxRetryDelay`, `task_budget` = `retryBudget`, the breaker's). Write `delay(retry_number,
# retry_after=None)`: the seconds to wait before retry `retry_number` (1, 2, ...), full jitter as
# above, at least `min(retry_after, max_delay)` when the service sent `Retry-After`. Stuck?
# `lab.hint("RetryPolicy.delay")` prints the next of three hints each time you run it.

# %%
import random

from solutions import resilience


class RetryPolicy(resilience.RetryPolicy):
    """The reference policy with your delay()."""

    # %include solutions.resilience:RetryPolicy.delay


# %%
import matplotlib.pyplot as plt

policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
figure, axes = plt.subplots(figsize=(7, 2.8))
for retry in range(1, 8):
    axes.scatter([retry] * 200, [policy.delay(retry) for _ in range(200)], s=4, alpha=0.4, color="#2e86c1")
axes.axhline(8.0, color="#b03a2e", linestyle="--", linewidth=1)
axes.set_xlabel("retry number")
axes.set_ylabel("wait (s)")
axes.set_title("delay(): retryDelay=0.5s, maxRetryDelay=8s")
plt.show()
print("with Retry-After: 3 ->", round(policy.delay(1, retry_after=3), 3), "s")

# %% [markdown]
# ## Your task 2: retryable or fatal
#
# `classify(error)` returns `(verdict, reason)`: `RETRY`, `RETRY_IF_IDEMPOTENT` or `FATAL`. Write
# the part for an HTTP status (`error.status`): `NOT_CARRIED_OUT_STATUSES` (429, 503) can always be
# retried; the other `RETRYABLE_STATUSES` (500, 502, 504) only when the request is idempotent;
# everything else is fatal (a 501 or 505 too: only the listed statuses may be transient). The part
# for failures without an answer (a reset, a timeout, a refused connection, TLS) is given. Hints:
# `lab.hint("classify")`.

# %%
from solutions.resilience import (
    FATAL,
    NOT_CARRIED_OUT_STATUSES,
    RETRY,
    RETRY_IF_IDEMPOTENT,
    RETRYABLE_STATUSES,
    connection_failure,
)

# %include solutions.resilience:classify


# %%
from solutions.client import ServiceError

for status in (429, 500, 503, 400, 404, 422):
    print(status, classify(ServiceError("by hand", status=status)))

# %% [markdown]
# ## Your task 3: the retry loop
#
# `Retrier.call(attempt, what, idempotent, max_retries)` runs `attempt()` until it answers. The
# loop is given: it asks the breaker before every attempt (`before_attempt()` raises when the
# breaker is open), counts the attempt (`number`), and on success tells the breaker and returns
# the answer. Write what happens when an attempt raised `error`:
#
# 1. `verdict, reason = classify(error)`. Fatal: tell the breaker (`record_success()` when the
#    service answered, that is `error.status` is set; else `record_neutral()`) and `raise`.
# 2. Transient: `self.breaker.record_failure(reason)`; when it returns True the breaker just
#    opened: `raise self.breaker.open_error() from error`.
# 3. Give up with `raise gave_up(error, why)` (the last error, its message saying why) when
#    `not may_retry(verdict, idempotent)`, when `number > max_retries` (the argument when a caller
#    gives one, else the policy's; the loop sets it), or when this client's retries
#    (`self.retries`) reached `self.policy.task_budget`.
# 4. Else `wait = self.policy.delay(number, error.retry_after)` (`getattr`: not every error has
#    it), count `self.retries += 1` and `self.seconds_waiting`, `self.sleep(wait)`, and go round
#    again (`continue`).
#
# Hints, one step at a time: `lab.hint("Retrier.call")`.

# %%
import logging

from solutions.resilience import FATAL, gave_up, may_retry

log = logging.getLogger("solutions.resilience")


class Retrier(resilience.Retrier):
    """The reference retry helper, with your call() (and your classify)."""

    # %include solutions.resilience:Retrier.call


# %% [markdown]
# Your retrier in a client: the reference `PracticeClient` names its retry policy and retrier in
# class attributes, so a subclass that sets them plugs yours in. It reads a stretch of the feed
# while 30 % of requests fail, compared with ground truth:

# %%
from solutions.client import PracticeClient
from solutions.options import parse_options
from workshop.truth import checksum, to_json_record


class LabClient(PracticeClient):
    retry_policy_class = RetryPolicy  # yours
    retrier_class = Retrier  # yours (it calls your classify)


FAST = {"retryDelay": "5ms", "maxRetryDelay": "50ms"}  # short waits for the lab; the defaults suit real services
window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:20Z"}  # about 2,000 events
lab.service.set_faults(rate=0.3, kinds=["429", "500", "503", "reset"])
try:
    with LabClient(parse_options({"url": lab.url, **FAST})) as client:
        items = [item for page in client.pages("/v1/events", window, page_size=100) for item in page]
        print(f"{len(items)} events in {client.requests} requests, {client.retrier.retries} retries, "
              f"{client.retrier.seconds_waiting:.2f} s waiting")
finally:
    lab.service.set_faults(rate=0.0)
print("equal to ground truth:", checksum(items) == lab.service.truth.checksum("events", **window))

# %% [markdown]
# ## On Spark, while the service fails
#
# A data source whose clients (planning and every task) retry with your code (the reader names its
# client, the data source its reader). It reads the same 20
# seconds of events in 4 partitions while 30 % of requests fail; `logFile` collects the
# tasks' metrics (`read partition ... finished`, with `requests` and `retries`). Then the service
# goes down for good (every request answers 503): the read must stop within seconds, with the
# circuit breaker's message.

# %%
import os
import json
import tempfile

from solutions.datasource import PracticeDataSource
from solutions.reader import PracticeBatchReader


class Lab09Reader(PracticeBatchReader):
    client_class = LabClient


class Lab09DataSource(PracticeDataSource):
    short_name = "practice_lab09"
    batch_reader = Lab09Reader


spark.dataSource.register(Lab09DataSource)
log_file = os.path.join(tempfile.mkdtemp(prefix="lab09-"), "connector.jsonl")


def events(**options):
    reader = spark.read.format("practice_lab09").option("url", lab.url).option("numPartitions", 4).option("pageSize", 100)
    for name, value in {**window, **FAST, "logFile": log_file, **options}.items():
        reader = reader.option(name, str(value))
    return reader.load()


lab.service.set_faults(rate=0.3, kinds=["429", "500", "503", "reset"])
try:
    rows = events().collect()
finally:
    lab.service.set_faults(rate=0.0)
with open(log_file) as lines:
    finished = [json.loads(line) for line in lines if '"read partition' in line]
print(f"{len(rows)} rows; ground truth {lab.service.truth.count('events', **window)}; checksums equal:",
      checksum(to_json_record(row) for row in rows) == lab.service.truth.checksum("events", **window))
for entry in finished:
    print(f"  partition {entry['partition']}: {entry['rows']} rows, {entry['requests']} requests, {entry['retries']} retries")

# %%
import time

lab.service.set_faults(rate=1.0, kinds=["503"])  # down: /health and /v1/schema still answer, so planning works
started = time.monotonic()
try:
    events(partitioning="none", maxRetries=20, breakerThreshold=5, breakerCooldown="5s").collect()
except Exception as error:
    from workshop.checks import spark_error_text

    print(f"stopped after {time.monotonic() - started:.1f} s:", spark_error_text(error))
finally:
    lab.service.set_faults(rate=0.0)

# %% [markdown]
# ## Dead letters
#
# Retries fix what fails for a moment. A record that is broken (a truncated JSON text, a value of
# the wrong type) fails every time: with `mode=DROPMALFORMED` or `PERMISSIVE` and option
# `deadLetterTable=<name>`, the reader sets it aside, with the reason and where it was found, in a
# table **of the service**, through the same retried requests, with an idempotency key made of the
# read and the records. So dead letters survive the loss of an executor (nothing on its local
# disk), and a task that Spark runs again adds none twice. The writer does the same for rows the
# service refuses (422). A service whose records are 2 % malformed:

# %%
from workshop.service import PracticeService

with PracticeService(seed=9, events=1000, entities=10, ring_rows=10, malformed_rate=0.02) as broken:
    kept = (
        spark.read.format("practice").option("url", broken.url).option("mode", "DROPMALFORMED")
        .option("deadLetterTable", "lab09_dead_letters").option("numPartitions", 3).load().count()
    )
    letters = broken.truth.table("lab09_dead_letters")
    print(f"{kept} rows kept, {len(letters)} dead letters; malformed in the service: {len(broken.truth.malformed_seqs())}")
    print("first:", {name: letters[0][name] for name in ("source", "reason", "location")})

# %% [markdown]
# ## Check
#
# The check calls your `delay` hundreds of times (and in two copies pickled as Spark ships them to
# two tasks: their waits must differ), your `classify` with every status (501 and 505 too), and your
# `Retrier.call` with scripted attempts (a function that fails in the given ways, then answers):
# retries and the waits it asks the policy for, fatal errors, a 500 of a request that is not
# idempotent, both budgets and the `max_retries` argument, the breaker (a 404 shows the service is
# up; a TLS error says nothing). Then it starts a service of its own that fails 30 % of requests,
# reads from it on Spark with your code and compares with ground truth, and takes it down to see
# the breaker stop the read.

# %%
from workshop.checks import check_lab

check_lab("09", RetryPolicy=RetryPolicy, classify=classify, Retrier=Retrier)

# %% [markdown]
# ## Stretch
#
# - Write to a table while 30 % of requests fail (`df.write.format("practice")` with `FAST` options
#   and faults on): count the rows. Then look at `solutions/writer.py`: which header makes a
#   retried batch harmless, and why would a write without it duplicate rows after a `reset`?
# - Set `retryDelay=1s` and `maxRetryDelay=1s` (no jitter left once the ceiling is reached) and read
#   with faults on: how long does the read take now, and why does full jitter spread the load?
# - Read `CircuitBreaker` in `solutions/resilience.py` and write your own `before_attempt` and
#   `record_failure`. Why is the breaker per process and not per task, and why does a 404 close it?
# - With `deadLetterTable`, run the same read twice: why does the second run add no dead letters
#   (`docs/resilience.md`, Dead letters)?
#
# ## Recap
#
# - Classify before retrying: 429/503 and refused connections always; 500/502/504, resets and read
#   timeouts only for idempotent requests; 4xx and TLS errors never.
# - Wait `uniform(0, min(maxRetryDelay, retryDelay * 2**(n-1)))`, at least `Retry-After`: full
#   jitter keeps tasks that failed together from retrying together.
# - Budgets per request and per task end a hopeless task with the last error and why.
# - A circuit breaker per service and process turns an outage into one fast, clear failure.
# - Bad records go to a dead-letter table through the service, never to an executor's disk.
