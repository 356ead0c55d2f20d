"""The run directory on disk: what is committed, and committing more, atomically.

    <output>/<name>/
      config.yaml              resolved config, secrets excluded
      metadata.json            target and committed records, fingerprint, status, seeds, usage summary
      data/part-00000.parquet  one file per committed row group
      failures.jsonl           rows that failed, with column, error and attempts
      filtered.jsonl           rows removed on purpose (filters, quality gates), with column and reason
      lineage/part-00000.parquet  how each model-backed cell was made: messages sent, reply, attempts, tokens
      usage.json               per model and per column: requests, tokens, latency, retries, cost
      spend.jsonl              every answered request as it ended, all sessions (the paid account)

A row group is written to `data/.part-NNNNN.parquet.tmp`, flushed and fsynced, then renamed: a crash
never leaves half a file under a final name, and the presence of a final name is the commit.
`metadata.json` is rewritten the same way after every commit, but the data files are the truth: on
resume the store trusts what it finds in `data/`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from synthloom.config.dataset import DatasetConfig
from synthloom.errors import OutputError, RunStateError

__all__ = ["RowGroupRecord", "RunDirectory", "read_data_part"]

PART_PATTERN = re.compile(r"^part-(\d{5,})\.parquet$")
#: Header names whose values are credentials: never written to a run directory.
SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|session|password", re.IGNORECASE)


#: Key of a part file's footer metadata holding what the group's metadata entry needs beyond its rows
#: (the session that made it, its planned size, what its requests cost), so a process killed between
#: writing the file and rewriting `metadata.json` loses none of it.
GROUP_NOTE_KEY = b"synthloom.row_group"


@dataclass(frozen=True)
class RowGroupRecord:
    index: int
    records: int
    path: Path
    #: The group's note written with its file (`commit_row_group(note=...)`); None for older files.
    note: Mapping[str, Any] | None = None


class RunDirectory:
    """One run directory. Open it with `RunDirectory.open(...)`; use as a context manager to hold the lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self._lock_fd: int | None = None

    # ---- layout -------------------------------------------------------------------------------
    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.json"

    @property
    def failures_path(self) -> Path:
        return self.root / "failures.jsonl"

    @property
    def filtered_path(self) -> Path:
        return self.root / "filtered.jsonl"

    @property
    def usage_path(self) -> Path:
        return self.root / "usage.json"

    @property
    def spend_journal_path(self) -> Path:
        return self.root / "spend.jsonl"

    def remove_spend_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.spend_journal_path.unlink()

    def reserve_space(self, size: int) -> None:
        """Hold `size` bytes of disk in `.reserve` while a session runs, so that when a full disk stops
        it, freeing them (`release_reserve`) leaves room to record how it ended. Best effort: a disk
        already too full for it starts the session without one."""
        path = self.root / ".reserve"
        try:
            with open(path, "wb") as fh:
                fh.write(b"\0" * size)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()

    def release_reserve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / ".reserve").unlink()

    @property
    def batches_path(self) -> Path:
        """The provider batches the run submitted (models with `batch:`), found again on resume."""
        return self.root / "batches.jsonl"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def part_path(self, index: int) -> Path:
        return self.data_dir / f"part-{index:05d}.parquet"

    def exists(self) -> bool:
        """Whether the directory holds a run: metadata, or a readable committed part."""
        return self.metadata_path.exists() or bool(self.committed())

    # ---- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> RunDirectory:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    def lock(self) -> None:
        """Take the run's lock so that two processes never write one run directory."""
        self._prepare_dirs()
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunStateError(f"{self.root} is in use by another synthloom process") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _prepare_dirs(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(
                f"cannot write to output directory {self.root}: {exc.strerror or exc}"
            ) from None

    def clear_temporaries(self) -> None:
        """Remove half-written files a killed process left behind."""
        for tmp in self.data_dir.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        for tmp in self.root.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # ---- reading ------------------------------------------------------------------------------
    def committed(self) -> dict[int, RowGroupRecord]:
        """Row groups whose final file exists and whose footer reads, by index."""
        out: dict[int, RowGroupRecord] = {}
        if not self.data_dir.is_dir():
            return out
        for path in self.data_dir.iterdir():
            match = PART_PATTERN.match(path.name)
            if not match:
                continue
            try:
                footer = pq.ParquetFile(path)
                records = footer.metadata.num_rows
                note = _group_note(footer.schema_arrow.metadata)
            except Exception:  # a damaged file is not committed; it will be regenerated
                continue
            out[int(match.group(1))] = RowGroupRecord(int(match.group(1)), records, path, note)
        return out

    def read_metadata(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.metadata_path.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RunStateError(f"{self.metadata_path} is unreadable: {exc}") from None

    def group_sizes(self, metadata: Mapping[str, Any] | None = None) -> dict[int, int]:
        """Planned size of every committed row group, as written in metadata (for partial last groups).
        Pass `metadata` when it was just read, to not read it again."""
        meta = metadata if metadata is not None else self.read_metadata() or {}
        return {int(k): int(v["size"]) for k, v in meta.get("row_groups", {}).items()}

    # ---- writing ------------------------------------------------------------------------------
    def write_config(self, config: DatasetConfig) -> None:
        """The resolved config, with the values of credential-like headers replaced (keys themselves
        are only ever named, by `api_key_env`)."""
        data = config.to_dict()
        for model in data.get("models", []):
            headers = model.get("headers") or {}
            for name in headers:
                if SENSITIVE_HEADER.search(name):
                    headers[name] = "<redacted>"
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        self._atomic_write(self.config_path, text.encode())

    def commit_row_group(self, index: int, table: pa.Table, note: Mapping[str, Any] | None = None) -> Path:
        """Write one row group's file atomically: temporary name, fsync, rename. `note` (JSON-able) is
        kept in the file's footer, read back by `committed()`."""
        if note is not None:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), GROUP_NOTE_KEY: orjson.dumps(note)}
            )
        final = self.part_path(index)
        tmp = self.data_dir / f".{final.name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _output_error(f"cannot write {final}", exc) from None
        return final

    def append_failures(self, failures: Iterable[Mapping[str, Any]]) -> None:
        """Add rows that failed (failures.jsonl, created empty on the first call)."""
        self._append_lines(self.failures_path, failures)

    def append_filtered(self, filtered: Iterable[Mapping[str, Any]]) -> None:
        """Add rows removed on purpose, with their reason (filtered.jsonl, created empty at first)."""
        self._append_lines(self.filtered_path, filtered)

    def failures_by_group(self) -> dict[int, int]:
        """How many failed rows failures.jsonl records per row group."""
        return _count_by_group(self.failures_path)

    def filtered_by_group(self) -> dict[int, int]:
        """How many filtered rows filtered.jsonl records per row group."""
        return _count_by_group(self.filtered_path)

    def drop_records_for(self, groups: Iterable[int]) -> None:
        """Forget failed and filtered rows recorded for row groups that will be regenerated or were
        removed (no duplicates on resume)."""
        groups = set(groups)
        if not groups:
            return
        for path in (self.failures_path, self.filtered_path):
            if path.exists():
                kept = [
                    line
                    for line in path.read_bytes().splitlines()
                    if line.strip() and _safe_group(line) not in groups
                ]
                self._atomic_write(path, b"".join(line + b"\n" for line in kept))

    def records_left_out(self, group: int) -> set[int]:
        """The records of row group `group` that failures.jsonl or filtered.jsonl list."""
        out: set[int] = set()
        for path in (self.failures_path, self.filtered_path):
            if path.exists():
                for line in path.read_bytes().splitlines():
                    entry = _safe_entry(line)
                    if (
                        entry is not None
                        and entry.get("row_group") == group
                        and isinstance(entry.get("record"), int)
                    ):
                        out.add(entry["record"])
        return out

    def drop_records_after(self, group: int, record: int) -> tuple[int, int]:
        """Forget the failed and filtered rows of `group` past `record` (a trimmed group of a run that
        stops at N kept: the rows after its last kept one were never part of the dataset). Returns how
        many failed and filtered rows were forgotten."""
        removed = []
        for path in (self.failures_path, self.filtered_path):
            count = 0
            if path.exists():
                kept = []
                for line in path.read_bytes().splitlines():
                    if not line.strip():
                        continue
                    entry = _safe_entry(line)
                    past = (
                        entry is not None
                        and entry.get("row_group") == group
                        and (entry.get("record") or 0) > record
                    )
                    if past:
                        count += 1
                    else:
                        kept.append(line)
                if count:
                    self._atomic_write(path, b"".join(line + b"\n" for line in kept))
            removed.append(count)
        return removed[0], removed[1]

    def read_part(self, index: int) -> pa.Table:
        """The committed table of row group `index`."""
        return pq.read_table(self.part_path(index))

    def lineage_path(self, index: int) -> Path:
        return self.root / "lineage" / f"part-{index:05d}.parquet"

    def write_lineage(self, index: int, cells: list[dict[str, Any]]) -> None:
        """Row group `index`'s cell lineage, atomically: one row per model-backed cell (column, record,
        status, attempts, seconds, and its model exchanges as JSON text)."""
        path = self.lineage_path(index)
        path.parent.mkdir(exist_ok=True)
        table = pa.table(
            {
                "record": pa.array([c["record"] for c in cells], pa.int64()),
                "column": pa.array([c["column"] for c in cells], pa.string()),
                "status": pa.array([c["status"] for c in cells], pa.string()),
                "attempts": pa.array([c["attempts"] for c in cells], pa.int32()),
                "seconds": pa.array([c["seconds"] for c in cells], pa.float64()),
                "calls": pa.array([_json_array(c["calls"]) for c in cells], pa.string()),
            }
        )
        tmp = path.parent / f".{path.name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _output_error(f"cannot write {path}", exc) from None

    def read_lineage(self, index: int) -> list[dict[str, Any]]:
        """The lineage written for row group `index` (empty when there is none)."""
        path = self.lineage_path(index)
        if not path.exists():
            return []
        rows = pq.read_table(path).to_pylist()
        for row in rows:
            row["calls"] = orjson.loads(row["calls"])
        return rows  # type: ignore[no-any-return]

    def remove_part(self, index: int) -> None:
        """Un-commit row group `index` (a run that stops at N kept rows drops the groups past N)."""
        with contextlib.suppress(FileNotFoundError):
            self.part_path(index).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lineage_path(index).unlink()

    def _append_lines(self, path: Path, records: Iterable[Mapping[str, Any]]) -> None:
        lines = b"".join(orjson.dumps(r, default=str) + b"\n" for r in records)
        if not lines and path.exists():
            return
        try:
            with open(path, "ab") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise _output_error(f"cannot write {path}", exc) from None

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        self._atomic_write(
            self.metadata_path, orjson.dumps(metadata, option=orjson.OPT_INDENT_2, default=str)
        )

    def write_seed_report(self, report: Mapping[str, Any]) -> None:
        """seed_report.json: the seed files read and those left out (unreadable, corrupt), with why."""
        self._atomic_write(self.root / "seed_report.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))

    def write_usage(self, usage: Mapping[str, Any]) -> None:
        self._atomic_write(self.usage_path, orjson.dumps(usage, option=orjson.OPT_INDENT_2, default=str))

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.parent / f".{path.name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _output_error(f"cannot write {path}", exc) from None


def _json_array(items: list[Any]) -> str:
    """A JSON array of lineage entries: already-encoded JSON (bytes) as it is, anything else encoded."""
    parts = [item if isinstance(item, bytes) else orjson.dumps(item, default=str) for item in items]
    return (b"[" + b",".join(parts) + b"]").decode()


def _count_by_group(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            group = _safe_group(line) if line.strip() else None
            if group is not None:
                counts[group] = counts.get(group, 0) + 1
    return counts


def _safe_entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _safe_group(line: bytes) -> int | None:
    try:
        return int(orjson.loads(line).get("row_group"))
    except (ValueError, TypeError, AttributeError):
        return None


def _output_error(what: str, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(
            f"{what}: the disk is full; committed row groups are intact, resume when there is space"
        )
    return OutputError(f"{what}: {exc.strerror or exc}")


def read_data_part(path: Path) -> pa.Table:
    """A committed part's rows as a table, without the group's note (which stays in the run)."""
    table = pq.read_table(path)
    metadata = table.schema.metadata
    if metadata and GROUP_NOTE_KEY in metadata:
        table = table.replace_schema_metadata({k: v for k, v in metadata.items() if k != GROUP_NOTE_KEY})
    return table


def _group_note(metadata: Mapping[bytes, bytes] | None) -> dict[str, Any] | None:
    raw = (metadata or {}).get(GROUP_NOTE_KEY)
    if raw is None:
        return None
    try:
        note = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return note if isinstance(note, dict) else None
