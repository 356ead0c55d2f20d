"""Config errors as data for `--json`: one entry per problem, with where it is and a suggested fix.

The shape of an entry is stable (`ERROR_FIELDS`); absent facts are null:

    {"file": "config.yaml", "line": 12, "col": 7, "column": "answer", "node": null,
     "field": "promt", "model": null, "message": "unknown field (did you mean 'prompt'?)",
     "fix": "rename 'promt' to 'prompt'"}

`column` is the config's column (its `name`), `col` the character position on `line` (both 1-based).
"""

from __future__ import annotations

import re
from typing import Any

from synthloom.errors import ConfigError

__all__ = ["ERROR_FIELDS", "error_entries", "suggested_fix"]

ERROR_FIELDS = ("file", "line", "col", "column", "node", "field", "model", "message", "fix")

_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'")
_KNOWN = re.compile(r"\((?:known|expected|one of)[:]? ([^)]+)\)")


def error_entries(exc: ConfigError) -> list[dict[str, Any]]:
    """Every problem `exc` carries (itself first, then `exc.also`) as a JSON-ready dict."""
    return [_entry(e) for e in (exc, *exc.also)]


def _entry(exc: ConfigError) -> dict[str, Any]:
    line = exc.line
    return {
        "file": exc.source,
        "line": int(line) if line is not None else None,
        "col": exc.col if exc.col is not None else getattr(line, "col", None),
        "column": exc.column,
        "node": exc.node,
        "field": exc.field,
        "model": exc.model,
        "message": exc.reason,
        "fix": suggested_fix(exc),
    }


def suggested_fix(exc: ConfigError) -> str | None:
    """The fix the error names itself, else one read from its message ("did you mean ...", "known: ..."),
    else a pointer to the reference for the field. None when nothing useful can be said."""
    if exc.fix:
        return exc.fix
    reason = exc.reason
    close = _DID_YOU_MEAN.search(reason)
    if close:
        return f"use '{close.group(1)}'"
    known = _KNOWN.search(reason)
    if known:
        return f"use one of: {known.group(1)}"
    if reason.startswith("Input should be"):
        return "use " + reason.removeprefix("Input should be ")
    if exc.column and exc.field:
        return f"check '{exc.field}' against `synthloom reference TYPE` (TYPE: the column's type)"
    return None
