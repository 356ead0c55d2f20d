"""Cutting a document's text into chunks of at most `size` units, each next one starting `overlap`
units before the previous one ends (moved forward to the next word start, when there is one).

A chunk ends at the best place within its last half: a heading or page break first (from a quarter
full), then a blank line (paragraph), a line break, the end of a sentence, a space, and only when
there is none of those (a very long word), mid-text. Overlap snaps forward to a word start, and
never reaches back across a heading or page break: a new section starts clean.

Units are `chars`, or `tokens`: words and single punctuation marks (`\\w+|[^\\w\\s]`), an offline
approximation of a model tokenizer (BPE tokenizers count about 1.1-1.4 of these per English word).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TOKEN_PATTERN", "Chunk", "chunk_text", "count_tokens"]

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
#: Places a chunk may end, best first: the position is where the next chunk would start.
_BOUNDARIES = (
    re.compile(r"\n(?=#{1,6}[ \t])|\f"),  # a markdown heading, a page break
    re.compile(r"\n[ \t]*\n\s*"),  # a blank line
    re.compile(r"\n\s*"),  # a line break
    re.compile(r"[.!?][\"')\]]*\s+"),  # the end of a sentence
    re.compile(r"\s+"),  # a space
)
_WORD_STARTS = re.compile(r"(?<!\S)\S")


@dataclass(frozen=True)
class Chunk:
    text: str
    #: Offset of the chunk's first character in the document text.
    start: int


def count_tokens(text: str) -> int:
    """How many `tokens` units `text` holds."""
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))


class _Units:
    """Converts between character offsets and unit counts."""

    def __init__(self, text: str, unit: str) -> None:
        self.length = len(text)
        self.tokens: np.ndarray | None = None
        if unit == "tokens":
            self.tokens = np.fromiter((m.start() for m in TOKEN_PATTERN.finditer(text)), dtype=np.int64)

    def forward(self, pos: int, k: int) -> int:
        """The offset `k` units after `pos` (the end of a chunk starting at `pos`)."""
        if self.tokens is None:
            return min(pos + k, self.length)
        first = int(np.searchsorted(self.tokens, pos, side="left"))
        return self.length if first + k >= self.tokens.size else int(self.tokens[first + k])

    def back(self, end: int, k: int) -> int:
        """The offset `k` units before `end`."""
        if self.tokens is None:
            return max(end - k, 0)
        before = int(np.searchsorted(self.tokens, end, side="left"))
        return int(self.tokens[max(before - k, 0)]) if before else 0


def chunk_text(
    text: str, *, size: int, overlap: int = 0, unit: str = "chars", breaks: Sequence[int] = ()
) -> list[Chunk]:
    """`text` in chunks. `breaks` are extra offsets as good as a heading (page starts)."""
    units = _Units(text, unit)
    found = [sorted({m.end() for m in pattern.finditer(text)}) for pattern in _BOUNDARIES]
    found[0] = sorted({*found[0], *breaks})
    words = [m.start() for m in _WORD_STARTS.finditer(text)]
    chunks: list[Chunk] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        limit = units.forward(pos, size)
        if limit >= len(text):
            end = len(text)
        else:
            # A section may close a chunk from a quarter full; anything else from half full.
            lows = [units.forward(pos, max(1, size // 4))] + [units.forward(pos, max(1, size // 2))] * 4
            end = _best_end(found, lows, limit) or limit
        piece = text[pos:end]
        stripped = piece.strip()
        if stripped:
            chunks.append(Chunk(stripped, pos + (len(piece) - len(piece.lstrip()))))
        if end >= len(text):
            break
        following = end
        if overlap:
            back = units.back(end, overlap)
            k = bisect.bisect_left(words, back)
            following = words[k] if k < len(words) and words[k] < end else back
            # Never carry text from before a heading or page break into the next section.
            h = bisect.bisect_right(found[0], end) - 1
            if h >= 0 and found[0][h] > following:
                following = found[0][h]
        pos = _skip_space(text, following if following > pos else end)
    return chunks


def _best_end(found: list[list[int]], lows: list[int], high: int) -> int | None:
    """The latest boundary of the best kind there is, in `[low, high]` (a low per kind)."""
    for positions, low in zip(found, lows, strict=True):
        k = bisect.bisect_right(positions, high) - 1
        if k >= 0 and positions[k] >= low and positions[k] > 0:
            return positions[k]
    return None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos
