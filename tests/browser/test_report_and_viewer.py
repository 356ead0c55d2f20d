"""The report and the viewer as a person sees them: opened in headless Chromium, the viewer driven by
clicks and typing. Screenshots are kept under the test's tmp dir (look at them when a layout changes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthloom.report import ViewerServer, write_report
from tests.browser._quality_run import make_quality_run
from tests.browser.cdp import Chromium

pytestmark = pytest.mark.browser


async def test_report_renders_offline_with_plots_in_chromium(tmp_path: Path) -> None:
    run = await make_quality_run(tmp_path / "out", records=60)
    report = write_report(run, tmp_path / "report.html")
    async with Chromium(tmp_path / "profile") as page:
        await page.goto(report.as_uri())
        headings = await page.evaluate("[...document.querySelectorAll('h2')].map((h) => h.textContent)")
        assert headings == [
            "Summary",
            "Columns",
            "Quality",
            "Diversity",
            "Tokens, cost and latency",
            "Failed and filtered rows",
            "Reviews",
            "Sample records",
        ]
        assert await page.evaluate("document.querySelectorAll('svg.chart').length") >= 15
        # Every plot drew something, and nothing was fetched: the file is self-contained.
        assert await page.evaluate(
            "[...document.querySelectorAll('svg.chart')].every((s) => s.getBBox().width > 0)"
        )
        assert await page.evaluate("performance.getEntriesByType('resource').length") == 0
        text = await page.evaluate("document.body.textContent")
        assert "exact duplicate of record N" in text  # filtered rows grouped by reason
        assert "checked: ValueError" in text  # failures by column and error
        assert "writer" in text and "p95" in text
        shot = await page.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 50_000


async def test_viewer_filters_records_and_opens_a_cells_lineage(tmp_path: Path) -> None:
    run = await make_quality_run(tmp_path / "out", records=60)
    async with ViewerServer(run, port=0) as server, Chromium(tmp_path / "profile") as page:
        await page.goto(server.url)
        await page.wait_for("document.querySelectorAll('#rows tbody tr').length > 0")
        total = await page.evaluate("document.querySelectorAll('#rows tbody tr').length")
        assert (
            await page.evaluate("document.getElementById('tab-records').textContent") == f"Records ({total})"
        )

        # Filter on a column value: only tides remain.
        await page.select("#filter-field", "topic")
        await page.select("#filter-op", "eq")
        await page.type_into("#filter-value", "tides")
        await page.click("#add-filter")
        await page.wait_for(f"document.querySelectorAll('#rows tbody tr').length < {total}")
        topics = await page.evaluate(
            "[...document.querySelectorAll('#rows tbody tr')].map((tr) => tr.children[1].textContent)"
        )
        assert topics and set(topics) == {"tides"}
        assert "tides" in await page.evaluate("document.getElementById('chips').textContent")

        # And on a tag: nothing here is in French.
        await page.select("#filter-field", "tags.language")
        await page.evaluate("document.getElementById('filter-value').value = ''")
        await page.type_into("#filter-value", "fr")
        await page.click("#add-filter")
        await page.wait_for("document.getElementById('count').textContent.startsWith('0 records')")
        await page.click("#chips .chip:nth-child(2) a")  # remove the language filter
        await page.wait_for("document.querySelectorAll('#rows tbody tr').length > 0")

        # One record's lineage: the rendered prompt, the reply, tokens and latency of each cell.
        await page.click("#rows tbody tr")
        await page.wait_for("document.querySelectorAll('#detail .lineage-cell').length >= 2")
        detail = await page.evaluate("document.getElementById('detail').innerText")
        assert "You are a patient teacher." in detail  # the system prompt sent
        assert "Explain tides to a child" in detail  # the rendered prompt
        assert "Simulated reply to:" in detail  # the reply
        assert "tokens in" in detail and "attempt(s)" in detail
        columns = await page.evaluate(
            "[...document.querySelectorAll('#detail .lineage-cell')].map((c) => c.dataset.column)"
        )
        assert {"answer", "grade"} <= set(columns)
        await page.screenshot(tmp_path / "viewer-record.png", full_page=False)

        # Failed and filtered rows, with their reasons; a failed row's detail says why.
        await page.click("#tab-failed")
        await page.wait_for("document.getElementById('count').textContent.includes('failed rows')")
        failed = await page.evaluate("document.getElementById('rows').innerText")
        assert "level 2 is not supported" in failed
        await page.click("#rows tbody tr")
        await page.wait_for("document.querySelector('#detail .removed') !== null")
        assert "failed" in await page.evaluate("document.querySelector('#detail .removed').innerText")
        await page.click("#tab-filtered")
        await page.wait_for("document.getElementById('count').textContent.includes('filtered rows')")
        filtered = await page.evaluate("document.getElementById('rows').innerText")
        assert "exact duplicate of record" in filtered
        assert "condition is false" in filtered
        await page.screenshot(tmp_path / "viewer-filtered.png", full_page=False)
