"""Refusals and AI boilerplate: what a model says about itself instead of (or around) the content.

The phrases are data, one file per language in `boilerplate_phrases/` (see its README): regular
expressions of four kinds. Where each kind is looked for follows where models put it: a refusal, a
self-reference and a filler preamble open a reply, a disclaimer closes it. The label says which:

    refusal               the reply is a refusal (little else in it)
    refusal_then_content  a refusal or a hedge ("I can't give legal advice, but ...") and then content
    self_reference        the model calls itself an AI / a language model
    preamble              a filler opening ("Sure! Here's ...")
    disclaimer            a disclaimer or sign-off at the end ("I hope this helps!")

The lists read are the text's language's and English's (models refuse in English whatever they were
asked in) when the language is known — from the `language` tag — and all of them (of `languages`, when
the column restricts them) when it is not. A language's patterns of a kind are one compiled
alternation, searched only when the text holds one of the literal strings its matches need
(`literal_gate`): most texts are ruled out with a few substring tests, not regex searches.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

from synthloom.columns.quality.literal_gate import LiteralGate

__all__ = ["BOILERPLATE_LABELS", "BoilerplateDetector", "phrase_languages"]

PHRASES = Path(__file__).resolve().parent / "boilerplate_phrases"
BOILERPLATE_LABELS = ("refusal", "refusal_then_content", "self_reference", "preamble", "disclaimer")
_KINDS = ("refusal", "self", "preamble", "tail")
#: How much of the opening and the ending is read (where models put boilerplate).
_HEAD = 600
_TAIL = 400
#: A refusal with at most this many words (characters, for scripts without spaces) after it is the
#: whole reply.
_REFUSAL_REST_WORDS = 25
_REFUSAL_REST_CHARS = 160
_lock = threading.Lock()
#: A kind's patterns of one language: their alternation, and the gate that rules texts out first.
_Kind = tuple[re.Pattern[str], LiteralGate]
_compiled: dict[str, dict[str, _Kind]] = {}


def phrase_languages() -> list[str]:
    """The languages with a phrase list."""
    return sorted(p.stem for p in PHRASES.glob("*.tsv"))


def _load(language: str) -> dict[str, _Kind]:
    patterns: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    path = PHRASES / f"{language}.tsv"
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            kind, _, pattern = line.partition("\t")
            if kind not in patterns:
                raise ValueError(f"{path.name}:{number}: unknown kind {kind!r} (one of {', '.join(_KINDS)})")
            patterns[kind].append(pattern)
    return {
        # Patterns are lower case and read lower-cased text: much faster than IGNORECASE in `re`.
        kind: (
            re.compile("|".join(f"(?:{p})" for p in found), re.MULTILINE),
            LiteralGate(found, re.MULTILINE),
        )
        for kind, found in patterns.items()
        if found
    }


def _patterns(language: str) -> dict[str, _Kind]:
    with _lock:
        if language not in _compiled:
            _compiled[language] = _load(language)
        return _compiled[language]


class BoilerplateDetector:
    """`label(text, language)` -> one of `BOILERPLATE_LABELS`, or None for a text with no boilerplate."""

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        available = phrase_languages()
        chosen = sorted(set(languages) & set(available)) if languages else available
        self._lists = {language: _patterns(language) for language in sorted({*chosen, "en"})}
        english = self._lists["en"]
        self._every = list(self._lists.values())
        self._known = {
            language: [english, p] if language != "en" else [english] for language, p in self._lists.items()
        }

    def label(self, text: str, language: str | None = None) -> str | None:
        """The boilerplate in `text`; `language` (an ISO 639-1 code) narrows the lists read."""
        lists = self._known.get(language or "", self._every)
        head = text[:_HEAD].lstrip().lower()
        found = _first(lists, "refusal", head)
        if found is not None:
            rest = text[found.end() :]
            short = len(rest) <= _REFUSAL_REST_CHARS or len(rest.split()) <= _REFUSAL_REST_WORDS
            return "refusal" if short and len(rest) <= 4 * _REFUSAL_REST_CHARS else "refusal_then_content"
        if _first(lists, "self", head) is not None:
            return "self_reference"
        if _first(lists, "preamble", head[:80]) is not None:
            return "preamble"
        if _first(lists, "tail", text[-_TAIL:].lower()) is not None:
            return "disclaimer"
        return None


def _first(lists: list[dict[str, _Kind]], kind: str, text: str) -> re.Match[str] | None:
    for patterns in lists:
        entry = patterns.get(kind)
        if entry is None or not entry[1].could_match(text):
            continue
        found = entry[0].search(text)
        if found is not None:
            return found
    return None
