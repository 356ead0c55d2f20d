"""MinHash signatures of many texts at once, in numpy, with hashes that are the same in every process.

Texts are normalised (lower case, runs of anything but letters and digits become one space) and
joined into one byte array. A polynomial prefix hash over it gives every word n-gram's hash as the
hash of its byte span, in a few vectorised operations for the whole batch; no Python runs per word.
Each permutation is a multiply-add over 64 bits, keeping the high 32; a text's signature is the
minimum over its shingles (`np.minimum.reduceat`). A text shorter than `ngram` words is one shingle.

LSH: the signature is cut into `bands` bands of `rows` values; two texts whose band values agree in
any band are candidates, and a candidate is a duplicate when the share of equal signature values
(the Jaccard estimate) reaches the threshold. `lsh_params` chooses the bands so that pairs at the
threshold are found with high probability (datasketch's criterion, false negatives weighted more).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["band_keys", "jaccard_estimate", "lsh_params", "minhash_signatures", "normalise"]

_NON_WORD = re.compile(r"[\W_]+")
_BASE = np.uint64(1_000_003)
_MASK32 = np.uint64(0xFFFFFFFF)
#: Signatures of this many shingles are computed at a time (bounded memory: shingles x permutations).
_CHUNK = 1 << 15


def normalise(text: str) -> str:
    """Lower case, words separated by single spaces, no punctuation."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def _inverse(value: int) -> int:
    return pow(value, -1, 2**64)


@lru_cache(maxsize=4)
def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^i and BASE^-i modulo 2^64 for i < size."""
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(size, _BASE, dtype=np.uint64))
        inverses = np.cumprod(np.full(size, np.uint64(_inverse(int(_BASE))), dtype=np.uint64))
    return np.concatenate(([np.uint64(1)], powers[:-1])), np.concatenate(([np.uint64(1)], inverses[:-1]))


def _shingle_hashes(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Every text's shingle hashes, concatenated, and the index of each text's first shingle."""
    normalised = [normalise(t) for t in texts]
    joined = ("\n".join(normalised) + "\n").encode()
    data = np.frombuffer(joined, dtype=np.uint8).astype(np.uint64)
    size = data.size
    powers, inverses = _powers(_padded(size + 1))
    with np.errstate(over="ignore"):
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(data * powers[:size], dtype=np.uint64)))
    separators = np.flatnonzero((data == 32) | (data == 10))
    # Word spans: starts after each separator (and at 0), ends at the next separator.
    starts = np.concatenate(([0], separators[:-1] + 1))
    ends = separators
    nonempty = ends > starts
    starts, ends = starts[nonempty], ends[nonempty]
    record_of_word = np.searchsorted(np.flatnonzero(data == 10), starts, side="left")
    words_per_record = np.bincount(record_of_word, minlength=len(texts))
    first_word = np.concatenate(([0], np.cumsum(words_per_record)[:-1]))
    # A shingle starts at word w when w + ngram - 1 is in the same record; short records get one.
    span = np.minimum(words_per_record, ngram)
    shingles_per_record = np.where(words_per_record > 0, words_per_record - span + 1, 0)
    shingle_offsets = np.concatenate(([0], np.cumsum(shingles_per_record)))
    total = int(shingle_offsets[-1])
    owner = np.repeat(np.arange(len(texts)), shingles_per_record)
    local = np.arange(total) - shingle_offsets[:-1][owner]
    first = first_word[owner] + local
    last = first + span[owner] - 1
    s, e = starts[first], ends[last]
    with np.errstate(over="ignore"):
        hashes = (prefix[e] - prefix[s]) * inverses[s] + (e - s).astype(np.uint64)
    return hashes, shingle_offsets


def _padded(n: int) -> int:
    return 1 << max(16, (n - 1).bit_length())


def minhash_signatures(texts: Sequence[str], *, num_perm: int, ngram: int) -> np.ndarray:
    """A `(len(texts), num_perm)` uint32 array; rows of texts with no words are all 0xFFFFFFFF."""
    out = np.full((len(texts), num_perm), 0xFFFFFFFF, dtype=np.uint32)
    if not texts:
        return out
    hashes, offsets = _shingle_hashes(texts, ngram)
    a, b = _permutations(num_perm)
    owners = np.repeat(np.arange(len(texts)), np.diff(offsets))
    for start in range(0, hashes.size, _CHUNK):
        chunk = hashes[start : start + _CHUNK]
        with np.errstate(over="ignore"):
            values = ((chunk[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
        who = owners[start : start + _CHUNK]
        cuts = np.flatnonzero(np.diff(who)) + 1
        heads = np.concatenate(([0], cuts))
        mins = np.minimum.reduceat(values, heads, axis=0)
        rows = who[heads]
        out[rows] = np.minimum(out[rows], mins)
    return out


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A `(n, bands)` uint64 key per band: its `rows` values mixed into one number."""
    n = signatures.shape[0]
    used = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    key = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            key = key * np.uint64(0x9E3779B97F4A7C15) + used[:, :, r] + np.uint64(r + 1)
        key ^= np.arange(bands, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9)
    return key


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """The share of equal signature values (rows of `a` against `b`)."""
    return np.mean(a == b, axis=-1)


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising missed pairs above `threshold` (weight 0.9) plus candidates below it
    (weight 0.1), integrated over the similarity."""
    xs = np.linspace(0, 1, 201)

    def area(bands: int, rows: int, low: float, high: float) -> float:
        x = xs[(xs >= low) & (xs <= high)]
        if x.size < 2:
            return 0.0
        p = 1 - (1 - x**rows) ** bands
        return float(np.trapezoid(p if high <= threshold else 1 - p, x))

    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = 0.1 * area(bands, rows, 0.0, threshold) + 0.9 * area(bands, rows, threshold, 1.0)
            if best is None or error < best[0]:
                best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]
