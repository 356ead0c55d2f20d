"""Capacity planning for one model server: sweep concurrency, find the knee, recommend a layout.

    points = await sweep(endpoint, levels=[1, 2, 4, 8, 16], requests_per_level=32)
    best = knee(points)               # the lowest concurrency within 5% of the best throughput
    plan = recommend(points, records=100_000, minutes=60, calls_per_record=2)

Each level keeps exactly `concurrency` requests in flight (workers pulling from one counter) until
`requests_per_level` are answered, and measures answered requests per second, output tokens per second
and latency. Past the knee a server only queues: throughput stops rising (or falls) while latency
grows, so a higher ceiling buys nothing and a lower one leaves capacity unused.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

__all__ = ["BenchTarget", "Recommendation", "SweepPoint", "knee", "recommend", "sweep"]


@dataclass(frozen=True)
class BenchTarget:
    """One OpenAI-compatible server to measure."""

    base_url: str
    model: str
    headers: Mapping[str, str]
    max_tokens: int = 32
    timeout: float = 120.0
    prompt: str = "Write one sentence about the sea."


@dataclass(frozen=True)
class SweepPoint:
    concurrency: int
    answered: int
    errors: int
    seconds: float
    #: Answered requests per second.
    throughput: float
    tokens_per_second: float
    latency_p50: float
    latency_p95: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Recommendation:
    #: `max_parallel_requests` per replica: the knee of the sweep.
    ceiling: int
    #: Answered requests per second one replica sustains at that ceiling.
    throughput: float
    #: Replicas needed for the target (None without one).
    replicas: int | None
    records: int | None
    minutes: float | None
    calls_per_record: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _one(session: aiohttp.ClientSession, target: BenchTarget) -> tuple[float, int]:
    body = {
        "model": target.model,
        "messages": [{"role": "user", "content": target.prompt}],
        "max_tokens": target.max_tokens,
        "temperature": 0.7,
    }
    started = time.monotonic()
    async with session.post(
        f"{target.base_url.rstrip('/')}/chat/completions",
        json=body,
        headers=dict(target.headers),
        timeout=aiohttp.ClientTimeout(total=target.timeout),
    ) as response:
        response.raise_for_status()
        reply = await response.json(content_type=None)
    usage = reply.get("usage") or {}
    return time.monotonic() - started, int(usage.get("completion_tokens") or 0)


async def _level(
    session: aiohttp.ClientSession, target: BenchTarget, concurrency: int, total: int
) -> SweepPoint:
    latencies: list[float] = []
    tokens = errors = 0
    issued = 0

    async def worker() -> None:
        nonlocal issued, tokens, errors
        while issued < total:
            issued += 1
            try:
                latency, produced = await _one(session, target)
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                continue
            latencies.append(latency)
            tokens += produced

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    return SweepPoint(
        concurrency=concurrency,
        answered=len(latencies),
        errors=errors,
        seconds=seconds,
        throughput=len(latencies) / seconds if seconds > 0 else 0.0,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        latency_p50=statistics.median(ordered),
        latency_p95=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    )


async def sweep(
    target: BenchTarget, *, levels: Sequence[int], requests_per_level: int, warmup: int = 2
) -> list[SweepPoint]:
    """Measure each concurrency in `levels` (in order) with at least `requests_per_level` requests
    (and three per slot, so every level runs at its concurrency for a while)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(warmup):  # the first requests of a fresh server are slower (caches, allocation)
            await _one(session, target)
        return [
            await _level(session, target, level, max(requests_per_level, 3 * level))
            for level in sorted(levels)
        ]


def knee(points: Sequence[SweepPoint], *, tolerance: float = 0.05) -> SweepPoint:
    """The lowest concurrency whose throughput is within `tolerance` of the best one measured: more
    than that only adds queueing (latency) at the server."""
    usable = [p for p in points if p.answered > 0 and p.errors == 0] or list(points)
    best = max(p.throughput for p in usable)
    return min((p for p in usable if p.throughput >= (1 - tolerance) * best), key=lambda p: p.concurrency)


def recommend(
    points: Sequence[SweepPoint],
    *,
    records: int | None = None,
    minutes: float | None = None,
    calls_per_record: float = 1.0,
) -> Recommendation:
    """The ceiling per replica (the knee) and, for a target of `records` in `minutes`, the replicas
    needed at the knee's throughput."""
    point = knee(points)
    replicas = None
    if records is not None and minutes is not None and point.throughput > 0:
        needed = records * calls_per_record / (minutes * 60.0)
        replicas = max(1, math.ceil(needed / point.throughput))
    return Recommendation(point.concurrency, point.throughput, replicas, records, minutes, calls_per_record)
