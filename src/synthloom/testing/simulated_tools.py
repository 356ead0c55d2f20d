"""How the simulated endpoint answers a request that offers tools.

Tools are offered natively (OpenAI `tools` with `function.parameters`, Anthropic `tools` with
`input_schema`) or in synthloom's ReAct system prompt (a JSON list under a "Tools (...)" line). Until
`tool_turns` assistant turns have called tools, the reply calls `tool_calls_per_turn` of them (one per
ReAct reply), with arguments generated from each tool's JSON Schema; at `tool_malformed_rate` a call's
arguments are cut-off JSON, at `tool_unknown_rate` it names a tool that does not exist. After that
(or when `tool_choice` is "none") the reply is the final answer, saying how many tool results it saw.
Everything is drawn from the request's content and the endpoint's seed: the same conversation gets
the same reply.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from synthloom.testing.schema_values import value_for_schema

__all__ = ["UNKNOWN_TOOL", "ToolTurn", "plan_tool_turn"]

#: The name a simulated call uses when it is told to invent a tool.
UNKNOWN_TOOL = "nonexistent_tool"
_REACT_TOOLS = re.compile(r"Tools \(name, description[^\n]*\n```json\s*(\[.*?\])\s*```", re.DOTALL)
_SALT = 0x7001


@dataclass
class SimulatedCall:
    id: str
    name: str
    #: The arguments as JSON text (possibly malformed, on purpose).
    arguments: str

    def openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def anthropic(self) -> dict[str, Any]:
        try:
            value: Any = orjson.loads(self.arguments)
        except orjson.JSONDecodeError:
            value = self.arguments  # not an object: the client keeps it as raw text
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": value}

    def react(self) -> str:
        return f"Thought: I should use {self.name}.\nAction: {self.name}\nAction Input: {self.arguments}"


@dataclass
class ToolTurn:
    """The reply to a request that offers tools: `calls` to make now, or (none) the final answer."""

    react: bool
    prompt: str
    results_seen: int
    calls: list[SimulatedCall] = field(default_factory=list)

    @property
    def react_text(self) -> str:
        return self.calls[0].react() if self.calls else ""

    def final(self, text: str) -> str:
        """The final answer, from what the simulation would have said without tools."""
        if text.startswith("Simulated reply to: "):
            text = f"Simulated reply to: {self.prompt[:200]} (after {self.results_seen} tool results)"
        return f"Thought: I have what I need.\nFinal Answer: {text}" if self.react else text


def plan_tool_turn(payload: dict[str, Any], config: Any) -> ToolTurn | None:
    """None when the request offers no tools; else what to answer (see the module docstring)."""
    messages = [m for m in payload.get("messages") or [] if isinstance(m, dict)]
    tools = _native_tools(payload)
    react = False
    if tools is None:
        tools = _react_tools(payload, messages)
        react = tools is not None
    if tools is None:
        return None
    done, results = _progress(messages, react)
    turn = ToolTurn(react=react, prompt=_prompt(messages), results_seen=results)
    choice = payload.get("tool_choice")
    refused = choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none")
    if done >= config.tool_turns or refused or not tools:
        return turn
    digest = orjson.dumps([messages, tools, payload.get("system")], option=orjson.OPT_SORT_KEYS)
    key = hashlib.blake2b(digest, digest_size=8, key=str(config.seed).encode()).digest()
    rng = random.Random(int.from_bytes(key, "big") ^ _SALT)
    count = 1 if react else config.tool_calls_per_turn
    for index in range(count):
        name, schema = rng.choice(tools)
        roll = rng.random()
        if roll < config.tool_unknown_rate:
            name, arguments = UNKNOWN_TOOL, "{}"
        else:
            arguments = orjson.dumps(value_for_schema(schema, rng)).decode()
            if roll < config.tool_unknown_rate + config.tool_malformed_rate:
                arguments = arguments[: max(1, len(arguments) // 2)].rstrip("}") or "{"
        turn.calls.append(SimulatedCall(f"call_{key.hex()[:8]}_{done}_{index}", name, arguments))
    return turn


def _native_tools(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    raw = payload.get("tools")
    if not isinstance(raw, list):
        return None
    out = []
    for tool in raw:
        if not isinstance(tool, dict):
            continue
        function: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        name = function.get("name")
        schema = function.get("parameters") or function.get("input_schema") or {}
        if isinstance(name, str):
            out.append((name, schema if isinstance(schema, dict) else {}))
    return out


def _react_tools(
    payload: dict[str, Any], messages: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]] | None:
    texts = [payload.get("system")] + [m.get("content") for m in messages if m.get("role") == "system"]
    for text in texts:
        if not isinstance(text, str):
            continue
        match = _REACT_TOOLS.search(text)
        if match is None:
            continue
        try:
            listed = orjson.loads(match.group(1))
        except orjson.JSONDecodeError:
            return None
        return [
            (t["name"], t.get("parameters") or {})
            for t in listed
            if isinstance(t, dict) and isinstance(t.get("name"), str)
        ]
    return None


def _progress(messages: list[dict[str, Any]], react: bool) -> tuple[int, int]:
    """(assistant turns that called tools, tool results) so far in the conversation."""
    turns = results = 0
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if react:
            if role == "user" and isinstance(content, str) and content.startswith("Observation:"):
                turns += 1
                results += 1
            continue
        if role == "assistant" and (
            message.get("tool_calls")
            or (isinstance(content, list) and any(_kind(b) == "tool_use" for b in content))
        ):
            turns += 1
        elif role == "tool":
            results += 1
        elif role == "user" and isinstance(content, list):
            results += sum(1 for block in content if _kind(block) == "tool_result")
    return turns, results


def _prompt(messages: list[dict[str, Any]]) -> str:
    """The first user turn's text."""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(b.get("text", "")) for b in content if _kind(b) == "text")
    return ""


def _kind(block: Any) -> Any:
    return block.get("type") if isinstance(block, dict) else None
