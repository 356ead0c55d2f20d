"""Records you can read, in headless Chromium, on a run of 10,000 records: the viewer's column picker,
sort, ge/le filters, a record's values before its lineage (a chat, a tool-using trajectory, an image,
a person), exchanges labelled with node and speaker; the report's field profiles, judge scores before
and after filters and sample cards.

Screenshots go to `$SYNTHLOOM_SCREENSHOTS` when set (else the test's tmp dir): look at them when a
layout changes. How fast the first page shows is measured by benchmarks/bench_viewer.py, not here."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from synthloom.report import ViewerServer, write_report
from tests.browser._records_run import make_records_run
from tests.browser.cdp import Chromium

pytestmark = pytest.mark.browser

RECORDS = 10_000


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 3% of the records get the model-made columns: every kind of value, at a size a test can make.
    out = tmp_path_factory.mktemp("records")
    return asyncio.run(make_records_run(out, RECORDS, buffer_size=1000, rich_share=0.03))


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SYNTHLOOM_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


def _scroll_to(tag: str, heading: str) -> str:
    found = f"[...document.querySelectorAll('{tag}')].find((h) => h.textContent.startsWith('{heading}'))"
    return found + ".scrollIntoView()"


async def _texts(page: Chromium, selector: str) -> list[str]:
    return list(
        await page.evaluate(f"[...document.querySelectorAll({selector!r})].map((e) => e.textContent)")
    )


async def test_viewer_picks_columns_sorts_filters_and_shows_values_as_what_they_are(
    big_run: Path, shots: Path, tmp_path: Path
) -> None:
    async with ViewerServer(big_run, port=0) as server, Chromium(tmp_path / "profile", height=1000) as page:
        await page.goto(server.url)
        await page.wait_for("document.querySelectorAll('#rows tbody tr').length === 50")
        kept = int((await page.evaluate("document.getElementById('tab-records').textContent"))[9:-1])
        assert kept > 9_000
        headers = await _texts(page, "#rows thead th.sortable")
        # The values are on screen; side columns wait in the picker.
        assert headers[:3] == ["topic", "reviewer", "level"] and "answer__trajectory" not in headers
        await page.screenshot(shots / "viewer-list-10k.png", full_page=False)

        # Column picker: hide the person, show a trajectory.
        await page.click("#pick-columns")
        await page.click("#picker input[value='reviewer']")
        await page.click("#picker input[value='answer__trajectory']")
        # Each click re-renders; wait for the one that reflects both.
        await page.wait_for(
            "!document.querySelector('#rows th[data-column=reviewer]')"
            " && Boolean(document.querySelector('#rows th[data-column=answer__trajectory]'))"
        )
        await page.click("#pick-columns")

        # Only the model-made records, levels between 3 and 5, sorted by level, highest first.
        for field, op, value in (("rich", "eq", "true"), ("level", "ge", "3"), ("level", "le", "5")):
            await page.select("#filter-field", field)
            await page.select("#filter-op", op)
            await page.evaluate("document.getElementById('filter-value').value = ''")
            await page.type_into("#filter-value", value)
            await page.click("#add-filter")
            await page.wait_for(f"document.getElementById('chips').textContent.includes('{field} {op}')")
        await page.click("#rows th[data-column=level]")
        await page.wait_for("document.getElementById('sort-state').textContent.includes('ascending')")
        await page.click("#rows th[data-column=level]")
        await page.wait_for("document.getElementById('sort-state').textContent.includes('descending')")
        level_at = await page.evaluate(
            "[...document.querySelectorAll('#rows thead th')].findIndex((th) => th.dataset.column == 'level')"
        )
        levels = [int(x) for x in await _texts(page, f"#rows tbody td:nth-child({level_at + 1})")]
        assert levels == sorted(levels, reverse=True) and set(levels) <= {3, 4, 5} and levels[0] == 5
        await page.screenshot(shots / "viewer-filtered-sorted.png", full_page=False)

        # A record: its values first, each as what it is, then the lineage.
        await page.click("#rows tbody tr td")  # the record number: a wide row's middle may be off screen
        await page.wait_for("document.querySelectorAll('#detail .lineage-cell').length >= 4")
        assert await page.evaluate(
            "Boolean(document.querySelector('#detail .values').compareDocumentPosition("
            "document.querySelector('#detail .lineage-cell')) & Node.DOCUMENT_POSITION_FOLLOWING)"
        )
        speakers = await _texts(page, "#detail dd[data-column=chat] .bubble > b")
        assert speakers[:3] == ["system", "user", "assistant"]
        calls = await _texts(page, "#detail dd[data-column=answer__trajectory] .tool-call")
        assert len(calls) == 1 and calls[0].startswith("→ lookup(")
        assert (
            await page.evaluate("document.querySelector('#detail dd[data-column=picture] img').naturalWidth")
            == 64
        )
        assert "first_name" in await _texts(page, "#detail dd[data-column=reviewer] dt")
        assert "clarity: " in (await _texts(page, "#detail dd[data-column=grade] .score"))[0]
        await page.screenshot(shots / "viewer-record-values.png", full_page=False)
        await page.evaluate(
            "document.querySelector('#detail dd[data-column=answer__trajectory]').scrollIntoView()"
        )
        await page.screenshot(shots / "viewer-record-chat-and-tools.png", full_page=False)

        # Each exchange of the conversation says which node spoke, as which speaker.
        labels = await _texts(page, "#detail .lineage-cell[data-column=chat] .exchange")
        assert len(labels) == 4
        assert "node user" in labels[0] and "speaker user" in labels[0]
        assert "node assistant" in labels[1] and "speaker assistant" in labels[1]
        await page.evaluate(
            "document.querySelector('#detail .lineage-cell[data-column=chat]').scrollIntoView()"
        )
        await page.screenshot(shots / "viewer-lineage-labelled.png", full_page=False)


async def test_report_at_10k_records_profiles_fields_and_judge_scores_and_shows_cards(
    big_run: Path, shots: Path, tmp_path: Path
) -> None:
    report = write_report(big_run, tmp_path / "report.html", samples=6)
    async with Chromium(tmp_path / "profile", height=1000) as page:
        await page.goto(report.as_uri())
        assert await page.evaluate("performance.getEntriesByType('resource').length") == 0
        titles = await _texts(page, "svg.chart text")
        for field in ("first_name", "age", "occupation", "difficulty", "words"):
            assert any(t.startswith(f"{field} (") for t in titles), field
        await page.evaluate(_scroll_to("h3", "reviewer"))
        await page.screenshot(shots / "report-person-fields.png", full_page=False)

        before_after = await page.evaluate("document.querySelector('table.judge-before-after').innerText")
        assert "before filters" in before_after and "grade.clarity" in before_after
        await page.evaluate(_scroll_to("h3", "Judge scores"))
        await page.screenshot(shots / "report-judge-before-after.png", full_page=False)

        assert await page.evaluate("document.querySelectorAll('.sl-card').length") == 6
        await page.evaluate(_scroll_to("h2", "Sample records"))
        await page.screenshot(shots / "report-sample-cards.png", full_page=False)
