"""Broken encodings: mojibake, replacement characters, control characters and binary garbage.

Mojibake (UTF-8 read as Windows-1252 or Latin-1, once or twice over) is recognised and repaired by
`ftfy`, whose badness rules are built from real mojibake rather than a table of our own; its cheap
`is_bad` check runs on every text and the full `fix_text` only on the texts it flags. The label:

    mojibake          ftfy finds mojibake (`repairable` says whether its fix removes it)
    replacement_char  U+FFFD: bytes that were lost when the text was decoded (cannot be repaired)
    binary            a run of control characters, the sign of bytes that never were text
    control_chars     a stray control character (a NUL, an escape) in otherwise good text
    invalid_utf8      lone surrogates: bytes that were not UTF-8 kept as they were (`surrogateescape`)

`repair(text)` is what the `repair` option writes in place of a column's text: ftfy's fix of mojibake,
without its other changes (quotes, line breaks and width stay as the model wrote them).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ENCODING_LABELS", "encoding_label", "repair", "require_ftfy"]

ENCODING_LABELS = ("mojibake", "replacement_char", "binary", "control_chars", "invalid_utf8")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: C0 controls but tab, line feed, vertical tab, form feed and carriage return; DEL; C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: Two or more control characters within a few characters of each other: bytes, not text.
_BINARY = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f][^\n]{0,6}[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ftfy: Any = None


def require_ftfy() -> Any:
    """The `ftfy` module; a `ConfigError` with the install command when it is missing."""
    global _ftfy
    if _ftfy is None:
        try:
            import ftfy
            import ftfy.badness
        except ImportError:
            from synthloom.errors import ConfigError

            raise ConfigError(
                "the 'encoding' tag needs ftfy: pip install 'synthloom[quality]' (or ftfy)", field="tags"
            ) from None
        _ftfy = ftfy
    return _ftfy


def _fix(text: str) -> str:
    ftfy = require_ftfy()
    return str(
        ftfy.fix_text(
            text,
            unescape_html=False,
            fix_latin_ligatures=False,
            fix_character_width=False,
            uncurl_quotes=False,
            fix_line_breaks=False,
            fix_surrogates=True,
            remove_control_chars=False,
            normalization=None,
        )
    )


def encoding_label(text: str) -> tuple[str | None, bool | None]:
    """`(label, repairable)`: the problem found (None when there is none) and whether `repair`
    removes it (None when there is nothing to repair)."""
    ftfy = require_ftfy()
    if text.isascii():
        # Every rule of ftfy's badness needs a character outside ASCII (mojibake is made of them), and
        # surrogates, U+FFFD and C1 controls are outside it too: only C0 controls are left to find.
        if _CONTROL.search(text) is None:
            return None, None
        return ("binary", False) if _BINARY.search(text) is not None else ("control_chars", False)
    if _SURROGATE.search(text) is not None:
        return "invalid_utf8", False
    broken_mojibake = False
    if ftfy.badness.is_bad(text):
        fixed = _fix(text)
        if fixed != text:
            if not ftfy.badness.is_bad(fixed):
                return "mojibake", True
            broken_mojibake = True
    # Control characters close together are bytes that never were text, even where ftfy sees
    # mojibake-like sequences among them (random bytes read as Windows-1252 look like some).
    if _BINARY.search(text) is not None:
        return "binary", False
    if broken_mojibake:
        return "mojibake", False
    if "\ufffd" in text:
        return "replacement_char", False
    if _CONTROL.search(text) is not None:
        return "control_chars", False
    return None, None


def repair(text: str) -> str:
    """`text` with its mojibake undone (unchanged when ftfy finds none)."""
    ftfy = require_ftfy()
    return _fix(text) if ftfy.badness.is_bad(text) else text
