"""A Python function's tool definition: a JSON Schema of its parameters from the type hints, and the
descriptions from its docstring.

    def weather(city: str, unit: Literal["c", "f"] = "c", days: list[int] | None = None) -> str:
        '''Today's weather in a city.

        Args:
            city: The city's name.
            unit: Celsius or Fahrenheit.
        '''

    signature = function_signature(weather)
    signature.description          # "Today's weather in a city."
    signature.parameters           # {"type": "object", "properties": {"city": ...}, "required": ["city"]}
    signature.arguments.model_validate({"city": "Oslo"})  # checked and converted, as pydantic does

The schema is pydantic's for a model built from the parameters (so Optional, unions, lists, Literal,
enums, defaults, dataclasses and pydantic models all work), without pydantic's `title`s. Docstrings in
Google (`Args:`), NumPy (`Parameters` + dashes) and Sphinx (`:param x:`) styles are read.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["FunctionSignature", "function_signature", "parse_docstring"]


@dataclass(frozen=True)
class FunctionSignature:
    """What a model is told about a function, and the model of its arguments."""

    description: str
    parameters: dict[str, Any]
    #: Validates (and converts) the arguments a model sends; field names are the parameter names.
    arguments: type[BaseModel]
    #: The function takes `**kwargs`: arguments not in `parameters` are passed through.
    takes_extra: bool = False


def function_signature(
    function: Callable[..., Any], *, name: str | None = None, skip_first: bool = False
) -> FunctionSignature:
    """The tool definition of `function` (a bound method's `self` is not a parameter; `skip_first`
    leaves out the first parameter of a plain function that will be called bound).

    Raises `TypeError` when a parameter cannot be described (a positional-only or underscored one
    without a default)."""
    name = name or getattr(function, "__name__", "tool")
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # an annotation that does not resolve: fall back to the raw ones
        hints = {}
    summary, param_docs = parse_docstring(inspect.getdoc(function) or "")
    fields: dict[str, Any] = {}
    takes_extra = False
    params = list(signature.parameters.values())
    for param in params[1:] if skip_first else params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_extra = True
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY and param.default is inspect.Parameter.empty:
            raise TypeError(
                f"'{name}': positional-only parameter '{param.name}' cannot take a named argument"
            )
        if param.name.startswith("_"):
            if param.default is inspect.Parameter.empty:
                raise TypeError(f"'{name}': parameter '{param.name}' starts with '_' and has no default")
            continue  # private, with a default: not offered to the model
        annotation = hints.get(param.name, param.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    config = ConfigDict(extra="allow" if takes_extra else "forbid", arbitrary_types_allowed=True)
    arguments = create_model(f"{name}_arguments", __config__=config, **fields)
    try:
        schema = arguments.model_json_schema()
    except Exception as exc:  # a type pydantic cannot describe (an arbitrary class)
        raise TypeError(f"'{name}': its parameters have no JSON Schema: {exc}") from None
    parameters = _without_titles(schema)
    parameters.setdefault("properties", {})
    if not takes_extra:
        parameters["additionalProperties"] = False
    return FunctionSignature(summary, parameters, arguments, takes_extra)


def _without_titles(schema: Any, *, properties: bool = False) -> Any:
    """`schema` without pydantic's generated `title` keywords (a property named `title` stays)."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if properties:  # a name -> schema map: every key is a property name
            out[key] = _without_titles(value)
        elif key == "title" and isinstance(value, str):
            continue
        elif key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = _without_titles(value, properties=True)
        else:
            out[key] = _without_titles(value)
    return out


# -- docstrings ------------------------------------------------------------------------------------

_GOOGLE_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_OTHER_SECTION = re.compile(
    r"^(Returns?|Yields?|Raises?|Examples?|Notes?|See Also|Attributes|Warnings?|References)\s*:?\s*$"
)
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SPHINX_OTHER = re.compile(r"^:(returns?|rtype|raises?|type)\b")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(?::.*)?$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(summary, {parameter: description}) from a cleaned docstring (`inspect.getdoc`)."""
    lines = doc.strip("\n").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    mode = "summary"  # summary | google | numpy | sphinx | other
    item_indent = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        nxt = lines[index + 1].strip() if index + 1 < len(lines) else ""
        index += 1
        if _GOOGLE_SECTION.match(stripped) and indent == 0:
            mode, current, item_indent = "google", None, -1
            continue
        if nxt and set(nxt) == {"-"} and indent == 0 and stripped:  # NumPy: a title over dashes
            mode = "numpy" if stripped.lower() in ("parameters", "other parameters") else "other"
            current = None
            index += 1
            continue
        if (_OTHER_SECTION.match(stripped) and indent == 0) or _SPHINX_OTHER.match(stripped):
            mode, current = "other", None
            continue
        sphinx = _SPHINX_PARAM.match(stripped)
        if sphinx:
            mode, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            continue
        if mode == "summary":
            summary.append(line)
        elif mode == "google":
            item = _GOOGLE_ITEM.match(stripped)
            if item and (item_indent < 0 or indent <= item_indent):
                item_indent = indent
                current = item.group(1).lstrip("*")
                params[current] = item.group(3).strip()
            elif current and stripped:
                params[current] = f"{params[current]} {stripped}".strip()
        elif mode == "numpy":
            item = _NUMPY_ITEM.match(stripped)
            if indent == 0 and item:
                current = item.group(1)
                params[current] = ""
            elif current and stripped:
                params[current] = f"{params[current]} {stripped}".strip()
        elif mode == "sphinx" and current and stripped and indent > 0:
            params[current] = f"{params[current]} {stripped}".strip()
    text = "\n".join(summary).strip()
    return re.sub(r"\n{3,}", "\n\n", text), {k: v for k, v in params.items() if v}
