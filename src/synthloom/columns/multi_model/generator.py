"""The `multi-model` column's generator: one prompt sent to every alias at once, then an optional judge.

Every alias's request starts together, each through its own endpoint's limiter, so a cell takes about
as long as its slowest reply, not the sum of them. A reply that fails for good fails the cell (and the
other requests are cancelled); a retried cell asks every alias again. The judge's usage is accounted
under `<column>.judge`, the replies' under the column.
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from synthloom.columns.multi_model.config import MultiModelColumn
from synthloom.config.registry import ColumnType
from synthloom.engine.generator import CellGenerator, CellOutput
from synthloom.plan.templates import compile_template

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = ["MULTI_MODEL_COLUMN_TYPE", "MultiModelGenerator", "preference", "scores_schema"]

_JUDGE_SYSTEM = "You compare responses of AI assistants to the same task, fairly and strictly."


def scores_schema(labels: list[str]) -> dict[str, Any]:
    """The judge's reply: a short reasoning, then a score from 1 to 10 per labelled response."""
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": 600},
            "scores": {
                "type": "object",
                "properties": {label: {"type": "integer", "minimum": 1, "maximum": 10} for label in labels},
                "required": labels,
                "additionalProperties": False,
            },
        },
        "required": ["reasoning", "scores"],
        "additionalProperties": False,
    }


def preference(order: list[str], scores: Mapping[str, int], replies: Mapping[str, Any]) -> dict[str, Any]:
    """Chosen (best scored) and rejected (worst scored) among `order` (the aliases as the judge saw
    them: ties go to the first shown); no pair when every score is the same."""
    best = max(order, key=lambda alias: scores[alias])
    worst = min(order, key=lambda alias: scores[alias])
    paired = scores[best] != scores[worst]
    return {
        "chosen": replies[best] if paired else None,
        "rejected": replies[worst] if paired else None,
        "chosen_model": best if paired else None,
        "rejected_model": worst if paired else None,
        "scores": {alias: scores[alias] for alias in order},
    }


class MultiModelGenerator(CellGenerator[MultiModelColumn]):
    def __init__(self, config: MultiModelColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._prompt = compile_template(config.prompt)
        self._system = compile_template(config.system_prompt) if config.system_prompt else None
        self._criteria = compile_template(config.judge.criteria) if config.judge else None

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        prompt = self._prompt.render(row)
        messages: list[dict[str, Any]] = []
        if self._system is not None:
            messages.append({"role": "system", "content": self._system.render(row)})
        messages.append({"role": "user", "content": prompt})
        texts = await self._ask_all(messages, ctx)
        replies = dict(zip(self.config.models, texts, strict=True))
        if self.config.judge is None:
            return CellOutput(replies)
        judgement = await self._judge(prompt, replies, row, ctx)
        return CellOutput(replies, {f"{self.config.name}__judgement": judgement})

    async def _ask_all(self, messages: list[dict[str, Any]], ctx: CellContext) -> list[str]:
        async def ask(alias: str) -> str:
            chat = await ctx.client(alias).generate_text(
                messages, inference=self.config.inference, tag=ctx.tag
            )
            return chat.text.strip()

        tasks = [asyncio.ensure_future(ask(alias)) for alias in self.config.models]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _judge(
        self, prompt: str, replies: Mapping[str, str], row: Mapping[str, Any], ctx: CellContext
    ) -> dict[str, Any]:
        judge = self.config.judge
        assert judge is not None and self._criteria is not None
        # Shown in an order drawn per record, so no model always goes first (position bias).
        order = random.Random(ctx.seed).sample(self.config.models, len(self.config.models))
        labels = list(string.ascii_uppercase[: len(order)])
        shown = "\n\n".join(
            f"Response {label}:\n<response>\n{replies[alias]}\n</response>"
            for label, alias in zip(labels, order, strict=True)
        )
        question = (
            f"{self._criteria.render(row)}\n\nThe task each assistant was given:\n<task>\n{prompt}\n</task>"
            f"\n\n{shown}\n\nScore every response from 1 (worst) to 10 (best); give responses of the same "
            "quality the same score. First explain briefly, then give the scores."
        )
        messages = [
            {"role": "system", "content": judge.system_prompt or _JUDGE_SYSTEM},
            {"role": "user", "content": question},
        ]
        result = await ctx.client(judge.model).generate_structured(
            messages, scores_schema(labels), inference=judge.inference, tag=f"{ctx.tag}.judge"
        )
        by_alias = {
            alias: int(result.value["scores"][label]) for label, alias in zip(labels, order, strict=True)
        }
        return {**preference(order, by_alias, replies), "reasoning": result.value["reasoning"]}


#: Registered with the built-ins (`builtin_types.py`).
MULTI_MODEL_COLUMN_TYPE = ColumnType("multi-model", MultiModelColumn, MultiModelGenerator)
