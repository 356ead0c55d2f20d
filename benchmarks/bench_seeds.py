"""Seed reading: a 10-million-row parquet seed, ordered and shuffled, and document ingestion.

Workloads:
- large parquet: 10,000,000 rows (`id` int64, `text` ~35 characters, `score` float64) in row groups
  of 1,048,576 rows (pyarrow's default, the worst case for memory), one epoch handed out in row groups
  of 1,000 records through `SeedReader.rows_for` (Python values, as the engine gets them), once with
  `sampling: ordered` and once with `sampling: shuffle`. Each mode runs in a fresh process so that
  its peak RSS is its own; the shuffle run checks that every row came exactly once.
  Target: peak RSS < 500 MB.
- documents: 1,000 markdown files (~6 KB, headings and paragraphs) and 100 PDFs (5 pages each,
  written by a minimal PDF writer below) read and chunked (2,000 characters, overlap 200);
  1,000 HTML files as well, and PDF text extraction with pypdfium2 when it is installed, to compare.

    PYTHONPATH=src python benchmarks/bench_seeds.py                 # everything, results/seeds.json
    PYTHONPATH=src python benchmarks/bench_seeds.py --rows 1000000  # a quicker large-seed run
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
BUFFER = 1000


# -- the large parquet seed -------------------------------------------------------------------------


def write_parquet(path: Path, rows: int) -> float:
    started = time.perf_counter()
    schema = pa.schema([("id", pa.int64()), ("text", pa.string()), ("score", pa.float64())])
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 1_048_576):
            n = min(1_048_576, rows - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            picks = words[rng.integers(0, len(words), size=(n, 4))]
            pairs = zip(ids.tolist(), picks.tolist(), strict=True)
            text = pa.array([f"record {i}: " + " ".join(p) for i, p in pairs])
            writer.write_table(
                pa.table({"id": ids, "text": text, "score": rng.random(n)}, schema=schema),
                row_group_size=1_048_576,
            )
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not `ru_maxrss`: Linux carries that over from the
    parent through fork and exec, so a worker would report the parent's peak (the data generation)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_worker(path: str, sampling: str, rows: int) -> dict[str, Any]:
    """One epoch of `rows` records in row groups of BUFFER, in this process."""
    from synthloom.config.seed_config import SeedConfig
    from synthloom.row_groups import RowGroupSlice
    from synthloom.seeds.reader import SeedReader

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    reader = SeedReader(SeedConfig(path=path, sampling=sampling), base_dir=Path("."), run_seed=0)  # type: ignore[arg-type]
    open_s = time.perf_counter() - started
    reader_lazy = bool(reader._sources[0].lazy)  # type: ignore[attr-defined]
    seen = np.zeros(rows, dtype=bool)
    checksum = 0
    cpu0 = time.process_time()
    started = time.perf_counter()
    for index, start in enumerate(range(0, rows, BUFFER)):
        group = RowGroupSlice(index=index, start=start, size=min(BUFFER, rows - start), run_seed=0)
        ids = reader.rows_for(group)["id"]
        seen[ids] = True
        checksum += sum(ids)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    reader.close()
    return {
        "sampling": sampling,
        "records": rows,
        "lazy": reader_lazy,
        "open_s": round(open_s, 3),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s": round(rows / wall),
        "every_row_once": bool(seen.all()) and checksum == rows * (rows - 1) // 2,
        "rss_before_mb": round(rss_before),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def large_seed(rows: int, work: Path) -> dict[str, Any]:
    path = work / "seed.parquet"
    write_s = write_parquet(path, rows)
    out: dict[str, Any] = {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
        "write_s": round(write_s, 1),
        "buffer_size": BUFFER,
        "modes": [],
    }
    for sampling in ("ordered", "shuffle"):
        result = subprocess.run(
            [sys.executable, __file__, "--worker", str(path), sampling, str(rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        mode = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"  {sampling}: {mode}", flush=True)
        out["modes"].append(mode)
    return out


# -- documents --------------------------------------------------------------------------------------

PARAGRAPH = (
    "Seed documents are read, cut into chunks on headings and paragraphs, and handed to the prompts "
    "of every column that reads them. This paragraph is filler of a realistic length for a manual. "
)


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF: one block of Helvetica text per page."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        shown = " ".join(f"({esc(line)}) Tj T*" for line in text.split("\n"))
        stream = f"BT /F1 10 Tf 12 TL 50 750 Td {shown} ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_documents(root: Path) -> None:
    (root / "md").mkdir(parents=True)
    (root / "pdf").mkdir()
    (root / "html").mkdir()
    for i in range(1000):
        sections = [f"## Section {s}\n\n" + "\n\n".join([PARAGRAPH * 2] * 3) for s in range(5)]
        (root / "md" / f"doc{i:04d}.md").write_text(f"# Manual {i}\n\n" + "\n\n".join(sections))
        body = "".join(f"<h2>Section {s}</h2>" + f"<p>{PARAGRAPH * 2}</p>" * 3 for s in range(5))
        (root / "html" / f"doc{i:04d}.html").write_text(
            f"<html><head><title>Manual {i}</title><script>var x=1;</script></head><body>{body}</body></html>"
        )
    lines = [PARAGRAPH[k : k + 90] for k in range(0, len(PARAGRAPH), 90)] * 12
    for i in range(100):
        pages = [f"Report {i}, page {p}\n" + "\n".join(lines) for p in range(1, 6)]
        (root / "pdf" / f"report{i:03d}.pdf").write_bytes(make_pdf(pages))


def ingest(root: Path, pattern: str) -> dict[str, Any]:
    from synthloom.config.seed_config import SeedConfig
    from synthloom.seeds.reader import SeedReader

    files = sorted(root.glob(pattern))
    size = sum(f.stat().st_size for f in files)
    seed = SeedConfig(documents=pattern, chunk={"size": 2000, "overlap": 200})  # type: ignore[arg-type]
    started = time.perf_counter()
    reader = SeedReader(seed, base_dir=root, run_seed=0)
    wall = time.perf_counter() - started
    return {
        "files": len(files),
        "mb": round(size / 2**20, 2),
        "wall_s": round(wall, 3),
        "files_per_s": round(len(files) / wall),
        "mb_per_s": round(size / 2**20 / wall, 2),
        "chunks": len(reader),
        "skipped": len(reader.report.issues),
    }


def pdfium_extraction(root: Path) -> dict[str, Any] | None:
    try:
        import pypdfium2
    except ImportError:
        return None
    files = sorted((root / "pdf").glob("*.pdf"))
    started = time.perf_counter()
    pages = 0
    for path in files:
        document = pypdfium2.PdfDocument(path)
        for page in document:
            page.get_textpage().get_text_range()
            pages += 1
        document.close()
    wall = time.perf_counter() - started
    return {"library": "pypdfium2", "files": len(files), "pages": pages, "wall_s": round(wall, 3)}


def documents(work: Path) -> dict[str, Any]:
    root = work / "docs"
    write_documents(root)
    out = {
        "markdown": ingest(root, "md/*.md"),
        "pdf_pypdf": ingest(root, "pdf/*.pdf"),
        "html_stdlib": ingest(root, "html/*.html"),
        "pdf_pypdfium2_extract_only": pdfium_extraction(root),
    }
    for name, value in out.items():
        print(f"  {name}: {value}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--worker", nargs=3, metavar=("PATH", "SAMPLING", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true", help="do not write results/seeds.json")
    args = parser.parse_args()
    if args.worker:
        path, sampling, rows = args.worker
        print(json.dumps(read_worker(path, sampling, int(rows))))
        return
    import pyarrow

    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "pyarrow": pyarrow.__version__, "cpus": 2},
    }
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as tmp:
        work = Path(tmp)
        print(f"large parquet seed, {args.rows:,} rows", flush=True)
        results["large_parquet"] = large_seed(args.rows, work)
        print("documents", flush=True)
        results["documents"] = documents(work)
    if not args.no_save:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "seeds.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
