"""What a column type implements to fill its column.

Two shapes, chosen by what the column costs:

- `BatchGenerator`: model-free work (samplers, expressions, cheap custom functions) computed for a
  whole row group at once, vectorised where possible. Runs on the event loop (or in a worker thread
  when `cpu_bound` is set), so it must be fast.
- `CellGenerator`: one awaitable call per cell (LLM calls, HTTP validators). The scheduler dispatches a
  cell the moment that row's inputs are final.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from synthloom.config.base import ColumnConfig
from synthloom.row_groups import RowGroupSlice, stable_hash

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = [
    "BatchGenerator",
    "CellFailure",
    "CellFiltered",
    "CellGenerator",
    "CellOutput",
    "CellRewrite",
    "ColumnGenerator",
    "RowGroupSlice",
    "stable_hash",
]

C = TypeVar("C", bound=ColumnConfig)


@dataclass
class CellOutput:
    """A cell's value plus the side columns it writes (`<name>__trace`, `<name>__reasoning`)."""

    value: Any
    side: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CellFailure:
    """Put in a batch generator's output for a row it could not compute. The engine drops that row
    and records `error` in failures.jsonl; the rest of the row group carries on."""

    error: str


@dataclass(frozen=True)
class CellFiltered:
    """Put in a generator's output (or return from a cell) to remove a row on purpose: a quality gate,
    a filter, a dedup. The row is *filtered*, not failed: it is written to filtered.jsonl with
    `reason`, reported apart from failures, and never counts toward early shutdown."""

    reason: str


@dataclass(frozen=True)
class CellRewrite:
    """Put in a batch generator's output to give the cell `value` *and* replace the same row's value
    of another, already computed column (`column`) with `replacement` before the row is written: a
    repair (mojibake undone). The row's lineage records it, with `note` (what was done, and the value
    before)."""

    value: Any
    column: str
    replacement: Any
    note: dict[str, Any] = field(default_factory=dict)


class ColumnGenerator(ABC, Generic[C]):
    """Base of both shapes. `config` is the column's validated config; `setup` holds what is fixed for
    the whole run (the dataset config, the run seed, a cache). Generators are built once, before
    anything is written, and must not open connections or bind to an event loop in `__init__`."""

    #: Run in a worker thread so the event loop keeps dispatching cells (validators, heavy functions).
    cpu_bound: ClassVar[bool] = False

    def __init__(self, config: C, setup: GeneratorSetup) -> None:
        self.config = config
        self.setup = setup


class BatchGenerator(ColumnGenerator[C]):
    @abstractmethod
    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        """Return `group.size` values.

        `table` holds every column already final for this row group (seed columns included), each a
        sequence of `group.size` values. `active[i]` is False where the column's `when` is false: the
        engine writes null there whatever is returned, so a generator may skip that row's work (and
        must, where the work could fail on inputs that are null). `active` is None when all rows are
        active. Draws must come from `group.rng(self.config.name)` so they are reproducible."""


class CellGenerator(ColumnGenerator[C]):
    @abstractmethod
    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        """Compute one cell from its row's final values. `ctx` gives the record index, the attempt,
        the run's model clients by alias (through the limiter, retries and usage accounting) and a
        per-cell seed. Raise a `SynthloomError` for a failure; return `CellFiltered` to drop the row
        on purpose."""
