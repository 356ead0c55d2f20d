"""The built-in `markdown-sections` seed reader: one record per section of each markdown file.

    seed:
      reader: markdown-sections
      files: "docs/**/*.md"
      options: {level: 2, min_chars: 40}

A section is a heading of level `level` or above (`#`, `##`) and the text up to the next such heading;
text before the first heading is a section titled by the file's name. Each record has `file` (the
file's path), `title`, `path` (the chain of enclosing
headings, `"Guide > Install"`), `text` (the section's body) and `index` (its place in the file).
Headings inside fenced code blocks are not headings.

It is written exactly as a plugin would be (`reader_plugins.py`) and published through the same
entry point, as the example to copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from synthloom.config.base import StrictModel
from synthloom.seeds.reader_plugins import SeedReaderPlugin

__all__ = ["MarkdownSections"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class MarkdownSections(SeedReaderPlugin):
    """One record per markdown section."""

    name: ClassVar[str] = "markdown-sections"

    class Options(StrictModel):
        #: Headings of this level or above start a section (1: `#` only; 2: `#` and `##`).
        level: Annotated[int, Field(ge=1, le=6)] = 2
        #: Sections whose text is shorter than this are left out (headings with nothing under them).
        min_chars: Annotated[int, Field(ge=0)] = 1

    def read_file(self, path: Path, options: Any) -> Iterator[dict[str, Any]]:
        text = path.read_text(encoding="utf-8")
        index = 0
        for title, trail, body in _sections(text, options.level, default_title=path.stem):
            if len(body) < options.min_chars:
                continue
            yield {"file": str(path), "title": title, "path": " > ".join(trail), "text": body, "index": index}
            index += 1


def _sections(text: str, level: int, *, default_title: str) -> Iterator[tuple[str, list[str], str]]:
    trail: list[tuple[int, str]] = []
    title = default_title
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading is not None and len(heading.group(1)) <= level:
            yield title, [t for _, t in trail] or [title], "\n".join(lines).strip()
            depth = len(heading.group(1))
            trail = [(d, t) for d, t in trail if d < depth] + [(depth, heading.group(2))]
            title = heading.group(2)
            lines = []
            continue
        lines.append(line)
    yield title, [t for _, t in trail] or [title], "\n".join(lines).strip()
