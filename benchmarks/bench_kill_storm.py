"""Spend after a kill storm: a run SIGKILLed at random moments, resumed to completion, and its account
compared with what the server answered.

  storm  600 records, two LLM columns (a text and a review of it), the simulated endpoint in its own
         process (latency 0.05 s +- 50 %); `synthloom create` killed 5 times, each once the server has
         answered a random number of further requests, then resumed until it completes. Reported:
         answered (the server's count of 2xx replies written), paid (`metadata.json` `usage_paid`:
         requests sent, cached answers apart, including the `unread` ones in flight at a kill),
         paid for the rows kept (`usage_committed`: what the
         committed row groups cost, which was all the account showed before the spend journal), and
         both as a share of answered. Goal: paid >= 99.5 % of answered.

    python benchmarks/bench_kill_storm.py
    python benchmarks/bench_kill_storm.py storm --records 6000
Results go to benchmarks/results/kill_storm.json.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from harness import run_scenarios

from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

KILLS = 5


def _answered(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as reply:
        return int(json.loads(reply.read())["answered"])


def _sent(usage: dict[str, dict[str, Any]]) -> int:
    return sum(int(u.get("requests", 0)) - int(u.get("cached", 0)) for u in usage.values())


def storm(records: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    endpoint = SimulatedEndpointConfig(latency=0.05, jitter=0.5)
    with subprocess_endpoint(endpoint) as base_url, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "storm.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": "storm",
                    "models": [
                        {
                            "alias": "m",
                            "provider": "openai",
                            "base_url": base_url,
                            "model": "sim",
                            "max_parallel_requests": 32,
                            "pricing": {"input_per_million": 1.0, "output_per_million": 4.0},
                        }
                    ],
                    "columns": [
                        {"name": "id", "type": "sampler", "sampler": "uuid"},
                        {"name": "text", "type": "llm-text", "model": "m", "prompt": "Write {{ id }}"},
                        {"name": "review", "type": "llm-text", "model": "m", "prompt": "Review {{ text }}"},
                    ],
                    "run": {"buffer_size": 50, "max_row_groups_in_flight": 3},
                }
            )
        )
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "synthloom", "create", str(config), "-n", str(records)]
        command += ["-o", str(out), "--no-progress"]
        kills = []
        t0 = time.perf_counter()
        for session in range(KILLS):
            # A random moment: once the server answered between 5 % and 40 % of a full run's requests more.
            more = rng.randint(records * 2 // 20, records * 2 * 2 // 5)
            start = _answered(base_url)
            proc = subprocess.Popen(
                command + (["--resume", "always"] if session else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while proc.poll() is None and _answered(base_url) < start + more:
                time.sleep(0.002)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills.append(_answered(base_url) - start)
        finished = subprocess.run(
            [*command, "--resume", "always"], capture_output=True, text=True, timeout=3600, check=False
        )
        wall = time.perf_counter() - t0
        if finished.returncode != 0:
            raise RuntimeError(finished.stderr[-2000:])
        meta = json.loads((out / "storm" / "metadata.json").read_text())
        answered = _answered(base_url)
    paid, committed = _sent(meta["usage_paid"]), _sent(meta["usage_committed"])
    unread = sum(int(m.get("unread", 0)) for m in meta["usage_paid"].values())
    return {
        "records": meta["committed_records"],
        "kills": KILLS,
        "answered_before_each_kill": kills,
        "sessions": [s["status"] for s in meta["sessions"]],
        "answered": answered,
        "paid": paid,
        "paid_for_rows_kept": committed,
        "paid_share": round(paid / answered, 4),
        # Of which in flight when a session was killed (sent, perhaps answered, never read).
        "unread": unread,
        "read_share": round((paid - unread) / answered, 4),
        "committed_only_share": round(committed / answered, 4),
        "wall_s": round(wall, 1),
    }


SCENARIOS = {"storm": (storm, 600)}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "kill_storm")


if __name__ == "__main__":
    main()
