"""`SpendBudget`: a run stops cleanly once what it spent, or what it is on course to spend, passes
`run.budget`.

Checked after every commit, so that the committed rows are kept. Two figures per measure (dollars,
tokens, requests sent to a server — cached answers are free and not counted):

- *spent*: everything every earlier session paid (`metadata.json` `usage_paid`, folded from the spend
  journal, killed sessions included) plus everything this session has
  spent so far, committed or still in flight;
- *projected*: the spend of the committed row groups per committed record, times the records the run
  is to hold. Projected from committed groups only, so groups still in flight (partly paid, not yet
  counted as records) do not inflate it.

The run stops when either passes a limit; `BudgetExceededError` says both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from synthloom.config.dataset import DatasetConfig
from synthloom.config.run_config import BudgetConfig
from synthloom.errors import BudgetExceededError, ConfigError

__all__ = ["SpendBudget", "budget_reach", "check_budget_pricing", "spend_of"]

_UNITS = {"usd": "$", "tokens": " tokens", "requests": " requests"}


def spend_of(usage: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Dollars, tokens and requests sent, summed over per-model usage entries."""
    total = {"usd": 0.0, "tokens": 0.0, "requests": 0.0}
    for entry in usage:
        total["usd"] += float(entry.get("cost", 0.0))
        total["tokens"] += float(entry.get("input_tokens", 0)) + float(entry.get("output_tokens", 0))
        total["requests"] += float(entry.get("requests", 0)) - float(entry.get("cached", 0))
    return total


def check_budget_pricing(config: DatasetConfig, aliases: Iterable[str]) -> None:
    """A budget in dollars needs every model it counts to have `pricing`: else a `ConfigError` naming
    the model."""
    budget = config.run.budget
    if budget is None or budget.usd is None:
        return
    for model in config.models:
        if model.alias in set(aliases) and model.pricing is None:
            raise ConfigError(
                "run.budget.usd counts dollars, and this model has no `pricing` "
                "(add pricing: {input_per_million: ..., output_per_million: ...}, "
                "or budget tokens or requests)",
                source=config.source,
                model=model.alias,
                field="pricing",
            )


def budget_reach(budget: BudgetConfig, usage: Mapping[str, Mapping[str, Any]], records: int) -> list[str]:
    """From a preview's spend on `records` records (answers from the cache cost nothing and are not
    counted): for each limit, the run size past which the budget would be passed."""
    if records <= 0:
        return []
    spend = spend_of(usage.values())
    out = []
    for measure, limit in budget.limits().items():
        per_record = spend[measure] / records
        if per_record > 0:
            reach = int(limit / per_record)
            out.append(
                f"at this preview's {_amount(measure, per_record)} a record, a run of more than "
                f"{reach:,} records passes run.budget.{measure} ({_amount(measure, limit)})"
            )
    return out


class SpendBudget:
    """The limits of `budget` for a run to hold `target_records`, on top of `earlier` sessions' spend
    (metadata.json `usage_paid`, per model)."""

    def __init__(
        self, budget: BudgetConfig, *, target_records: int, earlier: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.limits = budget.limits()
        self.target_records = target_records
        self.earlier = spend_of(earlier.values())

    def check(
        self,
        *,
        session_usage: Mapping[str, Mapping[str, Any]],
        committed_usage: Iterable[Mapping[str, Any]],
        committed_records: int,
    ) -> None:
        """Raise `BudgetExceededError` when the spend or the projection passes a limit.
        `session_usage`: this session's spend so far per model (in flight included);
        `committed_usage`: each committed row group's per-model spend, every session's."""
        now = spend_of(session_usage.values())
        spent = {k: self.earlier[k] + now[k] for k in self.earlier}
        committed = spend_of(entry for group in committed_usage for entry in group.values())
        projected = dict(spent)
        if committed_records > 0:
            scale = self.target_records / committed_records
            projected = {k: max(spent[k], committed[k] * scale) for k in committed}
        over = [k for k, limit in self.limits.items() if spent[k] > limit or projected[k] > limit]
        if not over:
            return
        parts = [
            f"{_amount(k, spent[k])} spent, {_amount(k, projected[k])} projected for "
            f"{self.target_records} records, budget {_amount(k, self.limits[k])}"
            for k in over
        ]
        raise BudgetExceededError(
            "run.budget passed: "
            + "; ".join(parts)
            + f". The {committed_records} committed records are kept; raise run.budget to continue "
            "(a resume counts what was spent so far)",
            spent=spent,
            projected=projected,
        )


def _amount(measure: str, value: float) -> str:
    if measure == "usd":
        return f"${value:,.4f}"
    return f"{value:,.0f}{_UNITS[measure]}"
