"""A value that satisfies a JSON Schema, for the simulated endpoint's json_schema replies.

Covers what structured-output schemas use: objects (every declared property), arrays within
minItems/maxItems, strings within minLength/maxLength (and common formats), numbers within bounds,
enum, const, anyOf/oneOf/allOf and local `$ref`s. `pattern` is not honoured.
"""

from __future__ import annotations

import math
import random
from typing import Any

__all__ = ["value_for_schema"]

_WORDS = (
    "amber", "river", "quiet", "lantern", "orbit", "meadow", "copper", "signal", "harbor", "violet",
    "cedar", "summit", "ember", "willow", "falcon", "prism", "tundra", "canyon", "marble", "echo",
)  # fmt: skip
_MAX_DEPTH = 12


def value_for_schema(schema: dict[str, Any] | bool, rng: random.Random | None = None) -> Any:
    """Generate one value valid against `schema` (best effort for exotic keywords)."""
    rng = rng or random.Random(0)
    root = schema if isinstance(schema, dict) else {}
    return _value(schema, rng, root, 0)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _value(schema: dict[str, Any] | bool, rng: random.Random, root: dict[str, Any], depth: int) -> Any:
    if schema is True or schema == {}:
        return rng.choice(_WORDS)
    if not isinstance(schema, dict):
        return None
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _value({**_resolve(schema["$ref"], root), **{k: v for k, v in schema.items() if k != "$ref"}},
                      rng, root, depth + 1)  # fmt: skip
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
            return _value((options or schema[key])[0], rng, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return _value(merged, rng, root, depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"

    if kind == "object":
        return {
            name: _value(sub, rng, root, depth + 1) for name, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind == "string":
        return _string(schema, rng)
    if kind == "integer":
        return _integer(schema, rng)
    if kind == "number":
        return _number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    return None


def _array(schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int) -> list[Any]:
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", low + 3))
    count = rng.randint(low, max(low, min(high, low + 3)))
    items = schema.get("items", {})
    prefix = schema.get("prefixItems") or []
    out: list[Any] = []
    for i in range(count):
        sub = prefix[i] if i < len(prefix) else items
        value = _value(sub, rng, root, depth + 1)
        if schema.get("uniqueItems"):
            for _ in range(10):
                if value not in out:
                    break
                value = _value(sub, rng, root, depth + 1)
        out.append(value)
    return out


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        text = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif fmt == "date-time":
        text = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"
    elif fmt == "email":
        text = f"{rng.choice(_WORDS)}@example.com"
    elif fmt in ("uri", "url"):
        text = f"https://example.com/{rng.choice(_WORDS)}"
    elif fmt == "uuid":
        text = f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
    else:
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    if high is not None and len(text) > int(high):
        text = text[: int(high)]
    return text


def _bounds(schema: dict[str, Any], default_low: float, default_high: float) -> tuple[float, float, bool]:
    low = schema.get("minimum", default_low)
    high = schema.get("maximum", default_high if "minimum" not in schema else low + 100)
    if "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"]
    if "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"]
    if "maximum" in schema and "minimum" not in schema and "exclusiveMinimum" not in schema:
        low = high - 100
    exclusive = "exclusiveMinimum" in schema or "exclusiveMaximum" in schema
    return float(low), float(high), exclusive


def _integer(schema: dict[str, Any], rng: random.Random) -> int:
    low, high, _ = _bounds(schema, 0, 100)
    lo = math.floor(low) + 1 if "exclusiveMinimum" in schema else math.ceil(low)
    hi = math.ceil(high) - 1 if "exclusiveMaximum" in schema else math.floor(high)
    step = int(schema.get("multipleOf", 1)) or 1
    lo_k, hi_k = math.ceil(lo / step), math.floor(hi / step)
    return step * rng.randint(lo_k, max(lo_k, hi_k))


def _number(schema: dict[str, Any], rng: random.Random) -> float:
    low, high, exclusive = _bounds(schema, 0.0, 100.0)
    if "multipleOf" in schema:
        return float(_integer(schema, rng)) if float(schema["multipleOf"]).is_integer() else low
    value = rng.uniform(low, high)
    value = round(value, 2)
    if exclusive or value < low or value > high:
        value = (low + high) / 2
    return value
