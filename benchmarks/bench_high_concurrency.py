"""Thousands in flight: one `llm-text` column against a large, slow server, beside a plain client.

    8,000 records, a simulated server of capacity 2,000 (429 beyond), latency 4 s +- 10 %,
    max_parallel_requests 4,000. The server-bound limit is 8,000 / 2,000 x 4 s = 16 s.

Scenarios:
  synthloom   `synthloom.create` on the config: wall time, 429 share, time from the first request to the
              peak in flight (the server's own clock).
  plain       a plain aiohttp script with a fixed semaphore of 2,000 (it knows the capacity; synthloom
              does not): the same requests, the same server, in the same run.

    python benchmarks/bench_high_concurrency.py            # both, then the ratio
Each reports its own CPU seconds (and per request) and the simulated server's.
Results go to benchmarks/results/high_concurrency.json and RESULTS.md ("Thousands in flight").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import psutil
from harness import run_scenarios, scratch, server_stats

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

CAPACITY = 2000
LATENCY = 4.0
SERVER = SimulatedEndpointConfig(latency=LATENCY, jitter=0.1, capacity=CAPACITY)


def _limit(records: int) -> float:
    return records / CAPACITY * LATENCY


def _config(base_url: str) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "wide",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "base_url": base_url,
                    "model": "sim",
                    "max_parallel_requests": 4000,
                    "timeout": 60,
                }
            ],
            "columns": [
                {"name": "topic", "type": "sampler", "sampler": "uuid"},
                {"name": "text", "type": "llm-text", "model": "m", "prompt": "Write about {{ topic }}."},
            ],
            # Enough row groups in flight to keep 4,000 requests waiting at the limiter.
            "run": {"buffer_size": 1000, "max_row_groups_in_flight": 8},
        }
    )


def _children_cpu() -> float:
    """CPU seconds used so far by this process's children (the simulated endpoint)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _figures(
    records: int, wall: float, client_cpu: float, server_cpu: float, stats: dict[str, Any]
) -> dict[str, Any]:
    requests = max(1, stats["requests"])
    return {
        "wall_s": round(wall, 2),
        "limit_s": _limit(records),
        "ratio_to_limit": round(_limit(records) / wall, 3),
        "server_requests": stats["requests"],
        "rate_limited": stats["rate_limited"],
        "share_429": round(stats["rate_limited"] / requests, 4),
        "peak_in_flight": stats["peak_in_flight"],
        # From the first request to the peak in flight, in round trips of the 4 s latency.
        "to_peak_s": stats.get("to_peak_s"),
        "round_trips_to_peak": round(stats["to_peak_s"] / LATENCY, 2) if stats.get("to_peak_s") else None,
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_s": round(server_cpu, 2),
        "client_cpu_ms_per_request": round(client_cpu / requests * 1000, 3),
    }


def synthloom_run(records: int) -> dict[str, Any]:
    with subprocess_endpoint(SERVER) as base_url:
        out = scratch("bench-wide-")
        server0 = _children_cpu()
        started = time.perf_counter()
        cpu0 = time.process_time()
        result = synthloom.create(_config(base_url), records, out, resume="never")
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        server_cpu = _children_cpu() - server0
        stats = server_stats(base_url)
    return {"records": len(result.to_arrow()), **_figures(records, wall, cpu, server_cpu, stats)}


async def _plain(base_url: str, records: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(CAPACITY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            body = {"model": "sim", "messages": [{"role": "user", "content": f"Write about {i}."}]}
            async with gate:
                while True:
                    async with session.post(f"{base_url}/chat/completions", json=body) as reply:
                        await reply.read()
                        if reply.status != 429:
                            return

        started = time.perf_counter()
        cpu0 = time.process_time()
        await asyncio.gather(*(one(i) for i in range(records)))
        return time.perf_counter() - started, time.process_time() - cpu0


def plain(records: int) -> dict[str, Any]:
    with subprocess_endpoint(SERVER) as base_url:
        server0 = _children_cpu()
        wall, cpu = asyncio.run(_plain(base_url, records))
        server_cpu = _children_cpu() - server0
        stats = server_stats(base_url)
    return _figures(records, wall, cpu, server_cpu, stats)


if __name__ == "__main__":
    run_scenarios(__doc__, {"synthloom": (synthloom_run, 8000), "plain": (plain, 8000)}, "high_concurrency")
