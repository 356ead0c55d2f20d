"""`metadata.json`: what a run directory holds, kept in step with every commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from synthloom._version import __version__
from synthloom.config.dataset import DatasetConfig
from synthloom.row_groups import row_group_slices
from synthloom.store.fingerprint import config_fingerprint, fingerprint_view
from synthloom.store.resume import RemainingWork
from synthloom.store.run_directory import RunDirectory

__all__ = ["RunMetadata", "base_metadata", "now_iso"]

_SESSION_USAGE_KEYS = ("requests", "input_tokens", "output_tokens", "cost")


class RunMetadata:
    """The metadata of one run, written through its store after each change."""

    def __init__(self, store: RunDirectory, data: dict[str, Any]) -> None:
        self.store = store
        self.data = data
        self._session_started = now_iso()
        self._committed_at_start = self.committed_records

    @classmethod
    def start(
        cls, store: RunDirectory, config: DatasetConfig, work: RemainingWork, num_records: int
    ) -> RunMetadata:
        """Metadata for a session about to generate `work`: a resumed run's, reconciled with the data
        files (they are the truth), or a fresh one."""
        data = (store.read_metadata() if work.resumed else None) or base_metadata(
            config, target=num_records, run_seed=config.run.seed
        )
        data.update(target_records=num_records, status="running", updated_at=now_iso())
        groups = {k: v for k, v in data.get("row_groups", {}).items() if int(k) in work.kept}
        # A process killed between committing a file and rewriting the metadata left a committed
        # group the metadata does not list yet.
        sizes = {
            s.index: s.size for s in row_group_slices(num_records, config.run.buffer_size, config.run.seed)
        }
        failed_by_group = store.failures_by_group()
        for index, records in work.kept.items():
            groups.setdefault(
                str(index), _group_entry(store, index, sizes[index], records, failed_by_group.get(index, 0))
            )
        data["row_groups"] = groups
        data["resumed"] = data.get("resumed", 0) + (1 if work.resumed else 0)
        metadata = cls(store, data)
        metadata._refresh_counts()
        store.write_metadata(data)
        return metadata

    @property
    def committed_records(self) -> int:
        return sum(int(v["records"]) for v in self.data.get("row_groups", {}).values())

    def is_committed(self, index: int) -> bool:
        return str(index) in self.data["row_groups"]

    def group_committed(self, index: int, *, size: int, records: int, failed: int) -> None:
        self.data["row_groups"][str(index)] = _group_entry(self.store, index, size, records, failed)
        self._refresh_counts()
        self.store.write_metadata(self.data)

    def finish(self, status: str, usage: dict[str, Any]) -> None:
        """Close the session: its status, and what it committed and spent (`usage.json` holds the
        detail of this session only, so every session is listed here)."""
        models = usage.get("models", {})
        self.data.update(status=status, usage_summary=models)
        self.data.setdefault("sessions", []).append(
            {
                "started_at": self._session_started,
                "ended_at": now_iso(),
                "status": status,
                "records_committed": self.committed_records - self._committed_at_start,
                "usage": {alias: {k: u.get(k) for k in _SESSION_USAGE_KEYS} for alias, u in models.items()},
            }
        )
        if status == "completed":
            self.data["completed_at"] = now_iso()
        self._refresh_counts()
        self.store.write_metadata(self.data)

    def _refresh_counts(self) -> None:
        groups = self.data["row_groups"].values()
        self.data["committed_records"] = sum(int(v["records"]) for v in groups)
        self.data["failed_records"] = sum(int(v.get("failed", 0)) for v in groups)
        self.data["updated_at"] = now_iso()


def _group_entry(store: RunDirectory, index: int, size: int, records: int, failed: int) -> dict[str, Any]:
    return {"file": store.part_path(index).name, "size": size, "records": records, "failed": failed}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def base_metadata(config: DatasetConfig, *, target: int, run_seed: int) -> dict[str, Any]:
    return {
        "name": config.name,
        "synthloom_version": __version__,
        "fingerprint": config_fingerprint(config),
        "fingerprint_view": fingerprint_view(config),
        "target_records": target,
        "buffer_size": config.run.buffer_size,
        "run_seed": run_seed,
        "status": "running",
        "created_at": now_iso(),
    }
