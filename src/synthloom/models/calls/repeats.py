"""Keys for repeats: the n-th time a cell sends the very same request, it gets a key of its own, so a
response cache or a provider batch never answers a deliberate repeat with the first answer."""

from __future__ import annotations

import hashlib
import threading

__all__ = ["RepeatKeys"]

#: Counts are kept in two generations of this many requests: a request's count is remembered for at
#: least this many later requests (only a cell still sending needs its count), and memory stays flat
#: (about 12 MB at most) however long the run.
GENERATION = 50_000


class RepeatKeys:
    """`key(base)`: `base` the first time it is seen, then a digest of `base` and the repeat's number.
    Safe to call from several threads."""

    def __init__(self, generation: int = GENERATION) -> None:
        self.generation = generation
        self._counts: dict[bytes, int] = {}
        self._older: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def key(self, base: bytes) -> bytes:
        with self._lock:
            seen = self._counts.get(base)
            if seen is None:
                seen = self._older.get(base, 0)
            self._counts[base] = seen + 1
            if len(self._counts) >= self.generation:
                self._older, self._counts = self._counts, {}
        return base if seen == 0 else repeat_key(base, seen)


def repeat_key(base: bytes, repeat: int) -> bytes:
    """The key of the `repeat`-th repeat (1: the second sending) of the request keyed `base`."""
    return hashlib.sha256(base + b"#%d" % repeat).digest()
