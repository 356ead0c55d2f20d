"""The built-in column types' configs. Each is registered in `synthloom.config.registry`."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator

from synthloom.config.base import ColumnConfig, ImportPath, StrictModel
from synthloom.config.model_config import InferenceParams
from synthloom.config.sampler_params import SAMPLER_PARAMS, SamplerName
from synthloom.config.tools_config import ToolMode, ToolsConfig, TrajectoryPlace

__all__ = [
    "CustomColumn",
    "EmbeddingColumn",
    "ExpressionColumn",
    "JudgeScore",
    "LLMCodeColumn",
    "LLMColumn",
    "LLMJudgeColumn",
    "LLMStructuredColumn",
    "LLMTextColumn",
    "SamplerColumn",
    "ValidationColumn",
]

IMPORT_PATH_PATTERN = r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$"


def _import_path(value: str) -> str:
    if not re.fullmatch(IMPORT_PATH_PATTERN, value):
        raise ValueError(f"{value!r} is not an import path: expected 'package.module:name'")
    return value


#: `package.module:name`, checked with a message a user can act on (the planner imports it).
ImportPathText = Annotated[
    str, AfterValidator(_import_path), Field(json_schema_extra={"pattern": IMPORT_PATH_PATTERN})
]


class SamplerColumn(ColumnConfig):
    """A value drawn from a distribution, vectorised per row group."""

    type: Literal["sampler"] = "sampler"
    sampler: SamplerName
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        sampler = info.data.get("sampler")
        if sampler is None:
            return value
        try:
            SAMPLER_PARAMS[sampler].model_validate(value)
        except ValidationError as exc:
            problems = []
            known = list(SAMPLER_PARAMS[sampler].model_fields)
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1, cutoff=0.6)
                    msg = "unknown parameter" + (
                        f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
                    )
                problems.append(f"{where}: {msg}" if where else msg)
            raise ValueError(f"invalid parameters for sampler '{sampler}': " + "; ".join(problems)) from None
        return value

    def parsed_params(self) -> Any:
        """The params as the sampler's typed model."""
        return SAMPLER_PARAMS[self.sampler].model_validate(self.params)

    def referenced_columns(self) -> dict[str, list[str]]:
        if self.sampler == "subcategory":
            return {"params.category": [self.params["category"]]}
        if self.sampler == "timedelta" and self.params.get("reference"):
            return {"params.reference": [self.params["reference"]]}
        return {}


class ExpressionColumn(ColumnConfig):
    """A Jinja2 expression over other columns, rendered in the sandbox and cast to `dtype`."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "expr")

    type: Literal["expression"] = "expression"
    expr: str
    dtype: Literal["str", "int", "float", "bool", "json"] = "str"


class LLMColumn(ColumnConfig):
    """Shared fields of every column that prompts a chat model."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "prompt", "system_prompt")

    model: str
    prompt: str
    system_prompt: str | None = None
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
            for name in ("max_tool_calls", "tool_timeout", "tool_mode", "trajectory"):
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

    type: Literal["llm-text"] = "llm-text"


class LLMCodeColumn(LLMColumn):
    """Code in `language`, extracted from the model's reply."""

    type: Literal["llm-code"] = "llm-code"
    language: str = "python"


class LLMStructuredColumn(LLMColumn):
    """A JSON value that satisfies `schema` (a JSON Schema, or a Pydantic model by import path)."""

    type: Literal["llm-structured"] = "llm-structured"
    output_schema: dict[str, Any] | ImportPathText = Field(alias="schema")

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema_or_path(cls, value: Any) -> Any:
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

    def import_paths(self) -> dict[str, ImportPath]:
        paths = super().import_paths()
        if isinstance(self.output_schema, str):
            paths["schema"] = ImportPath(self.output_schema, "pydantic-model")
        return paths


class JudgeScore(StrictModel):
    """One named score of a judge's rubric."""

    #: Any short label ("accuracy", "SQL Correctness"); a template reads
    #: `{{ grade['SQL Correctness'].score }}`.
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: str
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

    type: Literal["llm-judge"] = "llm-judge"
    scores: Annotated[list[JudgeScore], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_scores(self) -> LLMJudgeColumn:
        names = [s.name for s in self.scores]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate score names: {', '.join(dupes)}")
        return self


class EmbeddingColumn(ColumnConfig):
    """An embedding vector of the text in column `source`."""

    type: Literal["embedding"] = "embedding"
    model: str
    source: str
    #: Cells waiting at the same moment are sent together, up to this many texts per request.
    batch_size: Annotated[int, Field(gt=0, le=2048)] = 64

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [self.source]}


#: Fields of a validation column that only one validator reads.
_VALIDATOR_FIELDS = {
    "dialect": "sql",
    "json_schema": "json-schema",
    "pattern": "regex",
    "function": "callable",
    "url": "http",
    "timeout": "http",
}


class ValidationColumn(ColumnConfig):
    """Checks other columns; the value is `{is_valid, ...details}`."""

    type: Literal["validation"] = "validation"
    validator: Literal["python", "sql", "json-schema", "regex", "callable", "http"]
    targets: Annotated[list[str], Field(min_length=1)]
    #: sql: the sqlglot dialect.
    dialect: str | None = None
    #: json-schema: the schema each target must satisfy.
    json_schema: dict[str, Any] | None = None
    #: regex: the pattern each target must fully match.
    pattern: str | None = None
    #: callable: `package.module:function` taking the target values, returning bool or a dict with is_valid.
    function: ImportPathText | None = None
    #: http: a URL that receives `{"values": {...}}` by POST and answers `{"is_valid": ..., ...}`.
    url: str | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _check_validator_fields(self) -> ValidationColumn:
        needs = {"json-schema": "json_schema", "regex": "pattern", "callable": "function", "http": "url"}
        field = needs.get(self.validator)
        if field and getattr(self, field) is None:
            raise ValueError(f"validator '{self.validator}' needs '{field}'")
        if self.validator == "regex":
            import re

            try:
                re.compile(self.pattern or "")
            except re.error as exc:
                raise ValueError(f"'pattern' is not a valid regular expression: {exc}") from None
        if self.validator == "json-schema":
            import jsonschema

            try:
                jsonschema.validators.validator_for(self.json_schema).check_schema(self.json_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"'json_schema' is not a valid JSON Schema: {exc.message}") from None
        if self.validator == "http" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        for name, owner in _VALIDATOR_FIELDS.items():
            if owner != self.validator and name in self.model_fields_set:
                raise ValueError(
                    f"'{name}' is only used by validator '{owner}' (this column's validator is "
                    f"'{self.validator}'): remove it or change the validator"
                )
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"targets": list(self.targets)}

    def import_paths(self) -> dict[str, ImportPath]:
        if self.validator == "callable" and self.function:
            return {"function": ImportPath(self.function, "callable")}
        return {}


class CustomColumn(ColumnConfig):
    """A Python function by import path, called per cell (`row -> value`) or per row group
    (`rows -> values`). `inputs` names the columns it reads."""

    type: Literal["custom"] = "custom"
    function: ImportPathText
    mode: Literal["cell", "batch"] = "cell"
    inputs: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    #: Model aliases a cell function calls through its `context` (`context.client(alias)`): the run
    #: opens them, and their requests go through the run's limiters and usage accounting.
    models: list[str] = Field(default_factory=list)

    def import_paths(self) -> dict[str, ImportPath]:
        return {"function": ImportPath(self.function, "callable")}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)}

    def model_aliases(self) -> dict[str, str]:
        return {f"models[{i}]": alias for i, alias in enumerate(self.models)}
