"""What each column reads, and whether it runs for a row: its template context and its `when`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from synthloom.plan.planner import Plan
from synthloom.plan.templates import compile_template, is_truthy

__all__ = ["ColumnInputs"]


class ColumnInputs:
    """Per column of a plan: the names its templates may read (its inputs, their side columns, its seed
    fields) and its compiled `when` condition. Read-only once built; shared by every row."""

    def __init__(self, plan: Plan) -> None:
        side_of = {c.name: c.config.side_columns() for c in plan.columns}
        self.keys: dict[str, tuple[str, ...]] = {
            c.name: tuple(
                sorted({*c.depends_on, *c.reads_seed, *(s for d in c.depends_on for s in side_of.get(d, []))})
            )
            for c in plan.columns
        }
        self._when: dict[str, jinja2.Template | None] = {
            c.name: compile_template(c.config.when) if c.config.when else None for c in plan.columns
        }

    def context(self, column: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """The values `column`'s templates see, from one row's values."""
        return {k: row[k] for k in self.keys[column] if k in row}

    def has_condition(self, column: str) -> bool:
        return self._when[column] is not None

    def is_active(self, column: str, row: Mapping[str, Any]) -> bool:
        """Whether `column` runs for this row. A condition that cannot be evaluated skips the cell rather
        than the run; one the sandbox refuses (a reach for Python internals) raises `SecurityError` so
        that its row fails and is recorded instead of passing silently."""
        template = self._when[column]
        if template is None:
            return True
        try:
            return is_truthy(template.render(self.context(column, row)))
        except SecurityError:
            raise
        except Exception:
            return False

    def mask(
        self,
        column: str,
        table: Mapping[str, Sequence[Any]],
        alive: Sequence[bool],
        refused: Callable[[int, SecurityError], object],
    ) -> list[bool]:
        """Which rows of a row group compute `column`. A row whose condition the sandbox refuses is
        inactive and reported to `refused`."""
        if self._when[column] is None:
            return list(alive)
        keys = [k for k in self.keys[column] if k in table]
        mask: list[bool] = []
        for i, is_alive in enumerate(alive):
            if not is_alive:
                mask.append(False)
                continue
            try:
                mask.append(self.is_active(column, {k: table[k][i] for k in keys}))
            except SecurityError as exc:
                mask.append(False)
                refused(i, exc)
        return mask
