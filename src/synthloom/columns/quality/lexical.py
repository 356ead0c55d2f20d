"""Words, and how varied they are: type-token ratio and MTLD.

Words are runs of letters and digits; a CJK or kana character is a word of its own (those scripts put
no spaces between words), so the measures mean something in every script.
"""

from __future__ import annotations

import re

__all__ = ["WORD", "mtld", "ttr", "words_of"]

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")

#: MTLD's factor threshold (McCarthy and Jarvis, 2010).
_MTLD_THRESHOLD = 0.72


def words_of(text: str) -> list[str]:
    """The lower-cased words of `text`."""
    return WORD.findall(text.lower())


def ttr(words: list[str]) -> float | None:
    """Distinct words over words; None for no words."""
    return round(len(set(words)) / len(words), 4) if words else None


def _mtld_pass(words: list[str]) -> float:
    factors = 0.0
    seen: set[str] = set()
    count = 0
    for word in words:
        count += 1
        seen.add(word)
        if len(seen) / count <= _MTLD_THRESHOLD:
            factors += 1
            seen.clear()
            count = 0
    if count:
        ratio = len(seen) / count
        factors += (1 - ratio) / (1 - _MTLD_THRESHOLD)
    return len(words) / factors if factors else float(len(words))


def mtld(words: list[str]) -> float | None:
    """Measure of textual lexical diversity: the mean length of word runs that keep a TTR above 0.72,
    forwards and backwards. Higher is more varied; None below 10 words (too short to say)."""
    if len(words) < 10:
        return None
    return round((_mtld_pass(words) + _mtld_pass(words[::-1])) / 2, 2)
