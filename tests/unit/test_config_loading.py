"""Loading configs: YAML, JSON and the Python builder give one model; column types come from the registry."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.llm.config import LLMStructuredColumn, LLMTextColumn
from synthloom.columns.sampler.config import SamplerColumn
from synthloom.config import registry
from synthloom.config.base import ColumnConfig
from synthloom.config.builder import DatasetBuilder
from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import load_config, parse_config
from synthloom.config.registry import ColumnType, register_column_type
from synthloom.engine.generator import BatchGenerator, RowGroupSlice
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli
from synthloom.store.run_directory import RunDirectory

YAML_CONFIG = """\
name: science-qa
models:
  - alias: writer
    provider: local
  - alias: judge
    provider: openai
    base_url: http://127.0.0.1:8000/v1
    model: Qwen/Qwen3-8B
    api_key_env: SYNTHLOOM_TEST_KEY
    inference: {temperature: 0.7, max_tokens: 512}
columns:
  - name: field
    type: sampler
    sampler: category
    params: {values: [physics, chemistry, biology], weights: [3, 2, 1]}
  - name: question
    type: llm-text
    model: writer
    system_prompt: You write exam questions.
    prompt: "Write one {{ field }} question."
  - name: answer
    type: llm-structured
    model: judge
    prompt: "Answer: {{ question }}"
    schema: {type: object, properties: {answer: {type: string}}, required: [answer]}
  - name: short
    type: expression
    expr: "{{ answer.answer[:10] }}"
    drop: true
run:
  buffer_size: 50
  seed: 7
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_yaml_config_loads_into_typed_columns(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    assert config.name == "science-qa"
    assert [type(c) for c in config.columns] == [
        SamplerColumn,
        LLMTextColumn,
        LLMStructuredColumn,
        ExpressionColumn,
    ]
    assert config.column("answer").output_schema["required"] == ["answer"]  # type: ignore[attr-defined]
    assert config.model("judge").inference.temperature == 0.7
    assert config.run.buffer_size == 50
    assert config.run.seed == 7
    assert config.column("short").drop is True


def test_loaded_config_remembers_its_file_and_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.yml", YAML_CONFIG)
    config = load_config(path)
    assert config.source == str(path)
    assert config.base_dir == tmp_path.resolve()


def test_json_config_gives_the_same_model_as_yaml(tmp_path: Path) -> None:
    from_yaml = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    as_json = json.dumps(yaml.safe_load(YAML_CONFIG), indent=2)
    from_json = load_config(write(tmp_path / "qa.json", as_json))
    assert from_json.model_dump() == from_yaml.model_dump()
    assert [type(c) for c in from_json.columns] == [type(c) for c in from_yaml.columns]


def test_to_dict_uses_the_schema_alias(tmp_path: Path) -> None:
    data = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG)).to_dict()
    assert "schema" in data["columns"][2]
    assert "output_schema" not in data["columns"][2]


def test_to_dict_round_trips_through_parse_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    assert parse_config(json.dumps(config.to_dict()), fmt="json").model_dump() == config.model_dump()


def test_resolved_config_in_a_run_directory_loads_back(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    store = RunDirectory(tmp_path / "run")
    store.root.mkdir()
    store.write_config(config)
    assert load_config(store.config_path).model_dump() == config.model_dump()


def test_parse_config_uses_source_in_errors() -> None:
    with pytest.raises(ConfigError, match=r"inline\.yaml:1, field 'colums': unknown field"):
        parse_config("colums: []\n", source="inline.yaml")


def test_builder_produces_the_same_model_as_yaml(tmp_path: Path) -> None:
    from_yaml = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    built = (
        DatasetBuilder("science-qa")
        .model("writer", provider="local")
        .model(
            "judge",
            provider="openai",
            base_url="http://127.0.0.1:8000/v1",
            model="Qwen/Qwen3-8B",
            api_key_env="SYNTHLOOM_TEST_KEY",
            inference={"temperature": 0.7, "max_tokens": 512},
        )
        .sampler("field", "category", values=["physics", "chemistry", "biology"], weights=[3, 2, 1])
        .llm_text(
            "question",
            model="writer",
            system_prompt="You write exam questions.",
            prompt="Write one {{ field }} question.",
        )
        .llm_structured(
            "answer",
            model="judge",
            prompt="Answer: {{ question }}",
            schema={"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        )
        .expression("short", "{{ answer.answer[:10] }}", drop=True)
        .run(buffer_size=50, seed=7)
        .build()
    )
    assert built.model_dump() == from_yaml.model_dump()
    assert built.to_dict() == from_yaml.to_dict()


def test_builder_errors_are_config_errors_naming_the_column() -> None:
    builder = DatasetBuilder("x").sampler("coin", "bernoulli", p=3)
    with pytest.raises(ConfigError) as info:
        builder.build()
    assert info.value.source == "<builder>"
    assert info.value.column == "coin"
    assert "sampler 'bernoulli'" in str(info.value)


def test_builder_accepts_any_registered_type_by_name() -> None:
    config = DatasetBuilder().column("c", "custom", function="os.path:join").build()
    assert config.columns[0].type == "custom"


def test_json_schema_export_includes_every_column_type() -> None:
    schema = DatasetConfig.model_json_schema(by_alias=True)
    mapping = schema["properties"]["columns"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(registry.column_types())
    for name, ref in mapping.items():
        definition = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert definition["properties"]["type"]["const"] == name
        assert definition["additionalProperties"] is False
    structured = schema["$defs"]["LLMStructuredColumn"]["properties"]
    assert "schema" in structured
    assert "output_schema" not in structured


def test_cli_schema_prints_the_json_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == DatasetConfig.model_json_schema(by_alias=True)
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "--output", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["title"] == "DatasetConfig"


# ---- YAML anchors and merge keys ------------------------------------------------------------------

MERGED_YAML = """\
x-llm: &llm
  type: llm-text
  model: writer
  system_prompt: You are terse.
models:
  - {alias: writer, provider: local}
columns:
  - name: topic
    type: sampler
    sampler: category
    params: &topics {values: [a, b]}
  - <<: *llm
    name: question
    prompt: "Ask about {{ topic }}."
  - <<: *llm
    name: answer
    system_prompt: You are thorough.
    prompt: "Answer: {{ question }}"
  - name: other_topic
    type: sampler
    sampler: category
    params: *topics
"""


def test_yaml_merge_keys_and_aliases_load(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "merged.yaml", MERGED_YAML))
    question, answer = config.column("question"), config.column("answer")
    assert isinstance(question, LLMTextColumn) and isinstance(answer, LLMTextColumn)
    assert (question.model, question.system_prompt) == ("writer", "You are terse.")
    assert answer.system_prompt == "You are thorough."  # written in the mapping: overrides the merge
    assert config.column("other_topic").params == {"values": ["a", "b"]}  # type: ignore[attr-defined]
    assert "x-llm" not in config.to_dict()


def test_a_key_written_twice_next_to_a_merge_is_still_refused(tmp_path: Path) -> None:
    text = MERGED_YAML.replace("    name: answer\n", "    name: answer\n    name: answer2\n")
    with pytest.raises(ConfigError, match=r"merged\.yaml:17: invalid YAML: duplicate key 'name'"):
        load_config(write(tmp_path / "merged.yaml", text))


def test_errors_in_a_merged_column_name_the_right_line(tmp_path: Path) -> None:
    text = MERGED_YAML.replace('    prompt: "Answer: {{ question }}"', '    promt: "Answer: {{ question }}"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "merged.yaml", text))
    assert "merged.yaml:18, column 'answer', field 'promt': unknown field (did you mean 'prompt'?)" in str(
        info.value
    )


def test_yes_and_no_are_text_not_booleans(tmp_path: Path) -> None:
    text = (
        "columns:\n  - {name: answer, type: sampler, sampler: category, params: {values: [yes, no, on]}}\n"
        "  - {name: b, type: expression, expr: '{{ answer }}', drop: yes}\n"
    )
    config = load_config(write(tmp_path / "yes.yaml", text))
    assert config.column("answer").params == {"values": ["yes", "no", "on"]}  # type: ignore[attr-defined]
    assert config.column("b").drop is True  # a bool field still reads "yes"
    assert parse_config("columns: [{name: a, type: sampler, sampler: uuid, drop: true}]").column("a").drop


def test_only_top_level_x_keys_are_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="field 'x-note': unknown field"):
        text = MERGED_YAML.replace("    name: answer\n", "    name: answer\n    x-note: 1\n")
        load_config(write(tmp_path / "x.yaml", text))


# ---- judge scores -----------------------------------------------------------------------------------

JUDGE_YAML = """\
models:
  - {alias: judge, provider: local}
columns:
  - {name: sql, type: sampler, sampler: category, params: {values: ["SELECT 1"]}}
  - name: grade
    type: llm-judge
    model: judge
    prompt: "{{ sql }}"
    scores:
      - name: SQL Correctness
        description: Does it run?
        options: {0: no, 1: yes}
      - {name: style, description: "Is it tidy?", options: {1: messy, 2: tidy}}
  - name: correct
    type: expression
    dtype: int
    expr: "{{ grade['SQL Correctness'].score }}"
"""


def test_judge_score_names_may_be_any_short_label(tmp_path: Path) -> None:
    from synthloom.columns.llm.generator import judge_schema

    config = load_config(write(tmp_path / "judge.yaml", JUDGE_YAML))
    plan = synthloom.validate(config)
    assert plan.column("correct").depends_on == {"grade"}
    schema = judge_schema(config.column("grade"))  # type: ignore[arg-type]
    assert schema["required"] == ["SQL Correctness", "style"]
    import jsonschema

    jsonschema.validate(
        {"SQL Correctness": {"reasoning": "ok", "score": 1}, "style": {"reasoning": "ok", "score": 2}}, schema
    )


async def test_a_judge_score_with_spaces_runs_and_templates_read_it(tmp_path: Path) -> None:
    from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.0, jitter=0.0)) as endpoint:
        text = JUDGE_YAML.replace(
            "{alias: judge, provider: local}",
            f"{{alias: judge, provider: openai, base_url: '{endpoint.base_url}', model: sim}}",
        )
        result = await synthloom.apreview(load_config(write(tmp_path / "judge.yaml", text)), num_records=2)
    rows = list(result)
    assert len(rows) == 2, result.failures
    for row in rows:
        assert row["correct"] in (0, 1)
        assert row["correct"] == row["grade"]["SQL Correctness"]["score"]


@pytest.mark.parametrize("name", ["", " padded", "line\nbreak", 'say "hi"', "x" * 101])
def test_judge_score_names_refuse_blank_padded_quoted_or_long_labels(name: str) -> None:
    data = yaml.safe_load(JUDGE_YAML)
    data["columns"][1]["scores"][0]["name"] = name
    with pytest.raises(ConfigError, match=r"column 'grade', field 'scores\.0\.name'"):
        parse_config(json.dumps(data), fmt="json")


# ---- registry -------------------------------------------------------------------------------------


class ShoutColumn(ColumnConfig):
    """A test column type: another column's text in capitals."""

    type: Literal["holler"] = "holler"
    source: str
    suffix: str = "!"

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [self.source]}


class ShoutGenerator(BatchGenerator[ShoutColumn]):
    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        return [f"{value}".upper() + self.config.suffix for value in table[self.config.source]]


SHOUT_YAML = """\
name: loud
columns:
  - name: word
    type: sampler
    sampler: category
    params: {values: [hello, world]}
  - name: loud
    type: holler
    source: word
"""


@contextlib.contextmanager
def registered(column_type: ColumnType) -> Iterator[None]:
    """Register `column_type` for the block, then remove it and rebuild the dataset model."""
    assert column_type.name not in registry.column_types()
    register_column_type(column_type)
    try:
        yield
    finally:
        registry.default_registry.unregister(column_type.name)


def test_registered_column_type_loads_from_yaml_and_runs(tmp_path: Path) -> None:
    path = write(tmp_path / "loud.yaml", SHOUT_YAML)
    with registered(ColumnType("holler", ShoutColumn, ShoutGenerator)):
        config = load_config(path)
        assert isinstance(config.column("loud"), ShoutColumn)
        plan = synthloom.validate(path)
        assert plan.column("loud").depends_on == {"word"}
        rows = list(synthloom.preview(config, num_records=4))
        assert all(row["loud"] == row["word"].upper() + "!" for row in rows)
        schema = DatasetConfig.model_json_schema(by_alias=True)
        assert "holler" in schema["properties"]["columns"]["items"]["discriminator"]["mapping"]


def test_registered_column_type_gets_field_suggestions_and_reference_checks(tmp_path: Path) -> None:
    with registered(ColumnType("holler", ShoutColumn, ShoutGenerator)):
        with pytest.raises(
            ConfigError, match=r"column 'loud', field 'sufix': unknown field \(did you mean 'suffix'"
        ):
            load_config(write(tmp_path / "typo.yaml", SHOUT_YAML + "    sufix: '?'\n"))
        with pytest.raises(ConfigError, match=r"column 'loud', field 'source': unknown column 'wrd'"):
            synthloom.validate(
                write(tmp_path / "ref.yaml", SHOUT_YAML.replace("source: word", "source: wrd"))
            )


def test_unregistering_a_column_type_makes_it_unknown_again(tmp_path: Path) -> None:
    path = write(tmp_path / "loud.yaml", SHOUT_YAML)
    with registered(ColumnType("holler", ShoutColumn, ShoutGenerator)):
        load_config(path)
    assert "holler" not in registry.column_types()
    with pytest.raises(ConfigError, match="'holler'"):
        load_config(path)


def test_column_type_name_must_match_its_type_literal() -> None:
    with pytest.raises(ConfigError, match=r"Literal\['yell'\]"):
        register_column_type(ColumnType("yell", ShoutColumn, ShoutGenerator))
    assert "yell" not in registry.column_types()


def test_registering_a_different_type_under_a_taken_name_is_refused() -> None:
    sampler = registry.get_column_type("sampler")
    register_column_type(sampler)  # the same registration again is harmless
    with pytest.raises(ConfigError, match="already registered"):
        register_column_type(ColumnType("sampler", sampler.config, ShoutGenerator))
    assert registry.get_column_type("sampler") == sampler


def test_get_column_type_names_an_unknown_type() -> None:
    with pytest.raises(ConfigError, match="unknown column type 'nope'"):
        registry.get_column_type("nope")


class EntryPoint:
    """Stands in for an `importlib.metadata.EntryPoint`."""

    def __init__(self, name: str, value: str, loaded: object) -> None:
        self.name = name
        self.value = value
        self._loaded = loaded

    def load(self) -> object:
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, points: list[EntryPoint]) -> list[str]:
    """Serve `points` for the test group; returns the list of groups asked for."""
    asked: list[str] = []

    def entry_points(group: str) -> list[EntryPoint]:
        asked.append(group)
        return points if group == "test.columns" else []

    monkeypatch.setattr(registry, "entry_points", entry_points)
    return asked


def test_plugins_are_discovered_through_entry_points(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shout = ColumnType("holler", ShoutColumn, ShoutGenerator)
    fake_entry_points(
        monkeypatch,
        [
            EntryPoint("broken", "broken:column_type", ImportError("boom")),
            EntryPoint("wrong", "wrong:column_type", object()),
            EntryPoint("good", "good:column_type", shout),
        ],
    )
    types = registry.ColumnTypeRegistry(group="test.columns")
    assert types.get("holler") == shout
    assert "broken:column_type" in caplog.text
    assert "wrong:column_type" in caplog.text


def test_an_entry_point_may_publish_a_list_or_a_register_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    shout = ColumnType("holler", ShoutColumn, ShoutGenerator)
    sampler = registry.get_column_type("sampler")

    def hook(target: registry.ColumnTypeRegistry) -> None:
        target.register(shout)

    fake_entry_points(
        monkeypatch, [EntryPoint("many", "many:TYPES", [sampler]), EntryPoint("hook", "hook:register", hook)]
    )
    types = registry.ColumnTypeRegistry(group="test.columns")
    assert set(types.types()) == {"sampler", "holler"}


def test_entry_points_load_on_first_need_not_on_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_entry_points(monkeypatch, [])
    types = registry.ColumnTypeRegistry(group="test.columns")
    types.register(ColumnType("holler", ShoutColumn, ShoutGenerator))  # registering does not load
    assert asked == []
    assert "holler" in types
    assert asked == ["test.columns"]
    types.types()
    assert asked == ["test.columns"]  # once


def test_a_fallback_stands_in_only_for_a_missing_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    shout = ColumnType("holler", ShoutColumn, ShoutGenerator)
    sampler = registry.get_column_type("sampler")
    fake_entry_points(monkeypatch, [EntryPoint("builtin", "pkg:BUILTINS", [sampler])])
    with_entry_point = registry.ColumnTypeRegistry(group="test.columns")
    with_entry_point.add_fallback("builtin", [shout])
    assert set(with_entry_point.types()) == {"sampler"}
    without = registry.ColumnTypeRegistry(group="test.columns")
    without.add_fallback("other", [shout])
    assert set(without.types()) == {"sampler", "holler"}


def test_a_generator_given_by_import_path_still_resolves() -> None:
    legacy = ColumnType("holler", ShoutColumn, f"{__name__}:ShoutGenerator")
    assert legacy.generator_class() is ShoutGenerator


def test_importing_synthloom_loads_no_plugin_and_no_generator() -> None:
    code = (
        "import sys, synthloom\n"
        "from synthloom.config import registry\n"
        "assert not registry.default_registry._loaded, 'plugins loaded on import'\n"
        "assert 'synthloom.columns.builtin' not in sys.modules\n"
        "assert not synthloom.DatasetConfig.__pydantic_complete__\n"
        "columns = [{'name': 'a', 'type': 'sampler', 'sampler': 'uuid'}]\n"
        "synthloom.DatasetConfig.model_validate({'columns': columns})\n"
        "assert registry.default_registry._loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_builtin_types_are_registered_with_their_generator_classes() -> None:
    from synthloom.columns.builtin import BUILTIN_COLUMN_TYPES
    from synthloom.columns.sampler.generator import SamplerGenerator

    assert registry.get_column_type("sampler").generator_class() is SamplerGenerator
    for column_type in BUILTIN_COLUMN_TYPES:
        assert not isinstance(column_type.generator, str), column_type.name
        assert registry.get_column_type(column_type.name) == column_type


# ---- secrets --------------------------------------------------------------------------------------


def test_api_key_env_config_never_stores_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-very-secret-123"
    monkeypatch.setenv("SYNTHLOOM_TEST_KEY", secret)
    config = load_config(write(tmp_path / "qa.yaml", YAML_CONFIG))
    assert config.model("judge").api_key() == secret
    assert secret not in json.dumps(config.to_dict())
    assert secret not in json.dumps(config.model_dump(mode="json"))
    assert secret not in repr(config)
    assert config.to_dict()["models"][1]["api_key_env"] == "SYNTHLOOM_TEST_KEY"
    store = RunDirectory(tmp_path / "run")
    store.root.mkdir()
    store.write_config(config)
    assert secret not in store.config_path.read_text()


def test_api_key_is_none_when_the_variable_is_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(YAML_CONFIG)
    monkeypatch.delenv("SYNTHLOOM_TEST_KEY", raising=False)
    assert config.model("judge").api_key() is None
    monkeypatch.setenv("SYNTHLOOM_TEST_KEY", "")
    assert config.model("judge").api_key() is None
    assert config.model("writer").api_key() is None
