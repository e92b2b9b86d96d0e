"""Ground truth from the generators, computed the slow, obvious way (not with the serving indexes),
so comparing an HTTP read with it checks the service as well as the connector."""
import collections
import json
from datetime import datetime

from workshop.service import params
from workshop.service.errors import ApiError
from workshop.service.events import KINDS
from workshop.service.ring import MAX_TOKEN, MIN_TOKEN
from workshop.truth import checksum, format_timestamp

_QUERIES = {
    "events": ("start", "end", "device_id", "kind", "after_seq", "until_seq"),
    "entities": ("id_gte", "id_lt"),
    "kv": ("token_gt", "token_le"),
}


def _as_text(value):
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    return str(value)


class Truth:
    # The answers to the last few queries: a check asks for a query's count and then its checksum,
    # and each answer costs a pass over every record. Keyed by the feed's length, which is all
    # that changes the answer (the data are pure functions of the seed).
    REMEMBERED = 8

    def __init__(self, service):
        self._service = service
        self._remembered = collections.OrderedDict()

    def _texts(self, resource, drop_malformed, query):
        """The served JSON texts of a resource (in the endpoint's order) for a query."""
        key = (resource, drop_malformed, self._service.events.latest, tuple(sorted((k, repr(v)) for k, v in query.items())))
        if key not in self._remembered:
            self._remembered[key] = self._compute_texts(resource, drop_malformed, query)
            while len(self._remembered) > self.REMEMBERED:
                self._remembered.popitem(last=False)
        self._remembered.move_to_end(key)
        return self._remembered[key]

    def _compute_texts(self, resource, drop_malformed, query):
        if resource not in _QUERIES:
            raise ValueError(f"unknown resource {resource!r}; resources: {', '.join(_QUERIES)}")
        unknown = sorted(set(query) - set(_QUERIES[resource]))
        if unknown:
            raise ValueError(f"{resource} takes {', '.join(_QUERIES[resource])}, not {unknown[0]!r}")
        query = {name: _as_text(value) for name, value in query.items() if value is not None}
        try:
            return getattr(self, "_" + resource)(query, drop_malformed)
        except ApiError as error:
            raise ValueError(error.message) from None

    def _events(self, query, drop_malformed):
        events = self._service.events
        latest = events.latest
        devices = params.integer_set(query, "device_id")
        kinds = params.choice_set(query, "kind", KINDS)
        window = "start" in query or "end" in query
        if window and ("after_seq" in query or "until_seq" in query):
            raise ValueError("give a time window (start, end) or a seq range (after_seq, until_seq), not both")
        after = params.integer(query, "after_seq", default=0, low=0)
        until = min(params.integer(query, "until_seq", default=latest, low=0), latest)
        seqs = range(after + 1, until + 1)
        if window:
            start, end = params.timestamp(query, "start"), params.timestamp(query, "end")
            keyed = sorted((events.event_us(seq), seq) for seq in range(1, latest + 1))
            seqs = [seq for time_us, seq in keyed if start <= time_us < end]
        return [
            events.record_json(seq)
            for seq in seqs
            if events.matches(seq, devices, kinds) and not (drop_malformed and events.is_malformed(seq))
        ]

    def _entities(self, query, drop_malformed):
        entities = self._service.entities
        low = params.integer(query, "id_gte", default=float("-inf"))
        high = params.integer(query, "id_lt", default=float("inf"))
        return [entities.record_json(i) for i in range(entities.count) if low <= entities.id_of(i) < high]

    def _kv(self, query, drop_malformed):
        ring = self._service.ring
        low = params.integer(query, "token_gt", default=MIN_TOKEN)
        high = params.integer(query, "token_le", default=MAX_TOKEN)
        tokens = [(ring.token_of(i), i) for i in range(ring.rows)]
        if low < high:
            chosen = sorted(pair for pair in tokens if low < pair[0] <= high)
        else:  # wraps: after token_gt to the end of the ring, then from its start
            chosen = sorted(pair for pair in tokens if pair[0] > low) + sorted(pair for pair in tokens if pair[0] <= high)
        return [ring.record_json(i) for _, i in chosen]

    def records(self, resource, drop_malformed=False, **query):
        """The records as served (parsed JSON), in the endpoint's order.

        events: a window (start, end) in (event_time, seq) order, or a seq range (after_seq,
        until_seq) in seq order, or all events; device_id and kind filter both.
        entities: id_gte, id_lt. kv: token_gt, token_le (wrapping when token_gt >= token_le).
        drop_malformed leaves out malformed event records."""
        return [json.loads(text) for text in self._texts(resource, drop_malformed, query)]

    def dump(self, path, resource, drop_malformed=False, **query):
        """Write the records of a query to `path` as JSON Lines, exactly as served; returns how many.

        Each line is the very text the endpoint puts in its pages (a malformed record too), so
        Spark's own JSON reader (`spark.read.json(path)`) can read the same records as a connector.
        Takes the arguments of `records`."""
        texts = self._texts(resource, drop_malformed, query)
        with open(path, "w", encoding="utf-8") as out:
            for text in texts:
                if "\n" in text:  # cannot happen (JSON escapes newlines in strings); a line must be one record
                    raise ValueError(f"a served record spans lines: {text[:80]!r}")
                out.write(text + "\n")
        return len(texts)

    def count(self, resource, drop_malformed=False, **query):
        return len(self._texts(resource, drop_malformed, query))

    def checksum(self, resource, drop_malformed=False, **query):
        """workshop.truth.checksum of the records."""
        return checksum(json.loads(text) for text in self._texts(resource, drop_malformed, query))

    def table(self, name):
        """The published rows of a written table (KeyError when there is no such table)."""
        try:
            return self._service.tables.published(name)
        except ApiError:
            raise KeyError(f"no table {name!r}") from None

    def malformed_seqs(self):
        """The seqs (among the events available now) that are served malformed."""
        events = self._service.events
        return [seq for seq in range(1, events.latest + 1) if events.is_malformed(seq)]
