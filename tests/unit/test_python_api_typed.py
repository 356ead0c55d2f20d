"""The Python API as a notebook user meets it: typed builder methods for every column type, config
classes, `schema=` with a Pydantic class, `to_yaml()`, `preview` inside a running event loop, and
results shown as HTML."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

import synthloom
from synthloom import DatasetBuilder
from synthloom.columns.builtin import BUILTIN_COLUMN_TYPES
from synthloom.config.loader import parse_config
from synthloom.config.registry import ColumnType
from synthloom.errors import ConfigError
from synthloom.interface.dataset_result import DatasetResult
from synthloom.store.table_codec import to_arrow_table
from synthloom.testing.png import solid_png


def _fields(config_class: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in config_class.model_fields.items()} - {"name", "type"}


@pytest.mark.parametrize("column_type", BUILTIN_COLUMN_TYPES, ids=lambda t: t.name)
def test_every_builtin_column_type_has_a_typed_method_with_its_fields(column_type: ColumnType) -> None:
    method = getattr(DatasetBuilder, column_type.name.replace("-", "_"))
    parameters = inspect.signature(method).parameters
    keywords = {n for n, p in parameters.items() if p.kind is not p.VAR_KEYWORD} - {"self", "name"}
    assert keywords == _fields(column_type.config)
    for name, parameter in parameters.items():
        if name != "self":
            assert parameter.annotation is not inspect.Parameter.empty, name
        # Only a sampler's own parameters (which differ per sampler) may come as free keywords.
        assert parameter.kind is not parameter.VAR_KEYWORD or column_type.name == "sampler"


def test_every_builtin_column_config_class_is_exported() -> None:
    for column_type in BUILTIN_COLUMN_TYPES:
        assert getattr(synthloom, column_type.config.__name__) is column_type.config


def test_typed_methods_build_the_config_the_yaml_would() -> None:
    built = (
        DatasetBuilder("all-kinds")
        .model("w", model="m", base_url="http://127.0.0.1:9/v1")
        .model("painter", model="img", base_url="http://127.0.0.1:9/v1")
        .sampler("topic", "category", values=["a", "b"])
        .expression("q", "About {{ topic }}?")
        .llm_text("answer", model="w", prompt="{{ q }}", inference={"temperature": 0.2})
        .llm_judge(
            "grade",
            model="w",
            prompt="{{ answer }}",
            scores=[synthloom.JudgeScore(name="ok", description="fine?", options={1: "no", 2: "yes"})],
        )
        .filter("keep", condition="{{ grade.ok.score >= 2 }}", reason="judged not fine")
        .validation("checked", validator="regex", targets=["answer"], pattern=".+")
        .custom("n", function="os.path:join", inputs=["topic"])
        .multi_model("two", models=["w", "painter"], prompt="{{ q }}")
        .image("picture", model="painter", prompt="{{ topic }}")
        .quality_tags("tags", source="answer", tags=["length"])
        .dedup("unique", source=["q"])
        .flow(
            "debate",
            nodes=[synthloom.LLMTextColumn(name="pro", model="w", prompt="For {{ topic }}")],
            edges=[synthloom.FlowEdge.model_validate({"from": "pro", "to": "end"})],
        )
        .conversation(
            "chat",
            user=synthloom.SimulatedUser(model="w", persona="a student"),
            assistant=synthloom.ChatRole(model="w"),
            turns=2,
        )
        .refine(
            "polished",
            generate=synthloom.PromptedRole(model="w", prompt="Write about {{ topic }}"),
            judge={"model": "w", "scores": [{"name": "ok", "description": "d", "options": {1: "n", 2: "y"}}]},
            threshold=synthloom.ScoreThreshold(score="ok", min=2),
        )
        .build()
    )
    reread = parse_config(built.to_yaml())
    assert reread.to_dict() == built.to_dict()
    assert [c.type for c in built.columns] == [
        "sampler",
        "expression",
        "llm-text",
        "llm-judge",
        "filter",
        "validation",
        "custom",
        "multi-model",
        "image",
        "quality-tags",
        "dedup",
        "flow",
        "conversation",
        "refine",
    ]


def test_add_takes_ready_made_column_configs() -> None:
    config = (
        DatasetBuilder("objects")
        .model("w", model="m", base_url="http://127.0.0.1:9/v1")
        .add(
            synthloom.SamplerColumn(name="x", sampler="uniform", params={"low": 0, "high": 1}),
            synthloom.LLMTextColumn(name="t", model="w", prompt="{{ x }}"),
        )
        .build()
    )
    assert [c.name for c in config.columns] == ["x", "t"]


class Review(BaseModel):
    stars: int
    text: str


def test_schema_takes_a_pydantic_class_as_its_json_schema() -> None:
    config = (
        DatasetBuilder("typed")
        .model("w", model="m", base_url="http://127.0.0.1:9/v1")
        .llm_structured("review", model="w", prompt="A review.", schema=Review)
        .build()
    )
    assert config.columns[0].output_schema == Review.model_json_schema()  # type: ignore[attr-defined]
    direct = synthloom.LLMStructuredColumn.model_validate(
        {"name": "r", "model": "w", "prompt": "p", "schema": Review}
    )
    assert direct.output_schema == Review.model_json_schema()


def test_to_yaml_writes_a_file_that_loads_back_and_never_a_credential_header(tmp_path: Path) -> None:
    config = (
        DatasetBuilder("headers")
        .model(
            "w",
            model="m",
            base_url="http://127.0.0.1:9/v1",
            headers={"Authorization": "Bearer sk-live-123", "X-Api-Key": "${KEY}", "X-Team": "blue"},
        )
        .sampler("x", "uuid")
        .build()
    )
    text = config.to_yaml(tmp_path / "config.yaml")
    assert (tmp_path / "config.yaml").read_text() == text
    assert "sk-live-123" not in text
    headers = synthloom.load_config(tmp_path / "config.yaml").models[0].headers
    assert headers == {"Authorization": "<redacted>", "X-Api-Key": "${KEY}", "X-Team": "blue"}


def test_builder_mistakes_are_config_errors_naming_the_column() -> None:
    with pytest.raises(ConfigError) as info:
        DatasetBuilder("x").filter("keep").build()  # neither a condition nor a function
    assert info.value.column == "keep"


def _model_free() -> synthloom.DatasetConfig:
    return (
        DatasetBuilder("loop")
        .sampler("n", "uniform", low=1, high=5, dtype="int")
        .expression("double", "{{ n * 2 }}", dtype="int")
        .build()
    )


async def test_preview_and_create_work_inside_a_running_event_loop(tmp_path: Path) -> None:
    asyncio.get_running_loop()  # as in Jupyter: this code runs inside a loop
    result = synthloom.preview(_model_free(), num_records=4)
    assert [row["double"] for row in result] == [row["n"] * 2 for row in result]
    created = synthloom.create(_model_free(), 6, tmp_path)
    assert len(created) == 6


async def test_errors_inside_a_running_event_loop_reach_the_caller() -> None:
    with pytest.raises(ConfigError, match="positive whole number"):
        synthloom.preview(_model_free(), num_records=0)
    config = DatasetBuilder("bad").model("w", model="m", base_url="http://127.0.0.1:9/v1")
    config = config.llm_text("t", model="nobody", prompt="x")
    with pytest.raises(ConfigError, match="nobody"):
        synthloom.preview(config.build(), num_records=1)


def test_a_result_shows_in_jupyter_as_cards_with_chats_images_and_fields() -> None:
    rows = [
        {
            "person": {"first_name": "Ada", "age": 36},
            "chat": [
                {"role": "user", "content": "Hi <there>"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}],
                },
                {"role": "tool", "content": "found", "tool_call_id": "c1"},
                {"role": "assistant", "content": "Hello"},
            ],
            "picture": solid_png(4, 4, (255, 0, 0)),
            "grade": {"clarity": {"score": 3, "reasoning": "clear"}},
        }
    ]
    table = to_arrow_table({k: [r[k] for r in rows] for k in rows[0]}, list(rows[0]))
    html = DatasetResult(tables=[table])._repr_html_()
    assert html.count('class="sl-card"') == 1
    assert "Hi &lt;there&gt;" in html  # escaped
    assert '<img alt="image' in html and "data:image/png;base64," in html
    assert "→ lookup(" in html and "result of c1" in html
    assert "<dt>first_name</dt><dd>Ada</dd>" in html
    assert "clarity: 3" in html
