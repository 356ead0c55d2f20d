"""`output.schema`: final records validated against a JSON Schema or a Pydantic model; an invalid record
is filtered with the validator's message, and a schema no record can meet is refused before the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from synthloom.config.loader import load_config
from synthloom.config.output_config import OutputConfig
from synthloom.errors import PlanError
from synthloom.outputs import OutputShaper, RecordSchema, RowProblem, check_output


class QA(BaseModel):
    prompt: str
    score: int = Field(ge=1, le=3)


class StrictQA(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str


NOT_A_MODEL = 42

ROWS: list[dict[str, Any]] = [
    {"question": "Q1", "grade": 2},
    {"question": "Q2", "grade": 7},
    {"question": None, "grade": 1},
]
BASE = """
name: qa
columns:
  - {name: question, type: expression, expr: "Q"}
  - {name: grade, type: expression, expr: "2", dtype: int}
output:
  fields: {prompt: question, score: grade}
"""


def shaped(schema: Any) -> Any:
    output = OutputConfig.model_validate(
        {"fields": {"prompt": "question", "score": "grade"}, "schema": schema}
    )
    return OutputShaper(output, ["question", "grade"]).apply(ROWS)


def test_json_schema_filters_invalid_records_with_the_reason() -> None:
    result = shaped(
        {
            "type": "object",
            "required": ["prompt", "score"],
            "properties": {"prompt": {"type": "string"}, "score": {"type": "integer", "maximum": 3}},
        }
    )
    assert result.records == [{"prompt": "Q1", "score": 2}]
    assert result.positions == [0]
    assert result.filtered == [
        RowProblem(1, "output.schema", "score: 7 is greater than the maximum of 3"),
        RowProblem(2, "output.schema", "prompt: None is not of type 'string'"),
    ]


def test_a_pydantic_model_by_import_path_filters_invalid_records() -> None:
    result = shaped(f"{__name__}:QA")
    assert result.records == [{"prompt": "Q1", "score": 2}]
    assert [(p.position, p.field) for p in result.filtered] == [(1, "output.schema"), (2, "output.schema")]
    assert result.filtered[0].reason == "score: Input should be less than or equal to 3"
    assert result.filtered[1].reason == "prompt: Input should be a valid string"


def _check(tmp_path: Path, schema_yaml: str) -> PlanError:
    path = tmp_path / "qa.yaml"
    path.write_text(BASE + "  schema: " + schema_yaml + "\n")
    with pytest.raises(PlanError) as info:
        check_output(load_config(path), {"question", "grade"})
    assert info.value.source == str(path)
    assert info.value.field == "output.schema"
    return info.value


def test_an_unreadable_schema_import_path_is_a_plan_error(tmp_path: Path) -> None:
    error = _check(tmp_path, "no_such_module_xyz:Model")
    assert error.reason.startswith(
        "cannot import 'no_such_module_xyz:Model': No module named 'no_such_module_xyz'"
    )
    missing = _check(tmp_path, f"{__name__}:Missing")
    assert "cannot import" in missing.reason
    wrong_kind = _check(tmp_path, f"{__name__}:NOT_A_MODEL")
    assert (
        wrong_kind.reason == f"'{__name__}:NOT_A_MODEL' is a int, not a Pydantic model (a BaseModel subclass)"
    )


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ("{type: array}", "no record can pass: the schema is for a array, but a record is an object"),
        (
            "{type: object, required: [prompt, answer]}",
            "no record can pass: the schema requires 'answer', which no record has "
            "(records have 'prompt', 'score')",
        ),
        (
            "{type: object, properties: {prompt: {}}, additionalProperties: false}",
            "no record can pass: the schema allows no property 'score' (additionalProperties: false)",
        ),
    ],
)
def test_a_json_schema_no_record_can_meet_is_refused(tmp_path: Path, schema: str, reason: str) -> None:
    assert _check(tmp_path, schema).reason == reason


def test_a_constant_that_breaks_its_property_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(
        BASE.replace(
            "fields: {prompt: question, score: grade}", "fields: {prompt: question, version: {value: v1}}"
        )
        + "  schema: {type: object, properties: {version: {type: integer}}}\n"
    )
    with pytest.raises(
        PlanError, match="the constant value of 'version' breaks the schema: 'v1' is not of type"
    ):
        check_output(load_config(path), {"question", "grade"})


def test_a_pydantic_model_no_record_can_meet_is_refused(tmp_path: Path) -> None:
    strict = _check(tmp_path, f"{__name__}:StrictQA")
    assert strict.reason == "no record can pass: StrictQA forbids extra fields and records have 'score'"


def test_a_schema_records_can_meet_passes(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(BASE + f"  schema: {__name__}:QA\n")
    check_output(load_config(path), {"question", "grade"})


def test_record_schema_static_problems_need_known_keys() -> None:
    schema = RecordSchema({"type": "object", "required": ["x"]})
    assert schema.static_problems(None, {}) == []
    assert schema.static_problems(["x"], {}) == []
