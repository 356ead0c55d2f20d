"""The `expression` column: a Jinja2 expression over other columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from synthloom.config.base import ColumnConfig

__all__ = ["ExpressionColumn"]


class ExpressionColumn(ColumnConfig):
    """A Jinja2 expression over other columns, rendered in the sandbox and cast to `dtype`."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "expr")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "title",
        "type": "expression",
        "expr": "{{ topic | title }}",
    }

    type: Literal["expression"] = "expression"
    #: A Jinja2 template over other columns; its rendered text is the value.
    expr: str
    #: The type the rendered text is cast to (json parses it).
    dtype: Literal["str", "int", "float", "bool", "json"] = "str"
