"""The three dedup indexes. Each checks a row group's candidate rows in record order against every
row it holds and against the group's earlier kept rows, then takes in the group's kept rows.

- `ExactIndex`: a 64-bit hash of the normalised text (12 bytes a row).
- `MinHashIndex`: LSH band keys (12 bytes a band) and a 16-bit cut of each signature value, enough to
  estimate the Jaccard similarity of a candidate pair (2 bytes a permutation).
- `EmbeddingIndex`: unit vectors (4 bytes a dimension), compared by a chunked matrix product: exact
  cosine search, linear in the rows held.

`state(...)`/`load(...)` turn a group's kept rows into arrays and back: what is written with each
commit and read on resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from synthloom.columns.quality.key_index import KeyIndex
from synthloom.columns.quality.minhash import band_keys

__all__ = ["Duplicate", "EmbeddingIndex", "ExactIndex", "Fingerprints", "MinHashIndex", "RowIndex"]


@dataclass
class Fingerprints:
    """What the dedup column computed for a row group: the rows that can be compared (`records`, in
    order) and their data (hashes, signatures or vectors; one row each)."""

    records: np.ndarray
    data: np.ndarray

    def take(self, mask: np.ndarray) -> Fingerprints:
        return Fingerprints(self.records[mask], self.data[mask])


@dataclass(frozen=True)
class Duplicate:
    record: int
    of: int
    similarity: float


class RowIndex(Protocol):
    def check(self, rows: Fingerprints) -> tuple[np.ndarray, list[Duplicate]]:
        """Which of `rows` (in record order) are kept (a bool mask), and the duplicates found."""
        ...

    def add(self, rows: Fingerprints) -> None: ...

    def state(self, rows: Fingerprints) -> dict[str, np.ndarray]: ...

    def load(self, state: dict[str, np.ndarray]) -> None: ...

    @property
    def rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


class _Records:
    """Record numbers by position, in a growing array."""

    def __init__(self) -> None:
        self._data = np.zeros(1024, dtype=np.int64)
        self.size = 0

    def extend(self, records: np.ndarray) -> np.ndarray:
        """Append; return the positions given."""
        need = self.size + records.size
        if need > self._data.size:
            grown = np.zeros(max(need, 2 * self._data.size), dtype=np.int64)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        positions = np.arange(self.size, need, dtype=np.int64)
        self._data[self.size : need] = records
        self.size = need
        return positions

    def __getitem__(self, position: int) -> int:
        return int(self._data[position])

    @property
    def nbytes(self) -> int:
        return self.size * 8


class ExactIndex:
    def __init__(self) -> None:
        self._keys = KeyIndex()
        self._records = _Records()

    @property
    def rows(self) -> int:
        return self._records.size

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._records.nbytes

    def check(self, rows: Fingerprints) -> tuple[np.ndarray, list[Duplicate]]:
        keys = rows.data.astype(np.uint64)
        prior = self._keys.first(keys)
        keep = np.ones(keys.size, dtype=bool)
        found: list[Duplicate] = []
        seen: dict[int, int] = {}
        for j in range(keys.size):
            record = int(rows.records[j])
            if prior[j] >= 0:
                found.append(Duplicate(record, self._records[int(prior[j])], 1.0))
                keep[j] = False
            elif int(keys[j]) in seen:
                found.append(Duplicate(record, seen[int(keys[j])], 1.0))
                keep[j] = False
            else:
                seen[int(keys[j])] = record
        return keep, found

    def add(self, rows: Fingerprints) -> None:
        positions = self._records.extend(rows.records)
        self._keys.add(rows.data.astype(np.uint64), positions)

    def state(self, rows: Fingerprints) -> dict[str, np.ndarray]:
        return {"records": rows.records, "keys": rows.data.astype(np.uint64)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.add(Fingerprints(state["records"], state["keys"]))


class _Growing:
    """A 2-D array that grows by doubling (signatures, vectors)."""

    def __init__(self, width: int, dtype: type) -> None:
        self._data: np.ndarray = np.zeros((256, width), dtype=dtype)
        self.size = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.size + rows.shape[0]
        if need > self._data.shape[0]:
            grown = np.zeros((max(need, 2 * self._data.shape[0]), self._data.shape[1]), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = rows
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.size]

    @property
    def nbytes(self) -> int:
        return int(self.size * self._data.shape[1] * self._data.itemsize)


class MinHashIndex:
    def __init__(self, *, threshold: float, bands: int, rows_per_band: int, num_perm: int) -> None:
        self.threshold = threshold
        self.bands = bands
        self.rows_per_band = rows_per_band
        self._keys = KeyIndex()
        self._records = _Records()
        self._short = _Growing(num_perm, np.uint16)

    @property
    def rows(self) -> int:
        return self._records.size

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._records.nbytes + self._short.nbytes

    def _similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        # 16-bit cuts of the values agree by chance 1 time in 65,536: corrected for that.
        chance = 1.0 / 65536
        return max(0.0, (float(np.mean(a == b)) - chance) / (1 - chance))

    def check(self, rows: Fingerprints) -> tuple[np.ndarray, list[Duplicate]]:
        signatures = rows.data
        n = signatures.shape[0]
        keys = band_keys(signatures, self.bands, self.rows_per_band)
        short = signatures.astype(np.uint16)
        prior = self._keys.first(keys.ravel()).reshape(n, self.bands) if self.rows else None
        held = self._short.view
        keep = np.ones(n, dtype=bool)
        found: list[Duplicate] = []
        local: dict[int, list[int]] = {}
        for j in range(n):
            best: tuple[float, int] | None = None
            if prior is not None and (prior[j] >= 0).any():
                candidates = {int(p) for p in prior[j] if p >= 0}
                best = self._best(short[j], candidates, held)
                if best is None:  # the earliest row under a band key was not it: look at all of them
                    more = {
                        p
                        for b in range(self.bands)
                        if prior[j, b] >= 0
                        for p in self._keys.all(int(keys[j, b]))
                    }
                    best = self._best(short[j], more - candidates, held)
                if best is not None:
                    found.append(Duplicate(int(rows.records[j]), self._records[best[1]], best[0]))
                    keep[j] = False
                    continue
            earlier = {k for b in range(self.bands) for k in local.get(int(keys[j, b]), ())}
            match = max(((self._similarity(short[j], short[k]), k) for k in earlier), default=None)
            if match is not None and match[0] >= self.threshold:
                found.append(Duplicate(int(rows.records[j]), int(rows.records[match[1]]), match[0]))
                keep[j] = False
                continue
            for b in range(self.bands):
                local.setdefault(int(keys[j, b]), []).append(j)
        return keep, found

    def _best(self, short: np.ndarray, positions: set[int], held: np.ndarray) -> tuple[float, int] | None:
        best: tuple[float, int] | None = None
        for position in sorted(positions):
            similarity = self._similarity(short, held[position])
            if similarity >= self.threshold and (best is None or similarity > best[0]):
                best = (similarity, position)
        return best

    def add(self, rows: Fingerprints) -> None:
        state = self.state(rows)
        self._add(state["records"], state["band_keys"], state["short"])

    def _add(self, records: np.ndarray, keys: np.ndarray, short: np.ndarray) -> None:
        positions = self._records.extend(records)
        self._short.extend(short)
        self._keys.add(keys.ravel(), np.repeat(positions, self.bands))

    def state(self, rows: Fingerprints) -> dict[str, np.ndarray]:
        return {
            "records": rows.records,
            "band_keys": band_keys(rows.data, self.bands, self.rows_per_band),
            "short": rows.data.astype(np.uint16),
        }

    def load(self, state: dict[str, np.ndarray]) -> None:
        self._add(state["records"], state["band_keys"], state["short"])


class EmbeddingIndex:
    #: Rows of the index multiplied at once (bounded memory: chunk x group size floats).
    CHUNK = 65536

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self._records = _Records()
        self._vectors: _Growing | None = None

    @property
    def rows(self) -> int:
        return self._records.size

    @property
    def nbytes(self) -> int:
        return self._records.nbytes + (self._vectors.nbytes if self._vectors else 0)

    def check(self, rows: Fingerprints) -> tuple[np.ndarray, list[Duplicate]]:
        vectors = rows.data.astype(np.float32)
        n = vectors.shape[0]
        best = np.full(n, -2.0, dtype=np.float32)
        where = np.full(n, -1, dtype=np.int64)
        if self._vectors is not None and self.rows:
            if self._vectors.view.shape[1] != vectors.shape[1]:
                raise ValueError(
                    f"embeddings of {vectors.shape[1]} dimensions cannot be compared with the "
                    f"{self._vectors.view.shape[1]} of the rows already kept"
                )
            held = self._vectors.view
            for start in range(0, held.shape[0], self.CHUNK):
                sims = vectors @ held[start : start + self.CHUNK].T
                arg = sims.argmax(axis=1)
                top = sims[np.arange(n), arg]
                better = top > best
                best[better] = top[better]
                where[better] = arg[better] + start
        within = vectors @ vectors.T
        keep = np.ones(n, dtype=bool)
        found: list[Duplicate] = []
        for j in range(n):
            if best[j] >= self.threshold:
                found.append(Duplicate(int(rows.records[j]), self._records[int(where[j])], float(best[j])))
                keep[j] = False
                continue
            earlier = np.flatnonzero(keep[:j])
            if earlier.size:
                k = earlier[int(within[j, earlier].argmax())]
                if within[j, k] >= self.threshold:
                    found.append(Duplicate(int(rows.records[j]), int(rows.records[k]), float(within[j, k])))
                    keep[j] = False
        return keep, found

    def add(self, rows: Fingerprints) -> None:
        if not rows.records.size:
            return
        if self._vectors is None:
            self._vectors = _Growing(rows.data.shape[1], np.float32)
        self._records.extend(rows.records)
        self._vectors.extend(rows.data.astype(np.float32))

    def state(self, rows: Fingerprints) -> dict[str, np.ndarray]:
        return {"records": rows.records, "vectors": rows.data.astype(np.float32)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.add(Fingerprints(state["records"], state["vectors"]))
