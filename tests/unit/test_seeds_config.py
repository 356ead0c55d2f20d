"""The `seed:` block as users write it: YAML shapes, and the errors a typo or a wrong combination gives."""

from __future__ import annotations

import pytest

from synthloom.config.dataset import DatasetConfig, SeedConfig
from synthloom.config.loader import parse_config
from synthloom.errors import ConfigError

COLUMNS = "columns:\n  - {name: u, type: sampler, sampler: uuid}\n"


def parse(seed_yaml: str) -> DatasetConfig:
    return parse_config(seed_yaml + "\n" + COLUMNS, source="c.yaml")


def test_seed_config_lives_in_its_own_module_and_is_reexported() -> None:
    from synthloom import SeedConfig as Public
    from synthloom.config.seed_config import SeedConfig as Own

    assert Public is Own is SeedConfig


def test_every_kind_of_source_parses() -> None:
    config = parse(
        """seed:
  combine: sample
  sources:
    - {path: a.jsonl, sampling: shuffle, transforms: [{rename: {a: b}}, {dedup: [b]}]}
    - {hf: owner/name, config: en, split: train, revision: main, streaming: true, shuffle_buffer: 500}
    - documents: "docs/**/*.md"
      chunk: {size: 1000, overlap: 100, unit: tokens}
      transforms:
        - window: {size: 2, step: 1, join: {text: "\\n"}}
        - skip: {first: 1, last: 2}
    - {run: out/stage1, where: "{{ keep }}"}
"""
    )
    seed = config.seed
    assert seed is not None and seed.kind == "sources"
    assert [s.kind for s in seed.sources or []] == ["path", "hf", "documents", "run"]
    docs = (seed.sources or [])[2]
    assert docs.chunk is not None and docs.chunk.unit == "tokens"
    assert [t.kind for t in docs.transforms] == ["window", "skip"]
    assert docs.transforms[0].window is not None and docs.transforms[0].window.join == {"text": "\n"}


def test_the_plain_path_seed_still_reads_as_before() -> None:
    seed = parse("seed: {path: data.jsonl, sampling: shuffle, columns: [a], format: jsonl}").seed
    assert seed == SeedConfig(path="data.jsonl", sampling="shuffle", columns=["a"], format="jsonl")
    assert parse("seed: {path: data.jsonl}").to_dict()["seed"] == {"path": "data.jsonl"}


@pytest.mark.parametrize(
    ("seed_yaml", "field", "message"),
    [
        (
            "seed: {path: a, transforms: [{renam: {a: b}}]}",
            "seed.transforms.0.renam",
            "did you mean 'rename'?",
        ),
        ("seed: {path: a, transforms: [{}]}", "seed.transforms.0", "each transform is exactly one of rename"),
        (
            "seed: {path: a, transforms: [{window: {size: 1}}]}",
            "seed.transforms.0.window.size",
            "greater than 1",
        ),
        ("seed: {hf: x, chunk: {size: 5}}", "seed", "'chunk' applies only to a 'documents' seed"),
        ("seed: {documents: d, chunk: {size: 5, overlap: 9}}", "seed.chunk", "overlap (9) must be smaller"),
        ("seed: {documents: d, chunk: {unit: lines}}", "seed.chunk.unit", "'chars' or 'tokens'"),
        ("seed: {run: r, where: ''}", "seed.where", "at least 1 character"),
        (
            "seed: {sampling: shuffle}",
            "seed",
            "a seed needs exactly one of path, hf, documents, run, sources",
        ),
        ("seed: {path: a, combine: zip}", "seed", "'combine' applies only to a 'sources' seed"),
        ("seed: {sources: [{path: a}], combine: zip}", "seed.sources", "at least 2 items"),
        (
            "seed: {combine: sample, sources: [{path: a}, {path: b}], transforms: [{drop: [x]}]}",
            "seed",
            "put 'transforms' and 'columns' in the sources",
        ),
        ("seed: {path: a, shuffle_buffer: 10}", "seed", "'shuffle_buffer' applies only to a 'hf' seed"),
    ],
)
def test_seed_mistakes_name_the_field(seed_yaml: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(seed_yaml)
    assert info.value.field == field
    assert message in info.value.reason
    assert str(info.value).startswith("c.yaml:1")
