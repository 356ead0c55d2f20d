"""What a column sends that its model's provider cannot take is a config error, found by `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli

LOCAL = {"alias": "w", "provider": "local"}
ANTHROPIC = {"alias": "w", "provider": "anthropic", "model": "claude", "api_key_env": "NO_SUCH_KEY"}
OPENAI = {"alias": "w", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
SOURCE = {"name": "src", "type": "sampler", "sampler": "category", "params": {"values": ["a.png"]}}


def config(model: dict[str, str], column: dict[str, object]) -> synthloom.DatasetConfig:
    return synthloom.DatasetConfig.model_validate({"models": [model], "columns": [SOURCE, column]})


@pytest.mark.parametrize(
    ("model", "column", "field", "what"),
    [
        (
            LOCAL,
            {"name": "d", "type": "llm-text", "model": "w", "prompt": "x", "images": ["{{ src }}"]},
            "images",
            "images",
        ),
        (
            ANTHROPIC,
            {"name": "d", "type": "llm-text", "model": "w", "prompt": "x", "audio": ["{{ src }}"]},
            "audio",
            "audio",
        ),
        (ANTHROPIC, {"name": "d", "type": "embedding", "model": "w", "source": "src"}, "model", "embeddings"),
    ],
    ids=["local-images", "anthropic-audio", "anthropic-embeddings"],
)
def test_a_model_that_cannot_take_what_the_column_sends_is_refused(
    model: dict[str, str], column: dict[str, object], field: str, what: str
) -> None:
    with pytest.raises(ConfigError) as info:
        synthloom.validate(config(model, column))
    assert (info.value.column, info.value.field) == ("d", field)
    assert f"does not take {what}" in str(info.value)


def test_a_model_that_takes_images_is_accepted() -> None:
    column = {"name": "d", "type": "llm-text", "model": "w", "prompt": "x", "images": ["{{ src }}"]}
    plan = synthloom.validate(config(OPENAI, column))
    assert "d" in plan.output_columns


def test_the_cli_exits_2_naming_the_file_column_and_field(tmp_path: Path) -> None:
    path = tmp_path / "vision.yaml"
    path.write_text(
        "models: [{alias: w, provider: local}]\n"
        "columns:\n"
        "  - {name: src, type: sampler, sampler: category, params: {values: [a.png]}}\n"
        "  - {name: d, type: llm-text, model: w, prompt: x, images: ['{{ src }}']}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "vision.yaml:4, column 'd', field 'images'" in result.output
