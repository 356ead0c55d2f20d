"""The `filter` column: rows whose condition is false are removed on purpose (`CellFiltered`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.expression.generator import ExpressionGenerator
from synthloom.columns.filter.config import FilterColumn
from synthloom.engine.generator import BatchGenerator, CellFailure, CellFiltered, RowGroupSlice
from synthloom.plan.planner import import_object
from synthloom.plan.templates import compile_template, is_truthy

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["FilterGenerator"]


class FilterGenerator(BatchGenerator[FilterColumn]):
    """True for a kept row; `CellFiltered(reason)` for a removed one. Conditions render through the
    expression column's fast path, so a filter over a million rows costs what an expression does."""

    def __init__(self, config: FilterColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._condition: ExpressionGenerator | None = None
        self._function: Callable[..., Any] | None = None
        if config.condition is not None:
            self._condition = ExpressionGenerator(
                ExpressionColumn(name=config.name, expr=config.condition, dtype="str"), setup
            )
            default_reason = f"filter '{config.name}': condition is false: {config.condition.strip()}"
        else:
            function = import_object(config.function or "", base_dir=setup.config.source_dir)
            assert callable(function)  # the planner checked the import path names a callable
            self._function = function
            default_reason = f"filter '{config.name}': {config.function} returned false"
        self._default_reason = default_reason[:500]
        self._reason = compile_template(config.reason) if config.reason else None

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        if self._condition is not None:
            rendered = self._condition.generate(table, group, active)
            verdicts: list[Any] = [
                v if isinstance(v, CellFailure) or v is None else (is_truthy(v), None) for v in rendered
            ]
        else:
            verdicts = self._call_function(table, group.size, active)
        out: list[Any] = [None] * group.size
        for i, verdict in enumerate(verdicts):
            if verdict is None or isinstance(verdict, CellFailure):
                out[i] = verdict
                continue
            keep, reason = verdict
            out[i] = True if keep else CellFiltered(reason or self._render_reason(table, i))
        return out

    def _call_function(
        self, table: Mapping[str, Sequence[Any]], size: int, active: Sequence[bool] | None
    ) -> list[Any]:
        assert self._function is not None
        keys = [k for k in self.config.inputs if k in table]
        out: list[Any] = [None] * size
        for i in range(size):
            if active is not None and not active[i]:
                continue
            try:
                result = self._function({k: table[k][i] for k in keys})
            except Exception as exc:  # the function's bug fails its row, not the run
                out[i] = CellFailure(f"{type(exc).__name__}: {exc}")
                continue
            if isinstance(result, tuple) and len(result) == 2:
                out[i] = (bool(result[0]), str(result[1]) if result[1] else None)
            else:
                out[i] = (bool(result), None)
        return out

    def _render_reason(self, table: Mapping[str, Sequence[Any]], i: int) -> str:
        if self._reason is None:
            return self._default_reason
        try:
            return self._reason.render({k: v[i] for k, v in table.items()})[:2000]
        except Exception:
            return self._default_reason
