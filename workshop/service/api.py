"""The HTTP API: routing, auth and faults around one small function per endpoint.

Endpoints return a dict (encoded as JSON) or a str that already is JSON text. Page endpoints
return a Page (which records, and the cursor); `handle` makes it JSON, from record texts made
once and cached (workshop.service.cache), or an Arrow stream, as the request's Accept asks,
and caches the finished answer.
"""
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from workshop.service import arrow_wire, media, params, schemas
from workshop.service.errors import ApiError, bad_request, not_found
from workshop.service.events import KINDS, ingest_us
from workshop.service.ring import MAX_TOKEN, MIN_TOKEN
from workshop.service.tables import check_table_name, parse_fields, parse_rows
from workshop.service.timefmt import format_us

log = logging.getLogger("workshop.service")
PAGE_OVERHEAD = 1000  # what a cached answer costs besides its body (key, headers, objects)


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object  # case-insensitive mapping (http.client.HTTPMessage)
    body: bytes
    path_args: dict = field(default_factory=dict)

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except (ValueError, RecursionError):
            raise bad_request("body", "is not valid JSON") from None


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)
    reset: bool = False  # drop the connection instead of answering
    content_type: str = media.JSON
    compressed: bool = False  # the body is gzip already


@dataclass
class Page:
    """A page of records of one resource, before it is rendered as JSON or Arrow."""
    resource: str  # events, entities or kv
    indexes: list  # of the records in the resource (events: seqs), in page order
    next_cursor: str = None
    latest_seq: int = None  # the feed's (the feed has no cursor)


def _page(texts, next_cursor):
    """A page body from records that are already JSON text."""
    cursor = "null" if next_cursor is None else f'"{next_cursor}"'
    return '{"items":[' + ",".join(texts) + '],"next_cursor":' + cursor + "}"


def _records(service, resource):
    return {"events": service.events, "entities": service.entities, "kv": service.ring}[resource]


def _available(service, resource):
    """The index below which every record of `resource` exists now (events: seqs 1..latest)."""
    return {"events": service.events.latest + 1, "entities": service.entities.count, "kv": service.ring.rows}[resource]


def _render(service, page, arrow):
    """The answer to a page request: an Arrow stream, or the JSON body assembled from record texts."""
    headers = {"Vary": "Accept, Accept-Encoding"}
    if page.next_cursor is not None:
        headers["X-Next-Cursor"] = page.next_cursor
    if page.latest_seq is not None:
        headers["X-Latest-Seq"] = str(page.latest_seq)
    records = _records(service, page.resource)
    if arrow:
        def make_batch(indexes):
            columns, malformed = records.columns(indexes)
            corrupt = [None] * len(indexes)
            for position in malformed:
                corrupt[position] = arrow_wire.corrupt_text(json.loads(records.record_json(indexes[position])))
            return arrow_wire.record_batch(page.resource, columns, corrupt)

        batch = arrow_wire.page_batch(service.cache, page.resource, page.indexes, _available(service, page.resource),
                                      make_batch)
        return Response(200, arrow_wire.stream(batch), headers, content_type=media.ARROW)
    texts = service.cache.records(page.resource, page.indexes, records.record_json)
    if page.latest_seq is not None:
        tail = b'],"latest_seq":%d}' % page.latest_seq
    else:
        tail = b'],"next_cursor":' + (b"null" if page.next_cursor is None else b'"%s"' % page.next_cursor.encode()) + b"}"
    return Response(200, b'{"items":[' + b",".join(texts) + tail, headers)


# --- health and schema ---------------------------------------------------------------------


def health(service, request):
    params.check_allowed(request.query, ())
    return {"status": "ok", "version": "1", "events": service.events.latest, "tls": service.settings["tls"],
            "auth": list(service.settings["auth"] or ())}


def schema_all(service, request):
    params.check_allowed(request.query, ())
    return {"resources": {resource: schemas.schema(resource) for resource in schemas.RESOURCES}}


def schema_one(service, request):
    params.check_allowed(request.query, ())
    resource = request.path_args["resource"]
    if resource not in schemas.RESOURCES:
        raise not_found(f"no resource {resource!r}; resources: {', '.join(schemas.RESOURCES)}")
    return schemas.schema(resource)


# --- events --------------------------------------------------------------------------------


def _window(query):
    start, end = params.timestamp(query, "start"), params.timestamp(query, "end")
    if end < start:
        raise bad_request("end", "must not be before start")
    devices = params.integer_set(query, "device_id")
    kinds = params.choice_set(query, "kind", KINDS)
    return start, end, devices, kinds


def events_stats(service, request):
    params.check_allowed(request.query, ())
    lowest, highest = service.events.time_range()
    latest = service.events.latest
    return {"count": latest, "min_event_time": None if lowest is None else format_us(lowest),
            "max_event_time": None if highest is None else format_us(highest), "latest_seq": latest,
            "max_window_rows": service.settings["max_window_rows"]}


def events_count(service, request):
    params.check_allowed(request.query, ("start", "end", "device_id", "kind"))
    return {"count": service.events.count(*_window(request.query))}


def events_page(service, request):
    query = request.query
    params.check_allowed(query, ("start", "end", "device_id", "kind", "limit", "cursor"))
    start, end, devices, kinds = _window(query)
    limit = params.limit(query, service.settings["max_page_size"])
    after = params.decode_cursor(query, "events", 2)
    events = service.events
    if after is None:
        most = service.settings["max_window_rows"]
        count = events.count(start, end, devices, kinds)
        if count > most:
            raise ApiError(413, "window_too_large",
                           f"the window matches {count} events, more than max_window_rows={most}; "
                           "split it into smaller windows", count=count, max_window_rows=most)
    keys = events.window(start, end, devices, kinds, after, limit)
    cursor = params.encode_cursor("events", *keys[limit - 1]) if len(keys) > limit else None
    return Page("events", [seq for _, seq in keys[:limit]], next_cursor=cursor)


def events_latest(service, request):
    params.check_allowed(request.query, ())
    latest = service.events.latest
    return {"seq": latest, "ingest_time": format_us(ingest_us(latest)) if latest else None}


def events_feed(service, request):
    query = request.query
    params.check_allowed(query, ("after_seq", "until_seq", "limit"))
    after = params.integer(query, "after_seq", default=0, low=0)
    until = params.integer(query, "until_seq", low=0)
    limit = params.limit(query, service.settings["max_page_size"])
    latest = service.events.latest
    last = min(latest if until is None else min(until, latest), after + limit)
    return Page("events", list(range(after + 1, last + 1)), latest_seq=latest)


def events_seq_at(service, request):
    params.check_allowed(request.query, ("ingest_time",))
    return {"seq": service.events.seq_at(params.timestamp(request.query, "ingest_time"))}


# --- entities and the token ring --------------------------------------------------------------


def entities_stats(service, request):
    params.check_allowed(request.query, ())
    entities = service.entities
    if not entities.count:
        return {"count": 0, "min_id": None, "max_id": None}
    return {"count": entities.count, "min_id": entities.id_of(0), "max_id": entities.id_of(entities.count - 1)}


def entities_page(service, request):
    query = request.query
    params.check_allowed(query, ("id_gte", "id_lt", "limit", "cursor"))
    low, high = service.entities.index_range(params.integer(query, "id_gte"), params.integer(query, "id_lt"))
    limit = params.limit(query, service.settings["max_page_size"])
    cursor = params.decode_cursor(query, "entities", 1)
    first = low if cursor is None else max(low, cursor[0])
    last = min(high, first + limit)
    return Page("entities", list(range(first, last)), params.encode_cursor("entities", last) if last < high else None)


def ring(service, request):
    params.check_allowed(request.query, ())
    return {"min_token": MIN_TOKEN, "max_token": MAX_TOKEN, "ranges": service.ring.ranges()}


def kv_page(service, request):
    query = request.query
    params.check_allowed(query, ("token_gt", "token_le", "limit", "cursor"))
    token_gt = params.integer(query, "token_gt", default=MIN_TOKEN)
    token_le = params.integer(query, "token_le", default=MAX_TOKEN)
    limit = params.limit(query, service.settings["max_page_size"])
    cursor = params.decode_cursor(query, "kv", 1)
    skip = 0 if cursor is None else max(cursor[0], 0)
    _, order = service.ring.sorted_rows()
    slices = service.ring.slices(token_gt, token_le)
    chosen, to_skip = [], skip
    for start, end in slices:  # the range in ring order is these slices one after the other
        start += to_skip
        to_skip = max(start - end, 0)
        chosen.extend(range(start, min(end, start + limit - len(chosen))))
    more = skip + len(chosen) < sum(end - start for start, end in slices)
    return Page("kv", [order[position] for position in chosen], params.encode_cursor("kv", skip + len(chosen)) if more else None)


# --- tables --------------------------------------------------------------------------------


def _table_name(request):
    name = request.path_args["name"]
    check_table_name(name)
    return name


def table_put(service, request):
    params.check_allowed(request.query, ())
    name = _table_name(request)
    created, description = service.tables.create(name, parse_fields(request.json()))
    return (201 if created else 200), description


def table_get(service, request):
    params.check_allowed(request.query, ())
    return service.tables.describe(_table_name(request))


def table_delete(service, request):
    params.check_allowed(request.query, ())
    service.tables.drop(_table_name(request))
    return {"dropped": True}


def table_rows_get(service, request):
    query = request.query
    params.check_allowed(query, ("limit", "cursor"))
    name = _table_name(request)
    limit = params.limit(query, service.settings["max_page_size"])
    cursor = params.decode_cursor(query, "rows", 1)
    rows, next_offset = service.tables.page(name, 0 if cursor is None else max(cursor[0], 0), limit)
    texts = [json.dumps(row, separators=(",", ":")) for row in rows]
    return _page(texts, None if next_offset is None else params.encode_cursor("rows", next_offset))


def _idempotency_key(request):
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key.strip()) <= 256:
        raise bad_request("Idempotency-Key", "must be 1 to 256 characters")
    return key


def _posted_rows(request, write_id=False):
    """The rows of a body: JSON {"rows": [...]}, or an Arrow IPC stream (read into the JSON form).

    With `write_id`, (rows, the write id): from the JSON body, or for an Arrow body from the
    `X-Write-Id` header (an Arrow stream has no place beside its rows).
    """
    if (request.headers.get("Content-Type") or "").split(";")[0].strip().lower() != media.ARROW:
        return parse_rows(request.json(), write_id=write_id)
    rows = arrow_wire.rows_from_stream(request.body)
    if not write_id:
        return rows
    given = request.headers.get("X-Write-Id")
    if given is not None and not 0 < len(given.strip()) <= 256:
        raise bad_request("X-Write-Id", "must be 1 to 256 characters when given")
    return rows, given


def table_rows_post(service, request):
    params.check_allowed(request.query, ())
    name = _table_name(request)
    rows, write_id = _posted_rows(request, write_id=True)
    return service.tables.insert(name, rows, _idempotency_key(request), write_id)


def stage_create(service, request):
    params.check_allowed(request.query, ())
    name = _table_name(request)
    body = request.json()
    if body is None:
        body = {}
    if not isinstance(body, dict) or sorted(set(body) - {"write_id"}):
        raise bad_request("body", 'must be empty or {"write_id": "..."}')
    write_id = body.get("write_id")
    if write_id is not None and (not isinstance(write_id, str) or not 0 < len(write_id) <= 256):
        raise bad_request("write_id", "must be a string of 1 to 256 characters when given")
    return 201, {"stage_id": service.tables.create_stage(name, write_id)}


def stages_list(service, request):
    params.check_allowed(request.query, ("write_id",))
    name = _table_name(request)
    write_id = request.query.get("write_id")
    if write_id is not None and not write_id:
        raise bad_request("write_id", "must not be empty when given")
    return {"stages": service.tables.open_stages(name, write_id)}


def stage_rows(service, request):
    params.check_allowed(request.query, ())
    name = _table_name(request)
    key = _idempotency_key(request)
    staged, duplicate, same_rows = service.tables.stage_rows(name, request.path_args["stage"],
                                                             _posted_rows(request), key)
    if key is None:
        return {"staged": staged}
    return {"staged": staged, "duplicate": True, "same_rows": same_rows} if duplicate else \
        {"staged": staged, "duplicate": False}


def stage_delete(service, request):
    params.check_allowed(request.query, ())
    service.tables.discard_stage(_table_name(request), request.path_args["stage"])
    return {"discarded": True}


def table_commit(service, request):
    params.check_allowed(request.query, ())
    name = _table_name(request)
    body = request.json()
    if not isinstance(body, dict):
        raise bad_request("body", 'must be {"stage_ids": [...], "mode": "append" | "overwrite", "commit_id": "..."}')
    unknown = sorted(set(body) - {"stage_ids", "mode", "commit_id"})
    if unknown:
        raise bad_request(unknown[0], "unknown key; the body takes stage_ids, mode and commit_id")
    stage_ids, mode, commit_id = body.get("stage_ids"), body.get("mode", "append"), body.get("commit_id")
    if not isinstance(stage_ids, list) or not all(isinstance(stage, str) for stage in stage_ids):
        raise bad_request("stage_ids", "must be a list of stage ids (strings)")
    if len(set(stage_ids)) != len(stage_ids):
        raise bad_request("stage_ids", "lists a stage more than once")
    if mode not in ("append", "overwrite"):
        raise bad_request("mode", "must be append or overwrite")
    if commit_id is not None and (not isinstance(commit_id, str) or not commit_id):
        raise bad_request("commit_id", "must be a non-empty string when given")
    return service.tables.commit(name, stage_ids, mode, commit_id)


def oauth_token(service, request):
    params.check_allowed(request.query, ())
    return service.auth.issue_token(request.headers, request.body)


_NAME = r"(?P<name>[^/]+)"
ROUTES = [
    ("/health", {"GET": health}),
    ("/oauth/token", {"POST": oauth_token}),
    ("/v1/schema", {"GET": schema_all}),
    ("/v1/schema/(?P<resource>[^/]+)", {"GET": schema_one}),
    ("/v1/events", {"GET": events_page}),
    ("/v1/events/stats", {"GET": events_stats}),
    ("/v1/events/count", {"GET": events_count}),
    ("/v1/events/latest", {"GET": events_latest}),
    ("/v1/events/feed", {"GET": events_feed}),
    ("/v1/events/seq_at", {"GET": events_seq_at}),
    ("/v1/entities", {"GET": entities_page}),
    ("/v1/entities/stats", {"GET": entities_stats}),
    ("/v1/ring", {"GET": ring}),
    ("/v1/kv", {"GET": kv_page}),
    (f"/v1/tables/{_NAME}", {"PUT": table_put, "GET": table_get, "DELETE": table_delete}),
    (f"/v1/tables/{_NAME}/rows", {"GET": table_rows_get, "POST": table_rows_post}),
    (f"/v1/tables/{_NAME}/stages", {"POST": stage_create, "GET": stages_list}),
    (f"/v1/tables/{_NAME}/stages/(?P<stage>[^/]+)", {"DELETE": stage_delete}),
    (f"/v1/tables/{_NAME}/stages/(?P<stage>[^/]+)/rows", {"POST": stage_rows}),
    (f"/v1/tables/{_NAME}/commit", {"POST": table_commit}),
]
_COMPILED = [(re.compile(pattern), methods) for pattern, methods in ROUTES]
_PAGES = (events_page, events_feed, entities_page, kv_page)  # answered as JSON or Arrow, and cached


def _route(method, path):
    for pattern, methods in _COMPILED:
        match = pattern.fullmatch(path)
        if match:
            handler = methods.get("GET" if method == "HEAD" else method)
            if handler is None:
                allowed = ", ".join(methods)
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}; allowed: {allowed}",
                               headers={"Allow": allowed})
            return handler, {name: unquote(value) for name, value in match.groupdict().items()}
    raise not_found(f"no endpoint {path}; see GET /v1/schema and the API reference")


def _encode(payload):
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return text.encode()


def _page_answer(service, request, handler):
    """A page, from the cache when the same request was answered before with the same data."""
    arrow = media.wants_arrow(request.headers.get("Accept"))
    gzipped = media.accepts_gzip(request.headers.get("Accept-Encoding"))
    latest = service.events.latest if handler in (events_page, events_feed) else None  # appends change events pages
    query = tuple(sorted(item for item in request.query.items() if item[0] not in params.ALWAYS_ALLOWED))
    key = ("page", request.path, query, latest, arrow, gzipped)
    response = service.cache.get(key)
    if response is None:
        response = _render(service, handler(service, request), arrow)
        if gzipped:
            response = replace(response, body=media.compress(response.body), compressed=True)
        service.cache.put(key, response, len(response.body) + PAGE_OVERHEAD)
    return response


def _error(error):
    return Response(error.status, _encode(error.body()), dict(error.headers))


def _fault_response(service, kind, token):
    settings = service.settings
    if kind == "429":
        seconds = settings["retry_after"]
        return _error(ApiError(429, "rate_limited", f"too many requests; retry after {seconds} s",
                               headers={"Retry-After": str(seconds)}, retry_after=seconds))
    if kind == "500":
        return _error(ApiError(500, "internal_error", "injected fault: internal error; retrying may succeed"))
    if kind == "503":
        return _error(ApiError(503, "unavailable", "injected fault: service unavailable; retrying may succeed"))
    if kind == "expired_token" and token:
        service.auth.expire(token)
        return _error(ApiError(401, "token_expired", "the access token has expired; get a new one from /oauth/token",
                               headers={"WWW-Authenticate": 'Bearer realm="practice", error="invalid_token"'}))
    return None


def handle(service, method, path, raw_query, headers, body):
    """The Response to one HTTP request; never raises."""
    service.count_request(method, path)
    try:
        handler, path_args = _route(method, path)
        request = Request(method, path, params.parse_query(raw_query), headers, body, path_args)
        token = service.auth.check(headers, request.query) if path.startswith("/v1/") else None
        kind = service.faults.decide(method, path, raw_query, body)
        if kind == "slow":
            time.sleep(service.settings["slow_seconds"])
        elif kind == "reset" and method in ("GET", "HEAD"):
            return Response(0, b"", reset=True)
        elif kind is not None:
            faulted = _fault_response(service, kind, token)
            if faulted is not None:
                return faulted
        if handler in _PAGES:
            return _page_answer(service, request, handler)
        result = handler(service, request)
        status, payload = result if isinstance(result, tuple) else (200, result)
        # A reset on a write happens after the write is applied: only an idempotent retry is safe.
        return Response(status, _encode(payload), reset=kind == "reset")
    except ApiError as error:
        return _error(error)
    except Exception:  # a bug, not bad input: say so without details that could leak
        log.exception("unexpected error in %s %s", method, path)
        return _error(ApiError(500, "internal_error", "unexpected server error"))
