"""Large seeds: parquet read lazily by index, a computed shuffle over the whole set, bounded read-ahead.

The thresholds that make a seed "large" are lowered here so that the lazy paths run on small files;
the 10-million-row figures are in benchmarks/bench_seeds.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom.config.seed_config import SeedConfig
from synthloom.row_groups import RowGroupSlice, stable_hash
from synthloom.seeds import parquet_source, permutation, sampling
from synthloom.seeds.parquet_source import ParquetSource
from synthloom.seeds.permutation import ShuffleOrder, hashed_draws
from synthloom.seeds.reader import SeedReader

N = 1000


@pytest.fixture
def big(tmp_path: Path) -> Path:
    table = pa.table({"id": np.arange(N), "text": [f"row {i}" for i in range(N)]})
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=37)
    return tmp_path


@pytest.fixture
def lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every parquet seed is read lazily, with read-ahead windows of 128 records."""
    monkeypatch.setattr(parquet_source, "LAZY_ROWS", 0)
    monkeypatch.setattr(sampling, "_MIN_WINDOW", 128)
    monkeypatch.setattr(sampling, "WINDOW_BYTES", 1)


def reader(base: Path, sampling_: Any = "ordered", run_seed: int = 7, **seed: Any) -> SeedReader:
    return SeedReader(
        SeedConfig(path="big.parquet", sampling=sampling_, **seed), base_dir=base, run_seed=run_seed
    )


def ids(r: SeedReader, start: int, size: int, run_seed: int = 7) -> list[int]:
    group = RowGroupSlice(index=start // size, start=start, size=size, run_seed=run_seed)
    return r.rows_for(group)["id"]


# -- the permutation --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, 97, 1024, 5000])
def test_computed_permutation_is_a_bijection_per_epoch(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(permutation, "TABLE_LIMIT", 0)
    order = ShuffleOrder(n, run_seed=3)
    got = order.indices(np.arange(3 * n))
    for epoch in range(3):
        assert sorted(got[epoch * n : (epoch + 1) * n].tolist()) == list(range(n))
    if n >= 97:
        assert got[:n].tolist() != list(range(n))
        assert got[:n].tolist() != got[n : 2 * n].tolist()  # a new permutation every epoch
        assert ShuffleOrder(n, run_seed=4).indices(np.arange(n)).tolist() != got[:n].tolist()


def test_computed_permutation_scatters_neighbours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(permutation, "TABLE_LIMIT", 0)
    n = 1_000_000
    first = ShuffleOrder(n, run_seed=0).indices(np.arange(1000))
    # A shuffle over the whole set, not a window: 1000 consecutive records land all over it.
    assert first.min() < n * 0.01 and first.max() > n * 0.99
    assert len(np.unique(first // (n // 10))) == 10


def test_small_seeds_keep_the_permutation_they_always_had() -> None:
    # Runs made before the computed permutation existed must resume onto the same seed rows.
    n = 500
    expected = np.random.default_rng(np.random.SeedSequence([7, stable_hash("__seed__"), 1])).permutation(n)
    assert ShuffleOrder(n, run_seed=7).indices(np.arange(n, 2 * n)).tolist() == expected.tolist()


def test_hashed_draws_are_uniform_and_fixed_per_record() -> None:
    draws = hashed_draws(np.arange(100_000), 10, run_seed=1)
    assert np.bincount(draws, minlength=10).min() > 9_500
    assert hashed_draws(np.arange(50, 60), 10, run_seed=1).tolist() == draws[50:60].tolist()
    assert hashed_draws(np.arange(100), 10, run_seed=2).tolist() != draws[:100].tolist()


# -- lazy parquet -----------------------------------------------------------------------------------


def test_take_reads_only_the_row_groups_it_needs(big: Path) -> None:
    source = ParquetSource([big / "big.parquet"], pq.read_schema(big / "big.parquet"))
    visited: list[int] = []
    original = source._read

    def spy(group: int, batch_rows: int = 65_536) -> Any:
        visited.append(group)
        return original(group, batch_rows)

    source._read = spy  # type: ignore[method-assign]
    got = source.take(np.array([500, 3, 40, 3, 999]))
    assert got.column("id").to_pylist() == [500, 3, 40, 3, 999]
    assert visited == [0, 1, 13, 27]  # groups of 37 rows: 3 -> 0, 40 -> 1, 500 -> 13, 999 -> 27


@pytest.mark.usefixtures("lazy")
def test_lazy_ordered_reads_cycle_like_in_memory(big: Path) -> None:
    r = reader(big)
    assert r._sources[0].lazy
    assert ids(r, 0, 5) == [0, 1, 2, 3, 4]
    assert ids(r, 995, 10) == [995, 996, 997, 998, 999, 0, 1, 2, 3, 4]
    assert r.rows_for(RowGroupSlice(index=0, start=250, size=2, run_seed=7))["text"] == ["row 250", "row 251"]


@pytest.mark.usefixtures("lazy")
def test_lazy_shuffle_matches_in_memory_shuffle(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lazy_order = [i for start in range(0, 2 * N, 100) for i in ids(reader(big, "shuffle"), start, 100)]
    monkeypatch.setattr(parquet_source, "LAZY_ROWS", 10**9)
    memory = reader(big, "shuffle")
    assert not memory._sources[0].lazy
    assert ids(memory, 0, 2 * N) == lazy_order
    assert sorted(lazy_order[:N]) == sorted(lazy_order[N:]) == list(range(N))


@pytest.mark.usefixtures("lazy")
def test_lazy_computed_shuffle_is_the_same_whatever_the_grouping(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(permutation, "TABLE_LIMIT", 0)
    whole = ids(reader(big, "shuffle"), 0, 1500)
    fresh = reader(big, "shuffle")
    pieces = [ids(fresh, start, 300) for start in (1200, 0, 900, 300, 600)]  # out of order: a resume
    assert [i for k in (1, 3, 4, 2, 0) for i in pieces[k]] == whole
    assert sorted(whole[:N]) == list(range(N))


@pytest.mark.usefixtures("lazy")
def test_lazy_read_ahead_keeps_two_windows(big: Path) -> None:
    r = reader(big, "shuffle")
    sampler = r._samplers[0]
    for start in range(0, 3000, 50):
        ids(r, start, 50)
        assert len(sampler._windows) <= 2  # type: ignore[union-attr]
        assert all(t.num_rows == 128 for t in sampler._windows.values())  # type: ignore[union-attr]


@pytest.mark.usefixtures("lazy")
def test_lazy_with_replacement_is_reproducible_per_record(big: Path) -> None:
    a = ids(reader(big, "with_replacement"), 0, 600)
    b = ids(reader(big, "with_replacement"), 300, 300)
    assert a[300:] == b
    assert len(set(a)) < 600


@pytest.mark.usefixtures("lazy")
def test_lazy_glob_brings_files_to_one_schema(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2], "note": pa.nulls(2)}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": [3], "note": ["x"], "more": [1.5]}), tmp_path / "b.parquet")
    r = SeedReader(SeedConfig(path="*.parquet"), base_dir=tmp_path, run_seed=0)
    assert r._sources[0].lazy
    assert r.column_names == ["id", "note", "more"]
    values = r.rows_for(RowGroupSlice(index=0, start=0, size=3, run_seed=0))
    assert values == {"id": [1, 2, 3], "note": [None, None, "x"], "more": [None, None, 1.5]}


@pytest.mark.usefixtures("lazy")
def test_lazy_columns_reads_only_those(big: Path) -> None:
    r = reader(big, columns=["text"])
    assert r.column_names == ["text"]
    assert r.rows_for(RowGroupSlice(index=0, start=3, size=1, run_seed=7)) == {"text": ["row 3"]}
