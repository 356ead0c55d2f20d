"""Exactly N kept rows without skew: `run.target: kept` with `run.retry: new_records` (the default) against
`same_inputs`, against the simulated endpoint (in its own process).

The workload: `id` (uuid), `kind` (category sampler, four values a-d, equal weights), a judge
(`llm-structured`, a verdict `reject | accept`) and a filter keeping accepted rows. The server rejects kind
d three times as often as the others (accept rate 0.4 against 0.8: rejects 60 % against 20 %) and answers a
repeated request afresh, as a server sampling at temperature > 0 does. N = 2,000 kept rows, buffer_size 100.

For each mode: the share of each kind among the kept rows against its share among the records the run
drew (every record up to the last one it tried), in percentage points; records tried, requests sent,
rows filtered, wall time; each mode with three seeds (`SEEDS`). `same_inputs` is the default bound
(max_attempts 8), `same_inputs_5` a bound of 5.

    python benchmarks/bench_kept_skew.py [new_records same_inputs_5 same_inputs] [--records N]
Results go to benchmarks/results/kept_skew.json.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import run_scenarios, server_stats

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

KINDS = ["a", "b", "c", "d"]
BUFFER = 100
#: Each mode is measured with three run seeds (and server seeds): other draws, other verdicts.
SEEDS = (11, 12, 13)


def _server(seed: int) -> SimulatedEndpointConfig:
    return SimulatedEndpointConfig(
        accept_rate=0.8, accept_rates={"kind d.": 0.4}, vary_repeats=True, seed=seed
    )


def _samplers(seed: int) -> dict[str, Any]:
    return {
        "name": "kept_skew",
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {"name": "kind", "type": "sampler", "sampler": "category", "params": {"values": KINDS}},
        ],
        "run": {"buffer_size": BUFFER, "seed": seed},
    }


def _judged(base_url: str, retry: dict[str, Any], seed: int) -> DatasetConfig:
    config = _samplers(seed)
    config["models"] = [
        {
            "alias": "m",
            "provider": "openai",
            "base_url": base_url,
            "model": "sim",
            "max_parallel_requests": 64,
        }
    ]
    config["columns"] += [
        {
            "name": "verdict",
            "type": "llm-structured",
            "model": "m",
            "prompt": "Judge item {{ id }} of kind {{ kind }}.",
            "schema": {
                "type": "object",
                "properties": {"verdict": {"enum": ["reject", "accept"]}},
                "required": ["verdict"],
            },
        },
        {"name": "keep", "type": "filter", "condition": "{{ verdict.verdict == 'accept' }}"},
    ]
    config["run"].update(target="kept", retry=retry)
    return DatasetConfig.model_validate(config)


def _drawn(records: int, work: Path, seed: int) -> dict[str, tuple[int, str]]:
    """What the samplers draw for the first `records` records: id -> (record, kind). Model-free, so the
    same draws as the judged run's (same run seed, same row groups)."""
    result = synthloom.create(
        DatasetConfig.model_validate(_samplers(seed)), records, work / "drawn", progress=False
    )
    return {row["id"]: (n, row["kind"]) for n, row in enumerate(result)}


def _shares(kinds: list[str]) -> dict[str, float]:
    counts = Counter(kinds)
    return {k: round(100 * counts[k] / len(kinds), 2) for k in KINDS}


def _measure(records: int, retry: dict[str, Any]) -> dict[str, Any]:
    runs = [_measure_once(records, retry, seed) for seed in SEEDS]
    return {"retry": retry, "worst_gap_pp": max(r["max_abs_gap_pp"] for r in runs), "runs": runs}


def _measure_once(records: int, retry: dict[str, Any], seed: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-kept-skew-"))
    drawn = _drawn(10 * records, work, seed)
    with subprocess_endpoint(_server(seed)) as base_url:
        t0 = time.perf_counter()
        result = synthloom.create(
            _judged(base_url, retry, seed), records, work / "run", progress=False, cache_mode="off"
        )
        wall = time.perf_counter() - t0
        sent = server_stats(base_url)["requests"]
    kept = [drawn[row["id"]] for row in result]
    assert [kind for _, kind in kept] == [row["kind"] for row in result]  # sampler values never change
    tried = max(n for n, _ in kept) + 1
    by_record = {n: kind for n, kind in drawn.values()}
    sampled = _shares([by_record[n] for n in range(tried)])
    kept_share = _shares([kind for _, kind in kept])
    return {
        "seed": seed,
        "kept_rows": len(kept),
        "records_tried": tried,
        "rows_filtered": len(result.filtered),
        "server_requests": sent,
        "wall_s": round(wall, 2),
        "sampled_share_pct": sampled,
        "kept_share_pct": kept_share,
        "kept_minus_sampled_pp": {k: round(kept_share[k] - sampled[k], 2) for k in KINDS},
        "max_abs_gap_pp": round(max(abs(kept_share[k] - sampled[k]) for k in KINDS), 2),
    }


SCENARIOS = {
    "new_records": (lambda n: _measure(n, {"mode": "new_records"}), 2000),
    "same_inputs_5": (lambda n: _measure(n, {"mode": "same_inputs", "max_attempts": 5}), 2000),
    "same_inputs": (lambda n: _measure(n, {"mode": "same_inputs", "max_attempts": 8}), 2000),
}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "kept_skew")


if __name__ == "__main__":
    main()
