"""Flow benchmarks against the simulated endpoint (in its own process).

Scenarios:
  conversation  a 4-turn `conversation` column (8 sequential calls per record) over 500 records; server
                capacity 32 with 429 beyond, latency 0.5 s +- 30 %: wall time against the server-bound
                limit 4,000 x 0.5 / 32 = 62.5 s (target: at most 1.05 x).
  refine        a `refine` column (generate, judge, revise, up to 3 drafts) whose judge accepts at a
                scripted rate of 0.4, same server, 400 records: wall time against the bound of the calls
                it actually made (requests x 0.5 / 32).
  memory        10-turn conversations (20 calls per record) over 50,000 records at latency 0: peak RSS
                at a quarter, half and all of the records committed (it should stay flat).

    python benchmarks/bench_flows.py conversation
    python benchmarks/bench_flows.py refine --records 200
Results go to benchmarks/results/flows.json.
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
LATENCY = 0.5
CAPACITY = 32


def _model(alias: str, base_url: str, max_parallel: int) -> dict[str, Any]:
    return {
        "alias": alias,
        "provider": "openai",
        "base_url": base_url,
        "model": "sim",
        "max_parallel_requests": max_parallel,
        "timeout": 30,
    }


def conversation_config(base_url: str, *, turns: int, buffer_size: int, max_parallel: int) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "conversations",
            "models": [_model("user_sim", base_url, max_parallel), _model("bot", base_url, max_parallel)],
            "columns": [
                {"name": "id", "type": "sampler", "sampler": "uuid"},
                {
                    "name": "persona",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["a student", "a chef", "a pilot", "a nurse"]},
                },
                {
                    "name": "chat",
                    "type": "conversation",
                    "user": {
                        "model": "user_sim",
                        "persona": "{{ persona }}",
                        "prompt": "Ask about {{ id }}.",
                    },
                    "assistant": {"model": "bot", "system_prompt": "You are a helpful assistant."},
                    "turns": turns,
                },
            ],
            "run": {"buffer_size": buffer_size, "max_row_groups_in_flight": 4},
        }
    )


def refine_config(base_url: str, *, max_parallel: int) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "refine",
            "models": [_model("writer", base_url, max_parallel), _model("critic", base_url, max_parallel)],
            "columns": [
                {"name": "topic", "type": "sampler", "sampler": "uuid"},
                {
                    "name": "answer",
                    "type": "refine",
                    "generate": {"model": "writer", "prompt": "Explain {{ topic }}."},
                    "judge": {
                        "model": "critic",
                        "scores": [
                            {
                                "name": "quality",
                                "description": "How good is it?",
                                "options": {1: "poor", 2: "fair", 3: "good"},
                            }
                        ],
                    },
                    "threshold": {"score": "quality", "min": 3},
                    "max_iterations": 3,
                },
            ],
            "run": {"buffer_size": 100, "max_row_groups_in_flight": 4},
        }
    )


def _run(config: DatasetConfig, records: int, out: str | None = None) -> tuple[float, float, Any]:
    out = out or scratch(prefix="bench-flows-")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = synthloom.create(config, records, out, resume="never")
    return time.perf_counter() - t0, time.process_time() - cpu0, result


def _bound_report(wall: float, cpu: float, records: int, stats: dict[str, Any], calls: int) -> dict[str, Any]:
    bound = calls * LATENCY / CAPACITY
    return {
        "records": records,
        "llm_calls": calls,
        "wall_s": round(wall, 2),
        "server_bound_s": round(bound, 2),
        "ratio_to_bound": round(wall / bound, 3),
        "server_requests": stats.get("requests"),
        "rate_limited_429": stats.get("rate_limited"),
        "share_429": round((stats.get("rate_limited") or 0) / max(1, stats.get("requests") or 1), 4),
        "peak_in_flight": stats.get("peak_in_flight"),
        "median_in_flight": stats.get("median_in_flight"),
        "client_cpu_s": round(cpu, 2),
    }


def conversation(records: int) -> dict[str, Any]:
    server = SimulatedEndpointConfig(latency=LATENCY, jitter=0.3, capacity=CAPACITY, seed=1)
    with subprocess_endpoint(server) as base_url:
        config = conversation_config(base_url, turns=4, buffer_size=100, max_parallel=128)
        wall, cpu, result = _run(config, records)
        stats = server_stats(base_url)
    rows = list(result)
    assert all(len(r["chat"]) == 9 for r in rows), "every conversation has a system prompt and 8 turns"
    return {"turns": 4, **_bound_report(wall, cpu, len(rows), stats, records * 8)}


def refine(records: int) -> dict[str, Any]:
    server = SimulatedEndpointConfig(latency=LATENCY, jitter=0.3, capacity=CAPACITY, seed=2, accept_rate=0.4)
    with subprocess_endpoint(server) as base_url:
        wall, cpu, result = _run(refine_config(base_url, max_parallel=128), records)
        stats = server_stats(base_url)
    usage = result.usage["columns"]
    calls = sum(
        usage[f"answer.{node}"]["requests"]
        for node in ("generate", "judge", "revise")
        if f"answer.{node}" in usage
    )
    iterations = [r["answer"]["iterations"] for r in result]
    report = _bound_report(wall, cpu, len(iterations), stats, calls)
    report["mean_iterations"] = round(sum(iterations) / max(1, len(iterations)), 2)
    return report


def memory(records: int) -> dict[str, Any]:
    marks = [m for m in (records // 4, records // 2, records) if m]
    seen: dict[int, float] = {}
    peak = [0]
    process = psutil.Process()
    stop = threading.Event()
    out = Path(scratch(prefix="bench-flows-mem-"))

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            try:
                meta = json.loads((out / "conversations" / "metadata.json").read_text())
                committed = meta.get("committed_records", 0)
            except (OSError, ValueError):
                committed = 0
            for m in marks:
                if committed >= m and m not in seen:
                    seen[m] = round(peak[0] / 2**20, 1)
            stop.wait(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        watcher.start()
        config = conversation_config(base_url, turns=10, buffer_size=500, max_parallel=256)
        wall, _, result = _run(config, records, str(out))
        stop.set()
        watcher.join()
    seen.setdefault(records, round(peak[0] / 2**20, 1))
    return {
        "records": len(result),
        "llm_calls": records * 20,
        "wall_s": round(wall, 1),
        "peak_rss_mb_at": {str(k): v for k, v in sorted(seen.items())},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


SCENARIOS = {
    "conversation": (conversation, 500),
    "refine": (refine, 400),
    "memory": (memory, 50_000),
}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "flows")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
