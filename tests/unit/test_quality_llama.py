"""Token counts and perplexity from the embedded llama.cpp model (SmolLM2-135M), end to end.
Marked `llama`: it starts the model, so it runs serially with the other llama tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig

pytestmark = pytest.mark.llama

NATURAL = "The capital of France is Paris. It is a large city with many museums and old bridges."
SCRAMBLED = "bridges museums Paris old capital many city the France large is a with and of It is The."


def config() -> dict[str, Any]:
    return {
        "name": "llama-scores",
        "models": [{"alias": "local", "provider": "local", "n_ctx": 1024}],
        "columns": [
            {
                "name": "text",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": [NATURAL, SCRAMBLED]},
            },
            {
                "name": "chat",
                "type": "expression",
                "dtype": "json",
                "expr": '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "{{ text }}"}]',
            },
            {"name": "tokens", "type": "token-count", "source": "text", "model": "local"},
            {"name": "chat_tokens", "type": "token-count", "source": "chat", "model": "local"},
            {"name": "ppl", "type": "perplexity", "source": "text", "model": "local"},
        ],
        "run": {"buffer_size": 8, "seed": 4},
    }


def test_embedded_model_counts_tokens_and_scores_perplexity(tmp_path: Path) -> None:
    result = synthloom.create(DatasetConfig.model_validate(config()), 8, tmp_path)
    rows = list(result)
    assert len(rows) == 8
    by_text = {r["text"]: r for r in rows}
    assert set(by_text) == {NATURAL, SCRAMBLED}
    natural, scrambled = by_text[NATURAL], by_text[SCRAMBLED]
    assert 15 <= natural["tokens"] <= 25
    # The chat template adds its role markers (and SmolLM2's default system turn) around the text.
    assert natural["chat_tokens"] > natural["tokens"] + 6
    assert 1 < natural["ppl"] < scrambled["ppl"]
    assert scrambled["ppl"] > 3 * natural["ppl"]
    assert result.usage["columns"]["ppl"]["requests"] == 16  # /tokenize and /completion per cell
