"""Ray executor benchmarks on this machine's local Ray cluster, with the "diamond" workload of
bench_engine.py against the simulated endpoint (in its own process).

Scenarios:
  capacity   capacity 32 with 429 beyond, latency 0.5 s +- 30 %, 1,000 records, 2 workers, one budget of
             ceiling 32 (= the capacity) and, for comparison with the local executor's figure, 128 (the
             adaptive level finds the capacity): wall time against the server-bound limit
             3,000 x 0.5 / 32 = 46.9 s, and the server's peak in flight.
  scaling    latency 0, no capacity limit: LLM cells per second with 1 worker and with 2 workers.

The cluster is started once (`ray.init(num_cpus=2)`) before any timing. Each run's wall time includes
starting its worker processes (about 2 s here); the capacity scenario also measures the server's busy
span (first request to last, polled from its /stats), the figure the server-bound limit speaks of. The
budgets' renewals are counted: the message rate each lease costs.

    python benchmarks/bench_ray.py                  # both
    python benchmarks/bench_ray.py scaling --records 5000
Results go to benchmarks/results/ray.json and the "Ray" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_engine import diamond
from harness import save_results, server_stats, stamped

import ray
import synthloom
from synthloom.executors.ray.executor import RayExecutor
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

HERE = Path(__file__).parent


class ServerSpan:
    """Polls the server's stats (every 20 ms, in a thread) for when it was busy: from its first
    request to the last moment a request was in flight. The server-side view of a run, without the
    start of the worker processes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.first: float | None = None
        self.last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ServerSpan:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            stats = server_stats(self.base_url)
            now = time.perf_counter()
            if self.first is None and stats.get("requests"):
                self.first = now
            if stats.get("in_flight"):
                self.last = now
            self._stop.wait(0.02)

    @property
    def seconds(self) -> float:
        return (self.last or 0.0) - (self.first or 0.0)


def _run(
    config: synthloom.DatasetConfig, records: int, workers: int
) -> tuple[float, synthloom.DatasetResult]:
    out = tempfile.mkdtemp(prefix="bench-ray-")
    t0 = time.perf_counter()
    result = synthloom.create(config, records, out, resume="never", executor=RayExecutor(workers=workers))
    return time.perf_counter() - t0, result


def _capacity_run(records: int, ceiling: int) -> dict[str, Any]:
    server = SimulatedEndpointConfig(latency=0.5, jitter=0.3, capacity=32, seed=1)
    with subprocess_endpoint(server) as base_url:
        with ServerSpan(base_url) as span:
            wall, result = _run(
                diamond(base_url, buffer_size=100, max_parallel=ceiling, in_flight=4), records, 2
            )
        stats = server_stats(base_url)
    requests = records * 3
    bound = requests * 0.5 / 32
    renewals = result.usage["ray"]["budget_renewals"]
    return {
        "ceiling": ceiling,
        "records": len(result),
        "wall_s": round(wall, 2),
        "server_busy_s": round(span.seconds, 2),
        "server_bound_s": round(bound, 2),
        "throughput_vs_bound": round(bound / span.seconds, 3),
        "throughput_vs_bound_incl_worker_start": round(bound / wall, 3),
        "server_requests": stats.get("requests"),
        "rate_limited_429": stats.get("rate_limited"),
        "peak_in_flight": stats.get("peak_in_flight"),
        "median_in_flight": stats.get("median_in_flight"),
        "budget_renewals": renewals,
        "renewals_per_s_per_worker": round(renewals / wall / 2, 1),
        "requests_per_renewal": round(requests / max(1, renewals), 1),
    }


def capacity(records: int) -> dict[str, Any]:
    return {f"ceiling_{c}": _capacity_run(records, c) for c in (32, 128)}


def scaling(records: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        for workers in (1, 2):
            config = diamond(base_url, buffer_size=500, max_parallel=256, in_flight=4)
            wall, result = _run(config, records, workers)
            cells = records * 3
            out[f"workers_{workers}"] = {
                "records": len(result),
                "llm_cells": cells,
                "wall_s": round(wall, 2),
                "cells_per_s": round(cells / wall, 1),
                "budget_renewals": result.usage["ray"]["budget_renewals"],
            }
    out["speedup_2_over_1"] = round(out["workers_2"]["cells_per_s"] / out["workers_1"]["cells_per_s"], 3)
    return out


SCENARIOS = {"capacity": (capacity, 1000), "scaling": (scaling, 20_000)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--records", type=int, help="override the scenario's record count")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, _node_ip_address="127.0.0.1")
    results: dict[str, Any] = {}
    try:
        for name in args.scenarios or list(SCENARIOS):
            func, default = SCENARIOS[name]
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name] = {**stamped(func(args.records or default)), "ray": ray.__version__}
            print(json.dumps({name: results[name]}, indent=2), flush=True)
    finally:
        ray.shutdown()
    save_results("ray", results)


if __name__ == "__main__":
    main()
