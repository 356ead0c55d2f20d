"""The `expression` column: a Jinja2 expression over other columns."""

from __future__ import annotations

from typing import ClassVar, Literal

from synthloom.config.base import ColumnConfig

__all__ = ["ExpressionColumn"]


class ExpressionColumn(ColumnConfig):
    """A Jinja2 expression over other columns, rendered in the sandbox and cast to `dtype`."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "expr")

    type: Literal["expression"] = "expression"
    #: A Jinja template computing the value from the record.
    expr: str
    #: The type the rendered text is cast to.
    dtype: Literal["str", "int", "float", "bool", "json"] = "str"
