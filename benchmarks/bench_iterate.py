"""Iterating cheaply: the response cache and regeneration, against the simulated endpoint (in its own
process), on the engine benchmark's "diamond" (topic -> summary, trivia; summary -> analysis).

Scenarios:
  rerun          the capacity scenario's server (latency 0.5 s +- 30 %, capacity 32, 429 beyond), 1,000
                 records created, then created again into a new run with the same cache: server requests
                 and wall time of each, and their ratio.
  prompt_change  the same, then the last column's prompt changed and the run regenerated
                 (`resume="regenerate"`): requests sent must be that column's cells only.
  hit_cost       the cost of one cache hit through the model-call chain (key, SQLite read on the cache's
                 thread, parse), against a chain without the cache, with 20,000 answers in the file.
  batch          1,000 records sent directly, then through the simulated batch API (`batch:` on the
                 model; every batch ends 2 s after it was submitted): records/s and the cost ratio at the
                 same `pricing`, with 4 row groups in flight (as the direct run) and with all of them.

    python benchmarks/bench_iterate.py [rerun prompt_change hit_cost batch] [--records N]
Results go to benchmarks/results/iterate.json.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from bench_engine import diamond
from harness import run_scenarios, scratch, server_stats

import synthloom
from synthloom import DatasetConfig
from synthloom.config.model_config import ModelConfig
from synthloom.models import CallScope, FunctionHandler, ModelClient, UsageTracker
from synthloom.models.calls import ResponseCache, build_chain
from synthloom.models.retry_policy import RetryPolicy
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

SERVER = SimulatedEndpointConfig(latency=0.5, jitter=0.3, capacity=32, seed=1)
#: The batch scenario's server: the same, and every batch ends 2 s after it was submitted.
BATCH_SERVER = SERVER.model_copy(update={"batch_delay": 2.0})
PRICING = {"input_per_million": 2.5, "output_per_million": 10.0}
BATCH = {"size": 500, "max_wait": 1.0, "poll_interval": 0.5}


def _create(config: Any, records: int, out: Path, cache: Path, **options: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = synthloom.create(config, records, out, cache=cache, progress=False, **options)
    return time.perf_counter() - t0, result


def rerun(records: int) -> dict[str, Any]:
    work = Path(scratch(prefix="bench-iterate-"))
    cache = work / "cache.sqlite3"
    with subprocess_endpoint(SERVER) as base_url:
        config = diamond(base_url, buffer_size=100, max_parallel=128)
        first_s, first = _create(config, records, work / "a", cache)
        first_requests = server_stats(base_url)["requests"]
        second_s, second = _create(config, records, work / "b", cache)
        second_requests = server_stats(base_url)["requests"] - first_requests
    same = list(first) == list(second)
    return {
        "records": len(second),
        "first_run_s": round(first_s, 2),
        "first_run_server_requests": first_requests,
        "second_run_s": round(second_s, 2),
        "second_run_server_requests": second_requests,
        "second_run_cached": second.usage["models"]["m"]["cached"],
        "speedup": round(first_s / second_s, 1),
        "identical_rows": same,
        "cache_file_mb": round(sum(p.stat().st_size for p in work.glob("cache.sqlite3*")) / 2**20, 2),
    }


def prompt_change(records: int) -> dict[str, Any]:
    work = Path(scratch(prefix="bench-iterate-"))
    cache = work / "cache.sqlite3"
    with subprocess_endpoint(SERVER) as base_url:
        config = diamond(base_url, buffer_size=100, max_parallel=128)
        first_s, _ = _create(config, records, work / "runs", cache)
        stats = server_stats(base_url)
        before, limited = stats["requests"], stats["rate_limited"]
        data = config.to_dict()
        data["columns"][-1]["prompt"] = "Analyse in depth: {{ summary }}"
        changed = DatasetConfig.model_validate(data)
        second_s, result = _create(changed, records, work / "runs", cache, resume="regenerate")
        stats = server_stats(base_url)
        sent, limited = stats["requests"] - before, stats["rate_limited"] - limited
    columns = result.usage["columns"]
    return {
        "records": len(result),
        "first_run_s": round(first_s, 2),
        "regenerate_s": round(second_s, 2),
        "server_requests": sent,
        "server_answered_429": limited,
        "changed_column_cells": records,
        "cached_per_column": {name: columns[name]["cached"] for name in ("summary", "trivia", "analysis")},
        "ratio_to_first_run": round(second_s / first_s, 3),
    }


def hit_cost(records: int) -> dict[str, Any]:
    """µs per request through the chain: with the cache answering, and without a cache (the stand-in
    network answers at once), so that the difference is what a hit costs."""

    def reply(request: Any) -> dict[str, Any]:
        return {
            "choices": [{"message": {"role": "assistant", "content": "x" * 400}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 100},
        }

    config = ModelConfig(alias="m", provider="openai", base_url="http://127.0.0.1:9/v1", model="x")
    policy = RetryPolicy()
    path = Path(scratch(prefix="bench-cache-")) / "cache.sqlite3"
    messages = [{"role": "user", "content": "Summarise the history of " + "y" * 200}]

    async def timed(client: ModelClient, count: int) -> list[float]:
        per: list[float] = []
        for seed in range(count):
            t0 = time.perf_counter()
            await client.generate_text(messages, scope=CallScope(tag="c", record=seed, seed=seed))
            per.append((time.perf_counter() - t0) * 1e6)
        return per

    async def main() -> dict[str, Any]:
        warm = ResponseCache(path)
        chain = build_chain(
            config, FunctionHandler(reply), usage=UsageTracker(), retry_policy=policy, extra=[warm.wrap]
        )
        misses = await timed(ModelClient(config, handler=chain), records)
        await warm.aclose()
        cache = ResponseCache(path)
        chain = build_chain(
            config, FunctionHandler(reply), usage=UsageTracker(), retry_policy=policy, extra=[cache.wrap]
        )
        hits = await timed(ModelClient(config, handler=chain), records)
        await cache.aclose()
        assert cache.hits == records, cache.report()
        bare = build_chain(config, FunctionHandler(reply), usage=UsageTracker(), retry_policy=policy)
        plain = await timed(ModelClient(config, handler=bare), records)
        return {
            "answers_in_file": records,
            "request_without_cache_us_median": round(statistics.median(plain), 1),
            "request_hit_us_median": round(statistics.median(hits), 1),
            "request_hit_us_p95": round(statistics.quantiles(hits, n=20)[-1], 1),
            "hit_cost_us_median": round(statistics.median(hits) - statistics.median(plain), 1),
            "request_miss_and_store_us_median": round(statistics.median(misses), 1),
            "file_mb": round(path.stat().st_size / 2**20, 2),
        }

    return asyncio.run(main())


def _priced(base_url: str, *, batch: dict[str, Any] | None, in_flight: int) -> DatasetConfig:
    data = diamond(base_url, buffer_size=100, max_parallel=128, in_flight=in_flight).to_dict()
    data["models"][0]["pricing"] = PRICING
    if batch is not None:
        data["models"][0]["batch"] = batch
    return DatasetConfig.model_validate(data)


def batch(records: int) -> dict[str, Any]:
    work = Path(scratch(prefix="bench-iterate-"))
    out: dict[str, Any] = {"records": records, "batch_delay_s": BATCH_SERVER.batch_delay, "batch": BATCH}
    with subprocess_endpoint(BATCH_SERVER) as base_url:
        runs = {
            "direct": _priced(base_url, batch=None, in_flight=4),
            "batched": _priced(base_url, batch=BATCH, in_flight=4),
            "batched_all_in_flight": _priced(base_url, batch=BATCH, in_flight=max(1, records // 100)),
        }
        for name, config in runs.items():
            before = server_stats(base_url)
            seconds, result = _create(config, records, work / name, work / f"{name}.sqlite3")
            after = server_stats(base_url)
            usage = result.usage["models"]["m"]
            out[name] = {
                "wall_s": round(seconds, 2),
                "records_per_s": round(len(result) / seconds, 1),
                "cost": usage["cost"],
                "tokens": usage["input_tokens"] + usage["output_tokens"],
                "batched_requests": usage["batched"],
                "direct_server_requests": after["requests"] - before["requests"],
                "batches": after["batches"] - before["batches"],
                "batch_polls": after["batch_polls"] - before["batch_polls"],
            }
            out[name]["rows"] = list(result)
    direct = out["direct"]
    for name in ("batched", "batched_all_in_flight"):
        run = out[name]
        run["cost_ratio"] = round(run["cost"] / direct["cost"], 4)
        run["speed_ratio"] = round(run["records_per_s"] / direct["records_per_s"], 2)
        run["identical_rows"] = run.pop("rows") == direct["rows"]
    direct.pop("rows")
    return out


SCENARIOS = {
    "rerun": (rerun, 1000),
    "prompt_change": (prompt_change, 1000),
    "hit_cost": (hit_cost, 20_000),
    "batch": (batch, 1000),
}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "iterate")


if __name__ == "__main__":
    main()
