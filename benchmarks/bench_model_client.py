"""Model-layer benchmark: the adaptive limiter and client against a simulated endpoint in its own process.

Scenario "rate_limited": capacity 32, latency 0.5 s ± 30 %, 429 beyond capacity; 3,000 chat requests
issued at once by a client with ceiling 128. Target: wall time <= 1.05 x 3000 x 0.5 / 32 and < 5 % of
requests answered 429.

Scenario "queueing": same capacity, but requests beyond it wait (no 429). Target: throughput >= 95 % of
capacity / latency while the server's median in-flight stays under 1.5 x capacity.

    python benchmarks/bench_model_client.py [--quick]

Writes benchmarks/results/model_client.json and the "## Model layer" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from synthloom.config.model_config import InferenceParams, ModelConfig  # noqa: E402
from synthloom.models import ModelPool  # noqa: E402
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint  # noqa: E402

CAPACITY = 32
LATENCY = 0.5
JITTER = 0.3
CEILING = 128


async def _server_stats(base_url: str, *, reset: bool = False) -> dict[str, Any]:
    url = base_url.removesuffix("/v1") + "/stats"
    async with aiohttp.ClientSession() as session:
        method = session.delete if reset else session.get
        async with method(url) as response:
            return dict(await response.json())


async def _drive(base_url: str, requests: int) -> dict[str, Any]:
    config = ModelConfig(
        alias="bench",
        base_url=base_url,
        model="simulated",
        max_parallel_requests=CEILING,
        timeout=60,
        inference=InferenceParams(max_tokens=16),
    )
    await _server_stats(base_url, reset=True)
    messages = [{"role": "user", "content": "Write one sentence about rivers."}]
    async with ModelPool([config]) as pool:
        client = pool.client("bench")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(client.generate_text(messages, tag="bench") for _ in range(requests)), return_exceptions=True
        )
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        limiter = pool.limiter("bench").stats().as_dict()
        usage = pool.usage.summary()["models"]["bench"]
    server = await _server_stats(base_url)
    failures = sum(1 for r in results if isinstance(r, BaseException))
    return {
        "requests": requests,
        "failures": failures,
        "wall_s": round(wall, 3),
        "throughput_rps": round(requests / wall, 2),
        "client_cpu_ms_per_request": round(1000 * cpu / requests, 3),
        "server_requests": server["requests"],
        "server_429": server["rate_limited"],
        "share_429": round(server["rate_limited"] / max(1, server["requests"]), 4),
        "server_median_in_flight": server["median_in_flight"],
        "server_peak_in_flight": server["peak_in_flight"],
        "limiter": limiter,
        "latency_p50_s": usage["latency_p50"],
        "latency_p95_s": usage["latency_p95"],
    }


def _run(queueing: bool, requests: int) -> dict[str, Any]:
    config = SimulatedEndpointConfig(latency=LATENCY, jitter=JITTER, capacity=CAPACITY, queueing=queueing)
    with subprocess_endpoint(config) as base_url:
        return asyncio.run(_drive(base_url, requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (not comparable)")
    args = parser.parse_args()
    requests = 400 if args.quick else 3000
    ideal = requests * LATENCY / CAPACITY

    rate_limited = _run(queueing=False, requests=requests)
    rate_limited["bound_s"] = round(1.05 * ideal, 3)
    rate_limited["ratio_to_ideal"] = round(rate_limited["wall_s"] / ideal, 4)
    rate_limited["pass"] = (
        rate_limited["wall_s"] <= 1.05 * ideal
        and rate_limited["share_429"] < 0.05
        and not rate_limited["failures"]
    )
    print("rate_limited", json.dumps(rate_limited), flush=True)

    queueing = _run(queueing=True, requests=requests)
    target_rps = CAPACITY / LATENCY
    queueing["target_rps"] = target_rps
    queueing["throughput_ratio"] = round(queueing["throughput_rps"] / target_rps, 4)
    queueing["pass"] = (
        queueing["throughput_ratio"] >= 0.95
        and queueing["server_median_in_flight"] < 1.5 * CAPACITY
        and not queueing["failures"]
    )
    print("queueing", json.dumps(queueing), flush=True)

    result = {
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "setup": {"capacity": CAPACITY, "latency_s": LATENCY, "jitter": JITTER, "ceiling": CEILING},
        "rate_limited": rate_limited,
        "queueing": queueing,
    }
    out = ROOT / "results" / ("model_client_quick.json" if args.quick else "model_client.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.quick:
        _write_results_section(result)


def _write_results_section(result: dict[str, Any]) -> None:
    r, q = result["rate_limited"], result["queueing"]
    section = f"""## Model layer

`python benchmarks/bench_model_client.py` — simulated endpoint in a separate process (capacity
{CAPACITY}, latency {LATENCY} s ± {int(JITTER * 100)} %), client ceiling {CEILING}, {r["requests"]} chat
requests issued at once. Raw numbers: `benchmarks/results/model_client.json`.

| scenario | wall s | bound | 429 share | throughput req/s | median / peak in-flight (server) | client CPU ms/req | pass |
|---|---|---|---|---|---|---|---|
| 429 beyond capacity | {r["wall_s"]} | {r["bound_s"]} s (ratio to ideal {r["ratio_to_ideal"]}) | {r["share_429"]:.2%} | {r["throughput_rps"]} | {r["server_median_in_flight"]} / {r["server_peak_in_flight"]} | {r["client_cpu_ms_per_request"]} | {"yes" if r["pass"] else "NO"} |
| queueing (no 429) | {q["wall_s"]} | ≥ {0.95 * q["target_rps"]:.1f} req/s, median in-flight < {1.5 * CAPACITY:g} | {q["share_429"]:.2%} | {q["throughput_rps"]} ({q["throughput_ratio"]:.1%} of {q["target_rps"]:g}) | {q["server_median_in_flight"]} / {q["server_peak_in_flight"]} | {q["client_cpu_ms_per_request"]} | {"yes" if q["pass"] else "NO"} |

Limiter at the end — 429 scenario: limit {r["limiter"]["limit"]}, {r["limiter"]["decreases"]} decreases,
{r["limiter"]["increases"]} increases; queueing scenario: limit {q["limiter"]["limit"]},
{q["limiter"]["latency_decreases"]} latency-triggered decreases.
"""  # noqa: E501
    path = ROOT / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Model layer\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
