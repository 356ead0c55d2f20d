"""Generators of the presets: the flow each preset config builds, with the preset's value.

`conversation`: the value is an OpenAI messages list from the assistant's side (its system prompt, then
the turns of the `chat` history, the assistant's as `assistant` and the simulated user's as `user`);
per-turn judgements, when judged, go to `<name>__judgements`. `refine`: the flow's own outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthloom.columns.flow.generator import FlowGenerator, FlowWalk
from synthloom.columns.flow.preset_configs import ConversationColumn, RefineColumn
from synthloom.plan.templates import compile_template

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["ConversationGenerator", "RefineGenerator"]


class ConversationGenerator(FlowGenerator):
    def __init__(self, config: ConversationColumn, setup: GeneratorSetup) -> None:
        super().__init__(config.as_flow(), setup)
        self.preset = config
        prompt = config.assistant.system_prompt
        self._system = compile_template(prompt) if prompt else None

    def value_of(self, walk: FlowWalk) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self._system is not None:
            messages.append({"role": "system", "content": self._system.render(walk.state)})
        for turn in walk.histories["chat"].turns():
            role = "assistant" if turn["speaker"] == "assistant" else "user"
            messages.append({"role": role, "content": turn["content"]})
        return messages

    def side_of(self, walk: FlowWalk) -> dict[str, Any]:
        side = super().side_of(walk)
        if self.preset.judge is not None:
            side[f"{self.preset.name}__judgements"] = walk.state.get("judgements")
        return side


class RefineGenerator(FlowGenerator):
    def __init__(self, config: RefineColumn, setup: GeneratorSetup) -> None:
        super().__init__(config.as_flow(), setup)
        self.preset = config
