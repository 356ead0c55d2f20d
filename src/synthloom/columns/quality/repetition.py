"""Repetition: repeated word n-grams, generation loops, and how well a text compresses.

A *generation loop* is a model saying the same thing again and again: a run of words repeated at
least three times in a row ("I hope this helps. I hope this helps. I hope this helps."). `loop_score`
is the share of the text such a run covers. Finding it: the gaps between consecutive occurrences of
the same word are counted, and only periods that occur often enough to make a loop are checked, so
the cost stays near one pass over the words.

Loops of whole sentences are counted apart (`sentence_repeats`): sentences are compared with their
list numbering, digits, case and spacing normalised away, so a text said twice, a numbered list of one
item ("1. X 2. X 3. X") and two sentences taking turns all show, where the word-level loop may not (a
long unit, or one interrupted by numbers).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np

__all__ = ["compression_ratio", "loop_score", "loop_stats", "repeated_ngram_ratio", "sentence_repeats"]

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|(?<=[。\uff01\uff1f\uff1b])|\n+")
_NUMBERING = re.compile(r"^\W*(?:(?:step|item|point|no\.?)\s*)?\d{1,3}\s*[.):\]-]?\s*", re.IGNORECASE)
_NOISE = re.compile(r"[\d\W_]+")
#: Sentences shorter than this (normalised, in UTF-8 bytes, so that a CJK character weighs about a
#: short word) are not compared: "Yes, it does." twice is not a loop.
_MIN_SENTENCE = 16

#: Longest repeating unit looked for, in words.
_MAX_PERIOD = 64


def repeated_ngram_ratio(words: list[str], n: int) -> float | None:
    """The share of word n-grams that repeat an earlier one; None when there are none."""
    if len(words) < n:
        return None
    grams = list(zip(*(words[i:] for i in range(n)), strict=False)) if n > 1 else words
    total = len(grams)
    return round((total - len(set(grams))) / total, 4)


def loop_score(words: list[str]) -> float:
    """The share of the words covered by the longest run of a unit repeated three or more times."""
    return loop_stats(words)[0]


def loop_stats(words: list[str]) -> tuple[float, int]:
    """`loop_score`, and how many times in a row that run repeats its unit (0 when there is none)."""
    n = len(words)
    if n < 3:
        return 0.0, 0
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(w, len(index)) for w in words), dtype=np.int64, count=n)
    if len(index) == n:
        return 0.0, 0
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    gaps = (order[1:] - order[:-1])[same]
    gaps = gaps[gaps <= min(_MAX_PERIOD, n // 3)]
    if not gaps.size:
        return 0.0, 0
    counts = np.bincount(gaps)
    # A loop of period p repeated r >= 3 times shows 2p gaps of p (fewer when its unit repeats a word).
    periods = np.flatnonzero(counts >= np.maximum(2, np.arange(counts.size)))
    best, repeats = 0, 0
    for p in periods[periods > 0][:8]:
        equal = ids[p:] == ids[:-p]
        run = _longest_true_run(equal)
        if run >= 2 * p and run + int(p) > best:
            best, repeats = run + int(p), (run + int(p)) // int(p)
    return round(best / n, 4), repeats


def _longest_true_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def compression_ratio(text: str) -> float | None:
    """Compressed over raw size (zlib, fast level): low for repetitive text. None under 64 bytes,
    where the format's overhead says more than the text."""
    raw = text.encode("utf-8", "replace")
    if len(raw) < 64:
        return None
    return round(len(zlib.compress(raw, 1)) / len(raw), 4)


def sentence_repeats(text: str) -> tuple[float, int]:
    """`(ratio, most)`: the share of the text's sentence characters in sentences that repeat an earlier
    one, and how many times the most repeated sentence occurs (0 for a text with no sentence)."""
    counts: Counter[str] = Counter()
    repeated = total = 0
    for raw in _SENTENCE_SPLIT.split(text):
        key = _NOISE.sub(" ", _NUMBERING.sub("", raw.strip()).lower()).strip()
        if len(key.encode()) < _MIN_SENTENCE:
            continue
        total += len(key)
        if counts[key]:
            repeated += len(key)
        counts[key] += 1
    if not total:
        return 0.0, 0
    return round(repeated / total, 4), max(counts.values())
