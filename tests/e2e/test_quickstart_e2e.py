"""The quick start on the embedded model (SmolLM2-135M): real text, every column type it uses, a real run
directory. Run serially (`-m llama`, under the llama lock on shared machines): it needs both cores."""

from __future__ import annotations

from pathlib import Path

import pytest

import synthloom

pytestmark = pytest.mark.llama

pytest.importorskip("xllamacpp")

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
RECORDS = 4


def test_quickstart_runs_on_the_embedded_model(tmp_path: Path) -> None:
    result = synthloom.create(QUICKSTART, num_records=RECORDS, output=tmp_path, resume="never")

    metadata = result.metadata
    assert metadata["status"] == "completed"
    rows = list(result)
    failures = result.failures
    # Nothing disappears: every target record is either kept or recorded as a failure.
    assert len(rows) + len(failures) == RECORDS
    assert len(rows) >= 1, failures
    for failure in failures:
        assert failure["column"] in {"question", "answer", "grade", "keep"} and failure["error"]

    for row in rows:
        assert isinstance(row["question"], str) and row["question"].strip()
        assert isinstance(row["answer"]["answer"], str) and row["answer"]["answer"].strip()
        assert row["answer"]["confidence"] in ("low", "medium", "high")
        accuracy = row["grade"]["accuracy"]
        assert accuracy["score"] in (1, 2, 3)
        assert isinstance(accuracy["reasoning"], str)
        assert isinstance(row["keep"], bool)
        assert row["keep"] is (accuracy["score"] >= 2)

    assert (tmp_path / "quickstart" / "failures.jsonl").exists() or not failures
    usage = result.usage
    assert usage["models"]["writer"]["requests"] >= 3 * len(rows)
    assert usage["models"]["writer"]["output_tokens"] > 0
