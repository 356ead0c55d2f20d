"""The viewer on a run of 10,000 records (3 % with model-made columns: a person, a structured reply, a
conversation, a tool-using answer, an image, a judge), in headless Chromium (Debian's `chromium`):

    first page     opening the viewer until the first 50 rows are drawn (records loaded on first use)
    sort           a header click (sort by level) until the re-sorted page is drawn
    filter         rich eq true, level ge 3, level le 5, until drawn
    record         a click on a row until the record's values and lineage are drawn

Each figure is the median of `--repeats` fresh page loads (a fresh viewer each time, so the first page
includes reading the run). The run is made once against the simulated endpoint.

    PYTHONPATH=src:. python benchmarks/bench_viewer.py            # writes results/viewer.json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.harness import save_results, stamped  # noqa: E402
from tests.browser._records_run import make_records_run  # noqa: E402
from tests.browser.cdp import Chromium  # noqa: E402

from synthloom.report import ViewerServer  # noqa: E402


async def _timed(page: Chromium, action: str, condition: str) -> float:
    start = time.perf_counter()
    await page.evaluate(action)
    await page.wait_for(condition, timeout_ms=60_000)
    return time.perf_counter() - start


async def _one_visit(run: Path, profile: Path) -> dict[str, float]:
    async with ViewerServer(run, port=0) as server, Chromium(profile) as page:
        start = time.perf_counter()
        await page.goto(server.url)
        await page.wait_for("document.querySelectorAll('#rows tbody tr').length === 50", timeout_ms=60_000)
        first = time.perf_counter() - start
        sort = await _timed(
            page,
            "document.querySelector('#rows th[data-column=level]').click()",
            "document.getElementById('sort-state').textContent.includes('ascending')",
        )
        filters = await _timed(
            page,
            "state.filters.push(['rich','eq','true'],['level','ge','3'],['level','le','5']); render()",
            "document.getElementById('chips').querySelectorAll('.chip').length === 3"
            " && document.querySelectorAll('#rows tbody tr').length > 0"
            " && document.getElementById('count').textContent.includes('match')",
        )
        record = await _timed(
            page,
            "document.querySelector('#rows tbody tr').click()",
            "document.querySelectorAll('#detail .lineage-cell').length >= 4",
        )
    return {"first_page_s": first, "sort_s": sort, "filter_s": filters, "record_s": record}


async def main(records: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        run = await make_records_run(Path(tmp) / "out", records, buffer_size=1000, rich_share=0.03)
        made = time.perf_counter() - made
        visits = [await _one_visit(run, Path(tmp) / f"profile-{i}") for i in range(repeats)]
    medians = {k: round(statistics.median(v[k] for v in visits), 3) for k in visits[0]}
    return {"records": records, "repeats": repeats, "run_made_s": round(made, 1), **medians}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    figures = stamped(asyncio.run(main(args.records, args.repeats)))
    print(figures)
    save_results("viewer", {"10k_records": figures})
