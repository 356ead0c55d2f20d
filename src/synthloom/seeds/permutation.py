"""Which seed record a generated record gets, as a pure function of the record's number.

- `ordered`: record `i % n`, cycling through the data.
- `shuffle`: record `perm_e(i % n)`, where `perm_e` is a permutation of `[0, n)` for epoch `e = i // n`,
  seeded by (run seed, source, epoch): every seed record once per epoch, and record `i` always gets
  the same seed record, whichever row group asks and in whichever process.

  Up to `TABLE_LIMIT` records the permutation is `numpy`'s `Generator.permutation` (what synthloom
  has always used, so existing runs resume onto the same rows). Beyond it a table of `n` indices per
  epoch would grow with the seed, so the permutation is *computed* per record instead: a balanced
  Feistel network over `[0, 4^h)` (`4^h >= n`, six rounds, a 64-bit mixing function keyed from the
  seed) is a bijection of that domain; "cycle walking" (apply it again while the value is `>= n`)
  restricts it to a bijection of `[0, n)`. No state, no memory beyond the indices asked for.
- `with_replacement`: independent uniform draws. For a source in memory they come from the row
  group's generator (as always); for a lazy source from a hash of (run seed, source, record), so
  that records can be looked up ahead of the row group that needs them.
"""

from __future__ import annotations

import numpy as np

from synthloom.row_groups import stable_hash

__all__ = ["TABLE_LIMIT", "ShuffleOrder", "hashed_draws", "ordered_indices"]

#: Above this many seed records, shuffling uses the computed (Feistel) permutation.
TABLE_LIMIT = 1 << 20
_ROUNDS = 6
_EPOCHS_CACHED = 2
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit (uint64 arrays wrap)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def ordered_indices(records: np.ndarray, n: int) -> np.ndarray:
    return records % n


class ShuffleOrder:
    """The shuffled seed record of each generated record, for a seed of `n` records."""

    def __init__(self, n: int, run_seed: int, salt: str = "__seed__") -> None:
        self.n = n
        self.run_seed = run_seed
        self.salt = stable_hash(salt)
        self._tables: dict[int, np.ndarray] = {}
        half_bits = max(1, ((n - 1).bit_length() + 1) // 2)
        self._half = np.uint64(half_bits)
        self._mask = np.uint64((1 << half_bits) - 1)

    def indices(self, records: np.ndarray) -> np.ndarray:
        records = np.asarray(records, dtype=np.int64)
        epochs = records // self.n
        within = records % self.n
        first, last = int(epochs.min()), int(epochs.max())
        if first == last:
            return self._epoch(first, within)
        out = np.empty(records.size, dtype=np.int64)
        for epoch in range(first, last + 1):
            mask = epochs == epoch
            if mask.any():
                out[mask] = self._epoch(epoch, within[mask])
        return out

    def _epoch(self, epoch: int, within: np.ndarray) -> np.ndarray:
        if self.n <= TABLE_LIMIT:
            return self._table(epoch)[within]
        return self._feistel(within, self._keys(epoch))

    def _seed_sequence(self, epoch: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.run_seed, self.salt, epoch])

    def _table(self, epoch: int) -> np.ndarray:
        table = self._tables.get(epoch)
        if table is None:
            table = np.random.default_rng(self._seed_sequence(epoch)).permutation(self.n)
            if len(self._tables) >= _EPOCHS_CACHED:  # row groups move forward: drop the oldest
                del self._tables[min(self._tables)]
            self._tables[epoch] = table
        return table

    def _keys(self, epoch: int) -> np.ndarray:
        return self._seed_sequence(epoch).generate_state(_ROUNDS, dtype=np.uint64)

    def _feistel(self, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
        x = values.astype(np.uint64)
        todo = np.ones(x.size, dtype=bool)
        while True:
            x[todo] = self._rounds(x[todo], keys)
            todo = x >= np.uint64(self.n)
            if not todo.any():
                return x.astype(np.int64)

    def _rounds(self, x: np.ndarray, keys: np.ndarray) -> np.ndarray:
        left = x >> self._half
        right = x & self._mask
        for key in keys:
            left, right = right, left ^ (_mix(right ^ key) & self._mask)
        return (left << self._half) | right


def hashed_draws(records: np.ndarray, n: int, run_seed: int, salt: str = "__seed__") -> np.ndarray:
    """Uniform draws from `[0, n)`, one per record, fixed by (run seed, salt, record)."""
    key = np.uint64((run_seed * 0x9E3779B1 + stable_hash(salt)) & (2**64 - 1))
    x = _mix(np.asarray(records, dtype=np.uint64) * _GOLDEN ^ key)
    return (x % np.uint64(n)).astype(np.int64)
