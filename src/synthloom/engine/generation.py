"""A run's control flow: build the job, choose the row groups, hand them to an executor, commit results.

job = build_job(config, plan, seed)                     # generators built once, before any write
await generate_dataset(job, directory=..., num_records=N, resume="if-possible", show_progress=True)
await generate_in_memory(job, num_records=5)            # a preview: same engine, nothing written
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from synthloom.config.dataset import DatasetConfig
from synthloom.config.registry import get_column_type
from synthloom.engine.collector import fewer_collections
from synthloom.engine.committer import Committer, KeptTarget, MemoryCommitter, RecordOrder
from synthloom.engine.contexts import GeneratorSetup
from synthloom.engine.executor import CommitPass, Executor, GroupResult, GroupSupply, Job, supply_of
from synthloom.engine.failures import Failure, FailureMonitor, FilteredRow
from synthloom.engine.generator import CellGenerator, ColumnGenerator
from synthloom.engine.row_runner import CellStatus
from synthloom.engine.spend_budget import SpendBudget
from synthloom.errors import BudgetExceededError, ConfigError, GenerationError, OutputError
from synthloom.models.spend_journal import SpendJournal
from synthloom.observers.metrics import RunMetrics
from synthloom.observers.progress import ProgressDisplay, ProgressTracker
from synthloom.outputs import OutputShaper
from synthloom.plan import Plan
from synthloom.row_groups import row_group_slices
from synthloom.seeds.reader import SeedReader
from synthloom.store.metadata import RunMetadata
from synthloom.store.resume import RemainingWork, ResumeMode, remaining_work, row_group_size
from synthloom.store.run_directory import RunDirectory

__all__ = ["RunResult", "build_job", "generate_dataset", "generate_in_memory", "make_generators"]

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    records: int
    failures: list[Failure]
    filtered: list[FilteredRow]
    usage: dict[str, Any]
    tables: list[pa.Table] = field(default_factory=list)


def make_generators(plan: Plan, setup: GeneratorSetup) -> dict[str, ColumnGenerator[Any]]:
    """One generator per column. Raises `ConfigError` (naming the column) for what only a generator
    can check, so that `validate` catches it before anything is written."""
    out: dict[str, ColumnGenerator[Any]] = {}
    for col in plan.columns:
        cls = get_column_type(col.config.type).generator_class()
        try:
            out[col.name] = cls(col.config, setup)
        except ConfigError as exc:
            if exc.column is None:
                exc.column = col.name
                exc.args = (exc._render(),)
            raise exc.with_source(setup.config.source) from None
    return out


def build_job(config: DatasetConfig, plan: Plan, seed: SeedReader | None) -> Job:
    """The job for a checked plan: its generators (and its output mapping) are built here, once."""
    generators = make_generators(plan, GeneratorSetup(config=config, run_seed=config.run.seed))
    shaper = None
    if config.output is not None:
        shaper = OutputShaper(config.output, plan.output_columns, known=plan.row_columns)
    # A column type whose generator has a `commit_pass()` also acts at commit time, in record order.
    passes = [found for gen in generators.values() if (found := _commit_pass(gen)) is not None]
    return Job(
        config=config, plan=plan, generators=generators, seed=seed, shaper=shaper, commit_passes=passes
    )


def _commit_pass(gen: ColumnGenerator[Any]) -> CommitPass | None:
    factory = getattr(gen, "commit_pass", None)
    return factory() if callable(factory) else None


class RunEvents:
    """What the engine is told about cells: counted for the display and usage.json, and watched for early
    shutdown. Successes of model-free columns are not counted toward the failure rate (they would hide a
    failing model behind cheap samplers); filtered rows never are."""

    def __init__(self, job: Job, progress: ProgressTracker, metrics: RunMetrics | None = None) -> None:
        run = job.config.run
        self.progress = progress
        self.metrics = metrics
        self.monitor = FailureMonitor(max_rate=run.max_failure_rate, window=run.failure_window)
        self._watched = {name for name, gen in job.generators.items() if isinstance(gen, CellGenerator)}
        #: Every failure of this session, committed or not (those of groups that never commit are written
        #: for diagnosis when the run ends early).
        self.failures: list[Failure] = []

    def cells_finished(self, column: str, status: CellStatus, count: int = 1) -> None:
        self.progress.cells_finished(column, status, count)
        if self.metrics is not None:
            self.metrics.cells_finished(column, status, count)
        if status == "done" and column in self._watched:
            for _ in range(count):
                self.monitor.record(False)

    def row_removed(self, record: Failure | FilteredRow) -> None:
        if isinstance(record, Failure):
            self.failures.append(record)
            self.monitor.record(True, f"column '{record.column}': {record.error_type}: {record.error[:300]}")


async def _refresh_loop(display: ProgressDisplay, metrics: RunMetrics | None = None) -> None:
    while True:
        await asyncio.sleep(0.25)
        display.refresh()
        if metrics is not None:
            metrics.refresh()


async def generate_dataset(
    job: Job,
    *,
    directory: RunDirectory,
    num_records: int,
    resume: ResumeMode,
    show_progress: bool,
    executor: Executor,
    metrics: RunMetrics | None = None,
) -> RunResult:
    """Generate into `directory` (locked by the caller), committing row group by row group; `metrics`
    (when given) is fed as the run goes, for its exporters."""
    config = job.config
    planned = config.run.planned_records(num_records)
    group_size = row_group_size(directory, config, num_records)
    work = remaining_work(directory, config, num_records=planned, mode=resume, group_size=group_size)
    kept_mode = config.run.target == "kept"
    if kept_mode:
        work = _kept_mode_work(work, num_records, config, group_size)
    todo = list(work.todo)
    directory.clear_temporaries()
    for index in work.replaced:
        # Made under the old config: never left beside groups of the new one (the cache has the answers).
        directory.remove_part(index)
    directory.drop_records_for(g.index for g in todo)
    metadata = RunMetadata.start(
        directory, config, work, num_records, planned_records=planned, group_size=group_size
    )
    # Where this run's answers are, so a later run can reuse them (`create --from RUN`); None: no cache.
    cache_path = job.cache.path if job.cache is not None else None
    metadata.data["response_cache"] = str(Path(cache_path).resolve()) if cache_path else None
    budget = None
    if config.run.budget is not None:
        # Earlier sessions count all they paid (the journal), not only what they committed.
        budget = SpendBudget(
            config.run.budget, target_records=num_records, earlier=metadata.data.get("usage_paid", {})
        )
    directory.write_config(config)
    if job.seed is not None and job.seed.report.issues:
        directory.write_seed_report(job.seed.report.to_dict())
    directory.append_failures([])  # failures.jsonl and filtered.jsonl exist from the start
    directory.append_filtered([])
    progress = ProgressTracker()
    progress.start(
        [c.name for c in job.plan.columns],
        records_to_generate=min(sum(g.size for g in todo), num_records)
        if kept_mode
        else sum(g.size for g in todo),
        target=num_records,
        committed=metadata.committed_records,
    )
    events = RunEvents(job, progress, metrics)
    committer = Committer(directory, metadata, progress)
    target = KeptTarget(todo, target=num_records, committed=metadata.kept_by_group())
    supply: GroupSupply = target.next_group if kept_mode else supply_of(todo)
    failures: list[Failure] = []
    filtered: list[FilteredRow] = []
    display = ProgressDisplay(progress, model_stats=executor.model_stats, enabled=show_progress)
    # Room to record how the session ended should a full disk stop it.
    directory.reserve_space(_reserve_size(directory))
    # Every answered request is journaled as it ends, so a kill before its group commits loses no spend.
    journal = SpendJournal(directory.spend_journal_path, session=metadata.session_index)
    job = dataclasses.replace(job, spend_journal=journal)
    status = "failed"
    refresher = asyncio.create_task(_refresh_loop(display, metrics))
    watching = metrics.watch(executor) if metrics is not None else contextlib.nullcontext()
    try:
        with display, watching, fewer_collections():
            committed = sorted(metadata.kept_by_group())
            async for result in _results(job, executor, supply, events, directory, committed=committed):
                await committer.apply(result)
                if metrics is not None:
                    metrics.group_committed(result.kept)
                target.record(result)
                if journal.error is not None:
                    raise journal.error
                failures.extend(result.failures)
                filtered.extend(result.filtered)
                if budget is not None:
                    budget.check(
                        session_usage=executor.usage_summary().get("models", {}),
                        committed_usage=[g.get("usage", {}) for g in metadata.data["row_groups"].values()],
                        committed_records=metadata.committed_records,
                    )
        if kept_mode and not committer.cut_at(num_records, buffer_size=config.run.buffer_size):
            raise GenerationError(
                f"only {metadata.committed_records} of {num_records} rows were kept after trying "
                f"{planned} records (run.max_extra_records); the kept rows are committed. Raise "
                "max_extra_records, or loosen the filters (filtered.jsonl has every reason)"
            )
        events.monitor.check_final()
        journal.flush()
        if journal.error is not None:
            raise journal.error
        status = "completed"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except BudgetExceededError:
        status = "over_budget"
        raise
    finally:
        refresher.cancel()
        journal.close()
        usage = _usage(executor.usage_summary(), progress)
        # Freed first: when a full disk ended the session, this is the room its end is recorded in.
        directory.release_reserve()
        try:
            if status != "completed":
                # Rows of groups that never committed: recorded for diagnosis (a resume regenerates
                # those groups and drops these lines first).
                directory.append_failures(
                    f.to_json() for f in events.failures if not metadata.is_committed(f.row_group)
                )
            directory.write_usage(usage)
            metadata.finish(status, usage)
        except OutputError as bookkeeping:
            if status == "completed":
                raise
            # The run is already ending with its own error (a full disk names the write that failed):
            # that one is the user's, not the bookkeeping write that failed after it for the same reason.
            logger.warning("the session's end could not be recorded: %s", bookkeeping)
    return RunResult(records=metadata.committed_records, failures=failures, filtered=filtered, usage=usage)


async def _results(
    job: Job,
    executor: Executor,
    supply: GroupSupply,
    events: RunEvents,
    directory: RunDirectory | None,
    *,
    committed: list[int],
) -> AsyncIterator[GroupResult]:
    """The executor's results, ready to commit. With commit passes (dedup across the run) they come in
    record order and each commit pass has seen them; otherwise as they finish."""
    if not job.commit_passes:
        async for result in executor.run(job, supply, events):
            yield result
        return
    for commit_pass in job.commit_passes:
        commit_pass.restore(directory, committed)
    order = RecordOrder(supply, max_held=2 * job.config.run.max_row_groups_in_flight)
    async for finished in executor.run(job, order.next_group, events):
        for result in order.ready(finished):
            for commit_pass in job.commit_passes:
                result = commit_pass.apply(result, directory)
            yield result


def _kept_mode_work(
    work: RemainingWork, target: int, config: DatasetConfig, group_size: int
) -> RemainingWork:
    """The work of a run whose target counts kept rows (`KeptTarget` hands the groups out lazily). A
    group trimmed by an earlier session is regenerated whole when more rows are wanted than the run
    holds."""
    if sum(work.kept.values()) >= target or not work.trimmed:
        return work
    slices = row_group_slices(config.run.planned_records(target), group_size, config.run.seed)
    by_index = {s.index: s for s in slices}
    again = [by_index[i] for i in sorted(work.trimmed) if i in by_index]
    kept = {i: n for i, n in work.kept.items() if i not in work.trimmed}
    todo = sorted([*again, *work.todo], key=lambda s: s.index)
    return dataclasses.replace(work, todo=todo, kept=kept, trimmed=frozenset())


async def generate_in_memory(job: Job, *, num_records: int, executor: Executor) -> RunResult:
    """The preview: the same engine, nothing written."""
    config = job.config
    progress = ProgressTracker()
    progress.start(
        [c.name for c in job.plan.columns], records_to_generate=num_records, target=num_records, committed=0
    )
    events = RunEvents(job, progress)
    sink = MemoryCommitter()
    failures: list[Failure] = []
    filtered: list[FilteredRow] = []
    groups = supply_of(row_group_slices(num_records, config.run.buffer_size, config.run.seed))
    async for result in _results(job, executor, groups, events, None, committed=[]):
        await sink.apply(result)
        failures.extend(result.failures)
        filtered.extend(result.filtered)
    tables = sink.ordered()
    return RunResult(
        records=sum(t.num_rows for t in tables),
        failures=failures,
        filtered=filtered,
        usage=_usage(executor.usage_summary(), progress),
        tables=tables,
    )


def _reserve_size(directory: RunDirectory) -> int:
    """Enough for metadata.json and usage.json to be rewritten (each through a temporary copy)."""
    try:
        metadata = directory.metadata_path.stat().st_size
    except OSError:
        metadata = 0
    return max(1 << 20, 4 * metadata)


def _usage(summary: dict[str, Any], progress: ProgressTracker) -> dict[str, Any]:
    usage: dict[str, Any] = {"models": {}, "columns": {}, **summary}
    for name, col in progress.columns.items():
        entry = usage["columns"].setdefault(name, {})
        entry.update(
            cells_done=col.done,
            cells_failed=col.failed,
            cells_skipped=col.skipped,
            cells_filtered=col.filtered,
        )
    usage["elapsed_seconds"] = round(progress.elapsed(), 3)
    return usage
