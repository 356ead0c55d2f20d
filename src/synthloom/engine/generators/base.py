"""What a column type implements to fill its column.

Two shapes, chosen by what the column costs:

- `BatchGenerator`: model-free work (samplers, expressions, cheap custom functions) computed for a
  whole row group at once, vectorised where possible. Runs on the event loop (or in a worker thread
  when `cpu_bound` is set), so it must be fast.
- `CellGenerator`: one awaitable call per cell (LLM calls, HTTP validators). The scheduler dispatches a
  cell the moment that row's inputs are final.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from synthloom.config.base import ColumnConfig

if TYPE_CHECKING:
    from synthloom.engine.run_context import RunContext

__all__ = [
    "BatchGenerator",
    "CellFailure",
    "CellGenerator",
    "CellOutput",
    "ColumnGenerator",
    "RowGroupSlice",
    "stable_hash",
]

C = TypeVar("C", bound=ColumnConfig)


def stable_hash(text: str) -> int:
    """A hash of `text` that is the same in every process (unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class RowGroupSlice:
    """One row group: records `start` .. `start + size - 1` of the run."""

    index: int
    start: int
    size: int
    run_seed: int

    def rng(self, column: str) -> np.random.Generator:
        """The generator for `column` in this row group. The same (run seed, column, row group) gives
        the same draws in every process, so a resumed run reproduces what it regenerates."""
        return np.random.default_rng(np.random.SeedSequence([self.run_seed, stable_hash(column), self.index]))

    def seed_for(self, column: str) -> int:
        """An integer seed for libraries that take one (Faker, `random.Random`)."""
        return int(self.rng(column).integers(0, 2**63 - 1))


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


class ColumnGenerator(ABC, Generic[C]):
    """Base of both shapes. `config` is the column's validated config; `run` gives access to the
    model pool, the run seed and the other columns' configs."""

    #: Run in a worker thread so the event loop keeps dispatching cells (validators, heavy functions).
    cpu_bound: ClassVar[bool] = False

    def __init__(self, config: C, run: RunContext) -> None:
        self.config = config
        self.run = run


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
    async def generate(self, row: Mapping[str, Any], record_index: int) -> CellOutput:
        """Compute one cell from its row's final values. Raise a `SynthloomError` for a failure."""
