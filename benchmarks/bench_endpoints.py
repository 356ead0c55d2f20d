"""One model alias over two endpoints, on the "diamond" workload (see bench_engine.py).

    topic    = category sampler
    summary  = llm-text from topic
    trivia   = llm-text from topic
    analysis = llm-text from summary

Two simulated endpoints, each in its own process: capacity 16 with 429 beyond, latency 0.5 s +- 30 %.
The alias lists both under `endpoints:` (each `max_parallel_requests` 64: a ceiling its own adaptive
limiter finds 16 below). 1,000 records = 3,000 requests.

Scenarios:
  two_endpoints  both up: wall time against the combined server-bound limit 3,000 x 0.5 / 32 = 46.9 s;
                 target >= 0.95 of that limit's throughput (wall <= 49.3 s).
  one_stopped    the second endpoint's process is killed `--stop-after` seconds into the run: the run
                 must complete on the first; wall time against the bound for that schedule (32 slots
                 until the stop, 16 after).

    python benchmarks/bench_endpoints.py                    # both
    python benchmarks/bench_endpoints.py two_endpoints --records 200
Results go to benchmarks/results/endpoints.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness import save_results, scratch, server_stats, stamped

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

HERE = Path(__file__).parent
LATENCY = 0.5
CAPACITY = 16


def diamond(urls: list[str], *, buffer_size: int = 100, in_flight: int = 4) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "diamond-endpoints",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "model": "sim",
                    "endpoints": [{"url": url, "max_parallel_requests": 64} for url in urls],
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


def _server(seed: int) -> SimulatedEndpointConfig:
    return SimulatedEndpointConfig(latency=LATENCY, jitter=0.3, capacity=CAPACITY, seed=seed)


def _run(config: DatasetConfig, records: int) -> tuple[float, float, synthloom.DatasetResult]:
    out = scratch(prefix="bench-endpoints-")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = synthloom.create(config, records, out, resume="never")
    return time.perf_counter() - t0, time.process_time() - cpu0, result


def _per_endpoint(result: synthloom.DatasetResult) -> dict[str, dict[str, Any]]:
    keep = ("state", "answered", "rate_limited", "failures", "ejections", "probes", "limit", "peak_in_flight")
    report = result.usage.get("endpoints", {}).get("m", {})
    return {url: {k: figures.get(k) for k in keep} for url, figures in report.items()}


def two_endpoints(records: int, stop_after: float) -> dict[str, Any]:
    with subprocess_endpoint(_server(1)) as a, subprocess_endpoint(_server(2)) as b:
        wall, cpu, result = _run(diamond([a, b]), records)
        servers = {a: server_stats(a), b: server_stats(b)}
    requests = records * 3
    bound = requests * LATENCY / (2 * CAPACITY)
    server_requests = sum(s["requests"] for s in servers.values())
    rate_limited = sum(s["rate_limited"] for s in servers.values())
    return {
        "records": len(result),
        "llm_requests": requests,
        "wall_s": round(wall, 2),
        "server_bound_s": round(bound, 2),
        "share_of_bound_throughput": round(bound / wall, 3),
        "target": ">= 0.95",
        "pass": bound / wall >= 0.95,
        "server_requests": server_requests,
        "share_429": round(rate_limited / max(1, server_requests), 4),
        "servers": {
            url: {k: s[k] for k in ("requests", "rate_limited", "peak_in_flight", "median_in_flight")}
            for url, s in servers.items()
        },
        "client_endpoints": _per_endpoint(result),
        "client_cpu_s": round(cpu, 2),
    }


def one_stopped(records: int, stop_after: float) -> dict[str, Any]:
    served_at_stop: dict[str, int] = {}
    with subprocess_endpoint(_server(1)) as a, contextlib.ExitStack() as b_stack:
        b = b_stack.enter_context(subprocess_endpoint(_server(2)))

        def stop_b() -> None:
            served_at_stop.update(a=server_stats(a)["requests"], b=server_stats(b)["requests"])
            b_stack.close()  # terminates the second server's process mid-run

        timer = threading.Timer(stop_after, stop_b)
        timer.start()
        try:
            wall, cpu, result = _run(diamond([a, b]), records)
        finally:
            timer.cancel()
        served_a = server_stats(a)
    requests = records * 3
    # The best this schedule allows: 2 x 16 slots until the stop, then 16 for what is left.
    done_before = min(requests, stop_after * 2 * CAPACITY / LATENCY)
    bound = stop_after + (requests - done_before) * LATENCY / CAPACITY
    return {
        "records": len(result),
        "status": result.metadata.get("status"),
        "failed_rows": len(result.failures),
        "stopped_after_s": stop_after,
        "served_when_stopped": served_at_stop,
        "wall_s": round(wall, 2),
        "schedule_bound_s": round(bound, 2),
        "share_of_bound_throughput": round(bound / wall, 3),
        "pass": len(result) == records and result.metadata.get("status") == "completed",
        "surviving_server": {k: served_a[k] for k in ("requests", "rate_limited", "peak_in_flight")},
        "client_endpoints": _per_endpoint(result),
        "client_cpu_s": round(cpu, 2),
    }


SCENARIOS = {"two_endpoints": two_endpoints, "one_stopped": one_stopped}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--stop-after", type=float, default=15.0, help="one_stopped: seconds before the stop")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.scenarios or list(SCENARIOS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = stamped(SCENARIOS[name](args.records, args.stop_after))
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    save_results("endpoints", results)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
