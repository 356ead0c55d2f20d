"""The dataset card: README.md with YAML front matter, for a Hub push and an `hf` export.

It says what was generated (the columns, their types and how each was made), with which models
(alias, provider, model id), what that cost (requests and tokens per model, over every session of a
resumed run), the run seed and the record counts, and the license. It is built from a fixed list of
facts, never by copying config sections: endpoints, headers and key variable names are not among
them, so no credential can reach a card.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import pyarrow as pa
import yaml

from synthloom._version import __version__
from synthloom.config.output_config import CardConfig
from synthloom.store.table_codec import is_json_field

__all__ = ["CardFacts", "render_card", "size_category"]

_SIZE_BUCKETS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


def size_category(records: int) -> str:
    """The Hub's `size_categories` bucket for `records`."""
    for bound, label in _SIZE_BUCKETS:
        if records < bound:
            return label
    return "n>1B"


class CardFacts:
    """What a card states, gathered from a run's config, metadata and usage (plain data)."""

    def __init__(
        self,
        *,
        name: str,
        config: Mapping[str, Any],
        metadata: Mapping[str, Any],
        usage: Mapping[str, Any],
        schema: pa.Schema,
        records: int,
        card: CardConfig | None = None,
        license: str | None = None,
        repo_id: str | None = None,
        data_files: str = "data/train-*",
        reshaped_by: str | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.metadata = metadata
        self.usage = usage
        self.schema = schema
        self.records = records
        self.card = card or CardConfig()
        self.license = license or self.card.license
        self.repo_id = repo_id
        self.data_files = data_files
        self.reshaped_by = reshaped_by

    # ---- the facts ------------------------------------------------------------------------------
    def models(self) -> list[tuple[str, str, str]]:
        """(alias, provider, model id) of every model; nothing else of a model's config."""
        out = []
        for model in self.config.get("models") or []:
            if not isinstance(model, Mapping):
                continue
            provider = str(model.get("provider") or "openai")
            if provider == "local":
                path = model.get("model_path")
                model_id = PurePath(str(path)).name if path else "SmolLM2-135M-Instruct (embedded llama.cpp)"
            else:
                model_id = str(model.get("model") or "")
            out.append((str(model.get("alias", "")), provider, model_id))
        return out

    def provenance(self) -> dict[str, str]:
        """How each column was made: column type, sampler, model alias; seed fields and output fields."""
        out: dict[str, str] = {}
        for col in self.config.get("columns") or []:
            if not isinstance(col, Mapping) or "name" not in col:
                continue
            how = str(col.get("type", ""))
            if col.get("sampler"):
                how += f" ({col['sampler']})"
            if col.get("model"):
                how += f", model `{col['model']}`"
            out[str(col["name"])] = how
        output = self.config.get("output")
        if isinstance(output, Mapping):
            for name, spec in (output.get("fields") or {}).items():
                out[str(name)] = "output field " + _describe_source(spec)
            fmt = output.get("format")
            if isinstance(fmt, Mapping):
                out.setdefault("__format__", str(fmt.get("type")))
        return out

    def usage_by_model(self) -> dict[str, dict[str, float]]:
        """Requests, tokens and cost per model alias that were paid, summed over every session of the
        run (killed ones included: a session's `paid`, from the spend journal; its committed spend for a
        session from before the journal)."""
        sessions = self.metadata.get("sessions")
        sources = (
            [(s["paid"] if "paid" in s else s.get("usage")) or {} for s in sessions if isinstance(s, Mapping)]
            if isinstance(sessions, list) and sessions
            else [self.usage.get("models") or {}]
        )
        return _summed(sources)

    def usage_for_rows(self) -> dict[str, dict[str, float]]:
        """What the committed rows cost, per model alias (`usage_committed`)."""
        committed = self.metadata.get("usage_committed")
        return _summed([committed]) if isinstance(committed, Mapping) else {}

    def counts(self) -> dict[str, Any]:
        meta = self.metadata
        groups = meta.get("row_groups") or {}
        filtered = meta.get("filtered_records")
        if filtered is None and isinstance(groups, Mapping):
            filtered = sum(int(g.get("filtered", 0)) for g in groups.values() if isinstance(g, Mapping))
        return {
            "records": self.records,
            "target_records": meta.get("target_records"),
            "committed_records": meta.get("committed_records"),
            "failed_records": meta.get("failed_records"),
            "filtered_records": filtered,
        }


def render_card(facts: CardFacts) -> str:
    """The README.md text."""
    front: dict[str, Any] = {}
    if facts.license:
        front["license"] = facts.license
    front["pretty_name"] = facts.card.pretty_name or facts.name
    front["tags"] = [
        "synthetic",
        "synthloom",
        *[t for t in facts.card.tags if t not in ("synthetic", "synthloom")],
    ]
    front["size_categories"] = [size_category(facts.records)]
    front["configs"] = [
        {"config_name": "default", "data_files": [{"split": "train", "path": facts.data_files}]}
    ]
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {facts.card.pretty_name or facts.name}", ""]
    if facts.card.description:
        lines += [facts.card.description.strip(), ""]
    counts = facts.counts()
    version = facts.metadata.get("synthloom_version") or __version__
    lines += [f"A synthetic dataset of {counts['records']:,} records generated with synthloom {version}.", ""]
    lines += _columns_section(facts)
    lines += _models_section(facts)
    lines += _run_section(facts, counts)
    lines += _usage_section(facts)
    if facts.repo_id:
        lines += [
            "## Load",
            "",
            "```python",
            "from datasets import load_dataset",
            "",
            f'dataset = load_dataset("{facts.repo_id}", split="train")',
            "```",
            "",
        ]
    return "\n".join(lines)


def _columns_section(facts: CardFacts) -> list[str]:
    provenance = facts.provenance()
    fmt = provenance.pop("__format__", None) or facts.reshaped_by
    lines = ["## Columns", ""]
    if fmt:
        lines += [f"Records are in the `{fmt}` training format.", ""]
    lines += ["| column | type | how it was made |", "|---|---|---|"]
    for f in facts.schema:
        kind = "json (text)" if is_json_field(f) else str(f.type)
        how = provenance.get(f.name) or (f"`{fmt}` format" if fmt else "seed data")
        lines.append(f"| `{f.name}` | `{_cell(kind)}` | {_cell(how)} |")
    return [*lines, ""]


def _models_section(facts: CardFacts) -> list[str]:
    models = facts.models()
    if not models:
        return [
            "## Models",
            "",
            "No model: every column is model-free (samplers, expressions, seed data).",
            "",
        ]
    lines = ["## Models", "", "| alias | provider | model |", "|---|---|---|"]
    lines += [f"| `{_cell(a)}` | {_cell(p)} | {_cell(m)} |" for a, p, m in models]
    return [*lines, ""]


def _run_section(facts: CardFacts, counts: Mapping[str, Any]) -> list[str]:
    meta = facts.metadata
    run = facts.config.get("run") if isinstance(facts.config.get("run"), Mapping) else {}
    seed = meta.get("run_seed", (run or {}).get("seed", 0))
    lines = ["## Run", ""]
    lines.append(f"- run seed: {seed}")
    for key, label in (
        ("target_records", "target records"),
        ("committed_records", "records committed"),
        ("failed_records", "records that failed to generate (removed)"),
        ("filtered_records", "records filtered out by quality gates"),
    ):
        if counts.get(key) is not None:
            lines.append(f"- {label}: {counts[key]:,}")
    lines.append(f"- records in this dataset: {counts['records']:,}")
    for key in ("status", "created_at", "completed_at"):
        if meta.get(key):
            lines.append(f"- {key.replace('_', ' ')}: {meta[key]}")
    return [*lines, ""]


def _usage_section(facts: CardFacts) -> list[str]:
    usage = facts.usage_by_model()
    if not usage:
        return []
    lines = [
        "## Usage",
        "",
        "Paid: every request a server answered, in every session of the run (killed ones included).",
        "",
        "| model | requests | input tokens | output tokens | cost |",
        "|---|---|---|---|---|",
    ]
    for alias, u in sorted(usage.items()):
        cost = f"{u['cost']:.4f}" if u["cost"] else "-"
        lines.append(
            f"| `{_cell(alias)}` | {int(u['requests']):,} | {int(u['input_tokens']):,} | "
            f"{int(u['output_tokens']):,} | {cost} |"
        )
    for_rows = facts.usage_for_rows()
    if for_rows:
        requests = sum(int(u["requests"]) for u in for_rows.values())
        rows_cost = sum(u["cost"] for u in for_rows.values())
        lines += [
            "",
            f"Paid for the rows this dataset holds: {requests:,} requests"
            + (f", cost {rows_cost:.4f}" if rows_cost else "")
            + ".",
        ]
    return [*lines, ""]


def _summed(sources: list[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    keys = ("requests", "input_tokens", "output_tokens", "cost")
    per_model: dict[str, dict[str, float]] = {}
    for models in sources:
        for alias, figures in models.items():
            if not isinstance(figures, Mapping):
                continue
            totals = per_model.setdefault(str(alias), dict.fromkeys(keys, 0.0))
            for key in keys:
                value = figures.get(key)
                if isinstance(value, int | float):
                    totals[key] += value
    return per_model


def _describe_source(spec: Any) -> str:
    if isinstance(spec, str):
        return f"from `{spec}`"
    if not isinstance(spec, Mapping):
        return ""
    if "from" in spec:
        return f"from `{spec['from']}`"
    if "template" in spec:
        return "from a template"
    if "fields" in spec:
        return "(nested object)"
    return "(constant)"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
