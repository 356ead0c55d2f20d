"""What the live display and the run summary show: an ETA from committed row groups, 5xx and retries
per model, and a flow's nodes under the flow rather than beside it."""

from __future__ import annotations

import pytest

from synthloom.interface.cli import _column_usage_lines
from synthloom.models.results import CallUsage
from synthloom.models.usage import UsageTracker
from synthloom.observers.progress import ProgressTracker, model_rows


def test_eta_waits_for_a_committed_row_group_then_uses_its_rate() -> None:
    tracker = ProgressTracker()
    tracker.start(["a", "b"], records_to_generate=30, target=30, committed=0)
    tracker.cells_finished("a", "done", 30)  # a cheap column racing ahead says nothing about b
    assert tracker.eta_seconds() is None
    tracker.row_group_committed(10, now=tracker.started + 5.0)
    assert tracker.eta_seconds() == 10.0  # 20 left at 2 records/s
    tracker.row_group_committed(20, now=tracker.started + 9.0)
    assert tracker.eta_seconds() == 0.0


def test_eta_of_a_resumed_run_counts_only_this_sessions_commits() -> None:
    tracker = ProgressTracker()
    tracker.start(["a"], records_to_generate=20, target=100, committed=80)
    assert tracker.eta_seconds() is None
    tracker.row_group_committed(10, now=tracker.started + 10.0)
    assert tracker.eta_seconds() == pytest.approx(10.0)  # 10 left at 1 record/s


def test_5xx_and_retries_per_model_reach_the_display_rows() -> None:
    usage = UsageTracker()
    usage.record("w", "col", CallUsage(attempts=3, status_codes=[503, 502, 200]))
    usage.record("w", "col", CallUsage(attempts=2, status_codes=[429, 200]))
    rows = model_rows(usage.summary()["models"], {"w": {"in_flight": 1, "limit": 4, "rate_limited": 1}})
    assert rows["w"]["server_errors"] == 2
    assert rows["w"]["retries"] == 2
    assert rows["w"]["rate_limited"] == 1


def test_a_flows_nodes_are_indented_under_the_flow_line() -> None:
    columns = {
        "chat": {"requests": 6, "output_tokens": 60, "latency_p95": 0.5},
        "chat.asker": {"requests": 3, "output_tokens": 20},
        "chat.helper": {"requests": 3, "output_tokens": 40},
        "title": {"requests": 2, "output_tokens": 5},
        "word": {"cells_failed": 0},  # sent nothing: no line
    }
    lines = _column_usage_lines(columns)
    assert [line.split(":")[0] for line in lines] == [
        "  column chat",
        "      node asker",
        "      node helper",
        "  column title",
    ]


async def test_5xx_and_retries_show_while_the_exchange_is_still_being_retried() -> None:
    import asyncio
    import contextlib

    from synthloom.config.model_config import ModelConfig
    from synthloom.models import ModelPool, RetryPolicy
    from synthloom.testing import SimulatedEndpoint

    async with SimulatedEndpoint() as endpoint:
        # A 503, then an answer that waits until the test has looked at the figures.
        endpoint.script({"status": 503}, {"text": "late", "delay": 3600})
        config = ModelConfig(alias="w", base_url=endpoint.base_url, model="m", max_retries=3)
        async with ModelPool([config], retry_policy=RetryPolicy(base_delay=0.0)) as pool:
            call = asyncio.create_task(pool.client("w").generate_text([{"role": "user", "content": "hi"}]))
            while len(endpoint.requests) < 2:  # the retry has been sent: the exchange is still open
                await asyncio.sleep(0)
            rows = model_rows(pool.usage.summary()["models"], pool.limiter_stats(), live=pool.usage.live())
            assert pool.usage.summary()["models"].get("w", {}).get("requests", 0) == 0  # nothing finished
            assert (rows["w"]["server_errors"], rows["w"]["retries"]) == (1, 1)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
