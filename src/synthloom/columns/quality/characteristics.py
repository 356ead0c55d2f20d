"""Data characteristics of a text (code, math, citations, tables, lists) and the category they suggest.

Each is a regular expression over the text, so a row group is tagged at the speed of the regex engine.
The category is the first that applies: code, math, table, cited, list, prose (or conversation for a
messages list, decided by the caller).
"""

from __future__ import annotations

import re
from typing import Any

from synthloom.columns.quality.literal_gate import AnyPattern

__all__ = ["characteristics"]

# Each is an alternation written as its branches (see `AnyPattern`): a text has the characteristic
# when any branch matches.
_CODE = AnyPattern(
    (
        r"```",
        r"^(?: {4}|\t)\S.*$\n^(?: {4}|\t)",
        r"^\s*(?:def |class |import |from \S+ import |#include |public (?:static )?\w+|function\s+\w+\s*\(|"
        r"(?:const|let|var) \w+\s*=|SELECT .+ FROM |return\b.*;\s*$|for\s*\(.*;.*;)",
    ),
    re.MULTILINE,
)
_MATH = AnyPattern(
    (
        r"\$[^$\n]+\$",
        r"\\\(",
        r"\\\[",
        r"\\(?:frac|sqrt|sum|int|alpha|beta|theta|pi|cdot|times|leq|geq)\b",
        r"[=<>≤≥±\u00d7÷√∑∫π]\s*-?\d",
        r"\d\s*[+\-*/^\u00d7÷]\s*\d+\s*=",
        r"\b[a-z]\^\d",
        r"\b\d+\s*/\s*\d+\b",
    )
)
_CITATION = AnyPattern(
    (
        r"\[\d{1,3}(?:[,\u2013-]\s*\d{1,3})*\]",
        r"\([A-Z][A-Za-z-]+(?: et al\.?| and [A-Z][A-Za-z-]+)?,? (?:19|20)\d{2}\)",
        r"\bet al\.",
        r"\bdoi:\s*10\.",
        r"\bhttps?://\S+",
        r"\barXiv:\d",
    )
)
_TABLE = re.compile(r"^\s*\|.*\|\s*$\n^\s*\|?\s*:?-{3,}", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S.*$\n^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S", re.MULTILINE)


def characteristics(text: str) -> dict[str, Any]:
    """`has_code`, `has_math`, `has_citation`, `has_table`, `has_list` and a derived `category`."""
    found = {
        "has_code": _CODE.found(text),
        "has_math": _MATH.found(text),
        "has_citation": _CITATION.found(text),
        "has_table": _TABLE.search(text) is not None,
        "has_list": _LIST.search(text) is not None,
    }
    if found["has_code"]:
        category = "code"
    elif found["has_math"]:
        category = "math"
    elif found["has_table"]:
        category = "table"
    elif found["has_citation"]:
        category = "cited"
    elif found["has_list"]:
        category = "list"
    else:
        category = "prose"
    return {**found, "category": category}
