"""Dedup across the whole run: every row checked against every row kept before it in record order,
across row groups, with the index persisted with the commits so that resuming (after an extension,
an un-committed group, or a SIGKILL) dedups exactly as an uninterrupted run does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

NUMBERS = "tests.engine.test_dedup"


def vector_of(row: dict[str, Any]) -> list[float]:
    """A stand-in embedding: texts about the same topic point the same way, whatever the wording."""
    axis = {"tides": 0, "volcanoes": 1, "stars": 2}[row["topic"]]
    vector = [0.0] * 4
    vector[axis] = 1.0
    vector[3] = 0.01 * int(row["n"])  # a little apart, far less than another topic
    return vector


def config_of(
    dedup: dict[str, Any], *, models: list[dict[str, Any]] | None = None, **run: Any
) -> dict[str, Any]:
    columns: list[dict[str, Any]] = [
        {
            "name": "topic",
            "type": "sampler",
            "sampler": "category",
            "params": {"values": ["tides", "volcanoes", "stars"]},
        },
        {
            "name": "n",
            "type": "sampler",
            "sampler": "uniform",
            "params": {"low": 0, "high": 4, "dtype": "int"},
        },
        {"name": "text", "type": "expression", "expr": "All about {{ topic }}, part {{ n }}."},
        {"name": "vector", "type": "custom", "function": f"{NUMBERS}:vector_of", "inputs": ["topic", "n"]},
        {"name": "unique", "type": "dedup", **dedup},
    ]
    return {
        "name": "dedup",
        "models": models or [],
        "columns": columns,
        "run": {"buffer_size": 10, "seed": 7, **run},
    }


def create(config: dict[str, Any], n: int, out: Path, **kwargs: Any) -> synthloom.DatasetResult:
    return synthloom.create(DatasetConfig.model_validate(config), n, out, **kwargs)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_exact_duplicates_across_row_groups_are_filtered_with_the_record_they_repeat(tmp_path: Path) -> None:
    result = create(config_of({"source": "text"}), 100, tmp_path)
    rows = list(result)
    texts = [r["text"] for r in rows]
    assert len(texts) == len(set(texts)) == 15  # 3 topics x 5 parts, each kept once
    assert "unique" not in rows[0]  # the dedup column's own value is dropped
    dupes = [f for f in jsonl(result.path / "filtered.jsonl") if f["column"] == "unique"]
    assert len(dupes) == 100 - 15
    assert {f["row_group"] for f in dupes} >= {1, 5, 9}  # across groups, not only within one
    kept_first: dict[str, int] = {}
    plain = config_of({"source": "text"})
    plain["columns"] = plain["columns"][:3]  # the same records, no dedup
    every = list(synthloom.preview(DatasetConfig.model_validate(plain), 100))
    for record, row in enumerate(every):
        kept_first.setdefault(row["text"], record)
    for line in dupes:
        original = int(line["reason"].rsplit(" ", 1)[1])
        assert line["reason"].startswith("exact duplicate of record ")
        assert original < line["record"]
        assert every[original]["text"] == every[line["record"]]["text"]
        assert kept_first[every[line["record"]]["text"]] == original  # the row that was kept


def test_minhash_finds_near_duplicates_and_keeps_distinct_rows(tmp_path: Path) -> None:
    dedup = {"source": "text", "method": "minhash", "threshold": 0.5, "ngram": 1}
    result = create(config_of(dedup), 60, tmp_path)
    texts = [r["text"] for r in result]
    # "All about tides, part 1." and "... part 2." share 4 of 6 words: near duplicates at 0.5.
    assert len(texts) == 3
    assert {t.split(",")[0] for t in texts} == {"All about tides", "All about volcanoes", "All about stars"}
    reasons = [f["reason"] for f in jsonl(result.path / "filtered.jsonl")]
    assert all(r.startswith("near-duplicate of record ") and "Jaccard" in r for r in reasons)


def test_embedding_similarity_dedups_by_meaning(tmp_path: Path) -> None:
    result = create(config_of({"method": "embedding", "embedding": "vector", "threshold": 0.9}), 60, tmp_path)
    topics = sorted(r["topic"] for r in result)
    assert topics == ["stars", "tides", "volcanoes"]
    reasons = [f["reason"] for f in jsonl(result.path / "filtered.jsonl")]
    assert len(reasons) == 57 and all(r.startswith("semantic duplicate of record ") for r in reasons)


def test_preview_dedups_in_memory(tmp_path: Path) -> None:
    preview = synthloom.preview(DatasetConfig.model_validate(config_of({"source": "text"})), 40)
    texts = [r["text"] for r in preview]
    assert len(texts) == len(set(texts))
    assert len(preview.filtered) == 40 - len(texts)


def _outcome(run: Path) -> tuple[list[str], list[tuple[int, str]]]:
    texts = [r["text"] for r in synthloom.DatasetResult.open(run)]
    dupes = sorted(
        (f["record"], f["reason"]) for f in jsonl(run / "filtered.jsonl") if f["column"] == "unique"
    )
    return texts, dupes


@pytest.mark.parametrize("method", ["exact", "minhash"])
def test_extending_a_run_dedups_against_what_was_committed(tmp_path: Path, method: str) -> None:
    dedup = {"source": "text", "method": method}
    reference = create(config_of(dedup), 90, tmp_path / "ref")
    create(config_of(dedup), 30, tmp_path / "grown")
    grown = create(config_of(dedup), 90, tmp_path / "grown")
    assert _outcome(grown.path) == _outcome(reference.path)
    assert len(list((grown.path / "dedup" / "unique").glob("part-*.npz"))) == 9


def test_state_of_an_uncommitted_group_is_ignored_on_resume(tmp_path: Path) -> None:
    dedup = {"source": "text"}
    reference = create(config_of(dedup), 50, tmp_path / "ref")
    run = create(config_of(dedup), 50, tmp_path / "cut").path
    # A crash after the group's dedup state was written but before its data was: no part file.
    (run / "data" / "part-00002.parquet").unlink()
    resumed = create(config_of(dedup), 50, tmp_path / "cut", resume="always")
    assert _outcome(resumed.path) == _outcome(reference.path)


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.02, jitter=0.5)) as base_url:
        yield base_url


def test_sigkill_then_resume_keeps_dedup_exact(tmp_path: Path, slow_server: str) -> None:
    config = config_of({"source": "answer"}, models=[model("m", slow_server, max_parallel_requests=4)])
    config["columns"].insert(3, {"name": "answer", "type": "llm-text", "model": "m", "prompt": "{{ text }}"})
    config["run"]["max_row_groups_in_flight"] = 2
    records = 120
    reference = create(config, records, tmp_path / "ref")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "synthloom",
        "create",
        str(path),
        "-n",
        str(records),
        "-o",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.getcwd())
    parts = out / "dedup" / "data"
    deadline = time.monotonic() + 60
    while len(list(parts.glob("part-*.parquet"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(list(parts.glob("part-*.parquet")))
    assert 3 <= committed < records // 10, "the kill came too late to test a resume"
    resumed = create(config, records, out, resume="always")
    assert resumed.metadata["status"] == "completed"
    assert _outcome(resumed.path) == _outcome(reference.path)
