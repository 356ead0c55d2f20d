"""`metadata.json`: what a run directory holds, kept in step with every commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from synthloom._version import __version__
from synthloom.config.dataset import DatasetConfig
from synthloom.row_groups import row_group_slices
from synthloom.store.fingerprint import config_fingerprint, fingerprint_view
from synthloom.store.resume import RemainingWork
from synthloom.store.run_directory import RunDirectory
from synthloom.store.spend_account import read_spend_journal

__all__ = ["RunMetadata", "add_counts", "base_metadata", "now_iso"]


class RunMetadata:
    """The metadata of one run, written through its directory after each change.

    Every session of a run (a `create`, and each resume) is listed under `sessions` from the moment it
    starts, with what it committed and spent so far, updated at every commit; a session still marked
    `running` when the next one starts was killed, and keeps what it committed. The spend of each row
    group is committed with the group (`row_groups[i].usage`).

    Two accounts, kept apart:

    - `usage_paid` (and each session's `paid`): every request a server answered, in every session,
      killed ones included — folded from the spend journal (`spend.jsonl`) when a session starts and
      when it ends. This is what a user pays, and what `run.budget` counts.
    - `usage_committed`: what the row groups the run holds cost ("paid for rows you have").

    `usage_total` (every session's committed spend) is kept for older readers. A session from before
    the journal existed has no `paid`: its committed spend stands in for it.
    """

    def __init__(self, directory: RunDirectory, data: dict[str, Any]) -> None:
        self.directory = directory
        self.data = data

    @classmethod
    def start(
        cls,
        directory: RunDirectory,
        config: DatasetConfig,
        work: RemainingWork,
        num_records: int,
        *,
        planned_records: int | None = None,
        group_size: int | None = None,
    ) -> RunMetadata:
        """Metadata for a session about to generate `work`: a resumed run's, reconciled with the data
        files (they are the truth), or a fresh one. `num_records` is the target; `planned_records` the
        records the row groups span (more than the target when generating until N rows are kept)."""
        planned = planned_records or num_records
        buffer = group_size or config.run.buffer_size
        data = (directory.read_metadata() if work.resumed else None) or base_metadata(
            config, target=num_records, run_seed=config.run.seed, group_size=buffer
        )
        data.update(
            target_records=num_records, target=config.run.target, status="running", updated_at=now_iso()
        )
        if work.replaced or not work.kept:
            # A run regenerated under a changed config (or with nothing committed yet) now is the new one's.
            data.update(fingerprint=config_fingerprint(config), fingerprint_view=fingerprint_view(config))
        groups = {k: v for k, v in data.get("row_groups", {}).items() if int(k) in work.kept}
        # A process killed between committing a file and rewriting the metadata left a committed
        # group the metadata does not list yet.
        sizes = {s.index: s.size for s in row_group_slices(planned, buffer, config.run.seed)}
        failed_by_group = directory.failures_by_group()
        filtered_by_group = directory.filtered_by_group()
        adopted: list[tuple[int, dict[str, Any]]] = []
        for index, records in work.kept.items():
            if str(index) in groups:
                continue
            entry = _group_entry(
                directory,
                index,
                sizes[index],
                records,
                failed_by_group.get(index, 0),
                filtered_by_group.get(index, 0),
            )
            groups[str(index)] = entry
            adopted.append((index, entry))
        data["row_groups"] = groups
        data["resumed"] = data.get("resumed", 0) + (1 if work.resumed else 0)
        sessions = data.setdefault("sessions", [])
        for session in sessions:
            if session.get("status") == "running":
                session["status"] = "killed"
        for index, entry in adopted:
            _adopt_note(entry, work.notes.get(index), sessions)
        if not work.resumed:
            # A new run: a journal left by an earlier run in this directory is not this run's spend.
            directory.remove_spend_journal()
            data.pop("spend_journal", None)
        sessions.append(
            {
                "started_at": now_iso(),
                "ended_at": None,
                "status": "running",
                "records_committed": 0,
                "usage": {},
                "paid": {},
            }
        )
        metadata = cls(directory, data)
        metadata.fold_spend_journal()
        metadata._refresh_counts()
        directory.write_metadata(data)
        return metadata

    @property
    def session(self) -> dict[str, Any]:
        return self.data["sessions"][-1]  # type: ignore[no-any-return]

    @property
    def session_index(self) -> int:
        """This session's number: what its lines in the spend journal carry."""
        return len(self.data["sessions"]) - 1

    def fold_spend_journal(self) -> None:
        """Add the journal's lines not folded yet to their sessions' `paid` (each line once: the offset
        reached is kept in `spend_journal.folded_bytes`)."""
        path = self.directory.spend_journal_path
        state = self.data.setdefault("spend_journal", {"file": path.name, "folded_bytes": 0})
        read = read_spend_journal(path, offset=int(state["folded_bytes"]))
        sessions = self.data["sessions"]
        for index, models in read.sessions.items():
            if 0 <= index < len(sessions):
                add_counts(sessions[index].setdefault("paid", {}), models)
        state["folded_bytes"] = read.offset
        state["skipped_lines"] = int(state.get("skipped_lines", 0)) + read.skipped

    @property
    def committed_records(self) -> int:
        return sum(int(v["records"]) for v in self.data.get("row_groups", {}).values())

    def is_committed(self, index: int) -> bool:
        return str(index) in self.data["row_groups"]

    def kept_by_group(self) -> dict[int, int]:
        return {int(k): int(v["records"]) for k, v in self.data["row_groups"].items()}

    def group_committed(
        self,
        index: int,
        *,
        size: int,
        records: int,
        failed: int,
        filtered: int = 0,
        usage: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        entry = _group_entry(self.directory, index, size, records, failed, filtered)
        entry["session"] = len(self.data["sessions"]) - 1
        if usage:
            entry["usage"] = usage
        self.data["row_groups"][str(index)] = entry
        session = self.session
        session["records_committed"] += records
        add_counts(session["usage"], usage or {})
        self._refresh_counts()
        self.directory.write_metadata(self.data)

    def group_trimmed(
        self, index: int, records: int, *, failed_removed: int = 0, filtered_removed: int = 0
    ) -> None:
        """Group `index` now holds only its first `records` kept rows (a run that stops at N kept); the
        failed and filtered rows past its last kept one are no longer listed either."""
        entry = self.data["row_groups"][str(index)]
        self._removed(entry, int(entry["records"]) - records)
        entry.update(
            records=records,
            trimmed=True,
            failed=max(0, int(entry.get("failed", 0)) - failed_removed),
            filtered=max(0, int(entry.get("filtered", 0)) - filtered_removed),
        )
        self._refresh_counts()
        self.directory.write_metadata(self.data)

    def groups_dropped(self, indices: list[int]) -> None:
        """Row groups past the target removed from the run (a run that stops at N kept)."""
        for index in indices:
            entry = self.data["row_groups"].pop(str(index), None)
            if entry is not None:
                self._removed(entry, int(entry["records"]))
        self._refresh_counts()
        self.directory.write_metadata(self.data)

    def _removed(self, entry: dict[str, Any], records: int) -> None:
        """Records of a committed group taken back out: no longer counted for the session that
        committed them (their spend stays: it was spent)."""
        sessions = self.data["sessions"]
        owner = entry.get("session")
        if isinstance(owner, int) and 0 <= owner < len(sessions):
            sessions[owner]["records_committed"] = max(0, sessions[owner]["records_committed"] - records)

    def finish(self, status: str, usage: dict[str, Any]) -> None:
        """Close the session: its status, its detailed usage (`usage.json` holds this session's) and its
        lines of the spend journal (closed by then) folded into what it paid."""
        self.fold_spend_journal()
        self.data.update(status=status, usage_summary=usage.get("models", {}))
        self.session.update(status=status, ended_at=now_iso())
        if status == "completed":
            self.data["completed_at"] = now_iso()
        self._refresh_counts()
        self.directory.write_metadata(self.data)

    def _refresh_counts(self) -> None:
        groups = self.data["row_groups"].values()
        self.data["committed_records"] = sum(int(v["records"]) for v in groups)
        self.data["failed_records"] = sum(int(v.get("failed", 0)) for v in groups)
        self.data["filtered_records"] = sum(int(v.get("filtered", 0)) for v in groups)
        total: dict[str, dict[str, Any]] = {}
        paid: dict[str, dict[str, Any]] = {}
        for session in self.data.get("sessions", []):
            add_counts(total, session.get("usage") or {})
            add_counts(paid, session["paid"] if "paid" in session else session.get("usage") or {})
        committed: dict[str, dict[str, Any]] = {}
        for group in groups:
            add_counts(committed, group.get("usage") or {})
        self.data["usage_total"] = total
        self.data["usage_paid"] = paid
        self.data["usage_committed"] = committed
        self.data["updated_at"] = now_iso()


def _adopt_note(
    entry: dict[str, Any], note: Mapping[str, Any] | None, sessions: list[dict[str, Any]]
) -> None:
    """A group committed by a session killed before it listed the group: its entry (and that
    session's counts) get the session and usage its file's note carries."""
    if not note:
        return
    usage, owner = note.get("usage"), note.get("session")
    if isinstance(usage, dict) and usage:
        entry["usage"] = usage
    if isinstance(owner, int) and 0 <= owner < len(sessions):
        entry["session"] = owner
        sessions[owner]["records_committed"] = sessions[owner].get("records_committed", 0) + entry["records"]
        add_counts(sessions[owner].setdefault("usage", {}), entry.get("usage") or {})


def add_counts(
    into: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-alias numeric counts of `other` added into `into` (returned): spend summed over groups."""
    for alias, counts in other.items():
        entry = into.setdefault(alias, {})
        for key, value in counts.items():
            if isinstance(value, int | float):
                entry[key] = (
                    round(entry.get(key, 0) + value, 6) if key == "cost" else entry.get(key, 0) + value
                )
    return into


def _group_entry(
    directory: RunDirectory, index: int, size: int, records: int, failed: int, filtered: int
) -> dict[str, Any]:
    return {
        "file": directory.part_path(index).name,
        "size": size,
        "records": records,
        "failed": failed,
        "filtered": filtered,
    }


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def base_metadata(
    config: DatasetConfig, *, target: int, run_seed: int, group_size: int | None = None
) -> dict[str, Any]:
    return {
        "name": config.name,
        "synthloom_version": __version__,
        "fingerprint": config_fingerprint(config),
        "fingerprint_view": fingerprint_view(config),
        "target_records": target,
        # The records per row group this run uses (smaller than run.buffer_size for a small kept target).
        "buffer_size": group_size or config.run.buffer_size,
        "run_seed": run_seed,
        "status": "running",
        "created_at": now_iso(),
    }
