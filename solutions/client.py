"""The client layer: HTTP to the practice service with `requests`.

One `PracticeClient` per Spark task (per partition), used as a context manager:

    with PracticeClient(options) as client:
        for items in client.pages("/v1/events", {"start": ..., "end": ...}):
            ...

The `with` block owns one `requests.Session` (keep-alive connections, shared headers) and
closes it on every way out: normal end, an exception, or Spark closing the read generator
early (a `LIMIT`). `requests` is imported inside the methods: they run on the executors, and a
module-level import would make merely importing this module need `requests`.

Errors are detected by status code, never by `bool(response)`, and turned into
`ServiceError`s that carry the service's JSON `message`. Secrets never appear in them.

Bodies are JSON, or Arrow IPC streams (option wireFormat=arrow): `arrow_pages` asks for pages
as Arrow (`Accept: application/vnd.apache.arrow.stream`) and yields one `pyarrow.RecordBatch`
per page, the cursor coming from the `X-Next-Cursor` header; a request body that is a pyarrow
Table or RecordBatch is sent as an Arrow IPC stream. Both go through `request`, so they get the
same retries, credentials, metrics and logs as JSON.

Every request goes through the one retry helper (solutions/resilience.py: backoff with full
jitter, Retry-After, retry budgets, the circuit breaker), carries the credentials the auth
resolver chose (solutions/auth.py; a bearer token is fetched again once after a 401), and is
counted for the task's metrics and logged as JSON (solutions/observability.py).
"""
import email.utils
import json
import logging
import os
import time
from urllib.parse import urlsplit

from solutions.auth import Authenticator
from solutions.observability import configure_logging, redact, task_fields
from solutions.options import OptionError, require
from solutions.resilience import Retrier, RetryPolicy, breaker_for, connection_failure

log = logging.getLogger(__name__)

JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"  # the Arrow IPC stream format's media type


class ServiceError(Exception):
    """The service answered with an error status, or could not be reached (status None)."""

    def __init__(self, message, status=None, error=None, body=None, retry_after=None, cause=None):
        super().__init__(message)
        self.status = status
        self.error = error  # the service's error code, e.g. "window_too_large"
        self.body = body or {}
        self.retry_after = retry_after  # seconds, from a Retry-After header
        self.cause = cause  # for no answer: the requests exception (kept out of tracebacks: its text may hold a URL)


class WindowTooLargeError(ServiceError):
    """413 `window_too_large`: the time window holds more events than the service serves at once."""


class HealthCheckError(ServiceError):
    """The health probe before planning failed: wrong URL, service down, TLS mismatch."""


def check_url(url):
    """Refuse, naming the option, a url that is not http(s)://host[:port][/path]."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is not None and (parts.username or parts.password):  # never echo such a URL
        raise OptionError("option url must not contain a user name or password: use options username and password")
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise OptionError(f"option url={url!r} is not valid: expected an http:// or https:// URL such as http://127.0.0.1:8765")


class PracticeClient:
    """A session with the service for one task; use it as a context manager.

    Its collaborators are class attributes, so a lab (or a test) puts its own piece in with a
    subclass that sets one: `authenticator_class` adds the credentials the auth resolver chose
    (solutions/auth.py); `retry_policy_class` and `retrier_class` decide which failures are tried
    again and how long to wait (solutions/resilience.py).
    """

    authenticator_class = Authenticator
    retry_policy_class = RetryPolicy
    retrier_class = Retrier

    def __init__(self, options):
        require(options, "url", "to reach the practice service, e.g. .option('url', 'http://127.0.0.1:8765')")
        check_url(options["url"])
        if options["caFile"] and not os.path.isfile(options["caFile"]):
            raise OptionError(f"option caFile={options['caFile']!r} is not a file here: give the PEM file of the CA that "
                              "signed the service's certificate, readable on the driver and the executors")
        self.url = options["url"].rstrip("/")
        self.options = options
        self.timeout = (options["connectTimeout"], options["readTimeout"])
        # verifyTls=false turns checking off; a CA file replaces the default trust store.
        # Passed with each request: requests lets REQUESTS_CA_BUNDLE override session.verify.
        self.verify = (options["caFile"] or True) if options["verifyTls"] else False
        self.session = None
        self.authenticator = None
        self.retrier = None
        self.log_fields = {}
        self.requests = 0  # requests made (each with its retries), for the task's metrics
        self.bytes_sent = 0  # request bodies, for the writer's commit messages
        self.bytes_received = 0
        self.started = None

    def __repr__(self):
        return f"PracticeClient({self.url!r}, {'closed' if self.session is None else 'open'})"

    def __enter__(self):
        import requests

        configure_logging(self.options)
        authenticator = self.authenticator_class(self.options)
        session = requests.Session()
        session.headers["Accept"] = JSON
        # requests decompresses gzip by itself; we only choose what to ask for.
        session.headers["Accept-Encoding"] = "gzip" if self.options["gzip"] else "identity"
        # requests calls the authenticator with every request to add the credentials.
        self.authenticator = session.auth = None if authenticator.method == "none" else authenticator
        self.log_fields = task_fields()
        policy = self.retry_policy_class.from_options(self.options)
        # One circuit breaker per service URL in this Python process, whichever client asks.
        self.retrier = self.retrier_class(policy, breaker_for(self.url, policy), self.log_fields)
        self.started = time.monotonic()
        self.session = session
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    @property
    def closed(self):
        return self.session is None

    def metrics(self):
        """This client's (this task's) counts so far."""
        return {
            "requests": self.requests,
            "retries": self.retrier.retries if self.retrier else 0,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "seconds": round(time.monotonic() - self.started, 3) if self.started else 0.0,
        }

    # -- requests ---------------------------------------------------------------------------

    def request(self, method, path, params=None, body=None, headers=None, idempotent=None, form=None,
                authenticate=True, max_retries=None, accept=JSON):
        """Send one request with retries; the parsed JSON answer, or ServiceError.

        `idempotent`: may the request be sent again after the service may have carried it out
        (a reset, a read timeout, a 500)? Default: yes for GET, PUT, DELETE and for a POST with an
        `Idempotency-Key`; callers say so for other POSTs that are safe to repeat. `path` may
        be a full URL (an OAuth2 token endpoint elsewhere). `body` is sent as JSON, or as an Arrow
        IPC stream when it is a pyarrow Table or RecordBatch; `form` sends a form body instead.
        With `accept=ARROW_STREAM` the answer is `(RecordBatch, response headers)`.
        """
        if self.session is None:
            raise RuntimeError("use PracticeClient in a `with` block: the session is not open")
        data = None
        if isinstance(body, (dict, list)):
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers = dict(headers or {}, **{"Content-Type": JSON})
        elif body is not None:  # a pyarrow Table or RecordBatch
            data = arrow_stream_bytes(body)
            headers = dict(headers or {}, **{"Content-Type": ARROW_STREAM})
        elif form is not None:
            from urllib.parse import urlencode

            data = urlencode(form).encode("utf-8")
            headers = dict(headers or {}, **{"Content-Type": "application/x-www-form-urlencoded"})
        if idempotent is None:
            idempotent = method != "POST" or "Idempotency-Key" in (headers or {})
        if accept != JSON:
            headers = dict(headers or {}, Accept=accept)
        what = f"{method} {_path_only(path)}"
        self.requests += 1
        refreshed = False
        while True:
            if authenticate and self.authenticator is not None:
                self.authenticator.ensure_token(self._post_token_form)

            def attempt():
                return self._attempt(method, path, params, data, headers, authenticate, accept)

            try:
                return self.retrier.call(attempt, what, idempotent, max_retries)
            except ServiceError as error:
                # A bearer token may have expired (or been revoked): fetch a new one, once.
                if error.status == 401 and authenticate and not refreshed and self.authenticator is not None:
                    if self.authenticator.refresh():
                        refreshed = True
                        continue
                if error.status in (401, 403) and authenticate:
                    raise _auth_error(error, self.authenticator, refreshed) from None
                raise

    def _post_token_form(self, url, form):
        """POST an OAuth2 token request (repeating it only issues another token: safe to retry)."""
        try:
            return self.request("POST", url, form=form, idempotent=True, authenticate=False)
        except ServiceError as error:
            if error.status is not None and 400 <= error.status < 500:
                raise ServiceError(
                    f"{error}. Getting an OAuth2 access token failed: check options clientId, clientSecret and tokenUrl",
                    status=error.status, error=error.error, body=error.body,
                ) from None
            raise

    def _attempt(self, method, path, params, data, headers, authenticate, accept=JSON):
        """One HTTP exchange: the parsed answer, or ServiceError (with `cause` when no answer came)."""
        import requests

        url = path if path.startswith(("http://", "https://")) else self.url + path
        started = time.monotonic()
        if data is not None:
            self.bytes_sent += len(data)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                auth=None if authenticate else _no_auth,
            )
            content = response.content
        except requests.exceptions.RequestException as problem:
            # `from None`: the requests exception's text holds the URL (with an api_key query
            # parameter, if that is where the key goes); it travels as `cause`, out of tracebacks.
            raise _no_answer(method, path, self, problem) from None
        self.bytes_received += len(content)
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        log.debug("%s %s -> %d in %.1f ms", method, _path_only(path), response.status_code, latency_ms,
                  extra={**self.log_fields, "request": f"{method} {_path_only(path)}", "status": response.status_code,
                         "latency_ms": latency_ms, "attempt": self.retrier.attempts})
        # Never `if not response:` -- that hides which status it was; check the code.
        if response.status_code >= 400:
            raise _service_error(method, _path_only(path), response)
        if accept == ARROW_STREAM:
            return _arrow_answer(method, _path_only(path), self.url, response), response.headers
        if not content:
            return {}
        try:
            return response.json()
        except ValueError as problem:
            raise ServiceError(
                f"{method} {_path_only(path)}: the answer from {self.url} is not JSON (HTTP {response.status_code}, "
                f"{len(content)} bytes); is option url the practice service?",
                cause=problem,
            ) from None

    def check_health(self):
        """The probe before planning: GET /health, turning every way it fails into one clear error.

        `/health` needs no credentials; the first `/v1/...` request then checks them.
        """
        try:
            answer = self.request("GET", "/health", authenticate=False, max_retries=min(2, self.options["maxRetries"]))
        except ServiceError as error:
            raise HealthCheckError(_health_message(self.url, error), status=error.status, error=error.error) from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            raise HealthCheckError(
                f"health check failed: {self.url}/health did not answer like the practice service "
                "(expected {\"status\": \"ok\", ...}); check option url"
            )
        return answer

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def post(self, path, body=None, headers=None, idempotent=None):
        return self.request("POST", path, body=body, headers=headers, idempotent=idempotent)

    def put(self, path, body=None):
        return self.request("PUT", path, body=body)

    def delete(self, path):
        return self.request("DELETE", path)

    def arrow_pages(self, path, params, page_size=None):
        """Yield each page of a paged endpoint as one pyarrow.RecordBatch (Arrow IPC), following X-Next-Cursor.

        The pages, their order and their cursors are those of `pages`; the cursor travels in a
        header, so the body is the page's rows and nothing else.
        """
        query = dict(params)
        query["limit"] = page_size or self.options["pageSize"]
        while True:
            batch, headers = self.request("GET", path, params=query, accept=ARROW_STREAM)
            yield batch
            cursor = headers.get("X-Next-Cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def pages(self, path, params, page_size=None):
        """Yield the `items` of each page of a paged endpoint, following `next_cursor`."""
        # BEGIN SOLUTION: yield each page's items; ask again with next_cursor and the same params until null
        query = dict(params)
        query["limit"] = page_size or self.options["pageSize"]
        while True:
            page = self.get(path, query)
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor
        # END SOLUTION


def arrow_stream_bytes(data):
    """A pyarrow Table or RecordBatch as the bytes of an Arrow IPC stream (a request body)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write(data)
    return sink.getvalue().to_pybytes()


def _arrow_answer(method, path, url, response):
    """The one RecordBatch of an Arrow IPC stream answer (a page), or ServiceError when it is none."""
    import pyarrow as pa

    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if kind != ARROW_STREAM:
        raise ServiceError(f"{method} {path}: asked {url} for Arrow ({ARROW_STREAM}), got {kind or 'no content type'} "
                           f"(HTTP {response.status_code}): does this service serve Arrow pages? Use option wireFormat=json")
    try:
        table = pa.ipc.open_stream(response.content).read_all()
    except (pa.ArrowException, OSError) as problem:
        raise ServiceError(f"{method} {path}: the answer from {url} is not a readable Arrow IPC stream ({problem})",
                           cause=problem) from None
    batches = table.combine_chunks().to_batches()
    if len(batches) == 1:
        return batches[0]
    return pa.RecordBatch.from_arrays([pa.array([], field.type) for field in table.schema], schema=table.schema)


def _service_error(method, path, response):
    """A ServiceError from an error response, with the service's own words."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = body.get("error")
    message = body.get("message") or response.reason or "no message"
    text = f"{method} {path} failed: HTTP {response.status_code}" + (f" {error}" if error else "") + f": {message}"
    kind = WindowTooLargeError if response.status_code == 413 else ServiceError
    retry_after = _retry_after(response.headers.get("Retry-After"))
    return kind(redact(text), status=response.status_code, error=error, body=body, retry_after=retry_after)


def _retry_after(value):
    """Seconds from a Retry-After header: a number of seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _path_only(path):
    """The path of a request without its query, for messages (a full URL keeps its host)."""
    return path.split("?", 1)[0]


def _no_auth(request):
    return request  # a per-request `auth` that adds nothing (the session's would add credentials)


def _no_answer(method, path, client, problem):
    """ServiceError for a request that got no answer, saying why in plain words."""
    import requests

    exceptions = requests.exceptions
    options = client.options
    if isinstance(problem, exceptions.SSLError):
        why = _tls_problem(client.url, problem)
    elif isinstance(problem, exceptions.ConnectTimeout):
        why = f"no connection within connectTimeout={options['connectTimeout']:g}s"
    elif isinstance(problem, exceptions.ReadTimeout):
        why = f"no answer within readTimeout={options['readTimeout']:g}s"
    elif isinstance(problem, exceptions.ConnectionError):
        why = connection_failure(problem)
        if why == "connection refused":
            why += " (is the service running, and is option url right?)"
        elif why == "unknown host":
            why += " (check the host name in option url)"
        else:
            why += " (the connection was closed without an answer)"
    elif isinstance(problem, (exceptions.InvalidURL, exceptions.MissingSchema, exceptions.InvalidSchema)):
        why = "option url is not a valid http:// or https:// URL"
    else:
        why = f"{type(problem).__name__}: {redact(problem)}"
    return ServiceError(f"{method} {_path_only(path)}: cannot reach the practice service at {client.url}: {why}", cause=problem)


def _tls_problem(url, problem):
    text = str(problem)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            "TLS certificate not trusted (set option caFile to the CA file that signed the service's certificate, "
            "the practice service's `service.ca_file`; verifyTls=false only for local experiments)"
        )
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text:
        return "the service does not speak TLS at this address (use an http:// url, or start the service with tls)"
    return f"TLS error ({redact(text)[:200]})"


def _health_message(url, error):
    text = str(error)
    if error.status == 404:
        return (f"health check failed: {url}/health answered HTTP 404: option url must be the practice service's "
                "base URL, e.g. http://127.0.0.1:8765, without a path")
    if error.status is None and url.startswith("http://") and "closed without an answer" in text:
        text += ". If the service serves HTTPS, option url must start with https://"
    return f"health check failed: {text}"


def _auth_error(error, authenticator, refreshed):
    """The 401/403 error, naming the auth method and the options it used (never their values)."""
    used = authenticator.describe() if authenticator is not None else "no credentials (no auth option is set)"
    accepted = error.body.get("accepted") if isinstance(error.body, dict) else None
    hint = f"; the service accepts: {', '.join(accepted)}" if accepted else ""
    again = " even with a newly fetched token" if refreshed else ""
    message = f"{error}. The service refused {used}{again}: check those options{hint}"
    return type(error)(message, status=error.status, error=error.error, body=error.body)
