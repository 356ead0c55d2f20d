"""A finished (or interrupted) run directory read back for a report or a viewer.

Committed parts hold only kept rows, without their record numbers; those come back from the row
group layout (`buffer_size` consecutive records per group, sizes in metadata.json) less the records
failures.jsonl and filtered.jsonl name, in order. Lineage is read per row group, on demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import yaml

from synthloom.errors import RunStateError
from synthloom.store.run_directory import RunDirectory
from synthloom.store.table_codec import decode_rows

__all__ = ["RunData"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return out


class RunData:
    """What a run directory holds, read lazily."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.directory = RunDirectory(self.root)
        if not self.directory.metadata_path.is_file():
            raise RunStateError(f"{self.root} is not a synthloom run directory (no metadata.json)")

    @staticmethod
    def is_run(root: str | Path) -> bool:
        """Whether `root` holds a run (its metadata.json)."""
        return RunDirectory(Path(root)).metadata_path.is_file()

    def parts(self) -> list[Path]:
        """The committed row groups' parquet files, in row-group order."""
        return [self.directory.part_path(index) for index in self.groups]

    @cached_property
    def metadata(self) -> dict[str, Any]:
        try:
            return json.loads(self.directory.metadata_path.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError) as exc:
            raise RunStateError(f"{self.directory.metadata_path} is unreadable: {exc}") from None

    @cached_property
    def usage(self) -> dict[str, Any]:
        path = self.directory.usage_path
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())  # type: ignore[no-any-return]
        except ValueError:
            return {}

    @cached_property
    def config(self) -> dict[str, Any]:
        path = self.directory.config_path
        if not path.exists():
            return {}
        data = yaml.safe_load(path.read_text()) or {}
        return data if isinstance(data, dict) else {}

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.root.name)

    @cached_property
    def column_types(self) -> dict[str, str]:
        """Column name -> column type, from the resolved config."""
        return {
            str(c.get("name")): str(c.get("type"))
            for c in self.config.get("columns", [])
            if isinstance(c, dict) and c.get("name")
        }

    def columns_of_type(self, *types: str) -> list[dict[str, Any]]:
        return [c for c in self.config.get("columns", []) if isinstance(c, dict) and c.get("type") in types]

    @cached_property
    def failures(self) -> list[dict[str, Any]]:
        return _jsonl(self.directory.failures_path)

    @cached_property
    def filtered(self) -> list[dict[str, Any]]:
        return _jsonl(self.directory.filtered_path)

    @property
    def buffer_size(self) -> int:
        run = self.config.get("run") or {}
        return int(run.get("buffer_size") or 1000)

    @cached_property
    def groups(self) -> list[int]:
        """Committed row groups, in order."""
        return sorted(self.directory.committed())

    @cached_property
    def _removed(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for line in [*self.failures, *self.filtered]:
            try:
                out.setdefault(int(line["row_group"]), set()).add(int(line["record"]))
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def kept_records(self, group: int, rows: int) -> list[int]:
        """The record numbers of the `rows` rows committed in `group`, in order."""
        sizes = self.metadata.get("row_groups", {})
        size = int((sizes.get(str(group)) or {}).get("size") or self.buffer_size)
        start = group * self.buffer_size
        removed = self._removed.get(group, set())
        kept = [r for r in range(start, start + size) if r not in removed]
        if len(kept) < rows:  # an unexpected layout: number the rest after the group
            kept += list(range(start + size, start + size + rows - len(kept)))
        return kept[:rows]

    def rows(self, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """(record, row) for the committed rows in record order, JSON columns decoded."""
        seen = 0
        for group in self.groups:
            table = pq.read_table(self.directory.part_path(group))
            records = self.kept_records(group, table.num_rows)
            for record, row in zip(records, decode_rows(table), strict=False):
                yield record, row
                seen += 1
                if limit is not None and seen >= limit:
                    return

    def group_of(self, record: int) -> int:
        return record // self.buffer_size

    def lineage(self, record: int) -> list[dict[str, Any]]:
        """Every logged cell of `record` (kept, filtered or failed rows alike)."""
        cells = self.directory.read_lineage(self.group_of(record))
        return [c for c in cells if int(c.get("record", -1)) == record]

    def removal(self, record: int) -> dict[str, Any] | None:
        """The failures.jsonl or filtered.jsonl line of `record`, with its kind."""
        for kind, lines in (("failed", self.failures), ("filtered", self.filtered)):
            for line in lines:
                if line.get("record") == record:
                    return {"kind": kind, **line}
        return None
