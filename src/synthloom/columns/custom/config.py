"""The `custom` column: a Python function by import path."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from synthloom.config.base import ColumnConfig, ImportPath, ImportPathText

__all__ = ["CustomColumn"]


class CustomColumn(ColumnConfig):
    """A Python function by import path, called per cell (`row -> value`) or per row group
    (`rows -> values`). `inputs` names the columns it reads."""

    type: Literal["custom"] = "custom"
    function: ImportPathText
    mode: Literal["cell", "batch"] = "cell"
    inputs: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    #: Model aliases a cell function calls through its `context` (`context.client(alias)`): the run
    #: opens them, and their requests go through the run's limiters and usage accounting.
    models: list[str] = Field(default_factory=list)

    def import_paths(self) -> dict[str, ImportPath]:
        return {"function": ImportPath(self.function, "callable")}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)}

    def model_aliases(self) -> dict[str, str]:
        return {f"models[{i}]": alias for i, alias in enumerate(self.models)}
