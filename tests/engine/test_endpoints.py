"""One model alias over several simulated endpoints: the work is shared, a stopped endpoint is routed
around, usage is reported per endpoint, and a run resumes with a replica added."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig


def replicated(urls: list[str], **run: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "replicated",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "model": "sim",
                    "endpoints": [{"url": url, "max_parallel_requests": 8} for url in urls],
                    "timeout": 5,
                }
            ],
            "columns": [
                {"name": "topic", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
                {"name": "summary", "type": "llm-text", "model": "m", "prompt": "Summarise {{ topic }}."},
                {"name": "analysis", "type": "llm-text", "model": "m", "prompt": "Analyse: {{ summary }}"},
            ],
            "run": {"buffer_size": 20, **run},
        }
    )


async def test_two_endpoints_share_the_work_and_usage_reports_each(tmp_path: Path) -> None:
    config = SimulatedEndpointConfig(latency=0.005)
    async with SimulatedEndpoint(config) as a, SimulatedEndpoint(config) as b:
        result = await synthloom.acreate(replicated([a.base_url, b.base_url]), 60, tmp_path)
        served = {a.base_url: a.stats()["requests"], b.base_url: b.stats()["requests"]}
    assert len(result) == 60
    assert sum(served.values()) == 120
    assert min(served.values()) >= 30  # both took a real share
    usage = json.loads((tmp_path / "replicated" / "usage.json").read_text())
    per_endpoint = usage["endpoints"]["m"]
    assert {url: figures["answered"] for url, figures in per_endpoint.items()} == served
    assert all(figures["state"] == "healthy" for figures in per_endpoint.values())
    assert usage["models"]["m"]["requests"] == 120


async def test_the_run_completes_on_the_other_endpoint_when_one_stops_mid_run(tmp_path: Path) -> None:
    config = SimulatedEndpointConfig(latency=0.01)
    a = SimulatedEndpoint(config)
    b = SimulatedEndpoint(config)
    original = b._chat
    stopping: list[asyncio.Task[None]] = []

    async def stop_after_some(request: Any) -> Any:
        if b.stats()["requests"] == 15 and not stopping:
            stopping.append(asyncio.ensure_future(b.stop()))  # the server goes away mid-run
        return await original(request)

    b._chat = stop_after_some  # type: ignore[method-assign]  # before start: the route binds it
    async with a, b:
        result = await synthloom.acreate(replicated([a.base_url, b.base_url]), 100, tmp_path)
        served_by_a = a.stats()["requests"]
        await asyncio.gather(*stopping)
    assert len(result) == 100
    assert result.metadata["status"] == "completed"
    # b answers at most its first 15 and the 7 others its ceiling of 8 let be in flight as it stopped
    # (how many of those it finishes depends on timing); a answers everything else.
    assert served_by_a >= 200 - 15 - 7
    per_endpoint = result.usage["endpoints"]["m"]
    assert per_endpoint[b.base_url]["ejections"] >= 1
    assert per_endpoint[b.base_url]["state"] == "out"
    assert per_endpoint[a.base_url]["state"] == "healthy"


async def test_a_run_resumes_with_a_replica_added(tmp_path: Path) -> None:
    async with SimulatedEndpoint() as a, SimulatedEndpoint() as b:
        first = await synthloom.acreate(replicated([a.base_url]), 20, tmp_path)
        assert len(first) == 20 and b.stats()["requests"] == 0
        resumed = await synthloom.acreate(replicated([a.base_url, b.base_url]), 60, tmp_path, resume="always")
        assert len(resumed) == 60
        assert b.stats()["requests"] > 0
    assert resumed.metadata["fingerprint"] == first.metadata["fingerprint"]
