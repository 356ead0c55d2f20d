"""Stage chaining: a previous run's committed row groups as the seed of the next stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.reader import SeedReader
from synthloom.store.run_directory import RunDirectory
from synthloom.store.table_codec import to_arrow_table


def commit(run: RunDirectory, index: int, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    with run:
        run.commit_row_group(index, to_arrow_table({n: [r[n] for r in rows] for n in names}, names))


@pytest.fixture
def stage1(tmp_path: Path) -> Path:
    """A run of two committed row groups whose dicts are stored as JSON text, and whose `extra`
    field is a number in one group and mixed (so JSON text) in the other."""
    root = tmp_path / "out" / "stage1"
    run = RunDirectory(root)
    commit(
        run,
        0,
        [
            {"question": "q0", "grade": {"score": 3, "why": "ok"}, "keep": True, "extra": 1},
            {"question": "q1", "grade": {"score": 1, "why": "no"}, "keep": False, "extra": 2},
        ],
    )
    commit(
        run,
        1,
        [
            {"question": "q2", "grade": {"score": 2, "why": "meh"}, "keep": True, "extra": "x"},
            {"question": "q3", "grade": {"score": 3, "why": "ok"}, "keep": True, "extra": 4},
        ],
    )
    (root / "data" / ".part-00002.parquet.tmp").write_bytes(b"half written")  # never read
    return tmp_path


def records(reader: SeedReader) -> list[dict[str, Any]]:
    values = reader.rows_for(RowGroupSlice(index=0, start=0, size=len(reader), run_seed=0))
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]


def test_reads_committed_row_groups_in_order_with_json_values_decoded(stage1: Path) -> None:
    reader = SeedReader(SeedConfig(run="out/stage1"), base_dir=stage1, run_seed=0)
    got = records(reader)
    assert [r["question"] for r in got] == ["q0", "q1", "q2", "q3"]
    assert got[0]["grade"] == {"score": 3, "why": "ok"}
    assert [r["extra"] for r in got] == [1, 2, "x", 4]  # the types each row group stored, back as values


def test_where_filters_with_a_condition_over_decoded_values(stage1: Path) -> None:
    seed = SeedConfig(run="out/stage1", where="{{ keep and grade.score >= 2 }}")
    reader = SeedReader(seed, base_dir=stage1, run_seed=0)
    assert [r["question"] for r in records(reader)] == ["q0", "q2", "q3"]


def test_where_and_transforms_compose(stage1: Path) -> None:
    seed = SeedConfig.model_validate(
        {
            "run": "out/stage1",
            "where": "{{ keep }}",
            "transforms": [{"select": ["question", "grade"]}, {"rename": {"question": "prompt"}}],
        }
    )
    reader = SeedReader(seed, base_dir=stage1, run_seed=0)
    assert reader.column_names == ["prompt", "grade"]
    assert records(reader)[1] == {"prompt": "q2", "grade": {"score": 2, "why": "meh"}}


def test_where_naming_an_unknown_field_is_refused(stage1: Path) -> None:
    with pytest.raises(SeedDataError, match=r"reads 'kept', not a field") as info:
        SeedReader(SeedConfig(run="out/stage1", where="{{ kept }}"), base_dir=stage1, run_seed=0)
    assert info.value.field == "seed.where"


def test_a_run_without_committed_row_groups_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r" / "data").mkdir(parents=True)
    with pytest.raises(SeedDataError, match="the run has no committed row groups yet") as info:
        SeedReader(SeedConfig(run="r"), base_dir=tmp_path, run_seed=0)
    assert info.value.field == "seed.run"


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    with pytest.raises(SeedDataError, match="not a synthloom run directory"):
        SeedReader(SeedConfig(run="r"), base_dir=tmp_path, run_seed=0)
    with pytest.raises(SeedDataError, match="no such run directory"):
        SeedReader(SeedConfig(run="missing"), base_dir=tmp_path, run_seed=0)


def test_columns_of_a_run_seed(stage1: Path) -> None:
    reader = SeedReader(SeedConfig(run="out/stage1", columns=["grade"]), base_dir=stage1, run_seed=0)
    assert reader.column_names == ["grade"]
    with pytest.raises(SeedDataError, match=r"'columns' names 'nope', not in the run's records"):
        SeedReader(SeedConfig(run="out/stage1", columns=["nope"]), base_dir=stage1, run_seed=0)
