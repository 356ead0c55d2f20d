"""Deciding, from what is on disk, which row groups a run still has to generate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from synthloom.config.dataset import DatasetConfig
from synthloom.errors import RunStateError
from synthloom.row_groups import RowGroupSlice, row_group_slices
from synthloom.store.fingerprint import config_fingerprint, describe_changes, fingerprint_view
from synthloom.store.run_directory import RowGroupRecord, RunDirectory

__all__ = ["RemainingWork", "ResumeMode", "remaining_work", "row_group_size"]

#: `regenerate`: like `if-possible`, but a run made with another config is not refused: every row group
#: is made again with the new config (the response cache answers what did not change).
ResumeMode = Literal["never", "always", "if-possible", "regenerate"]


@dataclass(frozen=True)
class RemainingWork:
    todo: list[RowGroupSlice]
    #: Committed row groups kept as they are, and the records they hold.
    kept: dict[int, int]
    resumed: bool
    #: Committed groups cut short when a run stopped at N kept rows (regenerated if more are wanted).
    trimmed: frozenset[int] = frozenset()
    #: The run's committed groups, all made again under a changed config (`regenerate`).
    replaced: tuple[int, ...] = ()
    #: The notes kept groups carry in their files (session, usage): what `metadata.json` may lack when a
    #: process was killed between writing a group's file and rewriting the metadata.
    notes: dict[int, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def committed_records(self) -> int:
        return sum(self.kept.values())


def row_group_size(store: RunDirectory, config: DatasetConfig, target: int) -> int:
    """Records per row group for a run of `target` records: `buffer_size`, except that a run that
    generates until `target` rows are kept starts with groups of at most `target` records (more are
    handed out as the measured accept rate asks), so a small target does not try 10x its size at once.
    A resumed run keeps the size its first session chose (metadata.json), so its groups line up."""
    meta = store.read_metadata() if store.metadata_path.exists() else None
    if meta and isinstance(meta.get("buffer_size"), int):
        return int(meta["buffer_size"])
    if config.run.target == "kept":
        return max(1, min(config.run.buffer_size, target))
    return config.run.buffer_size


def remaining_work(
    store: RunDirectory,
    config: DatasetConfig,
    *,
    num_records: int,
    mode: ResumeMode,
    group_size: int | None = None,
) -> RemainingWork:
    """Which row groups to generate (`group_size` records each; `buffer_size` by default). Raises
    `RunStateError` when the directory cannot be used as asked."""
    buffer = group_size or config.run.buffer_size
    slices = row_group_slices(num_records, buffer, config.run.seed)
    committed = store.committed()  # reads every part's footer: once
    if not committed and not store.metadata_path.exists():
        if mode == "always":
            raise RunStateError(f"--resume always: there is no run to resume in {store.root}")
        return RemainingWork(todo=slices, kept={}, resumed=False)
    if mode == "never":
        raise RunStateError(
            f"{store.root} already holds a run; resume it with --resume always (or if-possible), "
            "or choose another --output"
        )
    meta = store.read_metadata() or {}
    old_fingerprint = meta.get("fingerprint")
    changed = bool(old_fingerprint) and old_fingerprint != config_fingerprint(config)
    if mode == "regenerate" and changed:
        return RemainingWork(todo=slices, kept={}, resumed=True, replaced=tuple(sorted(committed)))
    if changed:
        changes = describe_changes(meta.get("fingerprint_view", {}), fingerprint_view(config))
        listed = "; ".join(changes[:8]) or "the config differs"
        raise RunStateError(
            f"cannot resume {store.root}: the config changed since the run started ({listed}). "
            "Restore the config, regenerate the run with it (--resume regenerate: only what changed is "
            "requested again), or write to another --output"
        )
    planned_sizes = store.group_sizes(meta)
    needed = max((i * buffer + planned_sizes.get(i, r.records) for i, r in committed.items()), default=0)
    if num_records < needed:
        raise RunStateError(
            f"{store.root} already holds {sum(r.records for r in committed.values())} committed records; "
            f"asking for {num_records} would overwrite some of them: ask for at least {needed} records to "
            "resume it, or write to another --output"
        )
    kept: dict[int, int] = {}
    todo: list[RowGroupSlice] = []
    for s in slices:
        record = committed.get(s.index)

        # A group committed when the run was smaller (a partial last group) is regenerated whole. A group
        # the metadata does not list (killed before it did) says its planned size in its file's note.
        if record is not None and planned_sizes.get(s.index, _noted_size(record)) == s.size:
            kept[s.index] = record.records
        else:
            todo.append(s)
    trimmed = frozenset(int(k) for k, v in meta.get("row_groups", {}).items() if v.get("trimmed"))
    notes = {i: note for i in kept if (note := committed[i].note) is not None}
    return RemainingWork(todo=todo, kept=kept, resumed=True, trimmed=trimmed & set(kept), notes=notes)


def _noted_size(record: RowGroupRecord) -> int:
    size = (record.note or {}).get("size")
    return size if isinstance(size, int) else record.records
