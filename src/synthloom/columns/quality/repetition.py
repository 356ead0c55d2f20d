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

import numpy as np

__all__ = ["compression_ratio", "loop_score", "loop_stats", "repeated_ngram_ratio", "sentence_repeats"]

#: A sentence ends at a stop and the spaces after it, or at a line break. The stop goes with the split
#: (a sentence's key drops punctuation anyway), so the pattern opens with a character `re` can scan for.
_SENTENCE_SPLIT = re.compile(r"[.!?;]\s+|[。\uff01\uff1f\uff1b]|\n+")
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
    # Gaps between consecutive occurrences of the same word, counted in one pass (a text of a few
    # hundred words costs less in a dict than in numpy's per-call overhead).
    limit = min(_MAX_PERIOD, n // 3)
    last: dict[str, int] = {}
    gaps: dict[int, int] = {}
    for i, word in enumerate(words):
        j = last.get(word)
        if j is not None and i - j <= limit:
            gaps[i - j] = gaps.get(i - j, 0) + 1
        last[word] = i
    # A loop of period p repeated r >= 3 times shows 2p gaps of p (fewer when its unit repeats a word).
    periods = sorted(p for p, count in gaps.items() if count >= max(2, p))[:8]
    if not periods:
        return 0.0, 0
    index: dict[str, int] = {}
    ids = np.array([index.setdefault(w, len(index)) for w in words], dtype=np.int64)
    best, repeats = 0, 0
    for p in periods:
        equal = ids[p:] == ids[:-p]
        run = _longest_true_run(equal)
        if run >= 2 * p and run + p > best:
            best, repeats = run + p, (run + p) // p
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
    counts: dict[str, int] = {}
    repeated = total = 0
    numbering, noise = _NUMBERING.match, _NOISE.sub
    for raw in _SENTENCE_SPLIT.split(text):
        sentence = raw.strip()
        number = numbering(sentence)  # anchored: the one place `_NUMBERING` can match
        if number is not None and number.end():
            sentence = sentence[number.end() :]
        key = noise(" ", sentence.lower()).strip()
        size = len(key)
        if size < _MIN_SENTENCE and len(key.encode()) < _MIN_SENTENCE:
            continue
        total += size
        seen = counts.get(key, 0)
        if seen:
            repeated += size
        counts[key] = seen + 1
    if not total:
        return 0.0, 0
    return round(repeated / total, 4), max(counts.values())
