"""The resilience layer: one retry helper for every request, a circuit breaker per process.

Every HTTP request the connector makes (reads, writes, the health probe, OAuth2 tokens, dead
letters) goes through `Retrier.call`, from `PracticeClient.request` (solutions/client.py):

- **classification**: `classify` says whether a failure is worth another attempt. 429, 500,
  502, 503, 504, connection errors (refused, reset) and read timeouts are transient; 400, 401,
  403, 404, 409, 413, 422 and TLS errors are fatal: trying again cannot fix them;
- **only idempotent requests are resent after the service may have acted**: a 429 or 503, a
  refused connection or a connect timeout means the request was not carried out, so any
  request may be resent. After a reset, a read timeout, a 500, 502 or 504 the service may have
  carried it out, so only requests that are safe to repeat are resent (GET, PUT, DELETE and
  POSTs that carry an idempotency key or a commit id);
- **backoff**: exponential with full jitter, `uniform(0, min(maxRetryDelay, retryDelay * 2**n))`
  before retry n+1, and never sooner than the service's `Retry-After` (capped at maxRetryDelay);
- **budgets**: at most `maxRetries` retries per request and `retryBudget` retries per task
  (per client), so a task that keeps failing stops instead of retrying for ever;
- **circuit breaker**: one per service URL in each Python process (module-level state, so all
  tasks an executor's Python worker runs share it). `breakerThreshold` failed attempts in a row
  open it: every request then fails at once with a message that says so, for `breakerCooldown`.
  After that it is half-open: one trial request may go; success closes it, failure opens it
  again.

The retrier knows nothing about HTTP libraries beyond `classify` (which looks at the `requests`
exception behind a failure, imported inside the function like every third-party import here).
"""
import logging
import random
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Statuses worth another attempt, and among them those answered before the request was carried out.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_CARRIED_OUT_STATUSES = frozenset({429, 503})

FATAL = "fatal"  # trying again cannot help
RETRY = "retry"  # transient, and the request was not carried out: resend anything
RETRY_IF_IDEMPOTENT = "retry if idempotent"  # transient, but the service may have acted on it


class CircuitOpenError(RuntimeError):
    """The circuit breaker is open: the service failed too often just now, so we fail fast."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 10  # per request
    base_delay: float = 0.5  # seconds; the first backoff is uniform(0, base_delay)
    max_delay: float = 30.0  # the longest single wait, Retry-After included
    task_budget: int = 100  # retries per task (per client)
    breaker_threshold: int = 10  # failed attempts in a row that open the breaker
    breaker_cooldown: float = 30.0  # seconds the breaker stays open before a trial request

    @classmethod
    def from_options(cls, options):
        return cls(
            max_retries=options["maxRetries"],
            base_delay=options["retryDelay"],
            max_delay=options["maxRetryDelay"],
            task_budget=options["retryBudget"],
            breaker_threshold=options["breakerThreshold"],
            breaker_cooldown=options["breakerCooldown"],
        )

    def delay(self, retry_number, retry_after=None):
        """Seconds to wait before retry `retry_number` (1, 2, ...): full jitter, at least Retry-After."""
        # BEGIN SOLUTION: a random wait up to the doubling ceiling, never before Retry-After
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        # Not a random.Random of our own: a notebook's copy would reach every task with the same state.
        wait = random.SystemRandom().uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait
        # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


def classify(error):
    """(FATAL | RETRY | RETRY_IF_IDEMPOTENT, reason in plain words) for a failed attempt.

    `error` is what the attempt raised: a ServiceError with the HTTP `status` (None when there
    was no answer) and, for no answer, the `requests` exception as `cause`.
    """
    status = getattr(error, "status", None)
    if status is not None:
        reason = f"HTTP {status}" + (f" {error.error}" if getattr(error, "error", None) else "")
        # BEGIN SOLUTION: retry what was not carried out, other retryable statuses if idempotent, else fatal
        if status in NOT_CARRIED_OUT_STATUSES:
            return RETRY, reason
        if status in RETRYABLE_STATUSES:
            return RETRY_IF_IDEMPOTENT, reason
        return FATAL, reason
        # END SOLUTION
    cause = getattr(error, "cause", None)
    if cause is None:
        return FATAL, type(error).__name__
    import requests

    exceptions = requests.exceptions
    if isinstance(cause, exceptions.SSLError):
        return FATAL, "TLS error"
    if isinstance(cause, exceptions.ConnectTimeout):
        return RETRY, "connect timeout"
    if isinstance(cause, exceptions.ReadTimeout):
        return RETRY_IF_IDEMPOTENT, "read timeout"
    if isinstance(cause, exceptions.ConnectionError):
        reason = connection_failure(cause)
        if reason == "unknown host":
            return FATAL, reason
        if reason == "connection refused":
            return RETRY, reason
        return RETRY_IF_IDEMPOTENT, reason
    if isinstance(cause, (exceptions.ChunkedEncodingError, exceptions.ContentDecodingError)):
        return RETRY_IF_IDEMPOTENT, "broken response"
    return FATAL, type(cause).__name__


def connection_failure(cause):
    """ "connection refused", "unknown host" or "connection reset" for a requests ConnectionError."""
    seen, pending = set(), [cause]
    while pending:  # walk the wrapped exceptions: requests -> urllib3 -> socket
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        name = type(error).__name__
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if name == "NameResolutionError" or "Name or service not known" in str(error) or "nodename nor servname" in str(error):
            return "unknown host"
        pending += [getattr(error, "reason", None), error.__cause__, error.__context__]
        pending += [arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)]
    if "refused" in str(cause).lower():
        return "connection refused"
    return "connection reset"


def may_retry(verdict, idempotent):
    return verdict == RETRY or (verdict == RETRY_IF_IDEMPOTENT and idempotent)


def gave_up(error, why):
    """The last error, its message extended with why no further attempt is made."""
    error.args = (f"{error.args[0] if error.args else error} ({why})",) + tuple(error.args[1:])
    return error


# ---------------------------------------------------------------------------------------------
# The circuit breaker (one per service URL per Python process)
# ---------------------------------------------------------------------------------------------


class CircuitBreaker:
    """Closed (requests go), open (requests fail at once) or half-open (one trial request goes)."""

    def __init__(self, url, threshold, cooldown, clock=time.monotonic):
        self.url = url
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.state = "closed"
        self.failures = 0  # failed attempts in a row
        self.opened_at = None
        self.last_failure = None
        self.trial_in_flight = False
        self._lock = threading.Lock()

    def __repr__(self):
        return f"CircuitBreaker({self.url!r}, state={self.state}, failures={self.failures})"

    def before_attempt(self):
        """Raise CircuitOpenError when no request may go now."""
        with self._lock:
            if self.state == "closed":
                return
            waited = self.clock() - self.opened_at
            if self.state == "open" and waited >= self.cooldown:
                self.state, self.trial_in_flight = "half-open", False
            if self.state == "half-open" and not self.trial_in_flight:
                self.trial_in_flight = True  # this caller's request is the trial
                return
            raise CircuitOpenError(self._open_message(max(0.0, self.cooldown - waited)))

    def record_success(self):
        with self._lock:
            self.state, self.failures, self.trial_in_flight = "closed", 0, False

    def record_neutral(self):
        """An attempt that says nothing about the service's health; frees a half-open trial."""
        with self._lock:
            self.trial_in_flight = False

    def record_failure(self, reason):
        """Count a failed attempt; True when the breaker is now open."""
        with self._lock:
            self.failures += 1
            self.last_failure = reason
            if self.state == "half-open" or self.failures >= self.threshold:
                if self.state != "open":
                    log.error(
                        "circuit breaker for %s opened after %d failed attempts in a row (last: %s)",
                        self.url, self.failures, reason,
                        extra={"breaker_failures": self.failures, "service_url": self.url},
                    )
                self.state, self.opened_at, self.trial_in_flight = "open", self.clock(), False
            return self.state == "open"

    def open_error(self):
        with self._lock:
            return CircuitOpenError(self._open_message(self.cooldown))

    def _open_message(self, remaining):
        return (
            f"circuit breaker open for the practice service at {self.url}: {self.failures} failed attempts in a row "
            f"in this process (last: {self.last_failure}), so requests fail fast for the next {remaining:.0f} s "
            "instead of waiting on a service that is down. Check the service; options breakerThreshold and "
            "breakerCooldown tune the breaker"
        )


_breakers = {}
_breakers_lock = threading.Lock()


def breaker_for(url, policy):
    """The process-wide breaker of a service URL (created on first use)."""
    with _breakers_lock:
        breaker = _breakers.get(url)
        if breaker is None:
            breaker = _breakers[url] = CircuitBreaker(url, policy.breaker_threshold, policy.breaker_cooldown)
        breaker.threshold, breaker.cooldown = policy.breaker_threshold, policy.breaker_cooldown
        return breaker


def reset_breakers():
    """Forget every breaker of this process (tests, or after fixing the service in a notebook)."""
    with _breakers_lock:
        _breakers.clear()


# ---------------------------------------------------------------------------------------------
# The retry helper
# ---------------------------------------------------------------------------------------------


class Retrier:
    """Runs the attempts of one client's requests; counts this task's retries against its budget."""

    def __init__(self, policy, breaker, log_fields=None, sleep=time.sleep):
        self.policy = policy
        self.breaker = breaker
        self.log_fields = log_fields or {}
        self.sleep = sleep
        self.attempts = 0  # every attempt of every request
        self.retries = 0  # attempts after the first, over all requests: the task's budget
        self.seconds_waiting = 0.0

    def call(self, attempt, what, idempotent=True, max_retries=None):
        """attempt() until it returns, fails for good, or a budget or the breaker stops it."""
        max_retries = self.policy.max_retries if max_retries is None else max_retries
        number = 0
        while True:
            self.breaker.before_attempt()
            number += 1
            self.attempts += 1
            try:
                result = attempt()
            except Exception as error:
                # BEGIN SOLUTION: classify the failure, tell the breaker, then give up or wait and try again
                verdict, reason = classify(error)
                if verdict == FATAL:
                    if getattr(error, "status", None) is not None:
                        self.breaker.record_success()  # it answered: the service is up
                    else:
                        self.breaker.record_neutral()  # e.g. a TLS error: says nothing about the service
                    raise
                if self.breaker.record_failure(reason):
                    raise self.breaker.open_error() from error
                # gave_up() returns the error being handled, its message extended: a re-raise (B904).
                if not may_retry(verdict, idempotent):
                    raise gave_up(error, f"not retried: {what} may have been carried out and is not idempotent")  # noqa: B904
                if number > max_retries:
                    raise gave_up(error, f"gave up after {number} attempts; option maxRetries={max_retries}")  # noqa: B904
                if self.retries >= self.policy.task_budget:
                    raise gave_up(  # noqa: B904
                        error, f"this task used up its retry budget of {self.policy.task_budget} retries; option retryBudget"
                    )
                wait = self.policy.delay(number, getattr(error, "retry_after", None))
                self.retries += 1
                self.seconds_waiting += wait
                log.warning(
                    "retrying %s after %s (attempt %d of at most %d) in %.2f s",
                    what, reason, number + 1, max_retries + 1, wait,
                    extra={**self.log_fields, "request": what, "attempt": number + 1, "reason": reason,
                           "delay_s": round(wait, 3)},
                )
                self.sleep(wait)
                continue
                # END SOLUTION
            except BaseException:  # GeneratorExit, KeyboardInterrupt: no verdict on the service
                self.breaker.record_neutral()
                raise
            self.breaker.record_success()
            return result


# ---------------------------------------------------------------------------------------------
# Dead letters: bad records set aside, with the reason, in a table of the service
# ---------------------------------------------------------------------------------------------

DEAD_LETTER_FIELDS = [
    {"name": "source", "type": "string", "nullable": True},  # "read events", "write <table>"
    {"name": "reason", "type": "string", "nullable": True},  # why the record is bad, in plain words
    {"name": "record", "type": "string", "nullable": True},  # the record as JSON text (or the raw text)
    {"name": "location", "type": "string", "nullable": True},  # partition, page, item, key
    {"name": "run_id", "type": "string", "nullable": True},  # the read or write it came from
    {"name": "partition_id", "type": "bigint", "nullable": True},
    {"name": "recorded_at", "type": "timestamp", "nullable": True},
]
DEAD_LETTER_BATCH = 500  # records per request


def check_dead_letter_table(client, name):
    """Refuse, before anything is written, a dead-letter table that exists with other fields."""
    try:
        existing = client.get(f"/v1/tables/{name}")
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return  # created when the write or read is planned
        if getattr(error, "status", None) == 400:
            raise _dead_letter_table_error(name, error) from None
        raise
    if existing.get("fields") != DEAD_LETTER_FIELDS:
        raise _dead_letter_table_error(name, f"table {name!r} exists with other fields")


def create_dead_letter_table(client, name):
    """Create the dead-letter table (driver, at planning); a table with other fields is a clear error."""
    try:
        client.put(f"/v1/tables/{name}", {"fields": DEAD_LETTER_FIELDS})
    except Exception as error:
        if getattr(error, "status", None) in (400, 409):
            raise _dead_letter_table_error(name, error) from None
        raise


def _dead_letter_table_error(name, problem):
    from solutions.options import OptionError

    return OptionError(
        f"option deadLetterTable={name!r} cannot be used: {problem}. The dead-letter table needs the fields "
        + ", ".join(f"{field['name']} {field['type']}" for field in DEAD_LETTER_FIELDS)
    )


class DeadLetters:
    """Bad records of one task, sent to the dead-letter table through the service.

    They are posted with an idempotency key made from the run and the records themselves, so
    a task that Spark runs again (after an executor is lost) posts the same key and adds
    nothing twice; and nothing depends on the executor's disk.
    """

    def __init__(self, table, source, run_id, partition_id):
        self.table = table
        self.source = source
        self.run_id = run_id
        self.partition_id = partition_id
        self.pending = []
        self.sent = 0

    def __repr__(self):
        return f"DeadLetters(table={self.table!r}, pending={len(self.pending)}, sent={self.sent})"

    def add(self, record, reason, location):
        import datetime
        import json

        text = record if isinstance(record, str) else json.dumps(record, separators=(",", ":"), sort_keys=True, default=str)
        self.pending.append({
            "source": self.source,
            "reason": reason,
            "record": text,
            "location": location,
            "run_id": self.run_id,
            "partition_id": self.partition_id,
            "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        })
        log.debug("bad record set aside for dead-letter table %s: %s (%s)", self.table, reason, location,
                  extra={"dead_letter_table": self.table, "location": location})

    def flush(self, client):
        """POST the pending records (batches of DEAD_LETTER_BATCH) with their idempotency keys."""
        import hashlib

        while self.pending:
            batch = self.pending[:DEAD_LETTER_BATCH]
            digest = hashlib.sha256()
            for row in batch:  # the key: this run and these records (not the time they were seen)
                digest.update(f"{row['location']}\0{row['record']}\0{row['reason']}\0".encode("utf-8", "replace"))
            key = f"dead-letters-{self.run_id}-{self.partition_id}-{digest.hexdigest()[:32]}"
            client.post(f"/v1/tables/{self.table}/rows", {"rows": batch}, headers={"Idempotency-Key": key})
            self.sent += len(batch)
            del self.pending[:DEAD_LETTER_BATCH]
            log.warning("%d bad records written to dead-letter table %s (first: %s: %s)", len(batch), self.table,
                        batch[0]["location"], batch[0]["reason"],
                        extra={"dead_letter_table": self.table, "dead_letters": len(batch), "run_id": self.run_id})
