"""Entities with increasing, gapped numeric ids: entity i has id 1 + i*GAP + (0..GAP-1).

The id is a pure function of the index, and the index of any id is arithmetic, so id-range
queries need no index at all.
"""
import json

from workshop.service.hashing import stream_key, word
from workshop.service.timefmt import US_PER_DAY, day_string, format_us, parse_timestamp

GAP = 5
_CREATED_FROM_US = parse_timestamp("2020-01-01T00:00:00Z")
_CREATED_SPAN_US = 6 * 365 * US_PER_DAY
_BIRTH_FROM_DAYS = -7305  # 1950-01-01
_BIRTH_SPAN_DAYS = 20_000
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Lin", "José", "Zoë", "Chidi")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Chen", "García",
         "O'Brien", "Okafor")
_STREETS = ("Main St", "High Street", "Rue de Rivoli", "Königsallee", "Calle Mayor", "Elm Road")
_CITIES = ("Berlin", "Lyon", "Madrid", "Austin", "Kyoto", "Nairobi", "Montréal", "Porto")
_TAGS = ("vip", "new", "churn-risk", "partner", "staff", "beta")
_TEMPLATE = (
    '{"id":%d,"name":%s,"email":%s,"created_at":"%s","birth_date":%s,"balance":"%s","score":%r,'
    '"active":%s,"tags":%s,"address":%s}'
)


class Entities:
    def __init__(self, seed, count):
        self._key = stream_key(seed, "entities")
        self.count = count

    def id_of(self, index):
        return 1 + index * GAP + word(self._key, index, 0, 3) % GAP

    def index_at_or_above(self, entity_id):
        """The first index whose id is >= entity_id, within 0..count."""
        index = min(max((entity_id - 1) // GAP, 0), self.count)
        if index < self.count and self.id_of(index) < entity_id:
            index += 1
        return index

    def index_range(self, id_gte=None, id_lt=None):
        low = 0 if id_gte is None else self.index_at_or_above(id_gte)
        high = self.count if id_lt is None else self.index_at_or_above(id_lt)
        return low, max(low, high)

    def _parts(self, index):
        """The entity's fields: times in microseconds, the birth date in days, the balance in 1/10000."""
        w0, w1, w2 = (word(self._key, index, slot, 3) for slot in range(3))
        first, last = _FIRST[(w0 >> 8) % len(_FIRST)], _LAST[(w0 >> 16) % len(_LAST)]
        address = None
        if (w2 >> 60) != 0:
            address = {
                "street": f"{1 + (w2 >> 8) % 400} {_STREETS[(w2 >> 20) % len(_STREETS)]}",
                "city": _CITIES[(w2 >> 28) % len(_CITIES)],
                "zip": f"{(w2 >> 36) % 100_000:05d}",
            }
        return (
            self.id_of(index),
            f"{first} {last}",
            f"{first}.{last}.{index}@example.com".lower().replace("'", ""),
            _CREATED_FROM_US + (w0 >> 20) % _CREATED_SPAN_US,
            None if (w1 >> 60) == 0 else _BIRTH_FROM_DAYS + (w1 >> 40) % _BIRTH_SPAN_DAYS,
            (w1 & 0xFFFFFFFFFF) % 20_000_000_000 - 5_000_000_000,
            ((w2 & 0xFF) * 1000 + (w1 >> 50) % 1000) / 1000,
            bool((w0 >> 4) & 1),
            [tag for bit, tag in enumerate(_TAGS) if (w2 >> (40 + bit)) & 1 and (w2 >> (50 + bit)) & 1],
            address,
        )

    def record_json(self, index):
        entity_id, name, email, created, birth, balance, score, active, tags, address = self._parts(index)
        return _TEMPLATE % (
            entity_id,
            json.dumps(name),
            json.dumps(email),
            format_us(created),
            "null" if birth is None else '"%s"' % day_string(birth),
            ("-%d.%04d" if balance < 0 else "%d.%04d") % divmod(abs(balance), 10_000),
            score,
            "true" if active else "false",
            json.dumps(tags, separators=(",", ":")),
            "null" if address is None else json.dumps(address, separators=(",", ":")),
        )

    def columns(self, indexes):
        """(the fields of these entities as columns of Arrow-ready values, no malformed ones)."""
        rows = [self._parts(index) for index in indexes]
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(10)], []
