"""Reproducible transient faults: the n-th occurrence of a request fails (or not) by a hash.

The hash covers the seed, the request (method, path, query, body) and n, so the same seed and
the same requests give the same faults, and a retry (the next occurrence) may succeed.
"""
import hashlib
import threading
from collections import Counter

EXEMPT_PREFIXES = ("/health", "/v1/schema", "/oauth/token")


class Faults:
    def __init__(self, seed, rate, kinds):
        self._seed = seed
        self._lock = threading.Lock()
        self.injected = Counter()  # fault kind -> faults injected since the service was made
        self.configure(rate, kinds)

    def configure(self, rate, kinds):
        """Change the rate and kinds; occurrence counts start again."""
        with self._lock:
            self.rate, self.kinds = rate, tuple(kinds)
            self._seen = {}

    def decide(self, method, path, query, body):
        """The fault kind for this request, or None."""
        if not self.rate or not self.kinds or path.startswith(EXEMPT_PREFIXES):
            return None
        request = hashlib.blake2b(b"\0".join([method.encode(), path.encode(), query.encode(), body]),
                                  digest_size=16).digest()
        with self._lock:
            occurrence = self._seen.get(request, 0)
            self._seen[request] = occurrence + 1
            rate, kinds = self.rate, self.kinds
        digest = hashlib.blake2b(request + occurrence.to_bytes(8, "little"),
                                 key=str(self._seed).encode()[:64], digest_size=16).digest()
        if int.from_bytes(digest[:8], "little") >= rate * 2**64:
            return None
        kind = kinds[int.from_bytes(digest[8:], "little") % len(kinds)]
        with self._lock:
            self.injected[kind] += 1
        return kind
