"""Expression columns: a Jinja2 template over the row's other columns, rendered in the sandbox and
cast to the column's `dtype`.

Rendering is on the hot path of every model-free run, so the template is compiled once and its
compiled render function is driven directly with one reused `Context` whose variables are swapped
per row. That skips `Template.render`'s per-row context construction (about 7x faster for short
templates) while every attribute access, call and filter still goes through the sandboxed
environment the code was compiled for.

Randomness a template draws (`| random`, `lipsum`) is seeded per record (see `plan.templates`).

A row whose template fails (undefined operation, sandbox refusal, a value that does not cast) gets a
`CellFailure` in the output: the engine drops that row and records why; the row group carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from synthloom.columns.expression.config import ExpressionColumn
from synthloom.engine.generator import BatchGenerator, CellFailure, RowGroupSlice
from synthloom.errors import ConfigError
from synthloom.plan.casts import CASTS
from synthloom.plan.templates import (
    compile_template,
    is_plain_text,
    reset_template_seed,
    set_template_seed,
    template_environment,
    uses_randomness,
)

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["ExpressionGenerator"]


_DTYPE_NAMES = {"int": "a whole number", "float": "a number", "bool": "true or false", "json": "JSON"}


def _check_constant(config: ExpressionColumn, cast: Callable[[str], Any] | None) -> None:
    """An `expr` without any Jinja is the same text in every row: when that text does not even cast
    to `dtype` (`expr: "x + 1"`, `dtype: float`), the braces were forgotten."""
    if cast is None or not is_plain_text(config.expr):
        return
    try:
        cast(config.expr)
    except ValueError:
        raise ConfigError(
            f"'expr' is plain text ({config.expr!r}): it is not evaluated, and as text it is not "
            f"{_DTYPE_NAMES[config.dtype]}; write a Jinja expression such as "
            f"'{{{{ {config.expr.strip()} }}}}'",
            column=config.name,
            field="expr",
        ) from None


class ExpressionGenerator(BatchGenerator[ExpressionColumn]):
    """Renders `expr` for every active row and casts the text to `dtype`."""

    def __init__(self, config: ExpressionColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.template = compile_template(config.expr)
        self._cast = CASTS[config.dtype]
        _check_constant(config, self._cast)
        # Every name the template loads (`find_undeclared_variables` leaves out environment globals).
        ast = template_environment().parse(config.expr)
        self._names = sorted({n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"})
        # Globals the template reads (`range`, `dict`, ...): the reused context's variables are
        # replaced per row, so these are put back into each row's variables.
        self._globals = {n: self.template.globals[n] for n in self._names if n in self.template.globals}
        # `| random` and `lipsum` draw from a seed fixed by (run seed, column, record): reproducible,
        # and the same whichever rows share the record's row group.
        self._seeded = uses_randomness(config.expr)

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        size = group.size
        # Only the columns the template reads go into each row's variables; a column missing from
        # `table` renders as undefined, as it would with `Template.render`.
        names = [n for n in self._names if n in table]
        columns = [table[n] for n in names]
        rows: Sequence[tuple[Any, ...]] = list(zip(*columns, strict=True)) if columns else [()] * size
        template = self.template
        root = template.root_render_func
        context = template.new_context({})
        local_vars = context.vars
        exported = context.exported_vars
        concat = template.environment.concat
        cast = self._cast
        seeded, column = self._seeded, self.config.name
        # One variables dict, refilled per row: cheaper than a dict per row, and safe because the
        # immutable sandbox cannot modify it and nothing a render returns keeps a reference to it.
        row: dict[str, Any] = dict(self._globals)
        context.parent = row
        out: list[Any] = [None] * size
        for i in range(size):
            if active is not None and not active[i]:
                continue
            for name, value in zip(names, rows[i], strict=True):
                row[name] = value
            token = set_template_seed(group.record_seed(column, group.start + i)) if seeded else None
            try:
                text = concat(root(context))
                out[i] = text if cast is None else cast(text)
            except Exception as exc:  # any failure of one row's template is that row's failure only
                out[i] = CellFailure(f"{type(exc).__name__}: {exc}")
            if token is not None:
                reset_template_seed(token)
            if local_vars:  # `{% set %}` at top level: do not leak into the next row
                local_vars.clear()
                exported.clear()
        return out
