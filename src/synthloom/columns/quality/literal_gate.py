"""A cheap test that a regular expression cannot match: none of the literal strings it needs is there.

Python's `re` tries a pattern that opens with `\\b` or an optional group at every position of a text, so
a list of phrase patterns costs tens of microseconds per text even when nothing matches, which is
nearly always. Every match of such a pattern contains one of a few literal strings ("i hope ",
"disclaimer", "言語モデル"), found by reading the parsed pattern; `str.find` rules a text out in well
under a microsecond, and only a text holding one of them is searched with the pattern itself. The
literals are necessary, never sufficient, so what the pattern finds is unchanged.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["AnyPattern", "LiteralGate", "required_literals"]

try:  # the parser `re` compiles with (a private module, so its absence only costs speed)
    _c: Any = importlib.import_module("re._constants")
    _p: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - other interpreters
    _c = _p = None


def required_literals(pattern: str, flags: int = 0) -> frozenset[str] | None:
    """Strings of which every match of `pattern` contains at least one; None when no such set is found
    (the pattern ignores case, or some way of matching it needs no literal character)."""
    if _p is None:
        return None
    try:
        parsed = _p.parse(pattern, flags)
    except (re.error, RecursionError):
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    return _sequence(parsed.data)


def _sequence(items: Sequence[tuple[Any, Any]]) -> frozenset[str] | None:
    """The best set of required literals of a sequence of parsed items: any item's set is required
    (a run of literal characters is one string); the longest shortest string wins."""
    options: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            options.append(frozenset(["".join(run)]))
            run = []
        found = _item(op, av)
        if found:
            options.append(found)
    if run:
        options.append(frozenset(["".join(run)]))
    if not options:
        return None
    return max(options, key=lambda s: (min(len(x) for x in s), -len(s)))


def _item(op: Any, av: Any) -> frozenset[str] | None:
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        return None if add_flags & re.IGNORECASE else _sequence(sub.data)
    if op is _c.BRANCH:
        return _union(_sequence(branch.data) for branch in av[1])
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, _high, sub = av
        return _sequence(sub.data) if low >= 1 else None
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _sequence(av.data)
    if op is _c.IN and av and all(kind is _c.LITERAL for kind, _ in av):
        return frozenset(chr(code) for _, code in av)
    # Assertions, classes, any character: nothing required (leaving them out is always safe).
    return None


def _union(sets: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    out: set[str] = set()
    for found in sets:
        if not found:
            return None
        out |= found
    return frozenset(out)


class LiteralGate:
    """`could_match(text)`: False only when no pattern of `patterns` can match `text`."""

    def __init__(self, patterns: Iterable[str], flags: int = 0) -> None:
        literals: set[str] = set()
        self.literals: tuple[str, ...] | None = None
        for pattern in patterns:
            found = required_literals(pattern, flags)
            if found is None:
                return  # a pattern without literals: every text could match
            literals |= found
        # Longest first: a long literal is the least likely to be there, so a miss is found early.
        self.literals = tuple(sorted(literals, key=lambda s: (-len(s), s)))

    def could_match(self, text: str) -> bool:
        literals = self.literals
        if literals is None:
            return True
        for literal in literals:  # noqa: SIM110 - a plain loop: a generator costs more than the tests
            if literal in text:
                return True
        return False


class AnyPattern:
    """`found(text)`: whether any of `branches` (regular expressions) matches, as the search of their
    alternation would say; each branch is searched on its own, behind its gate, so a branch that opens
    with a literal gets `re`'s fast literal scan and one that opens with `\\b` is mostly skipped."""

    def __init__(self, branches: Sequence[str], flags: int = 0) -> None:
        self._branches = [(re.compile(b, flags), LiteralGate([b], flags)) for b in branches]

    def found(self, text: str) -> bool:
        return any(gate.could_match(text) and rx.search(text) is not None for rx, gate in self._branches)
