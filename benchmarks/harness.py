"""What the scenario benchmarks share: reading the simulated endpoint's stats, keeping results, and the
command line that runs named scenarios (`python bench_x.py [scenario ...] [--records N]`)."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

Scenario = Callable[[int], dict[str, Any]]


def scratch(prefix: str) -> str:
    """A fresh folder for one run's output, removed when the benchmark exits (a sweep of runs would
    otherwise fill the temporary folder)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def server_stats(base_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The simulated endpoint's counters (requests, 429s, peak in flight, ...)."""
    url = base_url.removesuffix("/v1") + "/stats"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())  # type: ignore[no-any-return]


def save_results(name: str, results: dict[str, Any]) -> None:
    """Merge `results` into `results/<name>.json` (scenarios not run keep their last figures)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.update(results)
    path.write_text(json.dumps(previous, indent=2) + "\n")


def stamped(figures: dict[str, Any]) -> dict[str, Any]:
    """A scenario's figures with the machine and the date."""
    return {**figures, "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}


def run_scenarios(doc: str | None, scenarios: dict[str, tuple[Scenario, int]], results_name: str) -> None:
    """Parse the command line, run the scenarios asked for (all by default) with their record counts,
    print each one's figures and save them."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", choices=[*scenarios, []], default=[])
    parser.add_argument("--records", type=int, help="override the scenario's record count")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.scenarios or list(scenarios):
        func, default = scenarios[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = stamped(func(args.records or default))
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    save_results(results_name, results)
