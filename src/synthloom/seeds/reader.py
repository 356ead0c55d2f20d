"""The seed of a run: opened once, then handed out a row group at a time.

    reader = SeedReader(config.seed, base_dir=config.base_dir, run_seed=config.run.seed)
    reader.column_names          the fields every template can read
    reader.rows_for(group)       {field: [group.size values]}
    reader.report                files left out while reading (documents), for the run directory
    reader.close()

Where records come from (`path`, `hf`, `documents`, `run`, `sources`) and how they are reshaped is
in `source_builder.py`; which seed record generated record `i` gets is in `permutation.py`:

- `ordered`: record `i % n`, cycling through the data.
- `shuffle`: record `perm_e[i % n]`, a permutation per epoch `e = i // n` seeded by (run seed, epoch):
  every record once per epoch, and record `i` always gets the same seed row (so a resumed run does).
- `with_replacement`: independent draws (reproducible per row group, or per record for a lazy source).

A streamed Hugging Face dataset is read in order (`shuffle` is then a buffer shuffle, see
`hf_datasets.py`). With `combine: sample` each source is sampled on its own, by its own `sampling`.
Dicts and lists stored as JSON text (a previous run's) are handed out as values.

`rows_for` may be called from worker threads: one lock keeps the read-ahead state consistent.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from synthloom.config.seed_config import SeedConfig
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.report import SeedReport
from synthloom.seeds.sampling import IndexedSampler, StreamSampler
from synthloom.seeds.source_builder import open_sources, source_name
from synthloom.seeds.sources import IndexedSource, StreamSource, decoded_columns, hstack

__all__ = ["SeedReader"]


class SeedReader:
    """The seed dataset of a run: records with `column_names`, handed out per row group."""

    def __init__(self, seed: SeedConfig, *, base_dir: Path, run_seed: int) -> None:
        self.seed = seed
        self.run_seed = run_seed
        self.report = SeedReport()
        base_dir = Path(base_dir)
        self._sources = open_sources(seed, base_dir=base_dir, run_seed=run_seed, report=self.report)
        subs = seed.sources if seed.combine == "sample" and seed.sources else [seed]
        self._samplers: list[IndexedSampler | StreamSampler] = []
        for i, (sub, source) in enumerate(zip(subs, self._sources, strict=True)):
            salt = "__seed__" if len(subs) == 1 else f"__seed__.sources[{i}]"
            if isinstance(source, StreamSource):
                self._samplers.append(StreamSampler(source, name=source_name(sub, base_dir)))
            else:
                assert isinstance(source, IndexedSource)
                self._samplers.append(IndexedSampler(source, sub.sampling, run_seed=run_seed, salt=salt))
        self._lock = threading.Lock()

    @property
    def column_names(self) -> list[str]:
        return [name for source in self._sources for name in source.column_names]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the seed records (JSON-text fields marked in the field metadata)."""
        return pa.schema([f for source in self._sources for f in source.schema])

    @property
    def num_records(self) -> int | None:
        """Records in the seed (one epoch); None for a stream, whose length is unknown in advance."""
        sizes = [s.num_rows for s in self._sources if isinstance(s, IndexedSource)]
        if len(sizes) != len(self._sources):
            return None
        return max(sizes)

    def __bool__(self) -> bool:
        # A reader is always a reader: without this, `if reader:` would ask a stream for its length.
        return True

    def __len__(self) -> int:
        n = self.num_records
        if n is None:
            raise TypeError("a streamed seed has no known length")
        return n

    def rows_for(self, group: RowGroupSlice) -> dict[str, list[Any]]:
        """The seed values of `group`'s records, field by field (`group.size` values each)."""
        return decoded_columns(self.table_for(group))

    def table_for(self, group: RowGroupSlice) -> pa.Table:
        """`rows_for` as an Arrow table (JSON-text fields still text)."""
        with self._lock:
            tables = [sampler.rows(group) for sampler in self._samplers]
        return tables[0] if len(tables) == 1 else hstack(tables)

    def close(self) -> None:
        """Release open files and remove temporary data (transformed large seeds)."""
        for source in self._sources:
            source.close()

    def __enter__(self) -> SeedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
