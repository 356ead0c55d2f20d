"""Columns filled by a model: text, code, structured JSON, judge scores, embeddings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from synthloom.columns.llm.column_tools import ColumnTools
from synthloom.columns.llm.config import (
    EmbeddingColumn,
    LLMCodeColumn,
    LLMColumn,
    LLMJudgeColumn,
    LLMStructuredColumn,
    LLMTextColumn,
)
from synthloom.columns.llm.hooks import ColumnHooks
from synthloom.columns.media import prompt_media
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generator import CellGenerator, CellOutput
from synthloom.models.code_extraction import code_instruction, extract_code
from synthloom.models.structured_formats import StructuredFormat, format_instruction
from synthloom.models.structured_output import (
    extract_structured,
    json_prompt_instruction,
    json_schema_response_format,
    schema_name,
)
from synthloom.plan.planner import import_object
from synthloom.plan.templates import compile_template
from synthloom.tools.tool_loop import Answer, Finish, text_answer

if TYPE_CHECKING:
    from synthloom.models import ChatResult, ScopedClient

__all__ = [
    "EmbeddingGenerator",
    "LLMCodeGenerator",
    "LLMJudgeGenerator",
    "LLMStructuredGenerator",
    "LLMTextGenerator",
    "judge_schema",
]


class _ChatColumn(CellGenerator[Any]):
    """Renders the prompt and system prompt for a row and builds the messages."""

    config: LLMColumn

    def __init__(self, config: LLMColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._prompt = compile_template(config.prompt)
        self._system = compile_template(config.system_prompt) if config.system_prompt else None
        #: With `tools:`, the cell runs the tool loop (`engine/tools/`) instead of one exchange.
        self.tools = ColumnTools(config, setup.config) if config.tools else None
        self.hooks = ColumnHooks(config, setup)

    def client(self, ctx: CellContext) -> ScopedClient:
        return ctx.client(self.config.model)

    def messages(self, row: Mapping[str, Any], ctx: CellContext, suffix: str = "") -> list[dict[str, Any]]:
        """System prompt, then (a flow node sharing a chat history) the history's turns as this node
        sees them, then the prompt as a user turn. With a history, an empty prompt adds no turn. The
        column's `images` and `audio` go before the prompt's text in that turn (`engine/media.py`).
        A `pre_hook` changes the row's values before anything is rendered."""
        row = self.hooks.pre(row)
        messages: list[dict[str, Any]] = []
        if self._system is not None:
            messages.append({"role": "system", "content": self._system.render(row)})
        prompt = self._prompt.render(row) + suffix
        if ctx.history is not None:
            messages.extend(ctx.history)
            if not prompt.strip():
                return messages
        media = prompt_media(self.config, self.setup).parts(row)
        if media:
            content = [*(part.to_openai() for part in media), {"type": "text", "text": prompt}]
            messages.append({"role": "user", "content": content})
        else:
            messages.append({"role": "user", "content": prompt})
        return messages

    def output(self, value: Any, chat: ChatResult) -> CellOutput:
        side: dict[str, Any] = {}
        if self.config.with_trace:
            side[f"{self.config.name}__trace"] = chat.messages
        if self.config.with_reasoning:
            side[f"{self.config.name}__reasoning"] = chat.reasoning
        return CellOutput(self.hooks.post(value), side)

    async def with_tools(
        self,
        ctx: CellContext,
        messages: list[dict[str, Any]],
        finish: Finish,
        what: str,
        response_format: Mapping[str, Any] | None = None,
    ) -> CellOutput:
        """The tool loop's answer (or, when it ended at record-only calls, those calls), with the
        trajectory as a side column (or as the value)."""
        assert self.tools is not None
        run = await self.tools.run(ctx, messages, finish=finish, what=what, response_format=response_format)
        out = self.output(run.value, run.last)
        if self.config.trajectory == "value":
            out.value = run.trajectory_messages
        else:
            out.side[f"{self.config.name}__trajectory"] = run.trajectory_messages
        return out


class LLMTextGenerator(_ChatColumn):
    config: LLMTextColumn

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        if self.tools is not None:
            return await self.with_tools(ctx, self.messages(row, ctx), text_answer, "your final answer")
        chat = await self.client(ctx).generate_text(
            self.messages(row, ctx), inference=self.config.inference, tag=ctx.tag
        )
        return self.output(chat.text.strip(), chat)


class LLMCodeGenerator(_ChatColumn):
    config: LLMCodeColumn

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        if self.tools is not None:
            language = self.config.language

            def code(text: str) -> Answer:
                found = extract_code(text, language)
                return Answer(found.ok, found.code, found.error)

            what = f"the {language} code in one fenced block (```{language} ... ```)"
            messages = self.messages(row, ctx, suffix=code_instruction(language))
            return await self.with_tools(ctx, messages, code, what)
        messages = self.messages(row, ctx, suffix=code_instruction(self.config.language))
        result = await self.client(ctx).generate_code(
            messages, self.config.language, inference=self.config.inference, tag=ctx.tag
        )
        return self.output(result.code, result.chat)


def resolve_schema(schema: dict[str, Any] | str) -> dict[str, Any]:
    """A JSON Schema as given, or the schema of a Pydantic model named by import path (the planner
    has already imported it, from the config file's folder first, and checked what it is)."""
    if isinstance(schema, dict):
        return schema
    from pydantic import BaseModel

    from synthloom.errors import ConfigError

    model = import_object(schema)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(f"'{schema}' is not a Pydantic model class", field="schema")
    return model.model_json_schema()


class LLMStructuredGenerator(_ChatColumn):
    config: LLMStructuredColumn

    def __init__(self, config: LLMStructuredColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.schema = resolve_schema(config.output_schema)

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        fmt = self.config.format
        if self.tools is not None:
            if fmt == "json" and self.tools.sends_response_format(self.client(ctx)):
                # The schema travels as `response_format`: the user turn (and the trajectory) stay clean.
                response_format = json_schema_response_format(schema_name(self.schema, ctx.tag), self.schema)
                messages = self.messages(row, ctx)
                return await self.with_tools(
                    ctx, messages, json_answer(self.schema, fmt), _JSON_WHAT, response_format
                )
            messages = self.messages(row, ctx, format_instruction(fmt, self.schema))
            what = _JSON_WHAT if fmt == "json" else f"a {fmt.upper()} document matching the schema"
            return await self.with_tools(ctx, messages, json_answer(self.schema, fmt), what)
        result = await self.client(ctx).generate_structured(
            self.messages(row, ctx),
            self.schema,
            inference=self.config.inference,
            tag=ctx.tag,
            output_format=fmt,
        )
        return self.output(result.value, result.chat)


_JSON_WHAT = "a JSON value matching the schema"


def json_answer(schema: dict[str, Any], fmt: StructuredFormat = "json") -> Finish:
    """A tool loop's final answer read as a value valid against `schema`, written in `fmt`."""

    def finish(text: str) -> Answer:
        found = extract_structured(text, schema, fmt)
        return Answer(found.ok, found.value, found.error)

    return finish


def judge_schema(config: LLMJudgeColumn) -> dict[str, Any]:
    """The JSON Schema a judge's reply must satisfy: per score, a short reasoning and one option."""
    properties = {
        score.name: {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string", "maxLength": 600},
                "score": {"enum": list(score.options)},
            },
            "required": ["reasoning", "score"],
            "additionalProperties": False,
        }
        for score in config.scores
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def judge_instructions(config: LLMJudgeColumn) -> str:
    lines = ["", "", "Judge the text above on each criterion below."]
    for score in config.scores:
        lines.append(f"\n{score.name}: {score.description}")
        lines.extend(f"  {key} = {label}" for key, label in score.options.items())
    example = ", ".join(f'"{s.name}": {{"reasoning": "...", "score": ...}}' for s in config.scores)
    lines.append(
        f"\nFor each criterion give a one-sentence reasoning, then the score. Reply as JSON: {{{example}}}"
    )
    return "\n".join(lines)


class LLMJudgeGenerator(_ChatColumn):
    """The value is `{score_name: {"score": ..., "reasoning": ...}}`."""

    config: LLMJudgeColumn

    def __init__(self, config: LLMJudgeColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.schema = judge_schema(config)
        self._instructions = judge_instructions(config)

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        if self.tools is not None:
            messages = self.messages(row, ctx, self._instructions + json_prompt_instruction(self.schema))
            out = await self.with_tools(ctx, messages, json_answer(self.schema), _JSON_WHAT)
            if isinstance(out.value, dict):  # not the calls of record-only tools
                out.value = {
                    k: {"score": v["score"], "reasoning": v["reasoning"]} for k, v in out.value.items()
                }
            return out
        result = await self.client(ctx).generate_structured(
            self.messages(row, ctx, self._instructions),
            self.schema,
            inference=self.config.inference,
            tag=ctx.tag,
        )
        value = {name: {"score": v["score"], "reasoning": v["reasoning"]} for name, v in result.value.items()}
        return self.output(value, result.chat)


class EmbeddingGenerator(CellGenerator[EmbeddingColumn]):
    """The embedding vector of the text in `source`. Cells that wait at the same moment share one
    request (up to `batch_size` texts): embedding servers are built for batches."""

    def __init__(self, config: EmbeddingColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._client: ScopedClient | None = None
        self._batcher = MicroBatcher(self._embed, max_batch=config.batch_size)

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        assert self._client is not None  # set by the cell that submitted the first text
        result = await self._client.embed(texts, tag=self.config.name)
        return result.vectors

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        text = row.get(self.config.source)
        if text is None:
            return CellOutput(None)
        if not isinstance(text, str):
            text = orjson.dumps(text, default=str).decode()
        self._client = self.client_for(ctx)
        return CellOutput(await self._batcher.submit(text))

    def client_for(self, ctx: CellContext) -> ScopedClient:
        return ctx.client(self.config.model)


class MicroBatcher:
    """Gathers single items submitted within `linger` seconds (or until `max_batch` are waiting) into
    one call of `send(items) -> results`, and hands each caller its own result or the call's error."""

    def __init__(
        self, send: Callable[[list[str]], Awaitable[list[Any]]], *, max_batch: int, linger: float = 0.005
    ) -> None:
        self._send = send
        self.max_batch = max_batch
        self.linger = linger
        self._waiting: list[tuple[str, asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, item: str) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._waiting) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        batch = [(item, future) for item, future in batch if not future.done()]  # drop cancelled cells
        if batch:
            task = asyncio.ensure_future(self._deliver(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
