"""Diversity of the final dataset: distinct n-grams, embedding spread, category coverage."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["category_coverage", "distinct_n", "embedding_spread"]

_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[^\W\u3040-\u30ff\u3400-\u9fff]+")


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct word n-grams over all n-grams of `texts` (1.0: no n-gram repeats anywhere)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = _WORD.findall(text.lower())
        grams = list(zip(*(words[i:] for i in range(n)), strict=False))
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 4) if total else None


def embedding_spread(vectors: Sequence[Any], *, sample: int = 1000) -> dict[str, float] | None:
    """Mean cosine distance between pairs of vectors (0: all alike, 1: unrelated) and the share of
    variance in the first principal direction, over at most `sample` vectors."""
    rows = [v for v in vectors if isinstance(v, list | tuple) and v][:sample]
    if len(rows) < 2 or len({len(v) for v in rows}) != 1:
        return None
    matrix = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1, norms)
    sims = unit @ unit.T
    n = len(rows)
    mean_similarity = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    centred = unit - unit.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    energy = singular**2
    return {
        "vectors": n,
        "mean_cosine_distance": round(float(1 - mean_similarity), 4),
        "top_direction_share": round(float(energy[0] / energy.sum()), 4) if energy.sum() else 0.0,
    }


def category_coverage(values: Iterable[Any], declared: Sequence[Any] | None = None) -> dict[str, Any]:
    """How the rows spread over categories: how many are used (of those declared) and the normalised
    entropy of the counts (1: perfectly even)."""
    counts = Counter(str(v) for v in values if v is not None)
    total = sum(counts.values())
    k = len(counts)
    entropy = -sum(c / total * math.log(c / total) for c in counts.values()) if total else 0.0
    out: dict[str, Any] = {
        "categories": k,
        "evenness": round(entropy / math.log(k), 4) if k > 1 else (1.0 if k == 1 else 0.0),
    }
    if declared:
        names = [str(d) for d in declared]
        out["declared"] = len(names)
        out["missing"] = [d for d in names if d not in counts]
    return out
