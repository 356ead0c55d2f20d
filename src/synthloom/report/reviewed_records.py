"""A run's records chosen by their review: what `synthloom export --reviewed` writes and what a prompt's
`examples(...)` reads."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.errors import RunStateError
from synthloom.outputs.export_source import ExportSource
from synthloom.store.reviews import VERDICTS, ReviewLog
from synthloom.store.run_reader import RunData
from synthloom.store.table_codec import decode_rows

__all__ = ["REVIEW_CHOICES", "read_examples", "reviewed_records", "reviewed_source"]

REVIEW_CHOICES: tuple[str, ...] = (*VERDICTS, "unreviewed")


def _check(verdict: str) -> None:
    if verdict not in REVIEW_CHOICES:
        raise RunStateError(f"reviewed must be one of {', '.join(REVIEW_CHOICES)}, not {verdict!r}")


def reviewed_source(run_dir: str | Path, verdict: str) -> ExportSource:
    """The run's export source keeping only the kept records whose latest review is `verdict`
    (`unreviewed`: those with none). Parts stay in the run's own encoding."""
    _check(verdict)
    run = RunData(run_dir)
    source = ExportSource.from_run(run_dir)
    latest = ReviewLog(run.root).latest()
    parts: list[pa.Table] = []
    for group in run.groups:
        table = pq.read_table(run.directory.part_path(group))
        records = run.kept_records(group, table.num_rows)
        keep = [i for i, record in enumerate(records) if _matches(latest.get(record), verdict)]
        if keep:
            parts.append(table.take(pa.array(keep, type=pa.int64())))
    return ExportSource(
        parts,
        name=source.name,
        config=source.config,
        metadata=source.metadata,
        usage=source.usage,
        origin=source.origin,
    )


def reviewed_records(
    run_dir: str | Path, verdict: str = "good", n: int | None = None
) -> list[dict[str, Any]]:
    """Up to `n` kept records (values decoded) whose latest review is `verdict`, in record order."""
    _check(verdict)
    run = RunData(run_dir)
    latest = ReviewLog(run.root).latest()
    out: list[dict[str, Any]] = []
    for group in run.groups:
        table = pq.read_table(run.directory.part_path(group))
        for record, row in zip(run.kept_records(group, table.num_rows), decode_rows(table), strict=False):
            review = latest.get(record)
            if _matches(review, verdict):
                out.append(row)
                if n is not None and len(out) >= n:
                    return out
    return out


def _matches(review: Any, verdict: str) -> bool:
    if verdict == "unreviewed":
        return review is None
    return review is not None and review.verdict == verdict


def read_examples(run_dir: str, verdict: str = "good", n: int = 3) -> list[dict[str, Any]]:
    """`reviewed_records`, read once per state of the run (a prompt renders it for every cell)."""
    root = Path(run_dir)
    stamps = tuple(_mtime(root / name) for name in ("reviews.jsonl", "metadata.json"))
    return _cached_examples(str(root.resolve()), verdict, n, stamps)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=32)
def _cached_examples(root: str, verdict: str, n: int, stamps: tuple[int, ...]) -> list[dict[str, Any]]:
    return reviewed_records(root, verdict, n)
