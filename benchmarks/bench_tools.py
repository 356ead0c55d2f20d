"""Tool-use benchmarks against the simulated endpoint (in its own process).

    topic   = category sampler
    answer  = llm-text with tools: the simulated model calls one tool per turn for two turns, then
              answers, so each record costs 3 model requests and 2 tool calls

Scenarios:
  python  Python tools (a function run in a thread per call), capacity 32 with 429 beyond, latency
          0.5 s +- 30 %, max_parallel_requests 128, 1,000 records.
  mcp     the same with the tools served by a stdio MCP server (tests/engine/mcp_tool_server.py),
          one server process for the run.
Each is judged against the server-bound limit for the model requests the run actually made:
(requests answered 200) x 0.5 / 32 seconds. Tool time is inside the cells, so it only shows in the
ratio where it cannot overlap with other cells' requests.

    python benchmarks/bench_tools.py                  # both
    python benchmarks/bench_tools.py python --records 200
Results go to benchmarks/results/tools.json.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import run_scenarios, server_stats

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

HERE = Path(__file__).parent
MCP_SERVER = HERE.parent / "tests" / "engine" / "mcp_tool_server.py"
LATENCY = 0.5
CAPACITY = 32


def lookup(term: str) -> str:
    """Look a term up in the encyclopedia.

    Args:
        term: What to look up.
    """
    return f"{term}: a thing worth knowing"


def convert(value: float, unit: str = "km") -> str:
    """Convert a distance to miles."""
    return f"{value * 0.621:.2f} miles" if unit == "km" else f"{value:.2f} {unit}"


def config(base_url: str, tools: list[dict[str, Any]]) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "tool-use",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "base_url": base_url,
                    "model": "sim",
                    "max_parallel_requests": 128,
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
                {
                    "name": "answer",
                    "type": "llm-text",
                    "model": "m",
                    "prompt": "Tell me about {{ topic }}, using the tools.",
                    "tools": tools,
                    "max_tool_calls": 4,
                },
            ],
            "run": {"buffer_size": 100, "max_row_groups_in_flight": 4},
        }
    )


def _scenario(records: int, tools: list[dict[str, Any]]) -> dict[str, Any]:
    server = SimulatedEndpointConfig(
        latency=LATENCY, jitter=0.3, capacity=CAPACITY, seed=1, tool_turns=2, tool_calls_per_turn=1
    )
    with subprocess_endpoint(server) as base_url:
        out = tempfile.mkdtemp(prefix="bench-tools-")
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        result = synthloom.create(config(base_url, tools), records, out, resume="never")
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stats = server_stats(base_url)
    rows = list(result)
    tool_calls = sum(1 for row in rows for m in row["answer__trajectory"] if m["role"] == "tool")
    answered = (stats.get("requests") or 0) - (stats.get("rate_limited") or 0)
    bound = answered * LATENCY / CAPACITY
    return {
        "records": len(rows),
        "failures": len(result.failures),
        "model_requests": answered,
        "tool_calls": tool_calls,
        "tool_calls_per_record": round(tool_calls / max(1, len(rows)), 2),
        "wall_s": round(wall, 2),
        "server_bound_s": round(bound, 2),
        "ratio_to_bound": round(wall / bound, 3) if bound else None,
        "rate_limited_429": stats.get("rate_limited"),
        "peak_in_flight": stats.get("peak_in_flight"),
        "client_cpu_s": round(cpu, 2),
        "client_cpu_ms_per_record": round(cpu / max(1, len(rows)) * 1000, 3),
    }


def python_tools(records: int) -> dict[str, Any]:
    return _scenario(records, [{"function": "bench_tools:lookup"}, {"function": "bench_tools:convert"}])


def mcp_tools(records: int) -> dict[str, Any]:
    return _scenario(
        records, [{"mcp": {"command": [sys.executable, str(MCP_SERVER)]}, "include": ["add", "weather"]}]
    )


SCENARIOS = {"python": (python_tools, 1000), "mcp": (mcp_tools, 1000)}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "tools")


if __name__ == "__main__":
    main()
