"""The committer: the one owner of the run directory while a run generates.

Executors return `GroupResult`s; the committer applies each: the group's parquet file (atomically), its
failed and filtered rows, and its entry in metadata.json with what it spent. Nothing else writes the run
directory during a run. A run that generates until N rows are kept also ends here: the committer trims
the group that reached N and drops any committed past it, so the dataset is exactly the first N kept
rows in record order, whichever groups happened to finish first.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass, field

import pyarrow as pa

from synthloom.engine.executor import GroupResult, GroupSupply
from synthloom.observers.progress import ProgressTracker
from synthloom.row_groups import RowGroupSlice
from synthloom.store.metadata import RunMetadata
from synthloom.store.run_directory import RunDirectory

__all__ = ["Committer", "KeptTarget", "MemoryCommitter", "RecordOrder"]


class RecordOrder:
    """Hands results on in row-group order when commit passes need it (results arrive in any order).

    Wraps the supply to know which groups are out, holds finished results until every group before them
    is done, and stops the supply while `max_held` results wait, so a slow group never makes the held
    results grow without bound."""

    def __init__(self, supply: GroupSupply, *, max_held: int) -> None:
        self._supply = supply
        self._out: list[int] = []
        self._held: dict[int, GroupResult] = {}
        self.max_held = max_held

    def next_group(self) -> RowGroupSlice | None:
        if len(self._held) >= self.max_held:
            return None
        group = self._supply()
        if group is not None:
            heapq.heappush(self._out, group.index)
        return group

    def ready(self, result: GroupResult) -> list[GroupResult]:
        """`result` arrived: the results that can now be committed, in order."""
        self._held[result.group.index] = result
        ready: list[GroupResult] = []
        while self._out and self._out[0] in self._held:
            ready.append(self._held.pop(heapq.heappop(self._out)))
        return ready


class Committer:
    """Applies results to a run directory."""

    def __init__(self, directory: RunDirectory, metadata: RunMetadata, progress: ProgressTracker) -> None:
        self.directory = directory
        self.metadata = metadata
        self.progress = progress

    async def apply(self, result: GroupResult) -> None:
        index = result.group.index
        if result.lineage:
            # Before the data: a committed row group always has its lineage.
            await asyncio.to_thread(self.directory.write_lineage, index, result.lineage)
        # Its failed and filtered rows before the data too (a resume drops the lines of groups it makes
        # again), and the data file carries its session, planned size and usage: a process killed
        # before the metadata below is rewritten loses none of it (the resume reads the file's note).
        self.directory.append_failures(f.to_json() for f in result.failures)
        self.directory.append_filtered(f.to_json() for f in result.filtered)
        note = {"session": self.metadata.session_index, "size": result.group.size, "usage": result.usage}
        await asyncio.to_thread(self.directory.commit_row_group, index, result.table, note)
        self.metadata.group_committed(
            index,
            size=result.group.size,
            records=result.kept,
            failed=len(result.failures),
            filtered=len(result.filtered),
            usage=result.usage,
        )
        self.progress.row_group_committed(result.kept)

    def cut_at(self, target: int, *, buffer_size: int) -> bool:
        """Keep exactly the first `target` kept rows in record order: trim the group that reaches
        `target` (its failed and filtered rows past the last kept one go too), remove the groups after
        it. False when the committed groups hold fewer."""
        kept = self.metadata.kept_by_group()
        total = 0
        cutoff: int | None = None
        for index in sorted(kept):
            if cutoff is not None:
                continue
            if total + kept[index] >= target:
                cutoff = index
                need = target - total
                if need < kept[index]:
                    table = self.directory.read_part(index).slice(0, need)
                    self.directory.commit_row_group(index, table)
                    last = self._last_kept_record(index, need, buffer_size)
                    failed, filtered = self.directory.drop_records_after(index, last)
                    self.metadata.group_trimmed(index, need, failed_removed=failed, filtered_removed=filtered)
            total += kept[index]
        if cutoff is None:
            return False
        surplus = [i for i in sorted(kept) if i > cutoff]
        if surplus:
            for index in surplus:
                self.directory.remove_part(index)
            self.directory.drop_records_for(surplus)
            self.metadata.groups_dropped(surplus)
        return True

    def _last_kept_record(self, index: int, need: int, buffer_size: int) -> int:
        """The record number of the `need`-th kept row of group `index` (its rows are the group's
        records that failures.jsonl and filtered.jsonl do not list, in record order)."""
        size = int(self.metadata.data["row_groups"][str(index)]["size"])
        start = index * buffer_size
        left_out = self.directory.records_left_out(index)
        kept = [r for r in range(start, start + size) if r not in left_out]
        return kept[need - 1] if need <= len(kept) else start + size - 1


@dataclass
class MemoryCommitter:
    """For previews: results kept in memory, in row-group order."""

    tables: dict[int, pa.Table] = field(default_factory=dict)

    async def apply(self, result: GroupResult) -> None:
        self.tables[result.group.index] = result.table

    def ordered(self) -> list[pa.Table]:
        return [self.tables[i] for i in sorted(self.tables)]


class KeptTarget:
    """The supply of row groups for a run that generates until `target` rows are kept.

    The dataset is the first `target` kept rows in record order, so a group below one already committed
    (a gap left by a killed session, whose later groups committed first) is always generated. Past the
    committed groups, groups are handed out in record order only while the rows kept so far plus those
    the groups in flight are expected to keep (at the accept rate seen so far) fall short of the target,
    so little is generated past it.
    """

    def __init__(self, todo: list[RowGroupSlice], *, target: int, committed: dict[int, int]) -> None:
        self._todo = sorted(todo, key=lambda g: g.index)
        self.target = target
        self.kept = sum(committed.values())
        self._highest_committed = max(committed, default=-1)
        self._tried = 0
        self._accepted = 0
        self._in_flight: dict[int, int] = {}

    def next_group(self) -> RowGroupSlice | None:
        """The next group to run, or None while the target looks reached (a `GroupSupply`)."""
        if not self._todo:
            return None
        is_gap = self._todo[0].index < self._highest_committed
        if not is_gap and self.kept + self._expected_in_flight() >= self.target:
            return None
        group = self._todo.pop(0)
        self._in_flight[group.index] = group.size
        return group

    def record(self, result: GroupResult) -> None:
        self._in_flight.pop(result.group.index, None)
        self.kept += result.kept
        self._highest_committed = max(self._highest_committed, result.group.index)
        self._tried += result.group.size
        self._accepted += result.kept

    def _expected_in_flight(self) -> float:
        rate = self._accepted / self._tried if self._tried else 1.0
        return rate * sum(self._in_flight.values())
