"""Engine benchmarks on the "diamond" workload against the simulated endpoint (in its own process).

    topic    = category sampler
    summary  = llm-text from topic
    trivia   = llm-text from topic
    analysis = llm-text from summary

Scenarios:
  capacity       capacity 32 with 429 beyond, latency 0.5 s +- 30 %, max_parallel_requests 128, 1,000
                 records: wall time against the server-bound limit 3,000 x 0.5 / 32 = 46.9 s.
  orchestration  latency 0, no capacity limit, 2,000 records: LLM cells per second and CPU per cell.
  two_models     a writer (0.2 s) feeding a judge (0.4 s), each capacity 16: total time against the
                 slower model alone (the sum of both would be 1.5 times that).
  memory         latency 0, 200,000 records: peak RSS at 50k, 100k and 200k committed records.

    python benchmarks/bench_engine.py                 # all three
    python benchmarks/bench_engine.py capacity --records 200
Results go to benchmarks/results/engine.json and the "Engine" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import json
import resource
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from harness import run_scenarios, scratch, server_stats

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

HERE = Path(__file__).parent


def diamond(base_url: str, *, buffer_size: int, max_parallel: int, in_flight: int = 4) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "diamond",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "base_url": base_url,
                    "model": "sim",
                    "max_parallel_requests": max_parallel,
                    "timeout": 30,
                }
            ],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["history", "science", "art", "sport", "music"]},
                },
                {"name": "summary", "type": "llm-text", "model": "m", "prompt": "Summarise {{ topic }}."},
                {"name": "trivia", "type": "llm-text", "model": "m", "prompt": "Trivia about {{ topic }}."},
                {"name": "analysis", "type": "llm-text", "model": "m", "prompt": "Analyse: {{ summary }}"},
            ],
            "run": {"buffer_size": buffer_size, "max_row_groups_in_flight": in_flight},
        }
    )


def _run(config: DatasetConfig, records: int) -> tuple[float, float, synthloom.DatasetResult]:
    out = scratch(prefix="bench-engine-")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = synthloom.create(config, records, out, resume="never")
    return time.perf_counter() - t0, time.process_time() - cpu0, result


def capacity(records: int) -> dict[str, Any]:
    server = SimulatedEndpointConfig(latency=0.5, jitter=0.3, capacity=32, seed=1)
    with subprocess_endpoint(server) as base_url:
        wall, cpu, result = _run(diamond(base_url, buffer_size=100, max_parallel=128), records)
        stats = server_stats(base_url)
    requests = records * 3
    bound = requests * 0.5 / 32
    return {
        "records": len(result),
        "llm_requests": requests,
        "wall_s": round(wall, 2),
        "server_bound_s": round(bound, 2),
        "ratio_to_bound": round(wall / bound, 3),
        "server_requests": stats.get("requests"),
        "rate_limited_429": stats.get("rate_limited"),
        "share_429": round((stats.get("rate_limited") or 0) / max(1, stats.get("requests") or 1), 4),
        "peak_in_flight": stats.get("peak_in_flight"),
        "client_cpu_s": round(cpu, 2),
    }


def orchestration(records: int) -> dict[str, Any]:
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        wall, cpu, result = _run(diamond(base_url, buffer_size=500, max_parallel=256), records)
    cells = records * 3
    return {
        "records": len(result),
        "llm_cells": cells,
        "wall_s": round(wall, 2),
        "cells_per_s": round(cells / wall, 1),
        "client_cpu_s": round(cpu, 2),
        "client_cpu_ms_per_cell": round(cpu / cells * 1000, 3),
    }


def two_models(records: int) -> dict[str, Any]:
    """A writer (0.2 s, capacity 16) feeding a judge (0.4 s, capacity 16), each on its own server:
    the judge alone needs records x 0.4 / 16 s, the two in sequence would need 1.5 times that."""
    writer_cfg = SimulatedEndpointConfig(latency=0.2, jitter=0.2, capacity=16, seed=2)
    judge_cfg = SimulatedEndpointConfig(latency=0.4, jitter=0.2, capacity=16, seed=3)
    with subprocess_endpoint(writer_cfg) as writer, subprocess_endpoint(judge_cfg) as judge:
        config = DatasetConfig.model_validate(
            {
                "name": "two-models",
                "models": [
                    {
                        "alias": "writer",
                        "provider": "openai",
                        "base_url": writer,
                        "model": "w",
                        "max_parallel_requests": 64,
                    },
                    {
                        "alias": "judge",
                        "provider": "openai",
                        "base_url": judge,
                        "model": "j",
                        "max_parallel_requests": 64,
                    },
                ],
                "columns": [
                    {
                        "name": "topic",
                        "type": "sampler",
                        "sampler": "category",
                        "params": {"values": ["a", "b"]},
                    },
                    {
                        "name": "text",
                        "type": "llm-text",
                        "model": "writer",
                        "prompt": "Write about {{ topic }}",
                    },
                    {"name": "grade", "type": "llm-text", "model": "judge", "prompt": "Grade: {{ text }}"},
                ],
                "run": {"buffer_size": 100},
            }
        )
        wall, cpu, result = _run(config, records)
    writer_bound = records * 0.2 / 16
    judge_bound = records * 0.4 / 16
    return {
        "records": len(result),
        "wall_s": round(wall, 2),
        "writer_alone_s": round(writer_bound, 2),
        "judge_alone_s": round(judge_bound, 2),
        "sum_of_both_s": round(writer_bound + judge_bound, 2),
        "ratio_to_slowest": round(wall / judge_bound, 3),
        "client_cpu_s": round(cpu, 2),
    }


def memory(records: int) -> dict[str, Any]:
    marks = [m for m in (records // 4, records // 2, records) if m]
    seen: dict[int, float] = {}
    peak = [0]
    process = psutil.Process()
    stop = threading.Event()
    out = Path(scratch(prefix="bench-engine-mem-"))

    def sample() -> None:
        while not stop.is_set():
            rss = process.memory_info().rss
            peak[0] = max(peak[0], rss)
            try:
                committed = json.loads((out / "diamond" / "metadata.json").read_text()).get(
                    "committed_records", 0
                )
            except (OSError, ValueError):
                committed = 0
            for m in marks:
                if committed >= m and m not in seen:
                    seen[m] = round(peak[0] / 2**20, 1)
            stop.wait(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        watcher.start()
        t0 = time.perf_counter()
        result = synthloom.create(diamond(base_url, buffer_size=1000, max_parallel=256), records, out)
        wall = time.perf_counter() - t0
        stop.set()
        watcher.join()
    seen.setdefault(records, round(peak[0] / 2**20, 1))
    return {
        "records": len(result),
        "wall_s": round(wall, 1),
        "peak_rss_mb_at": {str(k): v for k, v in sorted(seen.items())},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


SCENARIOS = {
    "capacity": (capacity, 1000),
    "orchestration": (orchestration, 2000),
    "two_models": (two_models, 1000),
    "memory": (memory, 200_000),
}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "engine")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
