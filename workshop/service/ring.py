"""The token ring `kv`: rows placed by a signed 64-bit token, nodes owning ranges of tokens."""
import threading
from bisect import bisect_right

from workshop.service.hashing import stream_key, word
from workshop.service.timefmt import US_PER_DAY, format_us, parse_timestamp

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
_UPDATED_FROM_US = parse_timestamp("2025-06-01T00:00:00Z")


class Ring:
    def __init__(self, seed, rows, nodes):
        self._key = stream_key(seed, "kv")
        self.nodes = nodes
        self.rows = rows if nodes else 0  # an empty ring has nowhere to put rows
        self._order = None  # row indexes sorted by token, built on first use
        self._lock = threading.Lock()

    def token_of(self, index):
        token = word(self._key, index, 0, 2) + MIN_TOKEN
        return token if token != MIN_TOKEN else token + 1  # the minimum token holds no data

    def node_tokens(self):
        """Each node's token: evenly spread with a deterministic jitter, ascending."""
        spacing = 2**64 // max(self.nodes, 1)
        node_key = stream_key(self._key, "nodes")
        return [
            MIN_TOKEN + n * spacing + spacing // 4 + word(node_key, n) % (spacing // 2) for n in range(self.nodes)
        ]

    def ranges(self):
        """Ranges (start, end] in ring order; the last wraps around; one node: start == end."""
        tokens = self.node_tokens()
        return [
            {"start": tokens[n - 1], "end": tokens[n], "node": f"node-{n % len(tokens) + 1}"}
            for n in range(1, len(tokens))
        ] + ([{"start": tokens[-1], "end": tokens[0], "node": "node-1"}] if tokens else [])

    def sorted_rows(self):
        """(tokens ascending, row indexes in that order)."""
        with self._lock:
            if self._order is None:
                pairs = sorted((self.token_of(index), index) for index in range(self.rows))
                self._order = ([token for token, _ in pairs], [index for _, index in pairs])
            return self._order

    def slices(self, token_gt, token_le):
        """Position ranges in token order holding token_gt < token <= token_le; wraps when gt >= le."""
        tokens, _ = self.sorted_rows()
        start, end = bisect_right(tokens, token_gt), bisect_right(tokens, token_le)
        if token_gt < token_le:
            return [(start, end)]
        return [(start, len(tokens)), (0, end)]  # ring order: after token_gt, then from the minimum

    def _parts(self, index):
        w1 = word(self._key, index, 1, 2)
        return (f"key-{index:06d}", self.token_of(index), f"v{w1 & 0xFFFFFFFFFF:010x}", 1 + (w1 >> 40) % 50,
                _UPDATED_FROM_US + (w1 >> 8) % (200 * US_PER_DAY))

    def record_json(self, index):
        key, token, value, version, updated = self._parts(index)
        return '{"key":"%s","token":%d,"value":"%s","version":%d,"updated_at":"%s"}' % (
            key, token, value, version, format_us(updated))

    def columns(self, indexes):
        """(the fields of these rows as columns of Arrow-ready values, no malformed ones)."""
        rows = [self._parts(index) for index in indexes]
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(5)], []
