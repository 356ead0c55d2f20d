"""Exports to single files (jsonl, csv, parquet, training formats) from a run directory written by the
store's own writer, through the Python API and `synthloom export`."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthloom.config.loader import parse_config
from synthloom.errors import ConfigError, OutputError, RunStateError
from synthloom.interface.cli import cli
from synthloom.interface.dataset_result import DatasetResult
from synthloom.outputs import ExportSource, export_records
from synthloom.store.metadata import base_metadata
from synthloom.store.run_directory import RunDirectory
from synthloom.store.table_codec import to_arrow_table

CONFIG = """
name: qa
models:
  - alias: writer
    provider: openai
    base_url: http://127.0.0.1:9/v1
    model: org/qa-7b
    api_key_env: SYNTHLOOM_TEST_SECRET_KEY
    headers: {Authorization: Bearer header-secret-value, X-Team: research}
columns:
  - {name: question, type: llm-text, model: writer, prompt: "Ask"}
  - {name: answer, type: llm-structured, model: writer, prompt: "{{ question }}", schema: {type: object}}
  - {name: n, type: sampler, sampler: uniform, params: {low: 0, high: 10}}
"""
#: Three row groups whose schemas differ: `n` is int, then all null, then float; `answer` is null once.
GROUPS: list[dict[str, list[Any]]] = [
    {"question": ["Q1", "Q2"], "answer": [{"text": "A1", "score": 1}, {"text": "A2"}], "n": [1, 2]},
    {"question": ["Q3"], "answer": [None], "n": [None]},
    {"question": ["Q4"], "answer": [{"text": "A4", "refs": [1, 2]}], "n": [0.5]},
]
RECORDS = [
    {"question": "Q1", "answer": {"text": "A1", "score": 1}, "n": 1},
    {"question": "Q2", "answer": {"text": "A2"}, "n": 2},
    {"question": "Q3", "answer": None, "n": None},
    {"question": "Q4", "answer": {"text": "A4", "refs": [1, 2]}, "n": 0.5},
]


def make_run(
    root: Path,
    groups: Sequence[dict[str, list[Any]]] = GROUPS,
    *,
    config: str = CONFIG,
    names: Sequence[str] = ("question", "answer", "n"),
) -> Path:
    """A completed run directory, written by the store's own writer."""
    cfg = parse_config(config)
    store = RunDirectory(root)
    with store:
        store.write_config(cfg)
        for index, group in enumerate(groups):
            store.commit_row_group(index, to_arrow_table(group, list(names)))
        records = sum(len(next(iter(g.values()))) for g in groups)
        meta = base_metadata(cfg, target=records, run_seed=7)
        meta.update(
            status="completed",
            committed_records=records,
            failed_records=1,
            sessions=[
                {"usage": {"writer": {"requests": 5, "input_tokens": 100, "output_tokens": 40, "cost": 0.5}}},
                {"usage": {"writer": {"requests": 3, "input_tokens": 50, "output_tokens": 20, "cost": 0.25}}},
            ],
        )
        store.write_metadata(meta)
        store.write_usage({"models": {"writer": {"requests": 3, "input_tokens": 50, "output_tokens": 20}}})
    return root


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs" / "qa")


def _jsonl(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_jsonl_export_writes_decoded_records_part_by_part(tmp_path: Path, run: Path) -> None:
    report = export_records(ExportSource.from_run(run), tmp_path / "out.jsonl")
    assert (report.format, report.records, report.filtered) == ("jsonl", 4, 0)
    assert _jsonl(tmp_path / "out.jsonl") == RECORDS
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_export_flattens_nested_values_to_json_text(tmp_path: Path, run: Path) -> None:
    DatasetResult.open(run).to_csv(tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["question", "answer", "n"],
        ["Q1", '{"text":"A1","score":1}', "1"],
        ["Q2", '{"text":"A2"}', "2"],
        ["Q3", "", ""],
        ["Q4", '{"text":"A4","refs":[1,2]}', "0.5"],
    ]


def test_parquet_export_agrees_on_one_schema_across_parts(tmp_path: Path, run: Path) -> None:
    path = DatasetResult.open(run).to_parquet(tmp_path / "out.parquet")
    table = pq.read_table(path)
    assert [str(t) for t in table.schema.types] == ["string", "string", "double"]
    assert table.schema.field("answer").metadata == {b"synthloom.json": b"1"}
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    assert list(DatasetResult(tables=[table])) == RECORDS


def test_a_column_whose_parts_disagree_becomes_json_text(tmp_path: Path) -> None:
    run = make_run(tmp_path / "qa", [{"x": [1, 2]}, {"x": ["a", "b"]}], names=["x"])
    table = pq.read_table(DatasetResult.open(run).to_parquet(tmp_path / "out.parquet"))
    assert table.column("x").to_pylist() == ["1", "2", '"a"', '"b"']
    assert list(DatasetResult(tables=[table])) == [{"x": 1}, {"x": 2}, {"x": "a"}, {"x": "b"}]


def test_a_training_format_export_reads_the_named_sources(tmp_path: Path, run: Path) -> None:
    result = DatasetResult.open(run)
    report = result.export_report(
        tmp_path / "sft.jsonl", "messages", sources={"user": "question", "assistant": "answer.text"}
    )
    assert (report.records, report.filtered, report.failed) == (3, 1, 0)
    assert report.examples == ["output.format.assistant: no value (the source is null or missing)"]
    assert _jsonl(tmp_path / "sft.jsonl") == [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in (("Q1", "A1"), ("Q2", "A2"), ("Q4", "A4"))
    ]


def test_an_output_mapping_applies_at_export_time(tmp_path: Path, run: Path) -> None:
    DatasetResult.open(run).export(
        tmp_path / "out.jsonl",
        "jsonl",
        output={
            "fields": {"q": "question", "score": {"from": "answer.score"}},
            "schema": {"required": ["score"], "properties": {"score": {"type": "integer"}}},
        },
    )
    assert _jsonl(tmp_path / "out.jsonl") == [{"q": "Q1", "score": 1}]


def test_a_run_generated_in_a_format_is_exported_as_it_is(tmp_path: Path) -> None:
    config = CONFIG + "output:\n  format: {type: alpaca, instruction: question, output: answer.text}\n"
    groups = [{"instruction": ["I"], "input": [""], "output": ["O"]}]
    run = make_run(tmp_path / "qa", groups, config=config, names=["instruction", "input", "output"])
    source = ExportSource.from_run(run)
    report = export_records(source, tmp_path / "out.jsonl", "alpaca")
    assert report.records == 1
    assert _jsonl(tmp_path / "out.jsonl") == [{"instruction": "I", "input": "", "output": "O"}]


def test_exports_of_a_preview_in_memory(tmp_path: Path, run: Path) -> None:
    preview = DatasetResult(tables=[pq.read_table(p) for p in sorted((run / "data").glob("part-*.parquet"))])
    assert _jsonl(preview.to_jsonl(tmp_path / "p.jsonl")) == RECORDS


def test_export_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="is not a synthloom run directory"):
        ExportSource.from_run(tmp_path)
    with pytest.raises(RunStateError, match="no such folder"):
        ExportSource.from_run(tmp_path / "missing")


def test_export_refuses_an_unknown_format_and_unknown_parts(tmp_path: Path, run: Path) -> None:
    source = ExportSource.from_run(run)
    with pytest.raises(OutputError, match="cannot export to 'xlsx'"):
        export_records(source, tmp_path / "out.xlsx")
    with pytest.raises(ConfigError, match="format 'dpo' has no part 'user'"):
        export_records(source, tmp_path / "out.jsonl", "dpo", sources={"user": "question"})
    with pytest.raises(ConfigError, match="'csv' is not a training format") as info:
        export_records(source, tmp_path / "out.csv", "csv", sources={"user": "question"})
    assert info.value.source == str(run)


def test_records_as_reshapes_for_a_file_format(tmp_path: Path, run: Path) -> None:
    report = export_records(
        ExportSource.from_run(run),
        tmp_path / "pairs.parquet",
        records_as="dpo",
        sources={"prompt": "question", "chosen": "answer.text", "rejected": {"value": "I do not know."}},
    )
    assert (report.format, report.records, report.filtered) == ("parquet", 3, 1)
    assert pq.read_table(tmp_path / "pairs.parquet").to_pylist() == [
        {"prompt": q, "chosen": a, "rejected": "I do not know."}
        for q, a in (("Q1", "A1"), ("Q2", "A2"), ("Q4", "A4"))
    ]
    result = CliRunner().invoke(
        cli,
        [
            "export",
            str(run),
            "-f",
            "csv",
            "--records-as",
            "alpaca",
            "--map",
            "instruction=question",
            "--map",
            "output=answer.text",
            "-o",
            str(tmp_path / "alpaca.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "alpaca.csv").read_text().splitlines()[:2] == ["instruction,input,output", "Q1,,A1"]


# ---- the command line -----------------------------------------------------------------------------


def test_cli_export_writes_each_file_format(tmp_path: Path, run: Path) -> None:
    runner = CliRunner()
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"out.{fmt}"
        result = runner.invoke(cli, ["export", str(run), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert result.output == f"4 records written to {out}\n"
    assert _jsonl(tmp_path / "out.jsonl") == RECORDS


def test_cli_export_training_format_with_map(tmp_path: Path, run: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "export",
            str(run),
            "-f",
            "dpo",
            "--map",
            "prompt=question",
            "--map",
            "chosen=answer.text",
            "--map",
            "rejected=question",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == 3
    assert _jsonl(out)[0] == {"prompt": "Q1", "chosen": "A1", "rejected": "Q1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-f", "messages", "--map", "user=qestion", "--map", "assistant=answer"],
            "field 'format.user.from': unknown column 'qestion' (did you mean 'question'?)",
        ),
        (
            ["-f", "dpo"],
            "format 'dpo' needs a source for 'prompt' and none is named; the default, column 'prompt', "
            "does not exist: pass --map prompt=COLUMN",
        ),
        (["-f", "messages", "--map", "user=question"], "'user' and 'assistant' go together"),
    ],
)
def test_cli_export_config_mistakes_exit_2(tmp_path: Path, run: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["export", str(run), *args, "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith(f"Error: {run}")
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_export_of_a_folder_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert f"Error: {tmp_path} is not a synthloom run directory" in result.output


def test_cli_export_refuses_an_unknown_format_as_a_choice(tmp_path: Path, run: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(run), "-f", "xlsx", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown format 'xlsx'" in result.output
    unknown_suffix = CliRunner().invoke(cli, ["export", str(run), "-o", str(tmp_path / "x.xlsx")])
    assert unknown_suffix.exit_code == 2
    assert "cannot tell the format" in unknown_suffix.output


def test_cli_export_needs_an_output_or_a_hub_repo(run: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(run), "-f", "jsonl"])
    assert result.exit_code == 2
    assert "give --output PATH" in result.output
