"""Made once, served many times: record texts and finished page answers, within a memory budget.

Records are pure functions of (seed, index), so a record's JSON text never changes once made
(an event's only once its seq is available: lateness is decided on append). Page answers
are cached by the caller under a key naming everything the answer depends on. The least
recently used entries go first when the budget is full; a budget of 0 keeps nothing.
"""
import threading
from collections import OrderedDict

# What a cached record costs besides its text (key, entry, bytes header): about 230 bytes by tracemalloc.
RECORD_OVERHEAD = 250


class Cache:
    def __init__(self, budget_bytes):
        self.budget = budget_bytes
        self.used = 0
        self._entries = OrderedDict()  # key -> (value, size), least recently used first
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._entries)

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value, size):
        with self._lock:
            self._put(key, value, size)

    def _put(self, key, value, size):
        if size > self.budget:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.used -= old[1]
        self._entries[key] = (value, size)
        self.used += size
        self._evict()

    def _evict(self):
        while self.used > self.budget:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.used -= evicted

    def records(self, resource, indexes, make):
        """The JSON texts (bytes) of the records at `indexes`; `make(index)` makes a missing one (str)."""
        if not self.budget:
            return [make(index).encode() for index in indexes]
        entries = self._entries
        with self._lock:
            found = []
            for index in indexes:
                entry = entries.get((resource, index))
                if entry is None:
                    found.append(None)
                else:
                    entries.move_to_end((resource, index))
                    found.append(entry[0])
        missing = [position for position, text in enumerate(found) if text is None]
        for position in missing:  # outside the lock: making records is the slow part
            found[position] = make(indexes[position]).encode()
        if missing:
            with self._lock:
                for position in missing:
                    key = (resource, indexes[position])
                    if key not in entries:  # another request may have made it meanwhile
                        size = len(found[position]) + RECORD_OVERHEAD
                        entries[key] = (found[position], size)
                        self.used += size
                self._evict()
        return found
