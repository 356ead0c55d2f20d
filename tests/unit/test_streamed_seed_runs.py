"""A streamed Hugging Face seed through `validate`, `preview`, `create` and a resume, with the real
`datasets` library reading a dataset this test saves (offline: the Hub is never contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthloom.interface.cli import cli

datasets = pytest.importorskip("datasets")
huggingface_hub = pytest.importorskip("huggingface_hub")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    datasets.Dataset.from_dict({"q": [f"question {i}" for i in range(7)], "n": list(range(7))}).save_to_disk(
        str(tmp_path / "questions")
    )
    path = tmp_path / "streamed.yaml"
    path.write_text(
        "name: streamed\n"
        "seed: {hf: questions, streaming: true}\n"
        "run: {buffer_size: 4}\n"
        "columns:\n"
        "  - {name: line, type: expression, expr: '{{ q }} #{{ n }}'}\n"
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_a_streamed_seed_validates_and_previews(config: Path) -> None:
    code, out = run("validate", str(config))
    assert code == 0, out
    code, out = run("preview", str(config), "-n", "3", "--json")
    assert code == 0, out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["line"] for r in records] == [f"question {i} #{i}" for i in range(3)]


def test_a_streamed_seed_creates_and_resumes_in_stream_order(config: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out = run("create", str(config), "-n", "6", "-o", str(out_dir), "--no-progress")
    assert code == 0, out
    # A longer run resumes the same directory: the stream is read again, cycling past its end.
    code, out = run(
        "create", str(config), "-n", "10", "-o", str(out_dir), "--no-progress", "--resume", "always"
    )
    assert code == 0, out
    parts = sorted((out_dir / "streamed").glob("**/*.parquet"))
    lines = [v for p in parts for v in pq.read_table(p).column("line").to_pylist()]
    assert sorted(lines) == sorted([f"question {i % 7} #{i % 7}" for i in range(10)])
