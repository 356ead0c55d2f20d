"""The executor seam: what runs row groups, and what it hands back.

    executor = LocalExecutor()
    async for result in executor.run(job, groups, events):
        committer.apply(result)

An `Executor` is given a `Job` (the plan, its generators, the seed reader, the run's settings) and a
`GroupSupply`, and yields one `GroupResult` per group as each finishes, in any order. It asks the supply
for a group whenever it has room for one, and again after every result; the supply answers None when it
has nothing to hand out *now* (a run that generates until N rows are kept waits to see what the groups in
flight keep). The run ends when nothing is in flight and the supply answers None. An executor never
writes the run directory: the one committer does. The asyncio executor in `local_executor.py` is the
default; a distributed executor is another implementation of the same protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from synthloom.engine.failures import Failure, FilteredRow
from synthloom.engine.generator import ColumnGenerator
from synthloom.engine.row_runner import CellEvents, CellPolicy
from synthloom.plan import Plan
from synthloom.row_groups import RowGroupSlice

if TYPE_CHECKING:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.config.run_config import CacheConfig
    from synthloom.engine.row_group import RowGroupRows
    from synthloom.models.spend_journal import SpendJournal
    from synthloom.outputs import OutputShaper
    from synthloom.seeds.reader import SeedReader
    from synthloom.store.run_directory import RunDirectory

__all__ = ["CommitPass", "Executor", "GroupResult", "GroupSupply", "Job", "supply_of"]

#: Called for the next row group to run; None when there is none to hand out now.
GroupSupply = Callable[[], RowGroupSlice | None]


def supply_of(groups: Iterable[RowGroupSlice]) -> GroupSupply:
    """A supply handing out `groups` in order."""
    iterator = iter(groups)
    return lambda: next(iterator, None)


@dataclass
class Job:
    """Everything an executor needs to generate row groups of one dataset config."""

    config: DatasetConfig
    plan: Plan
    generators: Mapping[str, ColumnGenerator[Any]]
    seed: SeedReader | None = None
    #: The `output:` block, applied to each row group's kept rows (None: records are the output columns).
    shaper: OutputShaper | None = None
    #: Steps that see every group in record order before it is committed (dedup across the run).
    commit_passes: list[CommitPass] = field(default_factory=list)
    #: The response cache every model request passes (its path resolved), None: no cache.
    cache: CacheConfig | None = None
    #: The session's spend journal (set by the engine for a run that writes a directory): an executor
    #: hands it to the usage tracker its model exchanges are counted in. None: nothing journaled.
    spend_journal: SpendJournal | None = None
    #: Where the run keeps the ids of its provider batches (`batches.jsonl` in the run directory), for
    #: models with `batch:`. None: batch APIs are not used (a preview answers now, directly).
    batch_state: Path | None = None

    def group_result(self, outcome: RowGroupRows, usage: dict[str, dict[str, Any]]) -> GroupResult:
        """A finished row group as a result to commit: its kept rows shaped into final records (a record
        the output mapping or its schema rejects is filtered, one it cannot build fails)."""
        group = outcome.group
        failures = [outcome.failures[i] for i in sorted(outcome.failures)]
        filtered = [outcome.filtered[i] for i in sorted(outcome.filtered)]
        lineage = outcome.lineage
        if self.shaper is None:
            return GroupResult(group, outcome.table(self.output_columns), failures, filtered, usage, lineage)
        kept = outcome.kept_rows()
        shaped = self.shaper.apply([{n: outcome.values[n][i] for n in outcome.values} for i in kept])
        for problem in shaped.filtered:
            record = group.start + kept[problem.position]
            filtered.append(FilteredRow(group.index, record, problem.field, problem.reason))
        for problem in shaped.failed:
            record = group.start + kept[problem.position]
            failures.append(Failure(group.index, record, problem.field, problem.reason, "OutputError", 1))
        return GroupResult(group, self.shaper.to_table(shaped.records), failures, filtered, usage, lineage)

    def close(self) -> None:
        """Release what the job holds (a large transformed seed's temporary file)."""
        if self.seed is not None:
            self.seed.close()

    @property
    def output_columns(self) -> list[str]:
        return self.plan.output_columns

    @property
    def policy(self) -> CellPolicy:
        run = self.config.run
        return CellPolicy(
            cell_retries=run.cell_retries,
            endpoint_deadline=run.endpoint_deadline,
            lineage=run.lineage,
            row_attempts=run.retry.row_attempts,
        )

    @property
    def model_aliases(self) -> set[str]:
        return self.plan.model_aliases


@dataclass
class GroupResult:
    """One finished row group, ready to commit."""

    group: RowGroupSlice
    #: The kept rows, as the output's columns.
    table: pa.Table
    failures: list[Failure] = field(default_factory=list)
    filtered: list[FilteredRow] = field(default_factory=list)
    #: What the group's requests cost, per model alias (requests, tokens, cost, 429s, retries).
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: How each model-backed cell was made (kept, filtered and failed rows alike); empty when
    #: `run.lineage` is off.
    lineage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return int(self.table.num_rows)


class CommitPass(Protocol):
    """A step that sees each row group's result in record order, just before it is committed, knowing
    everything committed before it: what dedup across the whole run needs. It may move kept rows to
    `filtered` (with a reason) and write its own per-group state into the run directory (before the
    group's data, so a committed group always has it); `restore` rebuilds its state from the groups
    already committed when a run resumes."""

    name: str

    def restore(self, directory: RunDirectory | None, committed: Sequence[int]) -> None: ...

    def apply(self, result: GroupResult, directory: RunDirectory | None) -> GroupResult: ...


class Executor(Protocol):
    """Runs row groups of a job and yields their results as they finish.

    The run starts the job's `serve:` models before the executor runs, as processes of this machine,
    unless the executor has `starts_served_models = True`: it then starts them itself where its
    workers run (the Ray executor: as actors of its cluster) and gets the job with `serve:` as is."""

    def run(self, job: Job, supply: GroupSupply, events: CellEvents) -> AsyncIterator[GroupResult]:
        """Yield one result per group taken from `supply`. Taking a group is a promise to yield its
        result (or raise). Exceptions that must stop the run (early shutdown) propagate."""
        ...

    def model_stats(self) -> dict[str, dict[str, Any]]:
        """Per model alias, for a live display: concurrency, 429s, requests, tokens."""
        ...

    def usage_summary(self) -> dict[str, Any]:
        """This session's detailed usage (per model and per column, with latency percentiles)."""
        ...
