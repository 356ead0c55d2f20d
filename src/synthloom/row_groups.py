"""Row groups: the unit of checkpointing, and the seeding that makes every draw reproducible.

A neutral module: the engine, the run directory and the seed readers all speak of row groups, so none
of them owns the notion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["SINGLE_RECORD_INDEX", "RowGroupSlice", "row_group_slices", "stable_hash"]

#: Index space of the one-record slices a batch column downstream of a cell is computed with: apart from
#: real row-group indices, so their sampler draws never repeat a row group's. A slice's `record_seed`
#: does not depend on the index, so template randomness is the same in bulk and per record.
SINGLE_RECORD_INDEX = 2**40


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

    def record_seed(self, column: str, record: int, retry: int = 0) -> int:
        """A seed for one record's draws in `column`: independent of which rows share its row group.
        `retry` > 0 is the seed of the record's cell when its row is generated again after a filter
        rejected it (`run.retry: same_inputs`): a new seed, so a new request and a new answer."""
        key = (
            f"{self.run_seed}:{column}:{record}"
            if retry == 0
            else f"{self.run_seed}:{column}:{record}:{retry}"
        )
        return stable_hash(key) & (2**63 - 1)


def row_group_slices(num_records: int, buffer_size: int, run_seed: int) -> list[RowGroupSlice]:
    """The row groups of a run of `num_records` records."""
    return [
        RowGroupSlice(index=i, start=start, size=min(buffer_size, num_records - start), run_seed=run_seed)
        for i, start in enumerate(range(0, num_records, buffer_size))
    ]
