"""Exports: one run of N records (default 1,000,000) written to every export format.

The run directory is built with the store's own writer (`RunDirectory.commit_row_group`, the codec the
engine uses): `id` (text), `topic` (one of 5), `n` (int), `question` (~60 chars), `answer` (a JSON
object `{text: ~200 chars, score}`, stored as JSON text) and `rejected` (~120 chars), in row groups of
`--buffer-size` records. Each format is exported in a fresh subprocess so that its peak RSS is its own:

    jsonl, csv, parquet        the run's records as they are
    hf                         a datasets.save_to_disk folder (needs `datasets`)
    messages, sharegpt, oasst  user <- question, assistant <- answer.text
    dpo                        prompt <- question, chosen <- answer.text, rejected <- rejected
    alpaca                     instruction <- question, output <- answer.text

    PYTHONPATH=src python benchmarks/bench_exports.py --records 50000     # quick
    PYTHONPATH=src python benchmarks/bench_exports.py --save              # 1M, writes results/exports.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

FORMATS = ["jsonl", "csv", "parquet", "hf", "messages", "sharegpt", "oasst", "dpo", "alpaca"]
SOURCES: dict[str, dict[str, str]] = {
    "messages": {"user": "question", "assistant": "answer.text"},
    "sharegpt": {"user": "question", "assistant": "answer.text"},
    "oasst": {"user": "question", "assistant": "answer.text"},
    "dpo": {"prompt": "question", "chosen": "answer.text", "rejected": "rejected"},
    "alpaca": {"instruction": "question", "output": "answer.text"},
}
TOPICS = ["physics", "chemistry", "biology", "maths", "history"]
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
]


def _text(i: int, words: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(words))


def build_run(root: Path, records: int, buffer_size: int) -> dict[str, Any]:
    """A completed run directory of `records` records, written with the store's writer."""
    from synthloom.config.loader import parse_config
    from synthloom.store.metadata import base_metadata
    from synthloom.store.run_directory import RunDirectory
    from synthloom.store.table_codec import to_arrow_table

    config = parse_config(
        "name: bench\ncolumns:\n"
        "  - {name: question, type: expression, expr: q}\n"
        "  - {name: answer, type: expression, expr: '{}', dtype: json}\n"
        "  - {name: rejected, type: expression, expr: r}\n"
    )
    names = ["id", "topic", "n", "question", "answer", "rejected"]
    started = time.perf_counter()
    store = RunDirectory(root)
    with store:
        store.write_config(config)
        for group, start in enumerate(range(0, records, buffer_size)):
            ids = range(start, min(start + buffer_size, records))
            columns = {
                "id": [f"rec-{i:08d}" for i in ids],
                "topic": [TOPICS[i % 5] for i in ids],
                "n": list(ids),
                "question": [f"Q{i}: " + _text(i, 8) + "?" for i in ids],
                "answer": [{"text": _text(i + 1, 30), "score": i % 3} for i in ids],
                "rejected": [_text(i + 2, 18) for i in ids],
            }
            store.commit_row_group(group, to_arrow_table(columns, names))
        meta = base_metadata(config, target=records, run_seed=0)
        meta.update(status="completed", committed_records=records, failed_records=0)
        store.write_metadata(meta)
    size = sum(p.stat().st_size for p in (root / "data").glob("part-*.parquet"))
    return {"build_s": round(time.perf_counter() - started, 2), "parquet_mb": round(size / 2**20, 1)}


def export_one(run: Path, fmt: str, out_dir: Path) -> dict[str, Any]:
    """Export `run` as `fmt` in this process; the figures of this process only."""
    from synthloom.outputs import ExportSource, export_records

    suffix = {"hf": "", "csv": ".csv", "parquet": ".parquet"}.get(fmt, ".jsonl")
    target = out_dir / f"export-{fmt}{suffix}"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = export_records(ExportSource.from_run(run), target, fmt, sources=SOURCES.get(fmt))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    size = sum(p.stat().st_size for p in target.iterdir()) if target.is_dir() else target.stat().st_size
    return {
        "format": fmt,
        "records": report.records,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s": round(report.records / wall) if wall else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "output_mb": round(size / 2**20, 1),
    }


def _baseline_rss() -> float:
    """Peak RSS of a process that only imports what an export imports (the floor under every figure)."""
    code = (
        "import resource, synthloom.outputs, pyarrow.parquet;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=_env())
    return round(float(out.stdout.strip()), 1)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def _child(arguments: list[str]) -> dict[str, Any]:
    """Run this script with `arguments` in a fresh process; its last output line, as JSON."""
    child = subprocess.run(
        [sys.executable, __file__, *arguments], check=True, capture_output=True, text=True, env=_env()
    )
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--buffer-size", type=int, default=10_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    parser.add_argument("--save", action="store_true", help="write results/exports.json")
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    # The parent stays small (no pyarrow, no synthloom): a child's peak RSS starts from its parent's.
    if args.build:
        print(json.dumps(build_run(args.run, args.records, args.buffer_size)))
        return
    if args.one:  # the child: one export, figures as one JSON line
        print(json.dumps(export_one(args.run, args.one, args.out)))
        return

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        run = Path(tmp) / "run" / "bench"
        built = _child(
            [
                "--build",
                "--run",
                str(run),
                "--records",
                str(args.records),
                "--buffer-size",
                str(args.buffer_size),
            ]
        )
        print(f"run: {args.records:,} records in {built['parquet_mb']} MB of parquet ({built['build_s']} s)")
        for fmt in args.formats.split(","):
            out = Path(tmp) / "out"
            out.mkdir(exist_ok=True)
            result = _child(["--one", fmt, "--run", str(run), "--out", str(out)])
            results.append(result)
            print(
                f"  {fmt:<9} {result['records_per_s']:>9,} records/s  wall {result['wall_s']:>6} s  "
                f"peak RSS {result['peak_rss_mb']:>7} MB  output {result['output_mb']} MB"
            )
            for path in out.iterdir():  # keep the disk use to one export at a time
                subprocess.run(["rm", "-rf", str(path)], check=True)
        baseline = _baseline_rss()
    summary = {
        "benchmark": "exports",
        "records": args.records,
        "buffer_size": args.buffer_size,
        "run": built,
        "baseline_rss_mb": baseline,
        "formats": results,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pyarrow": importlib.metadata.version("pyarrow"),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(f"baseline RSS (imports only): {baseline} MB")
    if args.save:
        path = HERE / "results" / "exports.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
