"""The `filter` column: keep a row only when a condition holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from synthloom.config.base import ColumnConfig, ImportPath, ImportPathText

__all__ = ["FilterColumn"]


class FilterColumn(ColumnConfig):
    """Keeps a row only when `condition` (a Jinja template) renders true, or when `function` (a Python
    callable by import path, given the row's `inputs`) returns a true value. A row that fails the test
    is *filtered*: removed from the output, written to filtered.jsonl with `reason`, and never counted as
    a failure (early shutdown ignores it). Placed early in the DAG, a filter saves the model calls of
    every column after it. The column's own value (true) is dropped from the output unless `drop: false`.

    A `function` returns a bool, or a `(keep, reason)` pair to give its own reason.
    """

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "condition", "reason")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "long_enough",
        "type": "filter",
        "condition": "{{ answer | length > 20 }}",
    }

    type: Literal["filter"] = "filter"
    #: A Jinja template: the row is kept when it renders true.
    condition: str | None = None
    #: `package.module:function` given the row's `inputs`: keep the row when it returns true.
    function: ImportPathText | None = None
    #: The columns a `function` reads (a `condition` names its own through the template).
    inputs: list[str] = Field(default_factory=list)
    #: Why a row was removed, written to filtered.jsonl; a template over the row (default: the condition).
    reason: str | None = None
    #: Leave the filter's own value (true) out of the records.
    drop: bool = True

    @model_validator(mode="after")
    def _one_test(self) -> FilterColumn:
        if (self.condition is None) == (self.function is None):
            raise ValueError(
                "give exactly one of 'condition' (a Jinja template) or 'function' (an import path)"
            )
        if self.condition is not None and "{{" not in self.condition and "{%" not in self.condition:
            raise ValueError(
                f"'condition' is plain text ({self.condition!r}), so it is not evaluated: write a Jinja "
                f"condition such as '{{{{ {self.condition.strip() or 'x > 5'} }}}}'"
            )
        return self

    def import_paths(self) -> dict[str, ImportPath]:
        return {"function": ImportPath(self.function, "callable")} if self.function else {}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)}
