"""An example synthloom column plugin: `type: shout` writes another column upper-cased, plus "!" x n.

    - name: loud
      type: shout
      source: greeting
      exclamations: 3

Registered through the `synthloom.columns` entry point in this package's pyproject.toml, exactly as the
built-in column types are: once installed, `synthloom validate`, `create`, `schema` and the Python API
know `type: shout` with no import in the user's code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

# Plugins load when a config is first loaded, never while `import synthloom` runs, so importing from the
# top-level package would work too; the submodules keep the plugin's own import light.
from synthloom.config.base import ColumnConfig
from synthloom.config.registry import ColumnType
from synthloom.engine.generator import BatchGenerator, RowGroupSlice

__all__ = ["ShoutColumn", "ShoutGenerator", "column_type", "shout"]


class ShoutColumn(ColumnConfig):
    """The column named by `source`, upper-cased, followed by `exclamations` exclamation marks."""

    type: Literal["shout"] = "shout"
    #: The column to shout.
    source: str
    #: How many "!" to append.
    exclamations: Annotated[int, Field(ge=0, le=10)] = 1

    def referenced_columns(self) -> dict[str, list[str]]:
        # `source` is a plain field, not a template: tell the planner it is a dependency, so it orders
        # the columns, and rejects an unknown name with a suggestion, as for built-ins.
        return {"source": [self.source]}


def shout(value: Any, exclamations: int) -> str | None:
    """`value` upper-cased plus "!" x `exclamations`; null stays null."""
    if value is None:
        return None
    return str(value).upper() + "!" * exclamations


class ShoutGenerator(BatchGenerator[ShoutColumn]):
    """Model-free, so a batch generator: one call per row group."""

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        values = table[self.config.source]
        n = self.config.exclamations
        return [
            None if active is not None and not active[i] else shout(values[i], n) for i in range(group.size)
        ]


column_type = ColumnType("shout", ShoutColumn, ShoutGenerator)
