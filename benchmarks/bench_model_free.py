"""Model-free generation: samplers and expressions only, written as one parquet file per row group.

Workload: `id` (uuid), `topic` (category, 5 values), `difficulty` (uniform 0..10), `score` (gaussian),
`created_at` (datetime), `label` = "{{ topic }}-{{ difficulty | round(1) }}" (str) and
`hard` = "{{ difficulty > 5 }}" (bool). Target: 1,000,000 records in under 60 s wall and 500 MB peak RSS.

    PYTHONPATH=src python benchmarks/bench_model_free.py                 # 1M records through synthloom.create
    PYTHONPATH=src python benchmarks/bench_model_free.py --records 50000 # quick run
    PYTHONPATH=src python benchmarks/bench_model_free.py --direct        # the generators in a plain loop

`generate_direct` drives the generators in a plain loop (the engine's per-row-group work, minus
scheduling); `generate_with_engine` is the same workload through the public API. Only one of them runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.expression.generator import ExpressionGenerator
from synthloom.columns.sampler.config import SamplerColumn
from synthloom.columns.sampler.generator import SamplerGenerator
from synthloom.config.dataset import DatasetConfig, RunConfig
from synthloom.engine.contexts import GeneratorSetup
from synthloom.engine.generator import CellFailure, RowGroupSlice

HERE = Path(__file__).resolve().parent


def workload(buffer_size: int) -> DatasetConfig:
    return DatasetConfig(
        name="model-free",
        columns=[
            SamplerColumn(name="id", sampler="uuid"),
            SamplerColumn(
                name="topic",
                sampler="category",
                params={"values": ["physics", "chemistry", "biology", "maths", "history"]},
            ),
            SamplerColumn(name="difficulty", sampler="uniform", params={"low": 0, "high": 10}),
            SamplerColumn(name="score", sampler="gaussian", params={"mean": 50, "stddev": 10}),
            SamplerColumn(
                name="created_at",
                sampler="datetime",
                params={"start": "2020-01-01", "end": "2025-01-01", "unit": "s"},
            ),
            ExpressionColumn(name="label", expr="{{ topic }}-{{ difficulty | round(1) }}", dtype="str"),
            ExpressionColumn(name="hard", expr="{{ difficulty > 5 }}", dtype="bool"),
        ],
        run=RunConfig(buffer_size=buffer_size, seed=1234),
    )


def generate_direct(config: DatasetConfig, num_records: int, out_dir: Path) -> dict[str, float]:
    """Row group by row group: samplers, then expressions, then a pyarrow table written to parquet
    (temporary name, then rename, as the engine commits). Returns seconds per stage."""
    setup = GeneratorSetup(config=config, run_seed=config.run.seed)
    generators = [
        (col.name, SamplerGenerator(col, setup) if col.type == "sampler" else ExpressionGenerator(col, setup))
        for col in config.columns
    ]
    stages: dict[str, float] = defaultdict(float)
    buffer = config.run.buffer_size
    for index, start in enumerate(range(0, num_records, buffer)):
        group = RowGroupSlice(
            index=index, start=start, size=min(buffer, num_records - start), run_seed=setup.run_seed
        )
        table: dict[str, list[Any]] = {}
        for name, gen in generators:
            t0 = time.perf_counter()
            table[name] = gen.generate(table, group, None)
            stages[name] += time.perf_counter() - t0
        t0 = time.perf_counter()
        failed = {i for values in table.values() for i, v in enumerate(values) if type(v) is CellFailure}
        if failed:
            table = {k: [v for i, v in enumerate(vs) if i not in failed] for k, vs in table.items()}
        arrow = pa.table(table)
        stages["to_arrow"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        final = out_dir / f"part-{index:05d}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        pq.write_table(arrow, tmp)
        os.replace(tmp, final)
        stages["parquet_write"] += time.perf_counter() - t0
    return dict(stages)


def generate_with_engine(config: DatasetConfig, num_records: int, out_dir: Path) -> dict[str, float]:
    """The same workload through the public API (no per-stage split)."""
    import synthloom

    synthloom.create(config, num_records=num_records, output=out_dir, resume="never")
    return {}


class PeakRss:
    """Samples this process's RSS every 20 ms; also reports the kernel's high-water mark."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--buffer-size", type=int, default=10_000)
    parser.add_argument(
        "--direct", action="store_true", help="drive the generators in a plain loop, not synthloom.create"
    )
    parser.add_argument("--save", action="store_true", help="write results/model_free.json")
    args = parser.parse_args()

    config = workload(args.buffer_size)
    generate = generate_direct if args.direct else generate_with_engine
    rss_before = psutil.Process().memory_info().rss
    with tempfile.TemporaryDirectory() as tmp, PeakRss() as rss:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        stages = generate(config, args.records, Path(tmp))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        files = list(Path(tmp).rglob("*.parquet"))
        written = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size_mb = sum(f.stat().st_size for f in files) / 2**20

    result = {
        "benchmark": "model_free",
        "driver": "generators, direct loop" if args.direct else "synthloom.create",
        "records": args.records,
        "records_written": written,
        "buffer_size": args.buffer_size,
        "parquet_files": len(files),
        "parquet_mb": round(size_mb, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s": round(written / wall),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "peak_rss_sampled_mb": round(rss.peak / 2**20, 1),
        "peak_rss_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages_s": {k: round(v, 2) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "pyarrow": pa.__version__,
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(json.dumps(result, indent=2))
    if args.save:
        out = HERE / "results" / "model_free.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
