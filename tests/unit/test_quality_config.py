"""The quality columns' configs: what a user may write, and the messages for what they may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.columns.quality.config import DedupColumn, QualityRubricColumn, RewardColumn, TokenCountColumn
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli


def test_dedup_fields_follow_the_method() -> None:
    assert DedupColumn(name="u", source="a").similarity == 1.0
    assert DedupColumn(name="u", source=["a", "b.text"], method="minhash").similarity == 0.7
    assert DedupColumn(name="u", method="embedding", embedding="v").similarity == 0.95
    assert DedupColumn(name="u", source="a").referenced_columns() == {"source": ["a"]}
    for bad, message in [
        ({"method": "embedding"}, "needs 'embedding'"),
        ({"method": "minhash"}, "needs 'source'"),
        ({"source": "a", "threshold": 0.9}, "'threshold' is for methods"),
        ({"source": "a", "num_perm": 32}, "'num_perm' is only for method 'minhash'"),
        ({"source": "a", "embedding": "v"}, "'embedding' is only for method 'embedding'"),
        ({"source": "a b"}, "is not a column name"),
        ({"source": "a", "method": "fuzzy"}, "exact"),
    ]:
        with pytest.raises(ValueError, match=message):
            DedupColumn(name="u", **bad)


def test_token_count_needs_a_model_or_a_tokenizer_file() -> None:
    with pytest.raises(ValueError, match="exactly one of 'model'"):
        TokenCountColumn(name="t", source="a")
    with pytest.raises(ValueError, match="exactly one of 'model'"):
        TokenCountColumn(name="t", source="a", model="m", tokenizer="x.json")


def test_reward_and_rubric_inputs() -> None:
    with pytest.raises(ValueError, match="give 'messages'"):
        RewardColumn(name="r", model="m")
    with pytest.raises(ValueError, match="not both"):
        RewardColumn(name="r", model="m", messages="chat", response="a")
    with pytest.raises(ValueError, match="must start with '/'"):
        RewardColumn(name="r", model="m", response="a", path="pooling")
    rubric = QualityRubricColumn(
        name="g", model="m", instruction="q", response="a.text", category="tags.category"
    )
    assert rubric.referenced_columns() == {"instruction": ["q"], "response": ["a"], "category": ["tags"]}


def write(tmp_path: Path, columns: list[dict[str, Any]]) -> Path:
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"alias": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "x"}
                ],
                "columns": [{"name": "text", "type": "sampler", "sampler": "uuid"}, *columns],
            }
        )
    )
    return path


def test_a_missing_tokenizer_file_is_refused_at_validate(tmp_path: Path) -> None:
    path = write(
        tmp_path, [{"name": "n", "type": "token-count", "source": "text", "tokenizer": "missing.json"}]
    )
    with pytest.raises(ConfigError, match="tokenizer file not found") as info:
        synthloom.validate(path)
    assert info.value.column == "n"
    done = CliRunner().invoke(cli, ["validate", str(path)])
    assert done.exit_code == 2 and "tokenizer file not found" in done.output


def test_unknown_references_and_a_typo_in_a_quality_column_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "u", "type": "dedup", "source": "txt"}])
    done = CliRunner().invoke(cli, ["validate", str(path)])
    assert done.exit_code == 2 and "txt" in done.output and "text" in done.output
    path = write(tmp_path, [{"name": "t", "type": "quality-tags", "source": "text", "fliter": {}}])
    done = CliRunner().invoke(cli, ["validate", str(path)])
    assert done.exit_code == 2 and "fliter" in done.output
