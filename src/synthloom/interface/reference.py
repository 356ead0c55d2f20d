"""The reference of everything a config can name, built at run time from the registries.

Column types (with their fields: type, default, meaning, and a minimal example), samplers, model
providers and their capabilities, recipes, executors and export formats. Because it reads the
registries, a column type or provider installed as a plugin appears here with no documentation change.

The JSON shape (`synthloom reference --json`) is stable; `REFERENCE_SHAPE_VERSION` changes when it does:

    {"shape": 1, "synthloom": "0.3.0",
     "column_types": [{"name", "summary", "origin", "fields": [FIELD...], "example": {...},
                       "example_valid": bool}],
     "samplers":     [{"name", "summary", "fields": [FIELD...]}],
     "providers":    [{"name", "summary", "capabilities": {"json_schema": bool, ...}, "batch_protocol"}],
     "recipes":      [{"name", "description", "origin"}],
     "executors":    [{"name", "summary", "requires", "fields": [FIELD...]}],
     "export_formats": ["jsonl", ...],
     "structured_formats": ["json", "yaml", "xml"]}

    FIELD = {"name", "type", "required", "default", "meaning"}
"""

from __future__ import annotations

import enum
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from synthloom._version import __version__
from synthloom.columns.sampler.params import SAMPLER_PARAMS
from synthloom.config.field_docs import field_meanings, first_sentence
from synthloom.config.recipe_library import recipe_description, recipe_names, recipe_origin
from synthloom.config.registry import ColumnType, column_types
from synthloom.executors.registry import EXECUTORS
from synthloom.models.providers.registry import provider_registry
from synthloom.models.structured_formats import STRUCTURED_FORMATS
from synthloom.outputs import export_formats

__all__ = ["REFERENCE_SHAPE_VERSION", "build_reference", "column_type_entry", "field_entries"]

REFERENCE_SHAPE_VERSION = 1


def build_reference() -> dict[str, Any]:
    """The whole reference as plain data (the `--json` shape above)."""
    return {
        "shape": REFERENCE_SHAPE_VERSION,
        "synthloom": __version__,
        "column_types": [column_type_entry(t) for t in column_types().values()],
        "samplers": [
            {"name": name, "summary": _summary(model), "fields": field_entries(model)}
            for name, model in SAMPLER_PARAMS.items()
        ],
        "providers": [_provider_entry(name) for name in provider_registry.names()],
        "recipes": [
            {"name": name, "description": recipe_description(name), "origin": recipe_origin(name)}
            for name in recipe_names()
        ],
        "executors": [
            {
                "name": name,
                "summary": _summary(EXECUTORS.get(name).options),
                "requires": EXECUTORS.get(name).requires,
                "fields": field_entries(EXECUTORS.get(name).options),
            }
            for name in EXECUTORS.names()
        ],
        "export_formats": list(export_formats()),
        "structured_formats": list(STRUCTURED_FORMATS),
    }


def column_type_entry(column_type: ColumnType) -> dict[str, Any]:
    """One column type: summary, where it comes from, its fields and a minimal example."""
    config = column_type.config
    example = config.reference_example() or _synthesized_example(column_type)
    return {
        "name": column_type.name,
        "summary": _summary(config),
        "origin": _origin(config),
        "fields": field_entries(config),
        "example": example,
        "example_valid": _validates(config, example),
    }


def field_entries(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Every field a user writes in `model`: name (as written: aliases win), type, default, meaning."""
    meanings = field_meanings(model)
    out = []
    for name, info in model.model_fields.items():
        out.append(
            {
                "name": info.alias or name,
                "type": type_text(info.annotation),
                "required": info.is_required(),
                "default": _default(info),
                "meaning": first_sentence(meanings.get(name, "")),
            }
        )
    return out


def type_text(annotation: Any) -> str:
    """A type the way a config author reads it: `str | None`, `list[str]`, `'a' | 'b'`, `ModelName`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_text(a) for a in args)}]" if args else name
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\btyping\.", "", str(annotation))


def _default(info: Any) -> Any:
    if info.is_required():
        return None
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:  # a factory taking the validated data
            return None
    else:
        value = info.default
    if value is PydanticUndefined:
        return None
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _summary(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return first_sentence(doc)


def _origin(config: type) -> str:
    module = config.__module__
    return "builtin" if module.startswith("synthloom.") else module.split(".")[0]


def _provider_entry(name: str) -> dict[str, Any]:
    provider = provider_registry.get(name)
    caps = provider.capabilities
    return {
        "name": name,
        "summary": _summary(type(provider)),
        "capabilities": {
            field: bool(getattr(caps, field))
            for field in ("json_schema", "tools", "vision", "audio", "embeddings")
        },
        "default_base_url": provider.default_base_url,
        "starts_locally": provider.starts_locally,
        "batch_protocol": provider.batch_protocol,
    }


def _synthesized_example(column_type: ColumnType) -> dict[str, Any]:
    """A column with every required field filled with a placeholder of its type (for plugins that do
    not give `reference_example`); `example_valid` says whether it validates as it stands."""
    out: dict[str, Any] = {"name": f"my_{column_type.name.replace('-', '_')}", "type": column_type.name}
    for name, info in column_type.config.model_fields.items():
        if info.is_required() and name not in ("name", "type"):
            out[info.alias or name] = _placeholder(info.annotation)
    return out


def _placeholder(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _placeholder(args[0])
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return _placeholder(next((a for a in args if a is not type(None)), str))
    base = origin or annotation
    if base is list:
        return []
    if base is dict:
        return {}
    if base is int:
        return 1
    if base is float:
        return 1.0
    if base is bool:
        return True
    return "..."


def _validates(config: type[BaseModel], example: dict[str, Any]) -> bool:
    try:
        config.model_validate(example)
    except ValidationError:
        return False
    return True
