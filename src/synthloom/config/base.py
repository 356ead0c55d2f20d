"""The base every column config derives from, built-in or plugin."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["COLUMN_NAME_PATTERN", "ColumnConfig", "StrictModel"]

#: Column names must be usable as Jinja2 identifiers: `{{ name }}` and `{{ name.field }}`.
COLUMN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class StrictModel(BaseModel):
    """Everything a user writes: unknown keys are errors, not silence."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ColumnConfig(StrictModel):
    """One column. Subclasses set `type` to a `Literal` naming their column type and override the
    hooks below so that the planner can see every template and reference the column owns."""

    #: Template fields every column has; subclasses extend `template_field_names`.
    template_field_names: ClassVar[tuple[str, ...]] = ("when",)

    name: Annotated[str, Field(pattern=COLUMN_NAME_PATTERN, max_length=128)]
    type: str
    drop: bool = False
    when: str | None = None

    def templates(self) -> dict[str, str]:
        """Field name -> Jinja2 source for every template this column owns."""
        out: dict[str, str] = {}
        for field in self.template_field_names:
            value = getattr(self, field, None)
            if isinstance(value, str):
                out[field] = value
        return out

    def referenced_columns(self) -> dict[str, list[str]]:
        """Field name -> column names referenced outside templates (a validator's targets, ...)."""
        return {}

    def model_aliases(self) -> dict[str, str]:
        """Field name -> model alias this column calls."""
        return {}

    def side_columns(self) -> list[str]:
        """Extra output columns this column writes next to its own (`<name>__trace`, ...)."""
        return []
