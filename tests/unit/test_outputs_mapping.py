"""The `output:` block: the config surface, field mapping onto the final record, and the static check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synthloom.config.loader import load_config, parse_config
from synthloom.config.output_config import OutputConfig
from synthloom.errors import ConfigError, PlanError
from synthloom.outputs import OutputShaper, RowProblem, check_output

ROWS: list[dict[str, Any]] = [
    {"question": "Q1", "answer": {"text": "A1", "refs": ["r1", "r2"]}, "topic": "physics", "n": 3},
    {"question": "Q2", "answer": None, "topic": "maths", "n": 4},
]
COLUMNS = ["question", "answer", "topic", "n"]

BASE = """
name: qa
columns:
  - {name: topic, type: sampler, sampler: category, params: {values: [physics, maths]}}
  - {name: question, type: expression, expr: "Q about {{ topic }}"}
  - {name: helper, type: expression, expr: "x", drop: true}
"""


def shape(output: dict[str, Any], rows: list[dict[str, Any]] = ROWS) -> tuple[list[dict[str, Any]], Any]:
    shaper = OutputShaper(OutputConfig.model_validate(output), COLUMNS)
    shaped = shaper.apply(rows)
    return shaped.records, shaped


def test_fields_from_value_template_and_nested_build_the_exact_record() -> None:
    records, shaped = shape(
        {
            "fields": {
                "id": {"template": "{{ topic }}-{{ n }}"},
                "prompt": "question",
                "answer": {"from": "answer.text"},
                "first_ref": {"from": "answer.refs.0"},
                "source": {"value": "synthloom"},
                "nothing": {"value": None},
                "doubled": {"template": "{{ n * 2 }}", "dtype": "int"},
                "meta": {"fields": {"topic": "topic", "tags": {"value": ["a", "b"]}}},
            }
        }
    )
    assert records == [
        {
            "id": "physics-3",
            "prompt": "Q1",
            "answer": "A1",
            "first_ref": "r1",
            "source": "synthloom",
            "nothing": None,
            "doubled": 6,
            "meta": {"topic": "physics", "tags": ["a", "b"]},
        },
        {
            "id": "maths-4",
            "prompt": "Q2",
            "answer": None,
            "first_ref": None,
            "source": "synthloom",
            "nothing": None,
            "doubled": 8,
            "meta": {"topic": "maths", "tags": ["a", "b"]},
        },
    ]
    assert shaped.positions == [0, 1]
    assert shaped.filtered == [] and shaped.failed == []


def test_constant_lists_are_not_shared_between_records() -> None:
    records, _ = shape({"fields": {"tags": {"value": ["a"]}}})
    records[0]["tags"].append("mutated")
    assert records[1]["tags"] == ["a"]


def test_a_template_that_does_not_cast_fails_the_row_not_the_group() -> None:
    records, shaped = shape({"fields": {"q": "question", "num": {"template": "{{ topic }}", "dtype": "int"}}})
    assert records == []
    assert shaped.failed == [
        RowProblem(
            0,
            "output.fields.num.template",
            "cannot cast to int: could not convert string to float: 'physics'",
        ),
        RowProblem(
            1, "output.fields.num.template", "cannot cast to int: could not convert string to float: 'maths'"
        ),
    ]


def test_include_columns_keeps_output_columns_after_the_declared_fields() -> None:
    shaper = OutputShaper(
        OutputConfig.model_validate({"fields": {"topic": {"value": "fixed"}}, "include_columns": True}),
        COLUMNS,
    )
    assert shaper.names == ["topic", "question", "answer", "n"]
    assert shaper.apply(ROWS[:1]).records == [
        {"topic": "fixed", "question": "Q1", "answer": {"text": "A1", "refs": ["r1", "r2"]}, "n": 3}
    ]
    listed = OutputShaper(
        OutputConfig.model_validate({"fields": {"q": "question"}, "include_columns": ["n"]}), COLUMNS
    )
    assert listed.apply(ROWS).records == [{"q": "Q1", "n": 3}, {"q": "Q2", "n": 4}]


def test_no_output_block_keeps_the_output_columns_only() -> None:
    shaper = OutputShaper(None, ["question", "n"])
    assert shaper.apply(ROWS).records == [{"question": "Q1", "n": 3}, {"question": "Q2", "n": 4}]


def test_shaped_records_become_a_table_in_the_run_encoding() -> None:
    shaper = OutputShaper(OutputConfig.model_validate({"fields": {"q": "question", "a": "answer"}}), COLUMNS)
    table = shaper.to_table(shaper.apply(ROWS).records)
    assert table.column_names == ["q", "a"]
    assert table.schema.field("a").metadata == {b"synthloom.json": b"1"}
    assert table.column("a").to_pylist() == ['{"text":"A1","refs":["r1","r2"]}', None]


def test_the_output_block_round_trips_through_the_run_config() -> None:
    config = parse_config(
        BASE
        + """
output:
  fields:
    prompt: question
    empty: {value: null}
    meta: {fields: {t: topic}}
  format: alpaca
  schema: {type: object}
  card: {license: mit}
"""
    )
    data = config.to_dict()
    assert data["output"] == {
        "fields": {
            "prompt": {"from": "question"},
            "empty": {"value": None},
            "meta": {"fields": {"t": {"from": "topic"}}},
        },
        "format": {"type": "alpaca"},
        "schema": {"type": "object"},
        "card": {"license": "mit"},
    }
    assert OutputConfig.model_validate(data["output"]) == config.output


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        ("fields: {a: {from: x, value: 1}}", "output.fields.a", "exactly one of"),
        ("fields: {a: {}}", "output.fields.a", "exactly one of"),
        ("fields: {a: {form: x}}", "output.fields.a.form", "unknown field"),
        ("format: chatml", "output.format", "unknown format 'chatml'"),
        ("format: {type: messages, user: question}", "output.format", "'user' and 'assistant' go together"),
        ("schema: {type: nope}", "output.schema", "not a valid JSON Schema"),
        ("fields: {a: {value: 1, dtype: int}}", "output.fields.a", "'dtype' applies to a 'template' only"),
    ],
)
def test_a_malformed_output_block_names_the_file_and_field(block: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "output:\n  " + block + "\n", source="qa.yaml")
    assert info.value.source == "qa.yaml"
    assert info.value.field is not None and info.value.field.startswith(field)
    assert message in info.value.reason


def _check(tmp_path: Path, block: str, known: set[str] | None = None) -> PlanError:
    path = tmp_path / "qa.yaml"
    path.write_text(BASE + "output:\n" + block)
    config = load_config(path)
    with pytest.raises(PlanError) as info:
        check_output(config, known or {"topic", "question", "helper"})
    assert info.value.source == str(path)
    return info.value


def test_check_output_names_an_unknown_column_with_a_suggestion(tmp_path: Path) -> None:
    error = _check(tmp_path, "  fields:\n    prompt: {from: qestion.text}\n")
    assert error.field == "output.fields.prompt.from"
    assert error.reason == "unknown column 'qestion' (did you mean 'question'?)"
    assert str(error) == f"{tmp_path / 'qa.yaml'}, field 'output.fields.prompt.from': " + error.reason


def test_check_output_reads_nested_fields_templates_and_format_sources(tmp_path: Path) -> None:
    nested = _check(tmp_path, "  fields:\n    meta: {fields: {t: topik}}\n")
    assert (nested.field, nested.reason) == (
        "output.fields.meta.fields.t.from",
        "unknown column 'topik' (did you mean 'topic'?)",
    )
    template = _check(tmp_path, "  fields:\n    s: {template: '{{ questoin }}'}\n")
    assert (template.field, template.reason) == (
        "output.fields.s.template",
        "unknown column 'questoin' (did you mean 'question'?)",
    )
    syntax = _check(tmp_path, "  fields:\n    s: {template: '{{ question '}\n")
    assert syntax.field == "output.fields.s.template" and "syntax error" in syntax.reason
    role = _check(tmp_path, "  format: {type: messages, user: question, assistant: answr}\n")
    assert (role.field, role.reason) == ("output.format.assistant.from", "unknown column 'answr'")


def test_check_output_says_a_format_is_missing_a_required_source(tmp_path: Path) -> None:
    error = _check(tmp_path, "  format: dpo\n")
    assert error.field == "output.format.prompt"
    assert error.reason == (
        "format 'dpo' needs a source for 'prompt' and none is named; the default, column 'prompt', "
        "does not exist: name one with output.format.prompt"
    )


def test_check_output_accepts_dropped_columns_and_seed_fields(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(BASE + "output:\n  fields:\n    h: helper\n    s: {from: seed_field.x}\n")
    check_output(load_config(path), {"topic", "question", "helper", "seed_field"})


def test_check_output_refuses_include_columns_naming_an_unknown_column(tmp_path: Path) -> None:
    error = _check(tmp_path, "  include_columns: [topic, qustion]\n")
    assert (error.field, error.reason) == (
        "output.include_columns.1",
        "unknown column 'qustion' (did you mean 'question'?)",
    )


def test_check_output_refuses_a_field_that_clashes_with_the_format(tmp_path: Path) -> None:
    error = _check(
        tmp_path,
        "  fields: {messages: topic}\n  format: {type: messages, user: question, assistant: topic}\n",
    )
    assert error.field == "output.fields.messages"
    assert "also written by format 'messages'" in error.reason


def test_check_output_passes_without_an_output_block() -> None:
    check_output(parse_config(BASE), {"topic"})


def test_the_sft_messages_example_checks_and_shapes_a_row() -> None:
    import synthloom

    path = Path(__file__).resolve().parents[2] / "examples" / "sft-messages" / "config.yaml"
    config = synthloom.load_config(path)
    plan = synthloom.validate(config)
    known = {c.name for c in config.columns} | {s for c in config.columns for s in c.side_columns()}
    check_output(config, known)
    shaper = OutputShaper(config.output, plan.output_columns, known=known)
    row = {"id": "u1", "topic": "cycling", "angle": "x", "system": "Sys", "question": "Q?", "answer": "A."}
    shaped = shaper.apply([row, {**row, "answer": ""}])
    assert shaped.records == [
        {
            "id": "u1",
            "meta": {"topic": "cycling", "source": "synthloom-example"},
            "messages": [
                {"role": "system", "content": "Sys"},
                {"role": "user", "content": "Q?"},
                {"role": "assistant", "content": "A."},
            ],
        }
    ]
    assert shaped.filtered == [RowProblem(1, "output.schema", "messages.2.content: '' should be non-empty")]


def test_the_editor_schema_accepts_the_output_block_and_its_shorthands() -> None:
    import jsonschema
    import yaml

    from synthloom.config.dataset import DatasetConfig

    schema = DatasetConfig.model_json_schema(by_alias=True)
    data = yaml.safe_load(BASE)
    for output in (
        {
            "format": "messages",
            "fields": {"id": "question", "c": {"value": None}, "m": {"fields": {"t": "topic"}}},
        },
        {"format": {"type": "oasst", "user": "question", "assistant": ["topic", {"template": "x"}]}},
    ):
        jsonschema.validate({**data, "output": output}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "output": {"format": "chatml"}}, schema)
