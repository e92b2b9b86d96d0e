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

    def record_json(self, index):
        w0, w1, w2 = (word(self._key, index, slot, 3) for slot in range(3))
        first, last = _FIRST[(w0 >> 8) % len(_FIRST)], _LAST[(w0 >> 16) % len(_LAST)]
        ten_thousandths = (w1 & 0xFFFFFFFFFF) % 20_000_000_000 - 5_000_000_000
        sign = "-" if ten_thousandths < 0 else ""
        units, fraction = divmod(abs(ten_thousandths), 10_000)
        if (w2 >> 60) == 0:
            address = "null"
        else:
            address = json.dumps(
                {
                    "street": f"{1 + (w2 >> 8) % 400} {_STREETS[(w2 >> 20) % len(_STREETS)]}",
                    "city": _CITIES[(w2 >> 28) % len(_CITIES)],
                    "zip": f"{(w2 >> 36) % 100_000:05d}",
                },
                separators=(",", ":"),
            )
        tags = [tag for bit, tag in enumerate(_TAGS) if (w2 >> (40 + bit)) & 1 and (w2 >> (50 + bit)) & 1]
        birth = "null" if (w1 >> 60) == 0 else '"%s"' % day_string(_BIRTH_FROM_DAYS + (w1 >> 40) % _BIRTH_SPAN_DAYS)
        return _TEMPLATE % (
            self.id_of(index),
            json.dumps(f"{first} {last}"),
            json.dumps(f"{first}.{last}.{index}@example.com".lower().replace("'", "")),
            format_us(_CREATED_FROM_US + (w0 >> 20) % _CREATED_SPAN_US),
            birth,
            f"{sign}{units}.{fraction:04d}",
            ((w2 & 0xFF) * 1000 + (w1 >> 50) % 1000) / 1000,
            "true" if (w0 >> 4) & 1 else "false",
            json.dumps(tags, separators=(",", ":")),
            address,
        )
