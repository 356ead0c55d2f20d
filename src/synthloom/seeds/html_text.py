"""HTML to readable text with the standard library's parser: block elements become paragraphs,
headings become markdown headings (so the chunker can cut on them), list items become "- " lines,
`<pre>` keeps its layout, and scripts, styles and other invisible parts are left out. The title is
the `<title>`, else the first `<h1>`.

The standard library's parser is lenient (unclosed tags, stray `<`) and fast enough for seed
ingestion (see benchmarks/bench_seeds.py), so no third-party HTML parser is needed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "dialog", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "main", "nav", "ol", "p",
        "section", "summary", "table", "tr", "ul", "body", "html", "caption", "tbody", "thead", "tfoot",
    }
)  # fmt: skip
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._line: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._prefix = ""
        self._in_title = False
        self._in_h1 = False
        self.title: str | None = None
        self.first_h1: str | None = None
        self._h1_text: list[str] = []

    # -- structure --------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            self.title = self.title or ""
            return
        if tag in _HIDDEN:
            self._hidden += 1
            return
        if tag == "br":
            self._line.append("\n")
        elif tag in _HEADINGS:
            self._flush()
            self._prefix = "#" * _HEADINGS[tag] + " "
            self._in_h1 = tag == "h1" and self.first_h1 is None
        elif tag == "li":
            self._flush()
            self._prefix = "- "
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in ("td", "th"):
            self._line.append(" | " if self._line else "")
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
            return
        if tag in _HEADINGS:
            if self._in_h1:
                self.first_h1 = _SPACES.sub(" ", "".join(self._h1_text)).strip() or None
                self._in_h1 = False
            self._flush()
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _BLOCK or tag == "li":
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._line.append("\n")
        elif tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
            return
        if self._hidden:
            return
        if self._in_h1:
            self._h1_text.append(data)
        self._line.append(data if self._pre else _SPACES.sub(" ", data))

    def _flush(self) -> None:
        text = "".join(self._line)
        self._line = []
        if not self._pre:
            text = "\n".join(line.strip() for line in text.split("\n")).strip()
        else:
            text = text.strip("\n")
        if text:
            self.blocks.append(self._prefix + text)
        self._prefix = ""

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> tuple[str, str | None]:
    """The readable text of an HTML document, and its title (None when it has none)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    title = _SPACES.sub(" ", parser.title or "").strip() or parser.first_h1
    return "\n\n".join(parser.blocks), title
