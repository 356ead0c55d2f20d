"""A run's *projection* (`synthloom plan`): which columns will send requests, how many per model, and
the tokens and dollars they should cost — worked out before any request is sent.

Against an earlier run (`--against RUN`), a column is requested again only when its own config or its
model's changed, or when it reads a column that is requested again; every other cell of the records the
run holds is answered by the response cache. Tokens and requests per cell come from that run's
usage.json (measured); without one, a model-backed cell is counted as one request of unknown tokens.
Dollars come from each model's `pricing` (at the batch price for a model with `batch:`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from synthloom.config.dataset import DatasetConfig
from synthloom.engine.spend_budget import spend_of
from synthloom.errors import RunStateError
from synthloom.plan import Plan
from synthloom.store.fingerprint import fingerprint_view
from synthloom.store.run_directory import RunDirectory

__all__ = ["ColumnProjection", "Projection", "project"]


@dataclass
class ColumnProjection:
    """One model-backed column: why it is requested, and what that should cost."""

    name: str
    models: list[str]
    #: `all` (no earlier run), `changed`, `reads <column>`, `new`, or `cached` (nothing new to ask).
    reason: str
    #: Cells that go to a server (the rest come from the cache).
    cells: int
    requests_per_cell: float
    #: Measured per request sent, from the earlier run (None: unknown).
    input_tokens_per_request: float | None
    output_tokens_per_request: float | None
    requests: float = 0.0
    input_tokens: float | None = None
    output_tokens: float | None = None


@dataclass
class Projection:
    records: int
    against: str | None
    columns: list[ColumnProjection] = field(default_factory=list)
    #: Per model alias: requests, input and output tokens (None: unknown) and dollars (None: no pricing).
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Lines saying how the projection passes `run.budget`.
    budget_warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def project(
    config: DatasetConfig, plan: Plan, num_records: int, *, against: Path | None = None
) -> Projection:
    """The projection of a run of `num_records` records of `config` (checked into `plan`)."""
    old_view: dict[str, Any] | None = None
    measured: dict[str, Any] = {}
    held = 0
    if against is not None:
        old_view, measured, held = _earlier_run(against)
    requested = _requested_columns(config, plan, old_view)
    projection = Projection(records=num_records, against=str(against) if against else None)
    pricing = {m.alias: m.pricing for m in config.models}
    batched = {m.alias for m in config.models if m.batch is not None}
    for col in plan.columns:
        aliases = sorted(set(col.config.model_aliases().values()))
        if not aliases:
            continue
        reason = requested.get(col.name, "cached")
        # Cells of records the earlier run does not hold are new requests whatever changed.
        cells = num_records if reason != "cached" else max(0, num_records - held)
        use = measured.get(col.name, {})
        done = int(use.get("cells_done", 0)) + int(use.get("cells_failed", 0))
        per_cell = float(use["requests"]) / done if done and use.get("requests") else 1.0
        sent = int(use.get("requests", 0)) - int(use.get("cached", 0))
        tokens_in = float(use["input_tokens"]) / sent if sent > 0 else None
        tokens_out = float(use["output_tokens"]) / sent if sent > 0 else None
        entry = ColumnProjection(col.name, aliases, reason, cells, round(per_cell, 3), tokens_in, tokens_out)
        entry.requests = cells * per_cell
        entry.input_tokens = None if tokens_in is None else entry.requests * tokens_in
        entry.output_tokens = None if tokens_out is None else entry.requests * tokens_out
        projection.columns.append(entry)
        for alias in aliases:  # a column of several models: its requests shared evenly
            share = 1 / len(aliases)
            totals = projection.models.setdefault(
                alias, {"requests": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}
            )
            totals["requests"] += entry.requests * share
            for key in ("input_tokens", "output_tokens"):
                value = getattr(entry, key)
                totals[key] = None if value is None or totals[key] is None else totals[key] + value * share
    for alias, totals in projection.models.items():
        price = pricing.get(alias)
        known = totals["input_tokens"] is not None and totals["output_tokens"] is not None
        totals["cost"] = None
        if price is not None and known:
            dollars = totals["input_tokens"] * price.input_per_million
            dollars += totals["output_tokens"] * price.output_per_million
            # A model with `batch:` sends its chat requests at the batch price.
            discount = price.batch_discount if alias in batched else 0.0
            totals["cost"] = dollars * (1 - discount) / 1_000_000
    projection.budget_warnings = _budget_warnings(config, projection)
    return projection


def _earlier_run(path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The earlier run's fingerprint view, its per-column usage and the records it holds."""
    directory = RunDirectory(path)
    meta = directory.read_metadata()
    if meta is None:
        raise RunStateError(f"--against {path}: no run there (metadata.json is missing)")
    usage: dict[str, Any] = {}
    if directory.usage_path.exists():
        usage = orjson.loads(directory.usage_path.read_bytes()).get("columns", {})
    return meta.get("fingerprint_view", {}), usage, int(meta.get("committed_records", 0))


def _requested_columns(config: DatasetConfig, plan: Plan, old: dict[str, Any] | None) -> dict[str, str]:
    """Column -> why its cells go to a server (columns answered by the cache are left out)."""
    names = [c.name for c in plan.columns]
    if old is None:
        return dict.fromkeys(names, "all")
    new = fingerprint_view(config)
    if any(old.get(k) != new.get(k) for k in ("seed", "run")):
        return dict.fromkeys(names, "changed (seed data or run seed)")
    old_columns = {c.get("name"): c for c in old.get("columns") or []}
    new_columns = {c.get("name"): c for c in new.get("columns") or []}
    old_models = {m.get("alias"): m for m in old.get("models") or []}
    new_models = {m.get("alias"): m for m in new.get("models") or []}
    reasons: dict[str, str] = {}
    for col in plan.columns:
        aliases = set(col.config.model_aliases().values())
        if col.name not in old_columns:
            reasons[col.name] = "new"
        elif old_columns[col.name] != new_columns.get(col.name):
            reasons[col.name] = "changed"
        elif any(old_models.get(a) != new_models.get(a) for a in aliases):
            reasons[col.name] = "model changed"
    for col in plan.columns:  # in order: a column's inputs are decided before it
        if col.name not in reasons:
            source = next((d for d in sorted(col.depends_on) if d in reasons), None)
            if source is not None:
                reasons[col.name] = f"reads {source}"
    return reasons


def _budget_warnings(config: DatasetConfig, projection: Projection) -> list[str]:
    budget = config.run.budget
    if budget is None:
        return []
    models = projection.models.values()
    spend = spend_of(
        {
            "cost": m["cost"] or 0.0,
            "input_tokens": m["input_tokens"] or 0,
            "output_tokens": m["output_tokens"] or 0,
            "requests": m["requests"],
        }
        for m in models
    )
    out = []
    for measure, limit in budget.limits().items():
        if spend[measure] > limit:
            out.append(f"projected {measure} {spend[measure]:,.4g} passes run.budget.{measure} {limit:,.4g}")
    return out
