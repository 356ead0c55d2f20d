"""A pipeline of stages in one file: run in order into `output/<stage>/`, a stage seeded by an earlier
one wherever the output goes, a failed stage named and resumed by running the file again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthloom.interface.cli import cli

HERE = "tests.unit.test_pipeline_stages"
MARKER: list[Path] = []


def shout(row: dict[str, Any]) -> str:
    """Fails while the test's marker file exists (a stage that breaks mid-run)."""
    if MARKER and MARKER[0].exists():
        raise RuntimeError("the grader is down")
    return str(row["question"]).upper()


PIPELINE = f"""
stages:
  - name: questions
    records: 6
    columns:
      - {{name: n, type: sampler, sampler: category, params: {{values: [1, 2, 3]}}}}
      - {{name: question, type: expression, expr: "question {{{{ n }}}}"}}
      - {{name: keep, type: expression, expr: "{{{{ n != 2 }}}}", dtype: bool}}
  - name: graded
    seed: {{stage: questions, where: "{{{{ keep }}}}"}}
    columns:
      - {{name: loud, type: custom, function: "{HERE}:shout", inputs: [question]}}
    run: {{max_failure_rate: 0.1, failure_window: 2, buffer_size: 2}}
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def values(run_dir: Path, column: str) -> list[Any]:
    return [
        v for p in sorted(run_dir.glob("data/*.parquet")) for v in pq.read_table(p).column(column).to_pylist()
    ]


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    MARKER[:] = [tmp_path / "grader-down"]
    return path


def test_stages_run_in_order_each_seeded_by_the_one_before(pipeline: Path, tmp_path: Path) -> None:
    code, out = run("validate", str(pipeline))
    assert code == 0 and "2 stages" in out, out
    elsewhere = tmp_path / "some" / "other" / "place"
    code, out = run("create", str(pipeline), "-n", "4", "-o", str(elsewhere), "--no-progress")
    assert code == 0, out
    questions = values(elsewhere / "questions", "question")
    assert len(questions) == 6
    loud = values(elsewhere / "graded", "loud")
    kept = [q.upper() for q in questions if q != "question 2"]
    assert len(loud) == 4 and set(loud) <= set(kept)


def test_a_failed_stage_is_named_and_running_the_file_again_resumes_from_it(
    pipeline: Path, tmp_path: Path
) -> None:
    MARKER[0].write_text("x")
    out_dir = tmp_path / "out"
    code, out = run("create", str(pipeline), "-n", "4", "-o", str(out_dir), "--no-progress")
    assert code != 0 and "stage 'graded' failed" in out and "resume from this stage" in out
    first = json.loads((out_dir / "questions" / "metadata.json").read_text())
    assert first["committed_records"] == 6
    before = values(out_dir / "questions", "question")
    MARKER[0].unlink()
    code, out = run("create", str(pipeline), "-n", "4", "-o", str(out_dir), "--no-progress")
    assert code == 0, out
    # The finished stage had nothing left to do: the same records, no new row group.
    again = json.loads((out_dir / "questions" / "metadata.json").read_text())
    assert again["committed_records"] == 6 and values(out_dir / "questions", "question") == before
    assert len(values(out_dir / "graded", "loud")) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stages:\n  - {name: a, seed: {stage: b}, columns: [{name: x, type: expression, expr: '1'}]}\n"
            "  - {name: b, columns: [{name: y, type: expression, expr: '1'}]}\n",
            "'stage: b' is a later stage",
        ),
        (
            "stages:\n  - {name: a, columns: [{name: x, type: expression, expr: '1'}]}\n"
            "  - {name: a, columns: [{name: y, type: expression, expr: '1'}]}\n",
            "two stages are named 'a'",
        ),
        (
            "stages:\n  - {name: a, records: 0, columns: [{name: x, type: expression, expr: '1'}]}\n",
            "'records' must be a positive whole number",
        ),
        ("stages:\n  - {name: a, columns: [{name: x, type: expresion, expr: '1'}]}\n", "expresion"),
        ("stages: []\n", "non-empty list"),
    ],
)
def test_pipeline_mistakes_exit_2_naming_the_stage(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    code, out = run("validate", str(path))
    assert code == 2 and message in out, out
    assert "Traceback" not in out


def test_a_stage_seed_outside_a_pipeline_says_how_to_run_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: {stage: q}\ncolumns: [{name: x, type: expression, expr: '1'}]\n")
    code, out = run("validate", str(path))
    assert code == 2 and "names a stage of a pipeline" in out


def test_the_stages_example_pipeline_validates() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "stages" / "pipeline.yaml"
    code, out = run("validate", str(example), "--json")
    assert code == 0, out
    assert [s["name"] for s in json.loads(out)["stages"]] == ["stage1-qa", "stage2-followups"]
