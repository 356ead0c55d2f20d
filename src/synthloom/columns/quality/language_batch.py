"""py3langid's scores for many texts at once: the byte automaton walked for a whole batch in numpy.

py3langid counts a text's byte n-gram features by walking a finite automaton one byte at a time in a
Python loop, which is most of its cost. Here the automaton takes one step for every text of a batch at
once (a numpy gather per byte position), and each text's counts then go through the same product as in
py3langid, in the same order, so the scores are bit for bit those of `LanguageIdentifier.rank`.
`BatchScorer.usable` checks that against `rank` when it is built; an identifier whose internals differ
(another py3langid version) is scored text by text instead.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["BatchScorer", "softmax_confidence", "top_of_ranked"]

#: Texts per automaton walk: bounds the byte and state matrices (a few MB) whatever the row group size.
_CHUNK = 128
#: Texts scored both ways when a scorer is built: the batch path is used only when they agree.
_CHECK_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs.",
    "日本語の文章",
    "",
)


class BatchScorer:
    """`scores(texts)`: each text's score per language, as `LanguageIdentifier.rank` has them;
    `top(scores)`: the best language and the ten highest scores (what `LanguageDetector` reads)."""

    def __init__(self, ident: Any) -> None:
        self.usable = False
        try:
            # A view of the automaton (about 40 MB), not a copy.
            moves = ident.tk_nextmove
            self._nextmove = np.frombuffer(moves, dtype=np.dtype(f"u{moves.itemsize}"))
            self._rowbase = np.asarray(ident._rowbase, dtype=np.int64)
            self._output = np.asarray(ident.tk_output, dtype=np.int64)
            table, prior, classes = ident.nb_ptc, ident.nb_pc, list(ident.nb_classes)
            aliases = [(int(i), int(j)) for i, j in ident._alias_pairs]
            floor = float(np.finfo(np.float32).min)
        except (AttributeError, TypeError, ValueError):
            return
        self._table, self._prior, self._aliases, self._floor = table, prior, aliases, floor
        first: dict[str, int] = {}
        for index, label in enumerate(classes):
            first.setdefault(label, index)
        self._keep = np.array(sorted(first.values()), dtype=np.int64)
        self._labels = [classes[i] for i in self._keep]
        try:
            batch = self.top(self.scores(_CHECK_TEXTS))
            self.usable = batch == [top_of_ranked(ident.rank(t)) for t in _CHECK_TEXTS]
        except Exception:  # any surprise in another version's internals: texts are scored one by one
            self.usable = False

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's score per distinct language (py3langid's raw scores, aliases folded): one row
        per text."""
        encoded = [_encode(t) for t in texts]
        out = np.empty((len(encoded), len(self._keep)), dtype=np.float64)
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        for start in range(0, len(order), _CHUNK):
            chunk = order[start : start + _CHUNK]
            out[chunk] = self._chunk_scores([encoded[i] for i in chunk])
        return out

    def top(self, scores: np.ndarray) -> list[tuple[str, list[float]]]:
        """Per row of `scores`: the best language (the first of equals, as `rank`'s stable sort has
        it) and the ten highest scores, highest first."""
        best = np.argmax(scores, axis=1).tolist()
        highest = np.sort(scores, axis=1)[:, ::-1][:, :10].tolist()
        return [(self._labels[b], h) for b, h in zip(best, highest, strict=True)]

    def _chunk_scores(self, encoded: list[bytes]) -> np.ndarray:
        """The scores of texts sorted longest first."""
        n = len(encoded)
        lengths = np.array([len(b) for b in encoded], dtype=np.int64)
        width = int(lengths[0]) if n else 0
        # Bytes by position: row t holds byte t of every text still that long (longest first).
        data = np.zeros((width, n), dtype=np.int64)
        for column, raw in enumerate(encoded):
            data[: len(raw), column] = np.frombuffer(raw, dtype=np.uint8)
        active = np.searchsorted(-lengths, -np.arange(1, width + 1), side="right")
        visited = np.full((width, n), -1, dtype=np.int64)
        state = np.zeros(n, dtype=np.int64)
        nextmove, rowbase, output = self._nextmove, self._rowbase, self._output
        for t in range(width):
            k = int(active[t])
            state[:k] = nextmove[rowbase[state[:k]] + data[t, :k]]
            visited[t, :k] = output[state[:k]]
        # Features per text in visit order, counted as py3langid's Counter does (in order of first
        # visit, which fixes the order of the sum below, and so its rounding).
        by_text = visited.T
        texts, _ = np.nonzero(by_text >= 0)
        features = by_text[by_text >= 0]
        keys = texts * len(self._table) + features
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        unique, counts = unique[order], counts[order]
        owner, feature = np.divmod(unique, len(self._table))
        weights = np.log1p(counts.astype(np.float32))
        bounds = np.searchsorted(owner, np.arange(n + 1)).tolist()
        # The model's rows the chunk reads, widened to float32 once (numpy widens float16 for the
        # product anyway, one text at a time, which is most of py3langid's scoring time).
        rows, local = np.unique(feature, return_inverse=True)
        table = self._table[rows].astype(np.float32)
        scores = np.full((n, len(self._prior)), self._floor, dtype=np.float32)
        for row in range(n):
            a, b = bounds[row], bounds[row + 1]
            if a < b:
                scores[row] = weights[a:b].copy() @ table[local[a:b]] + self._prior
        for i, j in self._aliases:
            scores[:, i] = np.maximum(scores[:, i], scores[:, j])
            scores[:, j] = self._floor
        return scores[:, self._keep]


def _encode(text: str) -> bytes:
    # py3langid's own preparation of a text (`LanguageIdentifier._encode`).
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


def top_of_ranked(ranked: list[tuple[str, float]]) -> tuple[str, list[float]]:
    return str(ranked[0][0]), [float(score) for _, score in ranked[:10]]


def softmax_confidence(top: list[float]) -> float:
    """The softmax weight of the first of `top` (scores sorted highest first)."""
    best = top[0]
    return 1.0 / sum(math.exp(max(score - best, -700.0)) for score in top)
