"""`DatasetBuilder`: the config in Python, one typed method per column type.

    config = (
        DatasetBuilder("reviews")
        .model("writer", provider="local")
        .sampler("product", "category", values=["phone", "laptop"])
        .llm_text("review", model="writer", prompt="Review a {{ product }} in two sentences.")
        .build()
    )

Each method's keywords are exactly the fields of its column's config class (`LLMTextColumn`,
`FlowColumn`, ...), typed, so a type checker and an IDE catch a misspelt keyword or a wrong kind of
value. A keyword left at `None` takes the config's default. Nested parts may be given as their config
classes (`JudgeScore`, `FlowEdge`, `LLMTextColumn` as a flow node, ...) or as plain mappings.
`build()` validates the whole config exactly as loading YAML does (same `ConfigError`s); `add()` takes
ready-made column configs, `column()` any registered type by name (plugins included).

It lives in the interface layer because its signatures name the column families' config classes,
which the config layer must not import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from synthloom.columns.flow.config import FlowEdge, FlowNodeConfig, HistoryConfig
from synthloom.columns.flow.preset_configs import (
    ChatRole,
    JudgeOptions,
    PromptedRole,
    ScoreThreshold,
    SimulatedUser,
    TurnRange,
)
from synthloom.columns.llm.config import JudgeScore
from synthloom.columns.multi_model.config import MultiModelJudge
from synthloom.columns.quality.config import TagBounds, TagGroup
from synthloom.columns.sampler.params import SamplerName
from synthloom.config.base import ColumnConfig
from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import config_error_from_validation
from synthloom.config.model_config import EndpointConfig, InferenceParams, Pricing, StructuredOutputParams
from synthloom.tools.config import ToolMode, ToolSource, TrajectoryPlace

__all__ = ["DatasetBuilder"]

Mapped = Mapping[str, Any]
Inference = InferenceParams | Mapped
Tools = list[ToolSource | Mapped]
Bounds = TagBounds | Mapped
#: `schema=` of an `llm-structured` column: a JSON Schema, a Pydantic model class, or its import path.
Schema = Mapped | type[BaseModel] | str


def _plain(value: Any) -> Any:
    """Config objects given to the builder as the plain data YAML would hold (only what was set; a
    column config keeps its `type`, which selects its kind back, as a flow node's does)."""
    if isinstance(value, ColumnConfig):
        data = value.model_dump(mode="python", by_alias=True, exclude_unset=True)
        return {"name": value.name, "type": value.type, **data}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", by_alias=True, exclude_unset=True)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _given(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A typed method's keywords that were given (not `None`), as plain data."""
    return {k: _plain(v) for k, v in arguments.items() if k not in ("self", "name") and v is not None}


class DatasetBuilder:
    """Build a `DatasetConfig` in Python; `build()` validates it exactly as YAML is validated."""

    def __init__(self, name: str = "dataset") -> None:
        self._data: dict[str, Any] = {"name": name, "models": [], "columns": []}

    # ---- models, seed data, run options ------------------------------------------------------------
    def model(
        self,
        alias: str,
        *,
        provider: str = "openai",
        model: str | None = None,
        base_url: str | None = None,
        endpoints: list[EndpointConfig | Mapped] | None = None,
        api_key_env: str | None = None,
        headers: dict[str, str] | None = None,
        inference: Inference | None = None,
        max_parallel_requests: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        pricing: Pricing | Mapped | None = None,
        structured_output: StructuredOutputParams | Mapped | None = None,
        model_path: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
    ) -> DatasetBuilder:
        """Add a model alias (`ModelConfig`). `provider`: `openai` (any OpenAI-compatible server),
        `anthropic`, `local` (the embedded model) or a plugin's name."""
        fields = _given(locals())
        self._data["models"].append({"alias": fields.pop("alias"), **fields})
        return self

    def seed(
        self,
        path: str | None = None,
        *,
        hf: str | None = None,
        documents: str | None = None,
        run: str | None = None,
        split: str | None = None,
        sampling: Literal["ordered", "shuffle", "with_replacement"] | None = None,
        columns: list[str] | None = None,
        where: str | None = None,
        **more: Any,
    ) -> DatasetBuilder:
        """Seed records (`SeedConfig`): a file, a Hugging Face dataset, documents or a previous run.
        Less common `SeedConfig` fields (`sources`, `transforms`, `chunk`, ...) pass through `more`."""
        fields = _given({k: v for k, v in locals().items() if k != "more"})
        self._data["seed"] = {**fields, **more}
        return self

    def run(
        self,
        *,
        buffer_size: int | None = None,
        max_row_groups_in_flight: int | None = None,
        seed: int | None = None,
        max_failure_rate: float | None = None,
        target: Literal["records", "kept"] | None = None,
        lineage: bool | None = None,
        max_extra_records: int | None = None,
        retry: Literal["new_records", "same_inputs"] | dict[str, Any] | None = None,
        **more: Any,
    ) -> DatasetBuilder:
        """Set `run` options (`RunConfig`); less common ones pass through `more`. `retry` is what a
        filter's rejection costs with `target="kept"`: `"same_inputs"` (or `{"mode": "same_inputs",
        "max_attempts": 8}`) generates the row again with its sampler values."""
        fields = _given({k: v for k, v in locals().items() if k != "more"})
        self._data.setdefault("run", {}).update({**fields, **more})
        return self

    # ---- columns: any type ---------------------------------------------------------------------------
    def column(self, name: str, type: str, **fields: Any) -> DatasetBuilder:
        """Add a column of any registered type by name, plugins included (fields unchecked until
        `build()`)."""
        self._data["columns"].append({"name": name, "type": type, **_plain(fields)})
        return self

    def add(self, *columns: ColumnConfig) -> DatasetBuilder:
        """Add ready-made column configs (`synthloom.LLMTextColumn(...)`, a plugin's config, ...)."""
        self._data["columns"].extend(_plain(col) for col in columns)
        return self

    def _add(self, type: str, name: str, arguments: Mapping[str, Any]) -> DatasetBuilder:
        return self.column(name, type, **_given(arguments))

    # ---- columns: one typed method per built-in type -------------------------------------------------
    def sampler(
        self,
        name: str,
        sampler: SamplerName,
        *,
        params: dict[str, Any] | None = None,
        when: str | None = None,
        drop: bool | None = None,
        **param_values: Any,
    ) -> DatasetBuilder:
        """A `sampler` column. The sampler's parameters as `params={...}` or as keywords
        (`values=[...]`, `low=1, high=10`): they differ per sampler and are checked by `build()`."""
        fields = _given({"sampler": sampler, "when": when, "drop": drop})
        return self.column(name, "sampler", params={**(params or {}), **param_values}, **fields)

    def expression(
        self,
        name: str,
        expr: str,
        *,
        dtype: Literal["str", "int", "float", "bool", "json"] | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `expression` column: a Jinja2 template over the record."""
        return self._add("expression", name, locals())

    def llm_text(
        self,
        name: str,
        *,
        model: str,
        prompt: str,
        system_prompt: str | None = None,
        inference: Inference | None = None,
        with_trace: bool | None = None,
        with_reasoning: bool | None = None,
        images: list[str] | None = None,
        audio: list[str] | None = None,
        max_media_bytes: int | None = None,
        image_detail: Literal["low", "high", "auto"] | None = None,
        tools: Tools | None = None,
        max_tool_calls: int | None = None,
        max_tools: int | None = None,
        tool_timeout: float | None = None,
        tool_mode: ToolMode | None = None,
        trajectory: TrajectoryPlace | None = None,
        pre_hook: str | None = None,
        post_hook: str | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `llm-text` column (`LLMTextColumn`): free text from a model."""
        return self._add("llm-text", name, locals())

    def llm_code(
        self,
        name: str,
        *,
        model: str,
        prompt: str,
        language: str | None = None,
        system_prompt: str | None = None,
        inference: Inference | None = None,
        with_trace: bool | None = None,
        with_reasoning: bool | None = None,
        images: list[str] | None = None,
        audio: list[str] | None = None,
        max_media_bytes: int | None = None,
        image_detail: Literal["low", "high", "auto"] | None = None,
        tools: Tools | None = None,
        max_tool_calls: int | None = None,
        max_tools: int | None = None,
        tool_timeout: float | None = None,
        tool_mode: ToolMode | None = None,
        trajectory: TrajectoryPlace | None = None,
        pre_hook: str | None = None,
        post_hook: str | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `llm-code` column (`LLMCodeColumn`): code in `language` (default python), extracted from
        the reply."""
        return self._add("llm-code", name, locals())

    def llm_structured(
        self,
        name: str,
        *,
        model: str,
        prompt: str,
        schema: Schema,
        format: Literal["json", "yaml", "xml"] | None = None,
        system_prompt: str | None = None,
        inference: Inference | None = None,
        with_trace: bool | None = None,
        with_reasoning: bool | None = None,
        images: list[str] | None = None,
        audio: list[str] | None = None,
        max_media_bytes: int | None = None,
        image_detail: Literal["low", "high", "auto"] | None = None,
        tools: Tools | None = None,
        max_tool_calls: int | None = None,
        max_tools: int | None = None,
        tool_timeout: float | None = None,
        tool_mode: ToolMode | None = None,
        trajectory: TrajectoryPlace | None = None,
        pre_hook: str | None = None,
        post_hook: str | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `llm-structured` column (`LLMStructuredColumn`): a value satisfying `schema` — a JSON
        Schema mapping, a Pydantic model class, or a model's import path (`package.module:Model`) —
        asked for as JSON, YAML or XML (`format`)."""
        return self._add("llm-structured", name, locals())

    def llm_judge(
        self,
        name: str,
        *,
        model: str,
        prompt: str,
        scores: list[JudgeScore | Mapped],
        system_prompt: str | None = None,
        inference: Inference | None = None,
        with_trace: bool | None = None,
        with_reasoning: bool | None = None,
        images: list[str] | None = None,
        audio: list[str] | None = None,
        max_media_bytes: int | None = None,
        image_detail: Literal["low", "high", "auto"] | None = None,
        tools: Tools | None = None,
        max_tool_calls: int | None = None,
        max_tools: int | None = None,
        tool_timeout: float | None = None,
        tool_mode: ToolMode | None = None,
        trajectory: TrajectoryPlace | None = None,
        pre_hook: str | None = None,
        post_hook: str | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `llm-judge` column (`LLMJudgeColumn`): one score per `JudgeScore`, each with its reason."""
        return self._add("llm-judge", name, locals())

    def embedding(
        self,
        name: str,
        *,
        model: str,
        source: str,
        batch_size: int | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `embedding` column (`EmbeddingColumn`): the vector of column `source`."""
        return self._add("embedding", name, locals())

    def image(
        self,
        name: str,
        *,
        model: str,
        prompt: str,
        mode: Literal["generate", "edit"] | None = None,
        source: str | None = None,
        size: str | None = None,
        n: Literal[1] | None = None,
        extra_body: dict[str, Any] | None = None,
        max_media_bytes: int | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """An `image` column (`ImageColumn`): an image generated (or, `mode="edit"`, edited from
        column `source`) by an image model."""
        return self._add("image", name, locals())

    def validation(
        self,
        name: str,
        *,
        validator: Literal["python", "sql", "json-schema", "regex", "callable", "http"],
        targets: list[str],
        dialect: str | None = None,
        json_schema: dict[str, Any] | None = None,
        pattern: str | None = None,
        function: str | None = None,
        url: str | None = None,
        timeout: float | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `validation` column (`ValidationColumn`): checks the `targets` columns' values."""
        return self._add("validation", name, locals())

    def custom(
        self,
        name: str,
        *,
        function: str,
        mode: Literal["cell", "batch"] | None = None,
        inputs: list[str] | None = None,
        params: dict[str, Any] | None = None,
        models: list[str] | None = None,
        outputs: list[str] | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `custom` column (`CustomColumn`): a Python function (`package.module:function`)."""
        return self._add("custom", name, locals())

    def filter(
        self,
        name: str,
        *,
        condition: str | None = None,
        function: str | None = None,
        inputs: list[str] | None = None,
        reason: str | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `filter` column (`FilterColumn`): removes the records whose `condition` (a template) or
        `function` is false, with `reason`."""
        return self._add("filter", name, locals())

    def flow(
        self,
        name: str,
        *,
        nodes: list[FlowNodeConfig | Mapped],
        edges: list[FlowEdge | Mapped] | None = None,
        state: dict[str, Any] | None = None,
        histories: dict[str, HistoryConfig | Mapped] | None = None,
        max_steps: int | None = None,
        on_max_steps: Literal["fail", "keep"] | None = None,
        output: str | None = None,
        outputs: dict[str, str] | None = None,
        trajectory: bool | None = None,
        inputs: list[str] | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `flow` column (`FlowColumn`): a graph of nodes over a state, with edges, conditions,
        routers and shared chat histories. A node is a column config of any registered type
        (`LLMTextColumn(...)`, a plugin's), an `AgentNode`, or a mapping (for a node's own `writes`,
        `history`)."""
        return self._add("flow", name, locals())

    def conversation(
        self,
        name: str,
        *,
        user: SimulatedUser | Mapped,
        assistant: ChatRole | Mapped,
        turns: int | TurnRange | Mapped | None = None,
        stop_when: str | None = None,
        judge: JudgeOptions | Mapped | None = None,
        trajectory: bool | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `conversation` column (`ConversationColumn`): a simulated user and an assistant talk for
        `turns` exchanges (or until `stop_when`), optionally judged."""
        return self._add("conversation", name, locals())

    def refine(
        self,
        name: str,
        *,
        generate: PromptedRole | Mapped,
        judge: JudgeOptions | Mapped,
        revise_prompt: str | None = None,
        until: str | None = None,
        threshold: ScoreThreshold | Mapped | None = None,
        max_iterations: int | None = None,
        trajectory: bool | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `refine` column (`RefineColumn`): generate, judge, revise until the judge is satisfied."""
        return self._add("refine", name, locals())

    def multi_model(
        self,
        name: str,
        *,
        models: list[str],
        prompt: str,
        system_prompt: str | None = None,
        inference: Inference | None = None,
        judge: MultiModelJudge | Mapped | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `multi-model` column (`MultiModelColumn`): one prompt to several aliases, optionally judged."""
        return self._add("multi-model", name, locals())

    def quality_tags(
        self,
        name: str,
        *,
        source: str,
        tags: list[TagGroup] | None = None,
        languages: list[str] | None = None,
        min_language_confidence: float | None = None,
        ngram: int | None = None,
        max_chars: int | None = None,
        filter: dict[str, Bounds] | None = None,
        repair: bool | None = None,
        gates: Literal["none", "recommended"] | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `quality-tags` column (`QualityTagsColumn`): heuristic tags of column `source`, with
        optional bounds that filter records."""
        return self._add("quality-tags", name, locals())

    def token_count(
        self,
        name: str,
        *,
        source: str,
        model: str | None = None,
        tokenizer: str | None = None,
        chat_template: bool | None = None,
        filter: Bounds | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `token-count` column (`TokenCountColumn`)."""
        return self._add("token-count", name, locals())

    def perplexity(
        self,
        name: str,
        *,
        source: str,
        model: str,
        max_tokens: int | None = None,
        filter: Bounds | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `perplexity` column (`PerplexityColumn`)."""
        return self._add("perplexity", name, locals())

    def reward(
        self,
        name: str,
        *,
        model: str,
        prompt: str | None = None,
        response: str | None = None,
        messages: str | None = None,
        path: str | None = None,
        score_path: str | None = None,
        filter: Bounds | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `reward` column (`RewardColumn`): a reward model's score."""
        return self._add("reward", name, locals())

    def quality_rubric(
        self,
        name: str,
        *,
        model: str,
        instruction: str,
        response: str,
        context: str | None = None,
        category: str | None = None,
        categories: list[str] | None = None,
        classify_with_model: bool | None = None,
        inference: Inference | None = None,
        filter: Bounds | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `quality-rubric` column (`QualityRubricColumn`)."""
        return self._add("quality-rubric", name, locals())

    def dedup(
        self,
        name: str,
        *,
        source: list[str] | str | None = None,
        method: Literal["exact", "minhash", "embedding"] | None = None,
        threshold: float | None = None,
        embedding: str | None = None,
        num_perm: int | None = None,
        ngram: int | None = None,
        case_sensitive: bool | None = None,
        when: str | None = None,
        drop: bool | None = None,
    ) -> DatasetBuilder:
        """A `dedup` column (`DedupColumn`): removes exact or near duplicates across the run."""
        return self._add("dedup", name, locals())

    # ---- result ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if v or k == "columns"}

    def build(self) -> DatasetConfig:
        """Validate and return the config; raises `ConfigError` exactly as loading YAML would."""
        data = self.to_dict()
        try:
            return DatasetConfig.model_validate(data)
        except ValidationError as exc:
            raise config_error_from_validation(exc, data, source="<builder>") from None
