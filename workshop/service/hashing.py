"""Fast, portable integer hashing: every generated value is a pure function of (seed, index).

Python's `random` and `hash()` may change between versions or processes; these do not.
"""
import hashlib

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # splitmix64 increment


def finalize(z):
    """The splitmix64 finalizer: a bijective mix of a 64-bit integer."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream_key(seed, name):
    """A 64-bit key for one named stream of values, so streams of one seed are independent."""
    digest = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def word(key, index, slot=0, slots=1):
    """The `slot`-th 64-bit random word of item `index` in the stream `key`."""
    return finalize((key + (index * slots + slot) * GOLDEN) & MASK64)
