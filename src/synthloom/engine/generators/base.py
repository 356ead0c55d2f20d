"""Deprecated location of the generator contract: import from `synthloom.engine.generator`.

Kept so that plugins written against earlier releases (`from synthloom.engine.generators.base import
BatchGenerator`) keep working.
"""

from __future__ import annotations

from synthloom.engine.generator import (
    BatchGenerator,
    CellFailure,
    CellFiltered,
    CellGenerator,
    CellOutput,
    ColumnGenerator,
    RowGroupSlice,
    stable_hash,
)

__all__ = [
    "BatchGenerator",
    "CellFailure",
    "CellFiltered",
    "CellGenerator",
    "CellOutput",
    "ColumnGenerator",
    "RowGroupSlice",
    "stable_hash",
]
