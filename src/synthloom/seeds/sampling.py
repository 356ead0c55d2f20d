"""Handing out seed records a row group at a time (the order itself is in `permutation.py`).

For a source in memory each row group takes its records directly. For a lazy source (a large parquet
seed) a random read costs a pass over row groups, so records are fetched a *window* at a time: the
seed records of generated records `[w * W, (w + 1) * W)` in one pass, `W` sized so that a window
holds about `WINDOW_BYTES`, two windows kept. Row groups move forward through the run, so nearly
every row group is served from a window already read. Memory stays at two windows, whatever the size
of the seed.

A stream is read forward, a batch at a time, cycling with a new pass (epoch) at its end; records the
engine may still ask for (row groups in flight) are kept, anything older is let go. Asking for a
record already let go restarts the stream and reads forward to it.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import numpy as np
import pyarrow as pa

from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.permutation import ShuffleOrder, hashed_draws
from synthloom.seeds.sources import BATCH_ROWS, IndexedSource, StreamSource

__all__ = ["WINDOW_BYTES", "IndexedSampler", "StreamSampler"]

#: About how much one read-ahead window of a lazy source holds.
WINDOW_BYTES = 32 << 20
_MIN_WINDOW = 4096
_WINDOWS_KEPT = 2
#: A stream keeps this many records before the latest asked for (row groups still in flight).
_STREAM_BACKLOG = 8


class IndexedSampler:
    """Seed records for row groups, from a source with `num_rows` records."""

    def __init__(self, source: IndexedSource, sampling: str, *, run_seed: int, salt: str) -> None:
        self.source = source
        self.sampling = sampling
        self.run_seed = run_seed
        self.salt = salt
        self.n = source.num_rows
        self._shuffle = ShuffleOrder(self.n, run_seed, salt) if sampling == "shuffle" else None
        self.window = max(_MIN_WINDOW, min(WINDOW_BYTES // max(source.row_bytes, 1), self.n))
        self._windows: OrderedDict[int, pa.Table] = OrderedDict()

    def rows(self, group: RowGroupSlice) -> pa.Table:
        if self.source.lazy:
            return self._from_windows(group.start, group.size)
        if self.sampling == "ordered":
            first = group.start % self.n
            if first + group.size <= self.n:  # the common case: one contiguous, zero-copy slice
                return self.source.slice(first, group.size)
        if self.sampling == "with_replacement":
            indices = group.rng(self.salt).integers(0, self.n, size=group.size)
        else:
            indices = self._indices(np.arange(group.start, group.start + group.size, dtype=np.int64))
        return self.source.take(indices)

    def _indices(self, records: np.ndarray) -> np.ndarray:
        if self._shuffle is not None:
            return self._shuffle.indices(records)
        if self.sampling == "with_replacement":
            return hashed_draws(records, self.n, self.run_seed, self.salt)
        return records % self.n

    def _from_windows(self, start: int, size: int) -> pa.Table:
        pieces = []
        record = start
        end = start + size
        while record < end:
            w = record // self.window
            table = self._window(w)
            offset = record - w * self.window
            length = min(end, (w + 1) * self.window) - record
            pieces.append(table.slice(offset, length))
            record += length
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def _window(self, w: int) -> pa.Table:
        table = self._windows.get(w)
        if table is not None:
            self._windows.move_to_end(w)
            return table
        records = np.arange(w * self.window, (w + 1) * self.window, dtype=np.int64)
        table = self.source.take(self._indices(records))
        self._windows[w] = table
        if len(self._windows) > _WINDOWS_KEPT:
            self._windows.popitem(last=False)
        return table


class StreamSampler:
    """Seed records for row groups, from a stream read in order (cycling at its end)."""

    def __init__(self, source: StreamSource, *, name: str) -> None:
        self.source = source
        self.name = name
        #: Records in one pass, once a pass has ended.
        self.n: int | None = None
        self._epoch = 0
        self._batches = source.batches(BATCH_ROWS, epoch=0)
        self._read = 0  # records read so far, counted over every pass
        self._in_pass = 0  # records read in the current pass
        self._held: deque[tuple[int, pa.Table]] = deque()  # (first record, records), oldest first

    def rows(self, group: RowGroupSlice) -> pa.Table:
        start, end = group.start, group.start + group.size
        oldest = self._held[0][0] if self._held else self._read
        if start < oldest:
            self._restart(start)
        keep_from = start - _STREAM_BACKLOG * group.size
        while self._read < end:
            self._advance()
            while self._held and self._held[0][0] + self._held[0][1].num_rows <= keep_from:
                self._held.popleft()
        pieces = []
        for first, table in self._held:
            lo, hi = max(start, first), min(end, first + table.num_rows)
            if hi > lo:
                pieces.append(table.slice(lo - first, hi - lo))
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def _advance(self) -> None:
        batch = next(self._batches, None)
        if batch is None:  # the end of a pass: the length is known; start the next pass
            if self._in_pass == 0:
                raise SeedDataError("the seed dataset has no records", source=self.name)
            self.n = self._in_pass
            self._epoch += 1
            self._in_pass = 0
            self._batches = self.source.batches(BATCH_ROWS, epoch=self._epoch)
            return
        if batch.num_rows:
            self._held.append((self._read, batch))
            self._read += batch.num_rows
            self._in_pass += batch.num_rows

    def _restart(self, start: int) -> None:
        """Go back: to the start of the pass that holds record `start` when the length is known."""
        self._epoch = start // self.n if self.n else 0
        self._read = self._epoch * self.n if self.n else 0
        self._in_pass = 0
        self._held.clear()
        self._batches = self.source.batches(BATCH_ROWS, epoch=self._epoch)
