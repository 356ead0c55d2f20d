"""End to end without a model: samplers, expressions, `when`, `drop`, seed files, resume, the result API
and the CLI, on real run directories."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import synthloom
from synthloom.errors import RunStateError
from synthloom.interface.cli import cli
from synthloom.store.table_codec import is_json_field

CONFIG = """\
name: e2e
columns:
  - {name: id, type: sampler, sampler: uuid}
  - {name: n, type: sampler, sampler: uniform, params: {low: 0, high: 100, dtype: int}}
  - {name: topic, type: sampler, sampler: category, params: {values: [physics, chemistry, biology]}}
  - {name: person, type: sampler, sampler: person, params: {fields: [first_name, age]}}
  - {name: big, type: expression, expr: "{{ n >= 50 }}", dtype: bool}
  - {name: doubled, type: expression, expr: "{{ n * 2 }}", dtype: int, when: "{{ big }}"}
  - {name: scratch, type: expression, expr: "{{ topic | upper }}", drop: true}
  - {name: label, type: expression, expr: "{{ scratch }}-{{ person.first_name }}"}
run: {buffer_size: 4, seed: 11}
"""
OUTPUT_COLUMNS = ["id", "n", "topic", "person", "big", "doubled", "label"]

SEED_RECORDS = [{"title": f"paper {i}", "year": 2000 + i} for i in range(3)]
SEED_CONFIG = """\
name: seeded
seed: {{path: {path}}}
columns:
  - {{name: id, type: sampler, sampler: uuid}}
  - {{name: cite, type: expression, expr: "{{{{ title }}}} ({{{{ year }}}})"}}
run: {{buffer_size: 2}}
"""


def write_config(directory: Path, text: str = CONFIG, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def rows_by_id(result: synthloom.DatasetResult) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in result}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def first_run(tmp_path: Path, config_path: Path) -> synthloom.DatasetResult:
    return synthloom.create(config_path, 10, output=tmp_path / "out")


# ---- what a run writes ----------------------------------------------------------------------------


def test_create_writes_every_record_in_row_group_files(first_run: synthloom.DatasetResult) -> None:
    assert first_run.path is not None
    assert len(first_run) == 10
    parts = sorted(p.name for p in (first_run.path / "data").iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(first_run.path / "data" / p).metadata.num_rows for p in parts] == [4, 4, 2]
    meta = first_run.metadata
    assert (meta["status"], meta["committed_records"], meta["target_records"]) == ("completed", 10, 10)
    assert first_run.failures == []
    assert {p.name for p in first_run.path.iterdir()} >= {
        "config.yaml",
        "metadata.json",
        "usage.json",
        "data",
    }


def test_dropped_columns_are_computed_but_not_written(first_run: synthloom.DatasetResult) -> None:
    assert first_run.to_arrow().column_names == OUTPUT_COLUMNS
    for row in first_run:
        assert row["label"] == f"{row['topic'].upper()}-{row['person']['first_name']}"


def test_when_false_gives_null(first_run: synthloom.DatasetResult) -> None:
    rows = list(first_run)
    assert {row["big"] for row in rows} == {True, False}, "the fixture should exercise both branches"
    for row in rows:
        assert row["big"] == (row["n"] >= 50)
        assert row["doubled"] == (row["n"] * 2 if row["big"] else None)


def test_sampled_values_respect_their_parameters(first_run: synthloom.DatasetResult) -> None:
    rows = list(first_run)
    assert len({row["id"] for row in rows}) == 10
    assert all(0 <= row["n"] <= 100 for row in rows)
    assert {row["topic"] for row in rows} <= {"physics", "chemistry", "biology"}
    assert all(set(row["person"]) == {"first_name", "age"} for row in rows)


def test_preview_writes_nothing_and_returns_records(tmp_path: Path, config_path: Path) -> None:
    before = {p.name for p in tmp_path.iterdir()}
    result = synthloom.preview(config_path, num_records=3)
    assert len(result) == 3
    assert result.path is None
    assert result.metadata == {"status": "preview", "committed_records": 3}
    assert [list(row) for row in result] == [OUTPUT_COLUMNS] * 3
    assert {p.name for p in tmp_path.iterdir()} == before


# ---- reproducibility ------------------------------------------------------------------------------


def test_two_runs_with_the_same_seed_are_identical(
    tmp_path: Path, config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    again = synthloom.create(config_path, 10, output=tmp_path / "again")
    assert again.to_arrow().equals(first_run.to_arrow())


def test_preview_draws_the_same_records_as_create(
    config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert list(synthloom.preview(config_path, num_records=4)) == list(first_run)[:4]


def test_a_different_run_seed_gives_different_data(
    tmp_path: Path, first_run: synthloom.DatasetResult
) -> None:
    other = write_config(tmp_path, CONFIG.replace("seed: 11", "seed: 12"), name="other.yaml")
    result = synthloom.create(other, 10, output=tmp_path / "other")
    assert not set(rows_by_id(result)) & set(rows_by_id(first_run))
    assert [r["n"] for r in result] != [r["n"] for r in first_run]


# ---- resume ---------------------------------------------------------------------------------------


def test_resume_regenerates_a_deleted_part_identically(
    config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert first_run.path is not None
    original = first_run.to_arrow()
    (first_run.path / "data" / "part-00001.parquet").unlink()
    assert len(first_run) == 6
    resumed = synthloom.create(config_path, 10, output=first_run.path.parent, resume="always")
    assert len(resumed) == 10
    assert rows_by_id(resumed) == rows_by_id(first_run)
    assert resumed.to_arrow().equals(original)
    assert resumed.metadata["resumed"] == 1
    assert resumed.metadata["status"] == "completed"


def test_resume_ignores_and_clears_a_half_written_part(
    config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert first_run.path is not None
    original = first_run.to_arrow()
    data = first_run.path / "data"
    (data / "part-00002.parquet").rename(data / ".part-00002.parquet.tmp")
    resumed = synthloom.create(config_path, 10, output=first_run.path.parent, resume="always")
    assert resumed.to_arrow().equals(original)
    assert sorted(p.name for p in data.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]


def test_extending_a_run_keeps_the_committed_records(
    config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert first_run.path is not None
    before = list(first_run)
    extended = synthloom.create(config_path, 15, output=first_run.path.parent, resume="if-possible")
    after = list(extended)
    assert len(after) == 15
    assert after[:8] == before[:8]
    assert len({row["id"] for row in after}) == 15
    assert extended.metadata["target_records"] == 15
    assert extended.metadata["committed_records"] == 15


def test_extending_keeps_the_values_of_a_regenerated_partial_group(
    config_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert first_run.path is not None
    before = list(first_run)
    after = list(synthloom.create(config_path, 15, output=first_run.path.parent))
    assert after[:10] == before


def test_resume_never_refuses_an_existing_run(config_path: Path, first_run: synthloom.DatasetResult) -> None:
    assert first_run.path is not None
    with pytest.raises(RunStateError, match="already holds a run"):
        synthloom.create(config_path, 10, output=first_run.path.parent, resume="never")
    assert len(first_run) == 10


def test_resume_always_refuses_an_empty_directory(tmp_path: Path, config_path: Path) -> None:
    with pytest.raises(RunStateError, match="no run to resume"):
        synthloom.create(config_path, 10, output=tmp_path / "fresh", resume="always")


def test_a_changed_config_is_refused_naming_the_change(
    tmp_path: Path, first_run: synthloom.DatasetResult
) -> None:
    assert first_run.path is not None
    changed = write_config(tmp_path, CONFIG.replace("{{ scratch }}-", "{{ scratch }}:"), name="changed.yaml")
    with pytest.raises(RunStateError) as info:
        synthloom.create(changed, 10, output=first_run.path.parent)
    assert "columns.label.expr" in str(info.value)
    assert list(first_run) and len(first_run) == 10


def test_a_run_that_failed_before_committing_does_not_block_the_corrected_config(tmp_path: Path) -> None:
    bad = (
        "name: u\ncolumns:\n"
        "  - {name: a, type: sampler, sampler: uniform, params: {low: 0.2, high: 0.5, dtype: int}}\n"
    )
    path = write_config(tmp_path, bad, name="u.yaml")
    with pytest.raises(synthloom.ConfigError, match="no integer"):
        synthloom.create(path, 3, output=tmp_path / "out")
    write_config(tmp_path, bad.replace("low: 0.2", "low: 0"), name="u.yaml")
    assert len(synthloom.create(path, 3, output=tmp_path / "out")) == 3


def test_a_running_run_cannot_be_opened_twice(tmp_path: Path, config_path: Path) -> None:
    from synthloom.store.run_directory import RunDirectory

    with RunDirectory(tmp_path / "out" / "e2e"), pytest.raises(RunStateError, match="in use"):
        synthloom.create(config_path, 4, output=tmp_path / "out")


# ---- seed files -----------------------------------------------------------------------------------


def write_seed(directory: Path, fmt: str) -> Path:
    path = directory / f"seed.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in SEED_RECORDS))
    elif fmt == "csv":
        path.write_text("title,year\n" + "".join(f"{r['title']},{r['year']}\n" for r in SEED_RECORDS))
    else:
        pq.write_table(pa.Table.from_pylist(SEED_RECORDS), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_seed_fields_are_output_and_readable_by_templates(tmp_path: Path, fmt: str) -> None:
    seed = write_seed(tmp_path, fmt)
    config = write_config(tmp_path, SEED_CONFIG.format(path=seed.name))
    plan = synthloom.validate(config)
    assert plan.seed_columns == ("title", "year")
    result = synthloom.create(config, 5, output=tmp_path / "out")
    rows = list(result)
    assert result.to_arrow().column_names == ["title", "year", "id", "cite"]
    titles = [r["title"] for r in SEED_RECORDS]
    assert [row["title"] for row in rows] == [titles[i % 3] for i in range(5)]
    assert all(row["cite"] == f"{row['title']} ({row['year']})" for row in rows)


def test_seed_columns_option_keeps_only_the_named_fields(tmp_path: Path) -> None:
    seed = write_seed(tmp_path, "jsonl")
    text = SEED_CONFIG.format(path=seed.name).replace(
        "seed: {path: seed.jsonl}", "seed: {path: seed.jsonl, columns: [title]}"
    )
    text = text.replace(" ({{ year }})", "")
    result = synthloom.preview(write_config(tmp_path, text), num_records=2)
    assert result.to_arrow().column_names == ["title", "id", "cite"]


# ---- the result API -------------------------------------------------------------------------------


def test_to_arrow_marks_json_columns(first_run: synthloom.DatasetResult) -> None:
    table = first_run.to_arrow()
    assert table.num_rows == 10
    json_fields = {f.name for f in table.schema if is_json_field(f)}
    assert json_fields == {"person"}
    assert isinstance(json.loads(table.column("person")[0].as_py()), dict)


def test_iteration_decodes_json_columns(first_run: synthloom.DatasetResult) -> None:
    row = next(iter(first_run))
    assert isinstance(row["person"], dict)
    assert isinstance(row["person"]["age"], int)


def test_to_pandas_decodes_json_columns(first_run: synthloom.DatasetResult) -> None:
    pytest.importorskip("pandas")
    frame = first_run.to_pandas()
    assert list(frame.columns) == OUTPUT_COLUMNS
    assert len(frame) == 10
    assert isinstance(frame["person"].iloc[0], dict)


def test_open_run_reads_back_a_run_directory(first_run: synthloom.DatasetResult) -> None:
    assert first_run.path is not None
    opened = synthloom.open_run(first_run.path)
    assert list(opened) == list(first_run)
    assert opened.metadata["status"] == "completed"
    assert opened.usage["columns"]["n"]["cells_done"] == 10


def test_open_run_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="not a synthloom run directory"):
        synthloom.open_run(tmp_path)


def test_export_jsonl_round_trips(tmp_path: Path, first_run: synthloom.DatasetResult) -> None:
    path = first_run.export(tmp_path / "export" / "rows.jsonl")
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == list(first_run)


def test_export_parquet_round_trips(tmp_path: Path, first_run: synthloom.DatasetResult) -> None:
    path = first_run.export(tmp_path / "rows.parquet")
    assert pq.read_table(path).equals(first_run.to_arrow())


def test_export_csv_round_trips(tmp_path: Path, first_run: synthloom.DatasetResult) -> None:
    path = first_run.export(tmp_path / "rows.data", format="csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    originals = list(first_run)
    assert list(rows[0]) == OUTPUT_COLUMNS
    assert len(rows) == 10
    for written, original in zip(rows, originals, strict=True):
        assert written["id"] == original["id"]
        assert int(written["n"]) == original["n"]
        assert json.loads(written["person"]) == original["person"]
        assert written["doubled"] == ("" if original["doubled"] is None else str(original["doubled"]))


def test_export_refuses_an_unknown_format(tmp_path: Path, first_run: synthloom.DatasetResult) -> None:
    with pytest.raises(synthloom.OutputError, match="cannot export to 'xlsx'"):
        first_run.export(tmp_path / "rows.xlsx")


# ---- the command line -----------------------------------------------------------------------------


def test_cli_create_then_preview_json(tmp_path: Path, config_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli, ["create", str(config_path), "-n", "6", "-o", str(tmp_path / "out"), "--no-progress", "--json"]
    )
    assert created.exit_code == 0, created.output
    summary = json.loads(created.stdout)
    assert (summary["status"], summary["records"], summary["target_records"]) == ("completed", 6, 6)
    assert Path(summary["path"]) == tmp_path / "out" / "e2e"

    previewed = runner.invoke(cli, ["preview", str(config_path), "-n", "4", "--json"])
    assert previewed.exit_code == 0, previewed.output
    rows = [json.loads(line) for line in previewed.stdout.splitlines()]
    assert rows == list(synthloom.open_run(tmp_path / "out" / "e2e"))[:4]


def test_cli_create_prints_a_summary_line(tmp_path: Path, config_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["create", str(config_path), "-n", "3", "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "3/3 records written to" in result.stdout


def test_cli_create_refuses_an_existing_run_with_resume_never(tmp_path: Path, config_path: Path) -> None:
    runner = CliRunner()
    args = ["create", str(config_path), "-n", "3", "-o", str(tmp_path / "out"), "--no-progress"]
    assert runner.invoke(cli, args).exit_code == 0
    again = runner.invoke(cli, [*args, "--resume", "never"])
    assert again.exit_code == 2
    assert again.stderr.startswith("Error:")
    assert "already holds a run" in again.stderr
    assert "Traceback" not in again.output


def test_cli_preview_table_shows_every_column(config_path: Path) -> None:
    result = CliRunner().invoke(cli, ["preview", str(config_path), "-n", "1"])
    assert result.exit_code == 0, result.output
    for column in OUTPUT_COLUMNS:
        assert column in result.stdout
    assert "scratch" not in result.stdout


def test_cli_validate_json_describes_the_plan(config_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(config_path), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["valid"] is True
    assert plan["output_columns"] == OUTPUT_COLUMNS
    columns = {c["name"]: c for c in plan["columns"]}
    assert columns["label"]["depends_on"] == ["person", "scratch"]
    assert columns["scratch"]["drop"] is True


def test_cli_validate_prints_a_readable_summary(config_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(config_path)])
    assert result.exit_code == 0
    assert "valid, 8 columns" in result.stdout
    assert "(dropped)" in result.stdout


def test_cli_schema_is_json() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "columns" in schema["properties"]


def test_cli_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"synthloom, version {synthloom.__version__}"
