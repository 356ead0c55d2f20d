"""Turning a reply into a JSON value that satisfies a JSON Schema, and saying why when it cannot."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

__all__ = [
    "Extraction",
    "correction_message",
    "extract_json",
    "extract_structured",
    "json_prompt_instruction",
    "json_schema_response_format",
    "schema_name",
]

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_MAX_SCAN_STARTS = 32


@dataclass(frozen=True, slots=True)
class Extraction:
    """The first candidate in the reply that validated, or the reason none did."""

    ok: bool
    value: Any = None
    error: str = ""


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _candidates(text: str) -> list[str]:
    """Where JSON may hide in a reply, most likely first: the whole reply, fenced blocks, then each
    `{` or `[` that starts a decodable value (prose before and after is ignored)."""
    found = [text.strip()]
    found += [m.group(2).strip() for m in _FENCE.finditer(text)]
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(text) if ch in "{["][:_MAX_SCAN_STARTS]
    for start in starts:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        found.append(text[start:end])
    return found


def extract_json(text: str, schema: dict[str, Any]) -> Extraction:
    """Find a JSON value in `text` that validates against `schema`."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    first_error: str | None = None
    seen: set[str] = set()
    for candidate in _candidates(text):
        if not candidate or candidate in seen:
            continue
        seen.add(candidate)
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            if candidate[0] in "{[" and first_error is None:  # prose is not a failed attempt at JSON
                first_error = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            continue
        error = best_match(validator.iter_errors(value))
        if error is None:
            return Extraction(ok=True, value=value)
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        # A schema mismatch says more than a JSON syntax error from some other candidate.
        first_error = f"does not match the schema at {where}: {error.message[:300]}"
    return Extraction(ok=False, error=first_error or "no JSON value found in the reply")


def extract_structured(text: str, schema: dict[str, Any], fmt: str = "json") -> Extraction:
    """Find a value in `text`, written in `fmt` (json, yaml or xml), that validates against `schema`.
    YAML and XML are read as `structured_formats` describes (safely; XML by its convention)."""
    if fmt == "json":
        return extract_json(text, schema)
    from synthloom.models.structured_formats import parse_xml, parse_yaml

    validator = _validator(json.dumps(schema, sort_keys=True))
    fenced = [m.group(2).strip() for m in _FENCE.finditer(text) if m.group(1).lower() in (fmt, "")]
    first_error: str | None = None
    for candidate in [*fenced, text.strip()]:
        if not candidate:
            continue
        try:
            value = parse_yaml(candidate) if fmt == "yaml" else parse_xml(candidate, schema)
        except ValueError as exc:
            first_error = first_error or str(exc)
            continue
        error = best_match(validator.iter_errors(value))
        if error is None:
            return Extraction(ok=True, value=value)
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        first_error = f"does not match the schema at {where}: {error.message[:300]}"
    return Extraction(ok=False, error=first_error or f"no {fmt.upper()} document found in the reply")


def schema_name(schema: dict[str, Any], fallback: str | None) -> str:
    """A name for OpenAI's json_schema mode (letters, digits, _ and -, at most 64)."""
    raw = str(schema.get("title") or fallback or "output")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:64]
    return name or "output"


def json_schema_response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` asking a server with a JSON-schema mode for a value valid against `schema`."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def json_prompt_instruction(schema: dict[str, Any]) -> str:
    return (
        "\n\nReply with only a JSON value that conforms to this JSON Schema, with no other text:\n"
        f"```json\n{json.dumps(schema, indent=2)}\n```"
    )


def correction_message(error: str, what: str) -> str:
    """The user turn sent back after an unusable reply."""
    return f"Your previous reply could not be used: {error}. Reply again with only {what}."
