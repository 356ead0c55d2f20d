"""The capacity planner: the knee and the recommendation (pure arithmetic), and `models bench` end to
end against the simulated endpoint (its figures are measurements: only their shape is checked here;
the knee on a real server is in benchmarks/RESULTS.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from synthloom.interface.cli import cli
from synthloom.models.serving.capacity import SweepPoint, knee, recommend
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig


def point(concurrency: int, throughput: float, errors: int = 0) -> SweepPoint:
    return SweepPoint(concurrency, 10, errors, 1.0, throughput, throughput * 30, 0.1, 0.2)


def test_the_knee_is_the_lowest_concurrency_near_the_best_throughput() -> None:
    # A server with 8 slots: rises to 8, then only queues (and loses a little to contention).
    points = [point(1, 2.0), point(2, 4.0), point(4, 7.8), point(8, 14.0), point(12, 13.6), point(16, 12.9)]
    assert knee(points).concurrency == 8
    # Flat from 4 on: nothing is gained past 4.
    assert knee([point(1, 3.0), point(4, 10.0), point(8, 10.2), point(16, 10.1)]).concurrency == 4
    # A level with errors (429s, timeouts) is not a candidate.
    assert knee([point(1, 3.0), point(4, 10.0), point(8, 20.0, errors=3)]).concurrency == 4


def test_the_recommendation_sizes_replicas_for_a_target() -> None:
    points = [point(1, 2.0), point(4, 8.0), point(8, 10.0)]
    plan = recommend(points, records=36_000, minutes=60, calls_per_record=2)
    assert plan.ceiling == 8
    # 36,000 records x 2 calls in an hour = 20 calls/s; one replica answers 10/s at its knee.
    assert plan.replicas == 2
    assert recommend(points).replicas is None


async def test_models_bench_sweeps_a_server_and_writes_its_plot(tmp_path: Path) -> None:
    server = SimulatedEndpointConfig(latency=0.02, capacity=4, queueing=True)
    async with SimulatedEndpoint(server) as endpoint:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": "b",
                    "models": [{"alias": "m", "base_url": endpoint.base_url, "model": "sim"}],
                    "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
                }
            )
        )
        html = tmp_path / "bench.html"
        args = ["models", "bench", str(config), "--levels", "1,2,4,8", "--requests", "8", "--json"]
        args += ["--html", str(html), "--records", "1000", "--minutes", "10"]
        # The command runs its own event loop: off this one, in a thread.
        result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [p["concurrency"] for p in report["sweep"]] == [1, 2, 4, 8]
    assert all(p["answered"] >= 8 and p["errors"] == 0 for p in report["sweep"])
    assert report["recommendation"]["ceiling"] in (1, 2, 4, 8)
    assert report["recommendation"]["replicas"] >= 1
    page = html.read_text()
    assert "<svg" in page and "max_parallel_requests" in page


def test_models_bench_names_an_unknown_alias(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "b",
                "models": [{"alias": "m", "base_url": "http://127.0.0.1:9/v1", "model": "x"}],
                "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
            }
        )
    )
    result = CliRunner().invoke(cli, ["models", "bench", str(config), "--alias", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
