"""A compact multimap from 64-bit keys to row positions: sorted numpy runs, merged like an LSM tree.

Dedup across a million rows must not hold a Python object per row: each key costs 12 bytes here
(uint64 key, uint32 position). New keys go to the smallest run; runs of similar size are merged (one
sort each), so a key is re-sorted O(log n) times over the index's life and a lookup searches at most
a few dozen sorted runs with `np.searchsorted`, vectorised over a whole row group.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KeyIndex"]


class KeyIndex:
    """`add(keys, positions)`; `first(keys)` -> the earliest position stored under each key (-1 where
    none); `all(key)` -> every position stored under one key."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.size = 0

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + v.nbytes for k, v in self._runs)

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        if not keys.size:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        positions = np.asarray(positions, dtype=np.uint32)
        order = np.argsort(keys, kind="stable")
        run = (keys[order], positions[order])
        self.size += keys.size
        # Merge while the newest run is at least half the size of the one before it.
        while self._runs and self._runs[-1][0].size <= 2 * run[0].size:
            older = self._runs.pop()
            merged_keys = np.concatenate((older[0], run[0]))
            merged_positions = np.concatenate((older[1], run[1]))
            order = np.argsort(merged_keys, kind="stable")
            run = (merged_keys[order], merged_positions[order])
        self._runs.append(run)

    def first(self, keys: np.ndarray) -> np.ndarray:
        """Per key, the smallest position stored under it, or -1."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.full(keys.shape, -1, dtype=np.int64)
        for run_keys, run_positions in self._runs:
            at = np.searchsorted(run_keys, keys, side="left")
            inside = at < run_keys.size
            hit = np.zeros(keys.shape, dtype=bool)
            hit[inside] = run_keys[at[inside]] == keys[inside]
            if hit.any():
                found = run_positions[at[hit]].astype(np.int64)
                current = out[hit]
                out[hit] = np.where((current < 0) | (found < current), found, current)
        return out

    def all(self, key: int, limit: int = 64) -> list[int]:
        """Positions stored under `key` (at most `limit`), smallest first."""
        found: list[int] = []
        target = np.uint64(key)
        for run_keys, run_positions in self._runs:
            left = int(np.searchsorted(run_keys, target, side="left"))
            right = int(np.searchsorted(run_keys, target, side="right"))
            found.extend(int(p) for p in run_positions[left : min(right, left + limit)])
        return sorted(found)[:limit]
