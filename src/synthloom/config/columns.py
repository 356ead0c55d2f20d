"""The built-in column types' configs. Each is registered in `synthloom.config.registry`."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from synthloom.config.base import ColumnConfig, StrictModel
from synthloom.config.model_config import InferenceParams
from synthloom.config.sampler_params import SAMPLER_PARAMS, SamplerName

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

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}

    def side_columns(self) -> list[str]:
        out = []
        if self.with_trace:
            out.append(f"{self.name}__trace")
        if self.with_reasoning:
            out.append(f"{self.name}__reasoning")
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
    output_schema: dict[str, Any] | Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)] = Field(alias="schema")

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


class JudgeScore(StrictModel):
    """One named score of a judge's rubric."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: str
    options: Annotated[dict[int | str, str], Field(min_length=2)]


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
    function: Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)] | None = None
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
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"targets": list(self.targets)}


class CustomColumn(ColumnConfig):
    """A Python function by import path, called per cell (`row -> value`) or per row group
    (`rows -> values`). `inputs` names the columns it reads."""

    type: Literal["custom"] = "custom"
    function: Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)]
    mode: Literal["cell", "batch"] = "cell"
    inputs: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    #: Model aliases a cell function calls through its `context` (`context.client(alias)`): the run
    #: opens them, and their requests go through the run's limiters and usage accounting.
    models: list[str] = Field(default_factory=list)

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)}

    def model_aliases(self) -> dict[str, str]:
        return {f"models[{i}]": alias for i, alias in enumerate(self.models)}
