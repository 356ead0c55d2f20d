"""YAML and XML replies read into the JSON value a JSON Schema describes (the schema stays the contract).

**YAML** is read with the safe loader, and stricter still: anchors, aliases and explicit tags are
refused before anything is built, so a "billion laughs" reply or a `!!python/object` tag fails its cell
with a reason instead of exhausting memory or building objects. Replies over `MAX_REPLY_CHARS` are refused.

**XML** has no data model of its own, so synthloom reads it by one convention, guided by the schema:

- the document is one root element (its name is free; `<root>` is what the prompt asks for);
- an object is an element whose child elements are its properties, named after them;
- an array is an element whose children are its items, each an `<item>` element;
- a string, number, integer or boolean is the element's text, converted to the schema's type
  (`true`/`false` for booleans); an empty element with `nil="true"` is null;
- where the schema does not say (no `type`, or `anyOf`), children with distinct names are an object,
  repeated or `<item>` children an array, and text stays a string.

A document type declaration (`<!DOCTYPE`, `<!ENTITY`) is refused outright, so entity expansion never
happens. `to_xml` writes a value by the same convention (the simulated endpoint answers with it).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Literal

import yaml

__all__ = [
    "MAX_REPLY_CHARS",
    "STRUCTURED_FORMATS",
    "StructuredFormat",
    "format_instruction",
    "parse_xml",
    "parse_yaml",
    "to_xml",
    "to_yaml",
]

StructuredFormat = Literal["json", "yaml", "xml"]
STRUCTURED_FORMATS: tuple[str, ...] = ("json", "yaml", "xml")

#: Longer replies are refused before parsing (a structured cell has no business being this large).
MAX_REPLY_CHARS = 1_000_000

_XML_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


# -- YAML -------------------------------------------------------------------------------------------


def parse_yaml(text: str) -> Any:
    """The value of a YAML document; `ValueError` (saying why) for anchors, aliases, tags or bad syntax."""
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"the YAML reply is longer than {MAX_REPLY_CHARS} characters")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ValueError("YAML anchors and aliases are not accepted; write every value out")
            tag = getattr(event, "tag", None)
            implicit = getattr(event, "implicit", True)
            explicit = tag is not None and not (
                implicit is True or (isinstance(implicit, tuple) and any(implicit))
            )
            if explicit:
                raise ValueError(f"YAML tags are not accepted ({tag})")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"invalid YAML: {problem}{where}") from None


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


# -- XML --------------------------------------------------------------------------------------------


def parse_xml(text: str, schema: dict[str, Any] | None = None) -> Any:
    """The value of an XML document read by the convention above; `ValueError` when it is not one."""
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"the XML reply is longer than {MAX_REPLY_CHARS} characters")
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ValueError("XML document type declarations and entities are not accepted")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise ValueError(f"invalid XML: {exc}") from None
    return _from_element(root, schema or {})


def _schema_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else None
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _from_element(element: ET.Element, schema: dict[str, Any]) -> Any:
    if element.get("nil") == "true" and not len(element):
        return None
    kind = _schema_type(schema)
    children = list(element)
    if kind is None:
        names = [c.tag for c in children]
        if not children:
            kind = "string"
        elif len(set(names)) == len(names) and names != ["item"]:
            kind = "object"
        else:
            kind = "array"
    if kind == "object":
        properties = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for child in children:
            if child.tag in out:
                raise ValueError(f"element <{child.tag}> appears twice in <{element.tag}>")
            sub = properties.get(child.tag)
            out[child.tag] = _from_element(child, sub if isinstance(sub, dict) else {})
        return out
    if kind == "array":
        items = schema.get("items")
        return [_from_element(child, items if isinstance(items, dict) else {}) for child in children]
    if children:
        raise ValueError(f"<{element.tag}> should hold text, not elements")
    text = (element.text or "").strip() if kind != "string" else (element.text or "")
    if kind == "integer":
        return _number(text, int, element.tag)
    if kind == "number":
        value = _number(text, float, element.tag)
        return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError(f"<{element.tag}> should be true or false, not {text!r}")
    if kind == "null":
        return None
    return text


def _number(text: str, kind: type[Any], tag: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"<{tag}> should be a number, not {text!r}") from None


def to_xml(value: Any, root: str = "root") -> str:
    """`value` as an XML document by the convention above (keys that are not XML names are refused)."""
    element = _to_element(root, value)
    return ET.tostring(element, encoding="unicode")


def _to_element(tag: str, value: Any) -> ET.Element:
    if not _XML_NAME.match(tag):
        raise ValueError(f"{tag!r} is not an XML element name")
    element = ET.Element(tag)
    if value is None:
        element.set("nil", "true")
    elif isinstance(value, dict):
        for key, item in value.items():
            element.append(_to_element(str(key), item))
    elif isinstance(value, list):
        for item in value:
            element.append(_to_element("item", item))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
    return element


# -- asking for a format ----------------------------------------------------------------------------


_XML_RULES = (
    "Write it as XML: one <root> element; each object property is a child element named after it; each "
    "array item is an <item> element; numbers and booleans (true/false) are element text; no attributes, "
    "no DOCTYPE."
)


def format_instruction(fmt: StructuredFormat, schema: dict[str, Any]) -> str:
    """The prompt text asking for a value valid against `schema`, written in `fmt`."""
    shown = f"```json\n{json.dumps(schema, indent=2)}\n```"
    if fmt == "yaml":
        return (
            "\n\nReply with only a YAML document in one fenced yaml block (no anchors, aliases or tags) "
            f"whose value conforms to this JSON Schema:\n{shown}"
        )
    if fmt == "xml":
        return (
            f"\n\nReply with only an XML document in one fenced xml block. {_XML_RULES} Its value must "
            f"conform to this JSON Schema:\n{shown}"
        )
    return f"\n\nReply with only a JSON value that conforms to this JSON Schema, with no other text:\n{shown}"
