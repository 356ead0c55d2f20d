"""The `agent` node: a model running the tool loop inside one step of a flow.

    generator = AgentGenerator(agent_node, setup)     # built by `FlowNodes`, like any node's
    output = await generator.generate(state, ctx)     # the final answer; `<node>__trajectory` beside it
    own_turn(output.side["support__trajectory"])      # what this step added: tool calls, results, answer

The messages are an `llm-text` node's (system prompt, the history as the agent sees it, the prompt);
the loop is the tools' own (`ColumnTools.run`, bounded by `max_tool_calls` and `max_turns`), so
requests go through the limiter, retries and accounting (`<column>.<node>`), and MCP servers are the
run's. `own_turn` is how the flow keeps the agent's tool use in a shared history: the part of the
trajectory after what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from synthloom.columns.flow.config import AgentNode
from synthloom.columns.llm.generator import LLMTextGenerator
from synthloom.engine.generator import CellOutput

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = ["AgentGenerator", "own_turn"]


class AgentGenerator(LLMTextGenerator):
    """Runs one step of an `agent` node: the tool loop until the final answer."""

    def __init__(self, config: AgentNode, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.agent = config

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        assert self.tools is not None  # an agent without tools is refused by the planner
        run = await self.tools.run(ctx, self.messages(row, ctx), max_turns=self.agent.max_turns)
        out = self.output(run.value, run.last)
        out.side[f"{self.agent.name}__trajectory"] = run.trajectory_messages
        return out


def own_turn(trajectory: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The messages one step of an agent added to what it was sent: its tool-calling turns, their
    results and its answer, in OpenAI messages form.

    What was sent never ends with such messages (a history keeps an agent's earlier turns ending with
    their answer), so the step's part is the answer and, before it, every assistant turn with
    `tool_calls` and every `tool` result up to the first message of another kind."""
    if not trajectory:
        return []
    start = len(trajectory) - 1
    while start > 0:
        before = trajectory[start - 1]
        if before["role"] == "tool" or (before["role"] == "assistant" and before.get("tool_calls")):
            start -= 1
        else:
            break
    return [dict(message) for message in trajectory[start:]]
