"""A reply cut off before its end: `max_tokens` ran out mid-sentence, or a code block never closed.

A text looks truncated when its last line is prose that stops without closing punctuation, or when it
leaves a code fence or a bracket open. Lines that may end bare (list items, table rows, headings,
code, URLs) do not count, so a list or a code answer is not taken for a cut one.
"""

from __future__ import annotations

import re
from typing import Any

from synthloom.columns.quality.lexical import words_of
from synthloom.columns.quality.text_values import as_text

__all__ = ["looks_truncated", "value_tail"]

_CLOSING = tuple(".!?…。:;)]}\"'`*»”>\uff01\uff1f\u2019")
_BARE_LINE = re.compile(r"^\s*(?:[-*•+|#>]|\d{1,3}[.)]\s|```|\s{4}|https?://)|[|]\s*$")
_ENDS_IN_NUMBER = re.compile(r"\d\s*$")
#: A list item or a line ending in a number this long, with a sentence end inside it, is prose.
_PROSE_WORDS = 12
_INNER_SENTENCE = re.compile(r"[.!?]\s+\S|[。\uff01\uff1f]\s*\S")


def value_tail(value: Any) -> str:
    """The last 2,000 characters of a value's text (where truncation shows)."""
    return (as_text(value) or "")[-2000:]


def looks_truncated(text: str) -> bool:
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped.count("```") % 2:
        return True
    last_line = stripped.rsplit("\n", 1)[-1]
    if stripped.endswith(_CLOSING):
        return False
    long_prose = len(words_of(last_line)) >= _PROSE_WORDS and _INNER_SENTENCE.search(last_line) is not None
    if not long_prose and (_BARE_LINE.search(last_line) or _ENDS_IN_NUMBER.search(last_line)):
        return False
    # A one-line answer with no sentence in it ("Paris", "42 km") is short, not cut off. Words are
    # counted as `words_of` does, so a CJK sentence (no spaces) counts its characters.
    return len(words_of(stripped)) >= 4
