"""The prompt-based tool protocol (ReAct), for models served without native tool calls.

The tools are described in the system prompt; the model answers either with an action

    Thought: I need the weather first.
    Action: weather
    Action Input: {"city": "Oslo"}

which is run and fed back as a user turn `Observation: <result>`, or with its answer

    Thought: I know enough.
    Final Answer: It is mild in Oslo today.

A reply with neither is taken as the answer. A bare JSON tool call (`{"tool": "weather", "arguments":
{...}}`, or `name`/`action` with `arguments`/`args`/`input`/`parameters`) is read as an action too,
since small models often write one. Text after a made-up `Observation:` is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthloom.models.messages import ToolCall, ToolSpec

__all__ = ["REACT_STOP", "ReactStep", "observation", "parse_react", "react_instructions"]

#: Sent as a stop sequence, so a model stops where the observation belongs instead of inventing it.
REACT_STOP = "\nObservation:"
#: The line that opens the tool list in the system prompt (the simulated endpoint looks for it).
TOOLS_HEADER = "Tools (name, description, and a JSON Schema of the arguments):"

_OBSERVATION = re.compile(r"(?:^|\n)\s*Observation\s*:", re.IGNORECASE)
_ACTION = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(?P<name>.*)$", re.IGNORECASE | re.MULTILINE)
_ACTION_INPUT = re.compile(r"^[ \t]*Action[ \t]*Input[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_FINAL = re.compile(r"^[ \t]*Final[ \t]*Answer[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_THOUGHT = re.compile(r"^\s*Thought\s*:\s*", re.IGNORECASE)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]+")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_NAME_KEYS = ("tool", "name", "action", "function")
_ARGS_KEYS = ("arguments", "args", "input", "parameters", "action_input", "tool_input")


def react_instructions(specs: Sequence[ToolSpec]) -> str:
    """The system prompt text that describes the tools and the protocol."""
    tools = [{"name": s.name, "description": s.description, "parameters": s.parameters} for s in specs]
    return (
        "You can use tools to help you answer.\n"
        f"{TOOLS_HEADER}\n```json\n{json.dumps(tools, indent=1)}\n```\n\n"
        "To use a tool, reply in exactly this form, then stop:\n"
        "Thought: what you need and why\n"
        "Action: the tool's name\n"
        "Action Input: the arguments, as one JSON object\n\n"
        'The result comes back as "Observation: ...". Use one tool per reply, as many times as you need.\n'
        "When you can answer, reply in this form:\n"
        "Thought: what you found\n"
        "Final Answer: your answer"
    )


def observation(content: str) -> str:
    return f"Observation: {content}"


@dataclass(frozen=True)
class ReactStep:
    """One parsed reply: an `action` to run, or the `final` answer. `text` is the reply as kept in the
    conversation (cut before a made-up observation); `thought` is its reasoning, without labels."""

    text: str
    thought: str
    action: ToolCall | None = None
    final: str | None = None


def parse_react(reply: str, *, call_id: str) -> ReactStep:
    """Read one reply. `call_id` names the action's call (the trajectory's tool_call_id)."""
    text = reply
    cut = _OBSERVATION.search(text)
    if cut is not None and cut.start() > 0:
        text = text[: cut.start()]
    text = text.strip()
    action = _ACTION.search(text)
    final = _FINAL.search(text)
    if action is not None and (final is None or action.start() < final.start()):
        name_match = _TOOL_NAME.search(action.group("name").strip().strip("`'\""))
        name = name_match.group(0) if name_match else action.group("name").strip()
        rest = text[action.end() :]
        given = _ACTION_INPUT.search(rest)
        raw_input = rest[given.end() :] if given else ""
        stop = _FINAL.search(raw_input)
        if stop is not None:
            raw_input = raw_input[: stop.start()]
        return ReactStep(text, _thought(text[: action.start()]), _action(call_id, name, raw_input.strip()))
    if final is not None:
        return ReactStep(text, _thought(text[: final.start()]), final=text[final.end() :].strip())
    call = _json_tool_call(text, call_id)
    if call is not None:
        return ReactStep(text, "", call)
    return ReactStep(text, "", final=_THOUGHT.sub("", text, count=1).strip())


def _thought(text: str) -> str:
    return _THOUGHT.sub("", text.strip(), count=1).strip()


def _action(call_id: str, name: str, raw: str) -> ToolCall:
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1).strip()
    if not raw:
        return ToolCall(call_id, name)
    start = raw.find("{")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(raw, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return ToolCall(call_id, name, value)
    return ToolCall(call_id, name, raw_arguments=raw)


def _json_tool_call(text: str, call_id: str) -> ToolCall | None:
    """A reply that is only a JSON object naming a tool and its arguments."""
    body = text
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not set(value) <= {*_NAME_KEYS, *_ARGS_KEYS}:
        return None
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    arguments: Any = next((value[k] for k in _ARGS_KEYS if k in value), {})
    if name is None:
        return None
    if isinstance(arguments, dict):
        return ToolCall(call_id, name, arguments)
    return ToolCall(call_id, name, raw_arguments=json.dumps(arguments))
