"""The LLM columns' configs: `llm-text`, `llm-code`, `llm-structured`, `llm-judge`, `embedding`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from synthloom.config.base import (
    IMPORT_PATH_PATTERN,
    ColumnConfig,
    ImportPath,
    ImportPathText,
    StrictModel,
    ValueShape,
)
from synthloom.config.model_config import InferenceParams
from synthloom.models.structured_formats import StructuredFormat
from synthloom.tools.config import ToolMode, ToolsConfig, TrajectoryPlace

__all__ = [
    "EmbeddingColumn",
    "JudgeScore",
    "LLMCodeColumn",
    "LLMColumn",
    "LLMJudgeColumn",
    "LLMStructuredColumn",
    "LLMTextColumn",
]


class LLMColumn(ColumnConfig):
    """Shared fields of every column that prompts a chat model."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "prompt", "system_prompt")

    #: The model alias (from `models:`) that answers.
    model: str
    #: The user prompt: a Jinja2 template over other columns and seed fields.
    prompt: str
    #: A system prompt (a template too), sent before the prompt.
    system_prompt: str | None = None
    #: Inference parameters for this column, merged over the model's own (temperature, max_tokens, ...).
    inference: InferenceParams | None = None
    #: Also write `<name>__trace`: the full message exchange.
    with_trace: bool = False
    #: Also write `<name>__reasoning`: the model's reasoning text, when it sends one.
    with_reasoning: bool = False
    #: Images sent with the prompt (before its text), one template per entry: a lone
    #: `"{{ photo }}"` sends the value of `photo` as it is (bytes, a file path relative to the config,
    #: an image URL, a data URI, a Hugging Face Image feature, or a list of these); any other template
    #: is rendered as a path or URL (`"photos/{{ id }}.png"`). Null sends nothing.
    images: list[str] = Field(default_factory=list)
    #: Audio sent with the prompt, the same way (bytes, a file path, a data URI, an Audio feature).
    audio: list[str] = Field(default_factory=list)
    #: The largest image or audio item sent, in bytes; a larger one fails its row.
    max_media_bytes: Annotated[int, Field(gt=0)] = 20 * 1024 * 1024
    #: OpenAI's image resolution hint; other providers ignore it.
    image_detail: Literal["low", "high", "auto"] | None = None
    #: Tools the model may call (see `tools_config.py`): the tool loop runs inside the cell.
    tools: ToolsConfig | None = None
    #: At most this many tool calls per cell; then the model is asked for its final answer.
    max_tool_calls: Annotated[int, Field(ge=1, le=1000)] = 10
    #: Seconds one tool call may take (an entry's `timeout` wins); past it the model is told so.
    tool_timeout: Annotated[float, Field(gt=0)] = 30.0
    #: The most tools offered in one request (every tool's spec is sent each time): a server listing
    #: more fails the cells with a message saying to choose with `include` / `exclude`.
    max_tools: Annotated[int, Field(ge=1, le=10_000)] = 128
    #: `native` tool calls, a ReAct prompt (`react`), or `auto`: native where the provider has tools.
    tool_mode: ToolMode = "auto"
    #: With tools, the conversation in OpenAI messages form (tool calls and results included) goes to
    #: `<name>__trajectory` (`side`), or is the value itself (`value`, llm-text only).
    trajectory: TrajectoryPlace = "side"
    #: `package.module:function` called with the row's inputs (a dict) before the prompt is rendered;
    #: what it returns (or the dict it changed in place, when it returns None) is what templates read.
    pre_hook: ImportPathText | None = None
    #: `package.module:function` called with the parsed value (text, code, JSON, scores); what it
    #: returns is the cell's value.
    post_hook: ImportPathText | None = None

    @model_validator(mode="after")
    def _check_tool_options(self) -> LLMColumn:
        if self.tools is None:
            for name in ("max_tool_calls", "max_tools", "tool_timeout", "tool_mode", "trajectory"):
                if name in self.model_fields_set:
                    raise ValueError(f"'{name}' is only used with 'tools'")
        elif self.trajectory == "value" and self.type != "llm-text":
            raise ValueError("'trajectory: value' is only for llm-text columns (use the side column)")
        return self

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}

    def templates(self) -> dict[str, str]:
        out = super().templates()
        out.update({f"images[{i}]": source for i, source in enumerate(self.images)})
        out.update({f"audio[{i}]": source for i, source in enumerate(self.audio)})
        return out

    def import_paths(self) -> dict[str, ImportPath]:
        paths = {
            f"tools[{i}].function": ImportPath(source.function, "callable")
            for i, source in enumerate(self.tools or ())
            if source.function is not None
        }
        for hook in ("pre_hook", "post_hook"):
            if getattr(self, hook) is not None:
                paths[hook] = ImportPath(getattr(self, hook), "callable")
        return paths

    def side_columns(self) -> list[str]:
        out = []
        if self.with_trace:
            out.append(f"{self.name}__trace")
        if self.with_reasoning:
            out.append(f"{self.name}__reasoning")
        if self.tools is not None and self.trajectory == "side":
            out.append(f"{self.name}__trajectory")
        return out


class LLMTextColumn(LLMColumn):
    """Free text from a chat model."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "question",
        "type": "llm-text",
        "model": "writer",
        "prompt": "Ask one question about {{ topic }}.",
    }

    type: Literal["llm-text"] = "llm-text"


class LLMCodeColumn(LLMColumn):
    """Code in `language`, extracted from the model's reply."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "solution",
        "type": "llm-code",
        "model": "writer",
        "prompt": "Solve in Python: {{ task }}",
        "language": "python",
    }

    type: Literal["llm-code"] = "llm-code"
    #: The language of the fenced code block the reply must contain.
    language: str = "python"


class LLMStructuredColumn(LLMColumn):
    """A JSON value that satisfies `schema`: a JSON Schema, a Pydantic model by import path, or (from
    Python) a Pydantic model class, which stands for its JSON Schema."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "profile",
        "type": "llm-structured",
        "model": "default",
        "prompt": "Invent a customer who likes {{ topic }}.",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    }

    type: Literal["llm-structured"] = "llm-structured"
    #: The JSON Schema the value must satisfy, or the import path of a Pydantic model.
    output_schema: dict[str, Any] | ImportPathText = Field(alias="schema")
    #: How the model writes the value: json, yaml (read safely: no anchors, aliases or tags) or xml (read
    #: by synthloom's element convention); the value stored is the same JSON value either way.
    format: StructuredFormat = "json"

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema_or_path(cls, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, BaseModel):
            # A class defined in a notebook has no import path a run could reload; its schema does,
            # and it is what a config written out (`to_yaml`) can hold.
            return value.model_json_schema()
        if isinstance(value, str) and not re.fullmatch(IMPORT_PATH_PATTERN, value):
            hint = (
                " (this looks like JSON: write the schema as a YAML mapping)"
                if value.lstrip()[:1] == "{"
                else ""
            )
            raise ValueError(
                "expected a JSON Schema (a mapping) or the import path of a Pydantic model "
                f"('package.module:Model'){hint}"
            )
        return value

    @field_validator("output_schema")
    @classmethod
    def _check_schema(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        if isinstance(value, dict):
            import jsonschema

            try:
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value

    def value_shape(self) -> ValueShape | None:
        if self.post_hook is not None or not isinstance(self.output_schema, dict):
            return None  # a hook may return anything; a Pydantic model's schema is read at run time
        return schema_shape(self.output_schema)

    def import_paths(self) -> dict[str, ImportPath]:
        paths = super().import_paths()
        if isinstance(self.output_schema, str):
            paths["schema"] = ImportPath(self.output_schema, "pydantic-model")
        return paths


def schema_shape(schema: Any) -> ValueShape | None:
    """The keys a JSON Schema object declares (nested objects too), or None when the keys are open
    (`additionalProperties`, `patternProperties`, combinators, references) or it is not an object."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    if schema.get("additionalProperties") not in (None, False) or "patternProperties" in schema:
        return None
    if any(key in schema for key in ("anyOf", "oneOf", "allOf", "$ref", "if")):
        return None
    return {str(key): schema_shape(value) for key, value in schema["properties"].items()}


class JudgeScore(StrictModel):
    """One named score of a judge's rubric."""

    #: Any short label ("accuracy", "SQL Correctness"); a template reads
    #: `{{ grade['SQL Correctness'].score }}`.
    name: Annotated[str, Field(min_length=1, max_length=100)]
    #: What the score measures (shown to the judge).
    description: str
    #: The possible scores and what each means: `{1: poor, 5: excellent}`.
    options: Annotated[dict[int | str, str], Field(min_length=2)]

    @field_validator("options", mode="before")
    @classmethod
    def _integer_keys(cls, value: Any) -> Any:
        # JSON object keys are always text: "1" read back from JSON (a saved config, a worker's copy)
        # is the score 1 it was written as, so `score >= 4` keeps comparing numbers.
        if isinstance(value, dict):
            return {
                int(k) if isinstance(k, str) and k.strip().lstrip("-").isdigit() else k: v
                for k, v in value.items()
            }
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("a score name must not start or end with spaces")
        bad = sorted({c for c in value if c in '"\\' or not c.isprintable()})
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            raise ValueError(f"a score name cannot contain {shown} (it is a key in the judge's JSON reply)")
        return value


class LLMJudgeColumn(LLMColumn):
    """A rubric of named scores; the value is `{score_name: {score, reasoning}}`."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "grade",
        "type": "llm-judge",
        "model": "judge",
        "prompt": "Question: {{ question }}\nAnswer: {{ answer }}",
        "scores": [
            {"name": "correct", "description": "Is the answer correct?", "options": {0: "no", 1: "yes"}}
        ],
    }

    type: Literal["llm-judge"] = "llm-judge"
    #: The named scores, each with a description and its options (score -> meaning).
    scores: Annotated[list[JudgeScore], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_scores(self) -> LLMJudgeColumn:
        names = [s.name for s in self.scores]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate score names: {', '.join(dupes)}")
        return self

    def value_shape(self) -> ValueShape | None:
        if self.post_hook is not None:
            return None
        return {score.name: {"score": None, "reasoning": None} for score in self.scores}


class EmbeddingColumn(ColumnConfig):
    """An embedding vector of the text in column `source`."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "question_vector",
        "type": "embedding",
        "model": "embedder",
        "source": "question",
    }

    type: Literal["embedding"] = "embedding"
    #: The model alias of an embeddings endpoint.
    model: str
    #: The column whose text is embedded.
    source: str
    #: Cells waiting at the same moment are sent together, up to this many texts per request.
    batch_size: Annotated[int, Field(gt=0, le=2048)] = 64

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [self.source]}


#: Fields of a validation column that only one validator reads.
