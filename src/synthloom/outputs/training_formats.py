"""Built-in training formats: each builds the final record of one row in a trainer's shape.

- `messages`: `{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": ...}, ...]}`
  (OpenAI chat).
- `sharegpt`: `{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}`.
- `oasst`: `{"message_tree_id", "tree_state": "ready_for_export", "prompt": node}`, a node being
  `{"message_id", "parent_id", "role": "prompter"|"assistant", "text", "lang", "rank",
  "synthetic": true, "model_name", "replies": [node, ...]}` (OpenAssistant's tree export); a system
  prompt is kept as `"system"` on the root node.
- `dpo`: `{"prompt", "chosen", "rejected"}` as text, or with `conversational: true` as message lists
  (`prompt: [system?, user]`, `chosen`/`rejected`: `[assistant]`), as TRL reads them.
- `alpaca`: `{"instruction", "input", "output"}` (`input` is "" when not given).

`dpo` and `alpaca` add `"system"` when a system source is given.

**Where the parts come from.** Each part is a source (`from` a column path, a constant `value`, a
`template`). A part the config does not name is read from a conventional column:

- chat formats (`messages`, `sharegpt`, `oasst`): with neither `messages` nor `user`/`assistant` named,
  a column `messages` or `conversations` holding a conversation, else `prompt` (user) and
  `completion` (assistant);
- `dpo`: `prompt`, `chosen`, `rejected`; `alpaca`: `instruction`, `output`, and `input` when such a
  column exists;
- every format: `system` when such a column exists and no system source is named.

A row missing a required part (null, or an empty conversation), a DPO pair whose two answers are the
same, or a conversation a format cannot hold (an OASST tree has no tool turns) is *filtered*, with
the reason. OASST ids are stable: a `tree_id` source, else a hash of the conversation; message ids
derive from the tree id and the message's place in the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from synthloom.config.output_config import (
    AlpacaFormat,
    DPOFormat,
    FormatConfig,
    MessagesFormat,
    OASSTFormat,
    ShareGPTFormat,
    ValueSource,
)
from synthloom.outputs.conversations import as_text, content_text, normalize_conversation, to_sharegpt
from synthloom.outputs.value_sources import RecordFiltered, ValueFn, compile_source

__all__ = ["CompiledFormat", "FormatPart", "compile_format", "format_keys", "resolve_parts"]


def _stable_id(text: str) -> str:
    """A UUID-shaped id derived from `text` (a hash: the same text, the same id)."""
    h = hashlib.blake2b(text.encode(), digest_size=16, person=b"synthloom-oasst").hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class FormatPart:
    """One source a format reads."""

    #: The part: `user`, `assistant`, `assistant.1` (an OASST sibling), `messages`, `chosen`, ...
    role: str
    source: ValueSource
    #: Where it is declared (or would be): `output.format.user`.
    where: str
    #: Read from a conventional column because the config names no source for it.
    default: bool
    required: bool


@dataclass(frozen=True)
class CompiledFormat:
    """A format ready to build records: `build(row)` returns the keys in `keys`."""

    name: str
    keys: tuple[str, ...]
    parts: tuple[FormatPart, ...]
    build: Callable[[Mapping[str, Any]], dict[str, Any]]


def _column(name: str) -> ValueSource:
    return ValueSource.model_validate({"from": name})


def resolve_parts(
    fmt: FormatConfig, columns: Collection[str], where: str = "output.format"
) -> list[FormatPart]:
    """Every source `fmt` reads, with conventional columns filled in for the parts it does not name."""
    parts: list[FormatPart] = []

    def add(role: str, source: ValueSource | None, default: str | None, *, required: bool) -> None:
        if source is not None:
            parts.append(FormatPart(role, source, f"{where}.{role}", False, required))
        elif default is not None and (required or default in columns):
            parts.append(FormatPart(role, _column(default), f"{where}.{role}", True, required))

    if isinstance(fmt, MessagesFormat | ShareGPTFormat | OASSTFormat):
        assistants = fmt.assistant if isinstance(fmt, OASSTFormat) else None
        if fmt.messages is not None:
            add("messages", fmt.messages, None, required=True)
        elif fmt.user is not None:
            add("user", fmt.user, None, required=True)
            if isinstance(assistants, list):
                for i, source in enumerate(assistants):
                    parts.append(FormatPart(f"assistant.{i}", source, f"{where}.assistant.{i}", False, True))
            else:
                add("assistant", fmt.assistant, None, required=True)  # type: ignore[arg-type]
        else:
            conversation = next((c for c in ("messages", "conversations") if c in columns), None)
            if conversation is not None:
                add("messages", None, conversation, required=True)
            else:
                add("user", None, "prompt", required=True)
                add("assistant", None, "completion", required=True)
        add("system", fmt.system, "system", required=False)
        if isinstance(fmt, OASSTFormat) and fmt.tree_id is not None:
            add("tree_id", fmt.tree_id, None, required=True)
    elif isinstance(fmt, DPOFormat):
        add("prompt", fmt.prompt, "prompt", required=True)
        add("chosen", fmt.chosen, "chosen", required=True)
        add("rejected", fmt.rejected, "rejected", required=True)
        add("system", fmt.system, "system", required=False)
    elif isinstance(fmt, AlpacaFormat):
        add("instruction", fmt.instruction, "instruction", required=True)
        add("input", fmt.input, "input", required=False)
        add("output", fmt.output, "output", required=True)
        add("system", fmt.system, "system", required=False)
    return parts


def format_keys(fmt: FormatConfig, parts: Collection[FormatPart]) -> tuple[str, ...]:
    """The keys of the records `fmt` builds."""
    has_system = any(p.role == "system" for p in parts)
    if isinstance(fmt, MessagesFormat):
        return ("messages",)
    if isinstance(fmt, ShareGPTFormat):
        return ("conversations",)
    if isinstance(fmt, OASSTFormat):
        return ("message_tree_id", "tree_state", "prompt")
    if isinstance(fmt, DPOFormat):
        return ("prompt", "chosen", "rejected") + (
            ("system",) if has_system and not fmt.conversational else ()
        )
    return ("instruction", "input", "output") + (("system",) if has_system else ())


def compile_format(
    fmt: FormatConfig, columns: Collection[str], where: str = "output.format"
) -> CompiledFormat:
    """`fmt` with its sources resolved against `columns` and compiled."""
    parts = resolve_parts(fmt, columns, where)
    fns = {p.role: (compile_source(p.source, p.where), p.where) for p in parts}
    build: Callable[[Mapping[str, Any]], dict[str, Any]]
    if isinstance(fmt, MessagesFormat):
        conversation = _conversation(fns)
        build = lambda row: {"messages": conversation(row)}  # noqa: E731
    elif isinstance(fmt, ShareGPTFormat):
        conversation = _conversation(fns)
        build = lambda row: {"conversations": to_sharegpt(conversation(row), where)}  # noqa: E731
    elif isinstance(fmt, OASSTFormat):
        build = _oasst(fmt, fns, where)
    elif isinstance(fmt, DPOFormat):
        build = _dpo(fmt, fns)
    else:
        build = _alpaca(fns)
    return CompiledFormat(fmt.type, format_keys(fmt, parts), tuple(parts), build)


Fns = dict[str, tuple[ValueFn, str]]


def _text(fns: Fns, role: str, row: Mapping[str, Any], *, required: bool = True) -> str | None:
    if role not in fns:
        return None
    fn, where = fns[role]
    return as_text(fn(row), where, required=required)


def _conversation(fns: Fns) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages from a conversation source, or from system/user/assistant sources."""

    def build(row: Mapping[str, Any]) -> list[dict[str, Any]]:
        system = _text(fns, "system", row, required=False)
        if "messages" in fns:
            fn, where = fns["messages"]
            messages = normalize_conversation(fn(row), where)
            if system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system})
            return messages
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": _text(fns, "user", row)})
        messages.append({"role": "assistant", "content": _text(fns, "assistant", row)})
        return messages

    return build


def _oasst(fmt: OASSTFormat, fns: Fns, where: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    siblings = sorted((r for r in fns if r.startswith("assistant.")), key=lambda r: int(r.split(".")[1]))
    linear = _conversation(fns) if not siblings else None

    def node(
        tree: str, path: str, role: str, text: str, parent: str | None, rank: int | None
    ) -> dict[str, Any]:
        return {
            "message_id": _stable_id(f"{tree}/{path}"),
            "parent_id": parent,
            "role": role,
            "text": text,
            "lang": fmt.lang,
            "rank": rank,
            "synthetic": True,
            "model_name": fmt.model_name if role == "assistant" else None,
            "replies": [],
        }

    def build(row: Mapping[str, Any]) -> dict[str, Any]:
        system: str | None
        if linear is not None:
            messages = linear(row)
            system = None
            if messages[0]["role"] == "system":
                system = content_text(messages.pop(0)["content"], where)
            turns = [(m["role"], content_text(m.get("content"), where)) for m in messages]
            _check_alternating(turns, where)
            replies: list[str] = []
        else:
            system = _text(fns, "system", row, required=False)
            turns = [("user", _text(fns, "user", row) or "")]
            replies = [_text(fns, r, row) or "" for r in siblings]
        tree = _tree_id(fns, row, system, turns, replies)
        root = node(tree, "0", "prompter", turns[0][1], None, None)
        if system:
            root["system"] = system
        parent = root
        for depth, (role, text) in enumerate(turns[1:], start=1):
            child = node(
                tree,
                f"0{'.0' * depth}",
                "prompter" if role == "user" else "assistant",
                text,
                parent["message_id"],
                None,
            )
            parent["replies"].append(child)
            parent = child
        for rank, text in enumerate(replies):
            root["replies"].append(node(tree, f"0.{rank}", "assistant", text, root["message_id"], rank))
        return {"message_tree_id": tree, "tree_state": "ready_for_export", "prompt": root}

    return build


def _check_alternating(turns: list[tuple[str, str]], where: str) -> None:
    for index, (role, _) in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if role != expected:
            raise RecordFiltered(
                where,
                f"an OASST tree alternates prompter and assistant turns, starting with the prompter "
                f"(message {index} is {role!r})",
            )


def _tree_id(
    fns: Fns, row: Mapping[str, Any], system: str | None, turns: list[tuple[str, str]], replies: list[str]
) -> str:
    if "tree_id" in fns:
        return _text(fns, "tree_id", row) or ""
    return _stable_id(orjson.dumps([system, turns, replies]).decode())


def _dpo(fmt: DPOFormat, fns: Fns) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def build(row: Mapping[str, Any]) -> dict[str, Any]:
        prompt = _text(fns, "prompt", row)
        chosen = _text(fns, "chosen", row)
        rejected = _text(fns, "rejected", row)
        if chosen == rejected:
            raise RecordFiltered(
                fns["chosen"][1], "chosen and rejected are the same text: not a preference pair"
            )
        system = _text(fns, "system", row, required=False)
        if fmt.conversational:
            messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": prompt})
            return {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        record: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        if "system" in fns:
            record["system"] = system
        return record

    return build


def _alpaca(fns: Fns) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def build(row: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "instruction": _text(fns, "instruction", row),
            "input": _text(fns, "input", row, required=False) or "",
            "output": _text(fns, "output", row),
        }
        if "system" in fns:
            record["system"] = _text(fns, "system", row, required=False) or ""
        return record

    return build
