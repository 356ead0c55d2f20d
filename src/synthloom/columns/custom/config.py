"""The `custom` column: a Python function by import path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from synthloom.config.base import COLUMN_NAME_PATTERN, ColumnConfig, ImportPath, ImportPathText

__all__ = ["CustomColumn"]


class CustomColumn(ColumnConfig):
    """A Python function by import path, called per cell (`row -> value`) or per row group
    (`rows -> values`). `inputs` names the columns it reads."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "word_count",
        "type": "custom",
        "function": "my_functions:count_words",
        "inputs": ["answer"],
    }

    type: Literal["custom"] = "custom"
    #: `package.module:function` computing the value.
    function: ImportPathText
    #: cell: called per row (`row -> value`); batch: called per row group (`rows -> values`).
    mode: Literal["cell", "batch"] = "cell"
    #: The columns the function reads.
    inputs: list[str] = Field(default_factory=list)
    #: Keyword arguments passed to the function.
    params: dict[str, Any] = Field(default_factory=dict)
    #: Model aliases a cell function calls through its `context` (`context.client(alias)`): the run
    #: opens them, and their requests go through the run's limiters and usage accounting.
    models: list[str] = Field(default_factory=list)
    #: Several columns from one call (`mode: cell`): the function returns a dict with these keys, each
    #: written to a column of that name (the column's own value is the whole dict; `drop: true` leaves
    #: it out and keeps the columns).
    outputs: (
        Annotated[list[Annotated[str, Field(pattern=COLUMN_NAME_PATTERN)]], Field(min_length=1)] | None
    ) = None

    @model_validator(mode="after")
    def _check_outputs(self) -> CustomColumn:
        if self.outputs is not None:
            if self.mode == "batch":
                raise ValueError("'outputs' is for 'mode: cell' (a batch function returns one value per row)")
            twice = sorted({n for n in self.outputs if self.outputs.count(n) > 1})
            if twice:
                raise ValueError(f"'outputs' names {', '.join(twice)} twice")
            if self.name in self.outputs:
                raise ValueError(f"'outputs' cannot name the column itself ('{self.name}')")
        return self

    def side_columns(self) -> list[str]:
        return list(self.outputs or [])

    def kept_when_dropped(self) -> list[str]:
        return list(self.outputs or [])

    def import_paths(self) -> dict[str, ImportPath]:
        return {"function": ImportPath(self.function, "callable")}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)}

    def model_aliases(self) -> dict[str, str]:
        return {f"models[{i}]": alias for i, alias in enumerate(self.models)}
