"""The events feed: seq 1, 2, 3, ... each event a pure function of (seed, seq).

Nothing is generated up front. `ingest_time` is arithmetic in `seq`; `event_time` is
`ingest_time` minus a delay that is below ON_TIME_MAX_US for on-time events, so an on-time
event's position in event time is known to within a few hundred seqs. Only the few percent of
late events are indexed (a list sorted by event time). Window queries scan the on-time seqs
whose ingest time can fall in the window and merge in the late ones.
"""
import base64
import json
import threading
from bisect import bisect_left, bisect_right

from workshop.service.hashing import GOLDEN, MASK64, finalize, stream_key, word
from workshop.service.timefmt import US_PER_DAY, format_us, parse_timestamp

BASE_INGEST_US = parse_timestamp("2026-01-01T00:00:00Z")
TICK_US = 10_000  # one event every 10 ms of ingest time
ON_TIME_MAX_US = 5_000_000  # on-time events arrive less than 5 s after they happen
CHUNK = 1024
LATE_PER_CHUNK = 31  # about 3 % of events are late
# Late delays (start, span) in microseconds: minutes to hours.
LATE_DELAYS = (
    (60_000_000, 540_000_000),
    (600_000_000, 3_000_000_000),
    (3_600_000_000, 7_200_000_000),
    (10_800_000_000, 10_800_000_000),
)
MASK40 = (1 << 40) - 1
DEVICES = 200  # device ids 1..200
# 16 slots, so a kind is 4 bits of a word; the repeats set how common each kind is.
KIND_SLOTS = ("view",) * 6 + ("click",) * 4 + ("purchase",) * 2 + ("signup", "refund", "error", "error")
KINDS = tuple(sorted(set(KIND_SLOTS)))
_TAGS = ("mobile", "web", "beta", "eu", "us", "retry", "batch", "promo")
_ATTRIBUTES = (
    ("browser", ("firefox", "chrome", "safari", "edge")),
    ("region", ("eu-west", "us-east", "ap-south")),
    ("city", ("Zürich", "São Paulo", "Kraków", "Oslo")),
)
_NOTES = ("first visit", "retried after timeout", 'said "hello"', "naïve café ☕", "line\nbreak",
          "tab\tseparated", "rocket 🚀", "back\\slash", "", "   ")
_TEMPLATE = (
    '{"seq":%d,"event_id":"%s","event_time":"%s","ingest_time":"%s","event_date":"%s","device_id":%d,'
    '"kind":"%s","value":%r,"amount":"%s","tags":%s,"attributes":%s,"location":%s,"payload":%s,"note":%s}'
)


def _tag_lists():
    # 0 to 3 distinct tags; offsets 0, 5, 10 are distinct modulo 8.
    return [[_TAGS[(i * 3 + k * 5) % 8] for k in range(i % 4)] for i in range(64)]


def _attribute_maps():
    maps = []
    for i in range(64):
        chosen = {}
        for k, (name, values) in enumerate(_ATTRIBUTES):
            if (i >> k) & 1:
                chosen[name] = values[(i >> 3) % len(values)]
        maps.append(chosen)
    return maps


_TAG_LISTS = _tag_lists()
_ATTRIBUTE_MAPS = _attribute_maps()
# 4096 places; formatting doubles per record would cost more than the rest of the record.
_LOCATIONS = [
    {"lat": (finalize(i) % 1_800_001 - 900_000) / 10_000, "lon": (finalize(~i & MASK64) % 3_600_001 - 1_800_000) / 10_000}
    for i in range(4096)
]
# Pre-encoded JSON fragments: a record is one %-format of ready pieces.
_TAGS_JSON = [json.dumps(tags, separators=(",", ":")) for tags in _TAG_LISTS]
_ATTRIBUTES_JSON = [json.dumps(attributes, separators=(",", ":")) for attributes in _ATTRIBUTE_MAPS]
_NOTES_JSON = [json.dumps(note) for note in _NOTES]
_LOCATIONS_JSON = [json.dumps(location, separators=(",", ":")) for location in _LOCATIONS]
_NO_PARTS = (None,) * 13
# Where _parts() puts the fields a malformed variant breaks.
_EVENT_TIME, _VALUE, _CENTS = 2, 6, 7


def first_seq_at_or_after(time_us):
    """The smallest seq whose ingest time is at or after `time_us` (may be <= 0)."""
    return -((BASE_INGEST_US - time_us) // TICK_US)


def ingest_us(seq):
    return BASE_INGEST_US + seq * TICK_US


class EventLog:
    """The feed of events available now; `append` makes more (new seqs, never changes old ones)."""

    def __init__(self, seed, events, malformed_rate=0.0):
        self._key = stream_key(seed, "events")
        self._late_key = stream_key(seed, "events.late")
        self._malformed_key = stream_key(seed, "events.malformed")
        self._malformed_below = min(int(malformed_rate * 2**64), 2**64)
        self._late = set()  # late seqs; only grows, so readers may use it without a lock
        self._append_lock = threading.Lock()
        # (latest seq, late events as sorted (event_time, seq), late seqs sorted): replaced whole
        # on append, so a reader that takes it once sees one consistent feed.
        self.state = (0, [], [])
        self.append(events)

    @property
    def latest(self):
        return self.state[0]

    def append(self, count):
        """Make `count` more events available; returns the latest seq."""
        with self._append_lock:
            latest, by_time, late_seqs = self.state
            if count <= 0:
                return latest
            new_latest = latest + count
            new_late = sorted(
                seq
                for chunk in range(latest // CHUNK, (new_latest - 1) // CHUNK + 1)
                for seq in self._late_in_chunk(chunk)
                if latest < seq <= new_latest
            )
            self._late.update(new_late)
            if new_late:
                by_time = sorted(by_time + [(self.event_us(seq), seq) for seq in new_late])
                late_seqs = late_seqs + new_late
            self.state = (new_latest, by_time, late_seqs)
            return new_latest

    def _late_in_chunk(self, chunk):
        positions = {word(self._late_key, chunk, j, LATE_PER_CHUNK) % CHUNK for j in range(LATE_PER_CHUNK)}
        return [chunk * CHUNK + 1 + position for position in positions]

    def _first_word(self, seq):
        return finalize((self._key + seq * 4 * GOLDEN) & MASK64)

    def _delay_us(self, seq, w0):
        if seq in self._late:
            start, span = LATE_DELAYS[(w0 >> 40) & 3]
            return start + (w0 & MASK40) % span
        return (w0 & MASK40) % ON_TIME_MAX_US

    def event_us(self, seq):
        return BASE_INGEST_US + seq * TICK_US - self._delay_us(seq, self._first_word(seq))

    @staticmethod
    def _passes(w0, devices, kinds):
        """The device and kind filters, on an event's first word (where both come from)."""
        return (devices is None or 1 + (w0 >> 46) % DEVICES in devices) and (
            kinds is None or KIND_SLOTS[(w0 >> 42) & 15] in kinds
        )

    def matches(self, seq, devices, kinds):
        return self._passes(self._first_word(seq), devices, kinds)

    def _on_time(self, first, last, descending=False):
        """(event_us, seq, first word) of the on-time events with first <= seq <= last."""
        late = self._late
        for seq in range(last, first - 1, -1) if descending else range(first, last + 1):
            if seq not in late:
                w0 = self._first_word(seq)
                yield BASE_INGEST_US + seq * TICK_US - (w0 & MASK40) % ON_TIME_MAX_US, seq, w0

    def is_malformed(self, seq):
        return self._malformed_below > 0 and word(self._malformed_key, seq) < self._malformed_below

    def _parts(self, seq):
        """The event's fields, with the nested ones (and note) as indexes into the tables above."""
        base = self._key + seq * 4 * GOLDEN
        w0 = finalize(base & MASK64)
        w1 = finalize((base + GOLDEN) & MASK64)
        w2 = finalize((base + 2 * GOLDEN) & MASK64)
        w3 = finalize((base + 3 * GOLDEN) & MASK64)
        ingest = BASE_INGEST_US + seq * TICK_US
        kind = KIND_SLOTS[(w0 >> 42) & 15]
        cents = (w1 >> 20) & 0xFFFFFF
        note = (w1 >> 56) & 255
        payload = None
        if (w3 >> 51) & 7:
            payload = ((w2 ^ w0).to_bytes(8, "little") + w1.to_bytes(8, "little"))[: (w3 >> 47) & 15]
        return (
            seq,
            "%08x-%04x-%04x-%04x-%012x" % (w2 >> 32, (w2 >> 16) & 0xFFFF, w2 & 0xFFFF, w3 >> 48, w3 & 0xFFFFFFFFFFFF),
            ingest - self._delay_us(seq, w0),
            ingest,
            1 + (w0 >> 46) % DEVICES,
            kind,
            (w1 & 0xFFFFF) / 1000,
            -cents if kind == "refund" else cents,  # the amount in cents
            (w1 >> 44) & 63,
            (w1 >> 50) & 63,
            (w3 >> 4) & 4095 if w3 & 15 else None,
            payload,
            None if note < 180 else note % len(_NOTES),
        )

    def record_json(self, seq):
        """The event as served: a compact JSON text (or its malformed variant)."""
        _, event_id, event, ingest, device, kind, value, cents, tags, attributes, location, payload, note = self._parts(seq)
        event_time = format_us(event)
        text = _TEMPLATE % (
            seq,
            event_id,
            event_time,
            format_us(ingest),
            event_time[:10],
            device,
            kind,
            value,
            ("-%d.%02d" if cents < 0 else "%d.%02d") % divmod(abs(cents), 100),
            _TAGS_JSON[tags],
            _ATTRIBUTES_JSON[attributes],
            "null" if location is None else _LOCATIONS_JSON[location],
            "null" if payload is None else '"' + base64.b64encode(payload).decode() + '"',
            "null" if note is None else _NOTES_JSON[note],
        )
        if self._malformed_below and word(self._malformed_key, seq) < self._malformed_below:
            return self._malformed(text, word(self._malformed_key, seq), event)
        return text

    def columns(self, seqs):
        """(the fields of these events as columns of Arrow-ready values, the positions of malformed ones).

        Times are microseconds, the date is days since the epoch, the amount is cents. A malformed
        event keeps the fields that fit, as a JSON reader in PERMISSIVE mode keeps them: a truncated
        record none, a record with one field of the wrong type all but that one (see `_malformed`).
        """
        malformed = [position for position, seq in enumerate(seqs) if self.is_malformed(seq)]
        rows = [self._parts(seq) for seq in seqs]
        dates = [us // US_PER_DAY for _, _, us, *_ in rows]  # the date field is served whole in every variant
        for position in malformed:
            variant = word(self._malformed_key, seqs[position]) & 3
            if variant == 0:  # truncated: not a record at all
                rows[position], dates[position] = _NO_PARTS, None
            else:  # the one field _malformed breaks: value, event_time or amount
                broken = {1: _VALUE, 2: _EVENT_TIME, 3: _CENTS}[variant]
                rows[position] = rows[position][:broken] + (None,) + rows[position][broken + 1:]
        seq, event_id, event, ingest, device, kind, value, cents, tags, attributes, location, payload, note = (
            zip(*rows) if rows else [()] * len(_NO_PARTS))
        return [
            seq, event_id, event, ingest, dates, device, kind,
            value, cents,
            [None if index is None else _TAG_LISTS[index] for index in tags],
            [None if index is None else _ATTRIBUTE_MAPS[index] for index in attributes],
            [None if index is None else _LOCATIONS[index] for index in location],
            payload,
            [None if index is None else _NOTES[index] for index in note],
        ], malformed

    @staticmethod
    def _malformed(text, bits, event):
        """A broken variant of a record: truncated (a JSON string) or one field of the wrong type."""
        variant = bits & 3
        if variant == 0:
            return json.dumps(text[: len(text) * (30 + (bits >> 8) % 50) // 100])
        record = json.loads(text)
        if variant == 1:
            record["value"] = "n/a"
        elif variant == 2:
            record["event_time"] = event // 1_000_000
        else:
            record["amount"] = float(record["amount"])
        return json.dumps(record, separators=(",", ":"))

    # --- queries over the events available now -------------------------------------------

    def window(self, start, end, devices=None, kinds=None, after=None, limit=1000):
        """Up to `limit` + 1 keys (event_us, seq) with start <= event_us < end, after `after`, sorted."""
        latest, by_time, _ = self.state
        want = limit + 1
        found = []
        first = max(1, first_seq_at_or_after(start if after is None else max(start, after[0])))
        last = min(latest, first_seq_at_or_after(end + ON_TIME_MAX_US) - 1)
        enough_at = None
        for t, seq, w0 in self._on_time(first, last):
            if enough_at is not None and ingest_us(seq) - ON_TIME_MAX_US >= enough_at:
                break  # this and every later on-time event come after the page already found
            if start <= t < end and (after is None or (t, seq) > after) and self._passes(w0, devices, kinds):
                found.append((t, seq))
                if enough_at is None and len(found) >= want:
                    enough_at = max(found)[0]
        index = bisect_left(by_time, (start, 0))
        if after is not None:
            index = max(index, bisect_right(by_time, after))
        taken = 0
        while index < len(by_time) and taken < want and by_time[index][0] < end:
            t, seq = by_time[index]
            index += 1
            if self.matches(seq, devices, kinds):
                found.append((t, seq))
                taken += 1
        found.sort()
        return found[:want]

    def count(self, start, end, devices=None, kinds=None):
        """Events with start <= event_time < end (and the filters); fast without filters."""
        latest, by_time, late_seqs = self.state
        if end <= start or latest == 0:
            return 0
        first = max(1, first_seq_at_or_after(start))
        last = min(latest, first_seq_at_or_after(end + ON_TIME_MAX_US) - 1)
        total = 0
        spans = [(first, last)]
        unfiltered = devices is None and kinds is None
        if unfiltered:
            # On-time events ingested in [start + max delay, end) are surely in the window:
            # count them by arithmetic and look only at the edges.
            sure_first = max(first, first_seq_at_or_after(start + ON_TIME_MAX_US))
            sure_last = min(last, first_seq_at_or_after(end) - 1)
            if sure_first <= sure_last:
                late_there = bisect_right(late_seqs, sure_last) - bisect_left(late_seqs, sure_first)
                total += sure_last - sure_first + 1 - late_there
                spans = [(first, sure_first - 1), (sure_last + 1, last)]
        for low, high in spans:
            total += sum(1 for t, _, w0 in self._on_time(low, high)
                         if start <= t < end and self._passes(w0, devices, kinds))
        low, high = bisect_left(by_time, (start, 0)), bisect_left(by_time, (end, 0))
        if unfiltered:
            return total + high - low
        return total + sum(1 for _, seq in by_time[low:high] if self.matches(seq, devices, kinds))

    def time_range(self):
        """(min event_us, max event_us) over the available events, or (None, None)."""
        latest, by_time, _ = self.state
        if latest == 0:
            return None, None
        lowest = by_time[0][0] if by_time else None
        highest = by_time[-1][0] if by_time else None
        # An on-time event lies within ON_TIME_MAX_US before its ingest time: scan the ends only.
        for t, seq, _ in self._on_time(1, latest):
            if lowest is not None and ingest_us(seq) - ON_TIME_MAX_US >= lowest:
                break
            lowest = t if lowest is None else min(lowest, t)
        for t, seq, _ in self._on_time(1, latest, descending=True):
            if highest is not None and ingest_us(seq) <= highest:
                break
            highest = t if highest is None else max(highest, t)
        return lowest, highest

    def seq_at(self, time_us):
        """The last seq ingested before `time_us`, within 0..latest."""
        return min(max(first_seq_at_or_after(time_us) - 1, 0), self.latest)
