"""`synthloom design`: a model drafts a config from a description, and synthloom checks it.

The loop, every step bounded:

1. The model is given the description and a compact reference (column types with their fields, samplers)
   and asked for the `columns:` of a config; synthloom adds `name` and the `models:` the user declared.
2. The draft is validated; while it has errors (at most `max_rounds` drafts), they go back to the model,
   each with its suggested fix.
3. A valid draft is previewed (two records); the records go back to the model, which answers `OK` or a
   corrected draft (at most `max_fixes` times; each correction is validated again).
4. The result is a `DesignResult`: the last draft's YAML, whether it is valid, the last errors. The CLI
   writes it with a header saying what was asked, only when it is valid.

Every request is the same four messages, never a growing conversation: the system prompt, the task
(reference and description), the latest draft (cut to about `DRAFT_TOKENS` tokens) and what to do about
it (its errors, its preview's records, or the user's corrections). A small model's context holds it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import parse_config
from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ConfigError, SynthloomError
from synthloom.interface.error_report import error_entries
from synthloom.interface.reference import build_reference
from synthloom.models import ModelPool

__all__ = ["DesignResult", "describe_error", "design_config"]

_FENCE = re.compile(r"```(?:ya?ml)?[ \t]*\n(.*?)```", re.DOTALL)

SYSTEM = (
    "You write dataset configs for synthloom, a synthetic data generator. A config's `columns` is a "
    "YAML list; each column has a `name` and a `type`; templates read other columns as {{ name }}. "
    "Reply with only the `columns:` YAML in one ```yaml fenced block, or with OK when asked to check "
    "records that are already right."
)

#: The latest draft goes back to the model cut to about this many tokens (4 characters each).
DRAFT_TOKENS = 1200

#: A reply's bound when the drafting model's own `inference.max_tokens` sets none (a small model that
#: repeats itself would otherwise write until its context is full).
REPLY_TOKENS = 1500

NO_COLUMNS = "the reply holds no YAML list of columns"

#: Called with each valid draft in interactive mode; returns the user's corrections ("" accepts).
Ask = Callable[[str], str]


@dataclass
class DesignResult:
    """What `design_config` ends with."""

    yaml_text: str
    valid: bool
    errors: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


def compact_reference() -> str:
    """Column types with their required fields and a few optional ones, and samplers with their
    parameters: what a draft may use, short enough for a small model's context (about 1,000 tokens)."""
    data = build_reference()
    lines = ["Column types (type: fields; * = required):"]
    for entry in data["column_types"]:
        own = [f for f in entry["fields"] if f["name"] not in ("name", "type", "drop", "when")]
        required = [f"{f['name']}*" for f in own if f["required"]]
        optional = [f["name"] for f in own if not f["required"]][:3]
        summary = entry["summary"][:70].rstrip()
        lines.append(f"- {entry['name']}: {', '.join(required + optional)} ({summary})")
    lines.append("Samplers (type: sampler, sampler: NAME, params: {...}):")
    for sampler in data["samplers"]:
        params = ", ".join(f"{f['name']}{'*' if f['required'] else ''}" for f in sampler["fields"])
        lines.append(f"- {sampler['name']}: {params}")
    return "\n".join(lines)


def _draft_text(reply: str) -> str:
    """The YAML of a reply: its first fenced block, else the whole reply."""
    found = _FENCE.search(reply)
    return found.group(1) if found else reply


def _columns_from(reply: str) -> Any:
    data = yaml.safe_load(_draft_text(reply))
    if isinstance(data, dict) and "columns" in data:
        return data["columns"]
    return data


def _capped(text: str, tokens: int = DRAFT_TOKENS) -> str:
    """`text` cut to about `tokens` tokens, saying so when it was cut."""
    limit = tokens * 4
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + "\n# ... (cut: the draft was longer)"


def _assemble(name: str, models: list[ModelConfig], reply: str) -> str:
    """The whole config: the draft's columns under synthloom's `name` and the user's `models`.
    A reply that is not YAML raises `ValueError` saying why."""
    try:
        columns = _columns_from(reply)
    except yaml.YAMLError as exc:
        raise ValueError(f"the reply is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(columns, list) or not columns:
        raise ValueError(NO_COLUMNS)
    document = {
        "name": name,
        "models": [m.model_dump(mode="json", exclude_defaults=True, by_alias=True) for m in models],
        "columns": columns,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _check(text: str) -> tuple[DatasetConfig | None, list[dict[str, Any]]]:
    from synthloom.interface.api import validate

    try:
        config = parse_config(text, source="draft.yaml")
        validate(config)
    except ConfigError as exc:
        return None, error_entries(exc)
    return config, []


def describe_error(error: dict[str, Any]) -> str:
    """One error of a draft in words: where (only the parts that are known), what, and the fix."""
    where = ", ".join(
        f"{label} {error[key]}"
        for key, label in (("line", "line"), ("column", "column"), ("field", "field"))
        if error.get(key) is not None
    )
    text = f"{where}: {error['message']}" if where else str(error["message"])
    return text + (f" (fix: {error['fix']})" if error.get("fix") else "")


def _problems(errors: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {describe_error(e)}" for e in errors)


def _messages(task: str, draft: str | None, feedback: str | None) -> list[dict[str, str]]:
    """One request: the system prompt, the task, and (after the first) the latest draft and what to do."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]
    if draft is not None and feedback is not None:
        messages.append({"role": "assistant", "content": f"```yaml\n{_capped(draft)}\n```"})
        messages.append({"role": "user", "content": feedback})
    return messages


async def design_config(
    description: str,
    *,
    model: str,
    models: list[ModelConfig],
    name: str = "dataset",
    max_rounds: int = 4,
    max_fixes: int = 2,
    ask: Ask | None = None,
) -> DesignResult:
    """Draft, validate, correct, preview and fix a config for `description` with the model `model` (an
    alias of `models`, which the config also declares)."""
    task = (
        f"{compact_reference()}\n\nModel aliases you may use: {', '.join(m.alias for m in models)}."
        f"\n\nWrite the columns for this dataset: {description}"
    )
    draft: str | None = None  # the latest reply's YAML, and what the model is told about it
    feedback: str | None = None
    result = DesignResult(yaml_text="", valid=False)
    fixes = 0
    drafting = next((m for m in models if m.alias == model), None)
    if drafting is None:
        raise ConfigError(f"model '{model}' is not among the models given", field="model")
    declared = drafting.inference
    inference = InferenceParams(temperature=0.2, max_tokens=declared.max_tokens or REPLY_TOKENS)
    async with ModelPool(models) as pool:
        client = pool.client(model)
        while result.rounds < max_rounds:
            result.rounds += 1
            reply = await client.generate_text(_messages(task, draft, feedback), inference=inference)
            if result.valid and reply.text.strip().upper().startswith("OK"):
                return result  # the model is content with the records
            draft = _draft_text(reply.text).strip()
            try:
                result.yaml_text = _assemble(name, models, reply.text)
                config, result.errors = _check(result.yaml_text)
            except ValueError as exc:
                fix = "reply with the `columns:` YAML list only, in one ```yaml block"
                config = None
                result.errors = [
                    {"line": None, "column": None, "field": None, "message": str(exc), "fix": fix}
                ]
            result.valid = config is not None
            if config is None:
                feedback = (
                    "That draft has errors:\n"
                    + _problems(result.errors)
                    + "\nReply with the whole corrected `columns:` YAML."
                )
                continue
            if ask is not None:
                corrections = ask(result.yaml_text)
                if corrections.strip():
                    feedback = f"Change this: {corrections}"
                    continue
            if fixes >= max_fixes:
                return result
            fixes += 1
            result.records = await _preview(config)
            shown = "\n".join(json.dumps(r, default=str)[:800] for r in result.records)
            feedback = (
                f"Two records it generated:\n{shown}\nIf they fit the description, reply OK. "
                "Otherwise reply with the whole corrected `columns:` YAML."
            )
    return result


async def _preview(config: DatasetConfig) -> list[dict[str, Any]]:
    from synthloom.interface.api import apreview

    try:
        return list(await apreview(config, num_records=2))
    except SynthloomError as exc:
        return [{"preview_error": str(exc)}]


def run_design(description: str, **options: Any) -> DesignResult:
    """`design_config` from synchronous code."""
    return asyncio.run(design_config(description, **options))
