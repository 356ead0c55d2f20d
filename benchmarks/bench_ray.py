"""Ray executor benchmarks on this machine's local Ray cluster, with the "diamond" workload of
bench_engine.py against the simulated endpoint (in its own process).

Scenarios:
  capacity   capacity 32 with 429 beyond, latency 0.5 s +- 30 %, 1,000 records, 2 workers, one budget of
             ceiling 32 (= the capacity) and, for comparison with the local executor's figure, 128 (the
             adaptive level finds the capacity): wall time against the server-bound limit
             3,000 x 0.5 / 32 = 46.9 s, and the server's peak in flight.
  scaling    latency 0, no capacity limit: LLM cells per second with 1 worker and with 2 workers.
  standing   the capacity scenario (ceiling 32) on a standing cluster, timed end to end: the cluster's
             start-up is measured and reported apart, the run's wall time (worker start included)
             against the server-bound limit, and the server's peak in flight against the ceiling.
  served     `serve: {engine: llama.cpp, replicas: 2}` on the cluster: two replicas of the embedded model
             started as Ray actors, 200 records; requests per replica (each has its own budget), and
             no replica process or listening port left afterwards.

The cluster is started once (`ray.init(num_cpus=2)`) before any timing. Each run's wall time includes
starting its worker processes (about 1.5 s here, during which the driver runs the first row groups
itself: `start_on_driver`); the capacity scenario also measures the server's busy span (first request to
last, polled from its /stats), the figure the server-bound limit speaks of, and how many row groups the
driver ran. The budgets' renewals are counted: the message rate each lease costs.

    python benchmarks/bench_ray.py                  # both
    python benchmarks/bench_ray.py scaling --records 5000
    python benchmarks/bench_ray.py standing served
Results go to benchmarks/results/ray.json and the "Ray" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
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
        "groups_on_driver": result.usage["ray"]["groups_on_driver"],
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


def standing(records: int) -> dict[str, Any]:
    """The capacity run at ceiling 32, its wall time against the bound (the cluster already up)."""
    return {"startup_s": round(_STARTUP_S, 2), **_capacity_run(records, 32)}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _replica_processes() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "serving.llamacpp_main"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def served(records: int) -> dict[str, Any]:
    """Two llama.cpp replicas of the embedded model as Ray actors, one thread each."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-served-"))
    config = folder / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "served-on-ray",
                "models": [
                    {
                        "alias": "smol",
                        "max_parallel_requests": 2,
                        "timeout": 300,
                        "inference": {"temperature": 0.0, "max_tokens": 16},
                        "serve": {"engine": "llama.cpp", "replicas": 2, "resources": {"num_cpus": 1}},
                    }
                ],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "text", "type": "llm-text", "model": "smol", "prompt": "Greet {{ id }}."},
                ],
                "run": {"buffer_size": 20, "max_row_groups_in_flight": 4},
            }
        )
    )
    executor = RayExecutor()
    t0 = time.perf_counter()
    result = synthloom.create(config, records, folder / "out", resume="never", executor=executor)
    wall = time.perf_counter() - t0
    budgets = executor.budget_figures()
    ports = [int(name.rsplit(":", 1)[1].split("/")[0]) for name in budgets]
    answered = {name.split("@", 1)[1]: int(f.get("requests", 0)) for name, f in budgets.items()}
    return {
        "records": len(result),
        "non_empty_texts": sum(1 for r in result if str(r["text"]).strip()),
        "wall_s_incl_replica_start": round(wall, 2),
        "requests_per_replica": answered,
        "both_replicas_used": len(answered) == 2 and all(v > 0 for v in answered.values()),
        "ray_workers": result.usage["ray"]["workers"],
        "listening_after": [p for p in ports if _listening(p)],
        "replica_processes_after": _replica_processes(),
    }


SCENARIOS = {
    "capacity": (capacity, 1000),
    "scaling": (scaling, 20_000),
    "standing": (standing, 1000),
    "served": (served, 200),
}
_STARTUP_S = 0.0


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
    global _STARTUP_S
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, _node_ip_address="127.0.0.1")
    _STARTUP_S = time.perf_counter() - t0
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
