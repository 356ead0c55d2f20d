"""Usage accounting per model alias and per column, in bounded memory for millions of calls."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthloom.config.model_config import Pricing
from synthloom.models.results import CallUsage
from synthloom.models.spend_journal import SpendJournal

__all__ = ["LatencyHistogram", "UsageTotals", "UsageTracker"]


class LatencyHistogram:
    """Latencies in logarithmic buckets 1 % wide: percentiles within 1 %, memory a few hundred ints."""

    _GROWTH = 1.01
    _FLOOR = 1e-4  # 0.1 ms: everything faster shares the first bucket

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self.count = 0

    def add(self, seconds: float) -> None:
        index = 0 if seconds <= self._FLOOR else int(math.log(seconds / self._FLOOR, self._GROWTH)) + 1
        self._buckets[index] = self._buckets.get(index, 0) + 1
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The latency below which a fraction `q` of the samples fall (bucket midpoint)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                if index == 0:
                    return self._FLOOR
                low = self._FLOOR * self._GROWTH ** (index - 1)
                return low * (1 + self._GROWTH) / 2
        return None  # pragma: no cover - rank <= count


@dataclass(slots=True)
class UsageTotals:
    """Running totals for one model alias or one column."""

    requests: int = 0
    #: Requests answered without a server (a response cache): counted, not paid for.
    cached: int = 0
    #: Requests sent through a provider's batch API (paid at the batch price).
    batched: int = 0
    failures: int = 0
    rate_limited: int = 0
    retries: int = 0
    server_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(
        self, usage: CallUsage, *, ok: bool, cost: float, cached: bool = False, batched: bool = False
    ) -> None:
        self.requests += 1
        if cached:
            self.cached += 1
            return
        self.batched += 1 if batched else 0
        self.failures += 0 if ok else 1
        self.rate_limited += usage.rate_limited
        self.retries += usage.retries
        self.server_errors += usage.server_errors
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost += cost
        if ok:
            self.latency.add(usage.latency_s)

    def as_dict(self) -> dict[str, Any]:
        def pct(q: float) -> float | None:
            value = self.latency.percentile(q)
            return None if value is None else round(value, 4)

        return {
            "requests": self.requests,
            "cached": self.cached,
            "batched": self.batched,
            "failures": self.failures,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "server_errors": self.server_errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_p50": pct(0.50),
            "latency_p95": pct(0.95),
            "latency_p99": pct(0.99),
            "cost": round(self.cost, 6),
        }


def cost_of(usage: CallUsage, pricing: Pricing | None, *, batched: bool = False) -> float:
    """What `usage` costs at `pricing`; a batched request at the batch price."""
    if pricing is None:
        return 0.0
    cost = (
        usage.input_tokens * pricing.input_per_million + usage.output_tokens * pricing.output_per_million
    ) / 1_000_000
    return cost * (1 - pricing.batch_discount) if batched else cost


class UsageTracker:
    """Rolls every model exchange up per model alias and per tag (the column name)."""

    def __init__(
        self, pricing: dict[str, Pricing | None] | None = None, *, journal: SpendJournal | None = None
    ) -> None:
        self._pricing = dict(pricing or {})
        #: Where every exchange is also appended as it ends (the run's `spend.jsonl`), or None.
        self.journal = journal
        self._models: dict[str, UsageTotals] = {}
        self._columns: dict[str, UsageTotals] = {}
        self._scopes: dict[int, dict[str, UsageTotals]] = {}
        self._reports: dict[str, dict[str, Callable[[], dict[str, Any]]]] = {}
        #: Per alias, failed attempts as they happen (an exchange still being retried included): what
        #: the live display shows, where `record` only counts an exchange once it has ended.
        self._live: dict[str, dict[str, int]] = {}

    def attempt_failed(self, alias: str, status: int | None, *, retried: bool) -> None:
        """Count one failed attempt of `alias` now: a 5xx answer, and whether it will be retried."""
        live = self._live.setdefault(alias, {"server_errors": 0, "retries": 0})
        if status is not None and status >= 500:
            live["server_errors"] += 1
        if retried and status != 429:
            live["retries"] += 1

    def live(self) -> dict[str, dict[str, int]]:
        """Per alias, 5xx answers and retries counted as they happen."""
        return {alias: dict(counts) for alias, counts in self._live.items()}

    def add_report(self, section: str, key: str, report: Callable[[], dict[str, Any]]) -> None:
        """Include `report()` in `summary()` as `[section][key]`, read when the summary is made (the
        per-endpoint figures of an alias served by several endpoints: section "endpoints")."""
        self._reports.setdefault(section, {})[key] = report

    def set_pricing(self, alias: str, pricing: Pricing | None) -> None:
        self._pricing[alias] = pricing

    def record(
        self,
        alias: str,
        tag: str | None,
        usage: CallUsage,
        *,
        ok: bool = True,
        row_group: int | None = None,
        cached: bool = False,
        batched: bool = False,
    ) -> None:
        """Count one exchange (one request and its retries) for its model, its column (`tag`) and its
        row group (committed with the group: `take_scope`). Failed exchanges still cost tokens; a cached
        answer is counted apart and costs nothing; a batched one costs the batch price. With a `journal`,
        the exchange is appended to it too, so that it stays in the account if the process dies before
        its row group commits."""
        cost = 0.0 if cached else cost_of(usage, self._pricing.get(alias), batched=batched)
        if self.journal is not None:
            self.journal.add(alias, tag, usage, ok=ok, cached=cached, cost=cost, row_group=row_group)

        def add(totals: UsageTotals) -> None:
            totals.add(usage, ok=ok, cost=cost, cached=cached, batched=batched)

        add(self._models.setdefault(alias, UsageTotals()))
        if tag is not None:
            add(self._columns.setdefault(tag, UsageTotals()))
            if "." in tag:  # a flow node's (`<column>.<node>`): also counted for the whole column
                add(self._columns.setdefault(tag.split(".", 1)[0], UsageTotals()))
        if row_group is not None:
            add(self._scopes.setdefault(row_group, {}).setdefault(alias, UsageTotals()))

    def take_scope(self, scope: int) -> dict[str, dict[str, Any]]:
        """What was spent under `scope` (per model alias: requests, tokens, cost, 429s, retries), and
        forget it. Latency percentiles are left out: they do not add up across scopes."""
        totals = self._scopes.pop(scope, {})
        return {alias: _counts(t) for alias, t in sorted(totals.items())}

    def model(self, alias: str) -> UsageTotals:
        return self._models.setdefault(alias, UsageTotals())

    def summary(self) -> dict[str, Any]:
        """`{"models": {alias: {...}}, "columns": {tag: {...}}}` and any added report sections
        (`"endpoints": {alias: {url: {...}}}`), JSON-serialisable."""
        out: dict[str, Any] = {
            "models": {alias: totals.as_dict() for alias, totals in sorted(self._models.items())},
            "columns": {tag: totals.as_dict() for tag, totals in sorted(self._columns.items())},
        }
        for section, reports in self._reports.items():
            out[section] = {key: report() for key, report in sorted(reports.items())}
        return out


_COUNT_KEYS = (
    "requests",
    "cached",
    "batched",
    "failures",
    "rate_limited",
    "retries",
    "input_tokens",
    "output_tokens",
    "cost",
)


def _counts(totals: UsageTotals) -> dict[str, Any]:
    data = totals.as_dict()
    return {k: data[k] for k in _COUNT_KEYS}
