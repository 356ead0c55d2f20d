"""Usage accounting: per model and per column, cost, bounded-memory percentiles."""

from __future__ import annotations

import json

import pytest

from synthloom.config.model_config import Pricing
from synthloom.models import CallUsage, UsageTracker
from synthloom.models.usage import LatencyHistogram


def test_summary_rolls_up_per_model_and_per_column_with_cost() -> None:
    tracker = UsageTracker({"gen": Pricing(input_per_million=2.0, output_per_million=10.0), "judge": None})
    tracker.record("gen", "story", CallUsage(100, 50, 0.2, 1, [200]))
    tracker.record("gen", "title", CallUsage(300, 10, 0.4, 3, [429, 503, 200]))
    tracker.record("judge", "story", CallUsage(20, 5, 0.1, 2, [None, None]), ok=False)
    summary = tracker.summary()
    json.dumps(summary)  # JSON-serialisable
    gen = summary["models"]["gen"]
    assert {k: gen[k] for k in ("requests", "failures", "rate_limited", "retries")} == {
        "requests": 2,
        "failures": 0,
        "rate_limited": 1,
        "retries": 1,
    }
    assert (gen["input_tokens"], gen["output_tokens"]) == (400, 60)
    assert gen["cost"] == pytest.approx((400 * 2.0 + 60 * 10.0) / 1e6)
    assert summary["models"]["judge"]["cost"] == 0
    assert summary["models"]["judge"]["failures"] == 1
    story = summary["columns"]["story"]
    assert (story["requests"], story["input_tokens"], story["retries"]) == (2, 120, 1)
    assert summary["columns"]["title"]["cost"] == pytest.approx((300 * 2 + 10 * 10) / 1e6)


def test_untagged_calls_count_only_per_model() -> None:
    tracker = UsageTracker()
    tracker.record("m", None, CallUsage(1, 1, 0.1, 1, [200]))
    assert tracker.summary()["columns"] == {}
    assert tracker.summary()["models"]["m"]["requests"] == 1


def test_latency_percentiles_are_within_one_percent() -> None:
    histogram = LatencyHistogram()
    for i in range(1, 10_001):
        histogram.add(i / 1000)  # 1 ms .. 10 s, uniform
    for q, exact in ((0.5, 5.0), (0.95, 9.5), (0.99, 9.9)):
        value = histogram.percentile(q)
        assert value is not None
        assert value == pytest.approx(exact, rel=0.01)


def test_latency_memory_stays_bounded_for_a_million_calls() -> None:
    histogram = LatencyHistogram()
    for i in range(1_000_000):
        histogram.add(0.05 + (i % 5000) / 1000)
    assert histogram.count == 1_000_000
    assert len(histogram._buckets) < 1000


def test_empty_summary_has_no_percentiles() -> None:
    tracker = UsageTracker()
    tracker.record("m", "c", CallUsage(0, 0, 0.0, 1, [None]), ok=False)
    assert tracker.summary()["models"]["m"]["latency_p50"] is None
