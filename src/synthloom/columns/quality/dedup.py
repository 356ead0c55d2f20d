"""The `dedup` column: duplicates removed across the whole run, streaming and resume-safe.

Two halves. The generator runs in bulk per row group, off the event loop, and computes each row's
fingerprint (a hash, a MinHash signature, or the row's embedding as a unit vector); its value is
`true`. Its commit pass (`DedupPass`) sees the groups in record order just before each commits:
every kept row is checked against the index of all rows kept before it, a duplicate is moved to
filtered.jsonl with the record it duplicates, and the group's kept fingerprints are written to
`dedup/<column>/part-NNNNN.npz` (before the group's data, so a committed group always has them) and
added to the index. A resumed run loads the files of its committed groups, so it dedups against
exactly what was committed, as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import orjson
import pyarrow as pa

from synthloom.columns.quality.config import DedupColumn
from synthloom.columns.quality.dedup_index import (
    Duplicate,
    EmbeddingIndex,
    ExactIndex,
    Fingerprints,
    MinHashIndex,
    RowIndex,
)
from synthloom.columns.quality.minhash import lsh_params, minhash_signatures, normalise
from synthloom.columns.quality.text_values import as_text, column_values
from synthloom.engine.executor import GroupResult
from synthloom.engine.failures import FilteredRow
from synthloom.engine.generator import BatchGenerator, RowGroupSlice
from synthloom.errors import GenerationError, OutputError

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup
    from synthloom.store.run_directory import RunDirectory

__all__ = ["DedupGenerator", "DedupPass", "fingerprints_of"]

logger = logging.getLogger(__name__)


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest(), "little")


def _vector(value: Any) -> np.ndarray | None:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        return None
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if vector.ndim != 1 or not np.isfinite(vector).all():
        return None
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def fingerprints_of(
    config: DedupColumn, table: Mapping[str, Sequence[Any]], records: Sequence[int], rows: Sequence[int]
) -> Fingerprints:
    """The fingerprints of `rows` (positions in `table`; their record numbers are `records`). Rows
    with nothing to compare (null text, no words, no vector) are left out: never duplicates."""
    size = len(next(iter(table.values()), []))
    kept: list[int] = []
    if config.method == "embedding":
        assert config.embedding is not None
        values = column_values(table, config.embedding, size)
        vectors: list[np.ndarray] = []
        for record, i in zip(records, rows, strict=True):
            vector = _vector(values[i])
            # A vector of another length than the first cannot be compared: that row is not checked.
            if vector is not None and (not vectors or vector.shape == vectors[0].shape):
                kept.append(record)
                vectors.append(vector)
        data = np.stack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
        return Fingerprints(np.asarray(kept, dtype=np.int64), data)
    sources = [column_values(table, s, size) for s in config.sources()]
    texts: list[str] = []
    for record, i in zip(records, rows, strict=True):
        parts = [as_text(values[i]) for values in sources]
        if all(p is None for p in parts):
            continue
        texts.append("\n".join(p or "" for p in parts))
        kept.append(record)
    records_array = np.asarray(kept, dtype=np.int64)
    if config.method == "exact":
        keyed = texts if config.case_sensitive else [normalise(t) for t in texts]
        return Fingerprints(records_array, np.asarray([_text_hash(t) for t in keyed], dtype=np.uint64))
    signatures = minhash_signatures(texts, num_perm=config.num_perm, ngram=config.ngram)
    has_words = (signatures != 0xFFFFFFFF).any(axis=1)
    return Fingerprints(records_array[has_words], signatures[has_words])


class DedupGenerator(BatchGenerator[DedupColumn]):
    """Computes fingerprints in bulk and keeps them for its commit pass (by row group)."""

    cpu_bound: ClassVar[bool] = True
    needs_whole_group: ClassVar[bool] = True

    def __init__(self, config: DedupColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.pending: dict[int, Fingerprints] = {}

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        rows = [i for i in range(group.size) if active is None or active[i]]
        records = [group.start + i for i in rows]
        self.pending[group.index] = fingerprints_of(self.config, table, records, rows)
        out: list[Any] = [None] * group.size
        for i in rows:
            out[i] = True
        return out

    def commit_pass(self) -> DedupPass:
        return DedupPass(self.config, self.pending)


def minhash_acceptance(threshold: float, num_perm: int) -> float:
    """The Jaccard *estimate* at or above which a pair is a duplicate: the threshold less 1.645 standard
    errors of the estimate at the threshold, so that a pair exactly at the threshold is found 95 % of
    the time (checking the estimate against the threshold itself finds it only half the time) and pairs
    above it almost always. Pairs a little below the threshold are sometimes taken too."""
    return max(0.05, threshold - 1.645 * math.sqrt(threshold * (1 - threshold) / num_perm))


def new_index(config: DedupColumn) -> RowIndex:
    if config.method == "exact":
        return ExactIndex()
    if config.method == "minhash":
        accept = minhash_acceptance(config.similarity, config.num_perm)
        # Candidates are gathered a little below the acceptance, then checked against it (verified on
        # real text against exact word-5-gram Jaccard: benchmarks/bench_quality_defects.py).
        bands, rows = lsh_params(round(0.9 * accept, 3), config.num_perm)
        return MinHashIndex(threshold=accept, bands=bands, rows_per_band=rows, num_perm=config.num_perm)
    return EmbeddingIndex(threshold=config.similarity)


def _reason(config: DedupColumn, duplicate: Duplicate) -> str:
    if config.method == "exact":
        return f"exact duplicate of record {duplicate.of}"
    if config.method == "minhash":
        return f"near-duplicate of record {duplicate.of} (Jaccard ≈ {duplicate.similarity:.2f})"
    return f"semantic duplicate of record {duplicate.of} (cosine {duplicate.similarity:.3f})"


class DedupPass:
    """The commit-time half of a `dedup` column (a `CommitPass`)."""

    def __init__(self, config: DedupColumn, pending: dict[int, Fingerprints]) -> None:
        self.config = config
        self.name = config.name
        self.pending = pending
        self.index: RowIndex = new_index(config)
        self.duplicates = 0

    def state_path(self, directory: RunDirectory, group: int) -> Path:
        return directory.root / "dedup" / self.name / f"part-{group:05d}.npz"

    def restore(self, directory: RunDirectory | None, committed: Sequence[int]) -> None:
        self.index = new_index(self.config)
        if directory is None:
            return
        for group in sorted(committed):
            path = self.state_path(directory, group)
            if not path.exists():
                logger.warning(
                    "dedup column '%s': row group %d has no index file (%s); its rows are not compared",
                    self.name,
                    group,
                    path,
                )
                continue
            with np.load(path) as state:
                self.index.load({key: state[key] for key in state.files})

    def apply(self, result: GroupResult, directory: RunDirectory | None) -> GroupResult:
        group = result.group
        removed = {f.record for f in result.failures} | {f.record for f in result.filtered}
        kept = [r for r in range(group.start, group.start + group.size) if r not in removed]
        if len(kept) != result.table.num_rows:
            raise GenerationError(
                f"dedup column '{self.name}': row group {group.index} has {result.table.num_rows} rows "
                f"but {len(kept)} records were kept"
            )
        fingerprints = self.pending.pop(group.index, None)
        if fingerprints is None:
            fingerprints = self._from_table(result.table, kept)
        candidates = fingerprints.take(np.isin(fingerprints.records, np.asarray(kept, dtype=np.int64)))
        if candidates.records.size:
            try:
                keep, found = self.index.check(candidates)
            except ValueError as exc:  # embeddings of another length than those already kept
                raise GenerationError(f"dedup column '{self.name}': {exc}") from None
        else:
            keep, found = np.zeros(0, dtype=bool), []
        new_rows = candidates.take(keep)
        if directory is not None:
            self._write_state(directory, group.index, self.index.state(new_rows))
        self.index.add(new_rows)
        if not found:
            return result
        self.duplicates += len(found)
        dropped = {d.record for d in found}
        mask = pa.array([r not in dropped for r in kept], type=pa.bool_())
        filtered = [
            *result.filtered,
            *(FilteredRow(group.index, d.record, self.name, _reason(self.config, d)) for d in found),
        ]
        filtered.sort(key=lambda f: f.record)
        return dataclasses.replace(result, table=result.table.filter(mask), filtered=filtered)

    def _from_table(self, table: pa.Table, kept: list[int]) -> Fingerprints:
        """Fingerprints from the committed columns, for a group whose generator ran elsewhere (another
        process): its sources must be output columns."""
        names = [self.config.embedding] if self.config.embedding else self.config.sources()
        missing = sorted(
            {n.split(".", 1)[0] for n in names if n and n.split(".", 1)[0] not in table.column_names}
        )
        if missing:
            raise GenerationError(
                f"dedup column '{self.name}': the fingerprints of a row group computed in another process "
                f"need {missing} in the output (drop: false)"
            )
        data = {name: table.column(name).to_pylist() for name in table.column_names}
        return fingerprints_of(self.config, data, kept, list(range(len(kept))))

    def _write_state(self, directory: RunDirectory, group: int, state: dict[str, np.ndarray]) -> None:
        path = self.state_path(directory, group)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **state)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
