"""Reviewing in the viewer as a person does: click a verdict, reload, see it; and a page from another
origin that tries to write a review is refused (nothing is written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from synthloom.report import ViewerServer
from synthloom.store.reviews import REVIEWS_FILE
from tests.browser._quality_run import make_quality_run
from tests.browser.cdp import Chromium

pytestmark = pytest.mark.browser

FIRST_ROW = "#rows tbody tr"
#: Where to click a row: its first cell, always in view (a wide row's middle may be scrolled out of sight).
FIRST_CELL = "#rows tbody tr td:first-child"


async def test_a_verdict_clicked_in_the_viewer_is_saved_and_shown_after_a_reload(tmp_path: Path) -> None:
    run = await make_quality_run(tmp_path / "out", records=30)
    async with (
        ViewerServer(run, port=0, review=True, reviewer="ana") as server,
        Chromium(tmp_path / "profile") as page,
    ):
        await page.goto(server.url)
        await page.wait_for(f"document.querySelectorAll('{FIRST_ROW}').length > 0")
        record = int(await page.evaluate(f"document.querySelector('{FIRST_ROW}').dataset.record"))
        await page.click(FIRST_CELL)
        await page.wait_for("document.getElementById('review-good') !== null")
        assert await page.evaluate("document.getElementById('review-status').textContent") == "not reviewed"
        await page.type_into("#review-note", "clear and correct")
        await page.click("#review-bad")
        await page.wait_for("document.getElementById('review-status').textContent.startsWith('bad by ana')")

        await page.goto(server.url)  # reload: what is shown now comes from reviews.jsonl
        await page.wait_for(f"document.querySelectorAll('{FIRST_ROW}').length > 0")
        assert await page.evaluate(f"document.querySelector('{FIRST_ROW} td.verdict').textContent") == "bad"
        await page.click(FIRST_CELL)
        await page.wait_for("document.getElementById('review-status') !== null")
        assert (await page.evaluate("document.getElementById('review-status').textContent")).startswith(
            "bad by ana"
        )
        assert await page.evaluate("document.getElementById('review-note').value") == "clear and correct"
        assert "on-bad" in await page.evaluate("document.getElementById('review-bad').className")

        # Change of mind: good now; the filter shows it among the good ones only.
        await page.click("#review-good")
        await page.wait_for("document.getElementById('review-status').textContent.startsWith('good by ana')")
        await page.select("#review-filter", "good")
        await page.wait_for("document.getElementById('count').textContent.startsWith('1 records')")
        await page.select("#review-filter", "bad")
        await page.wait_for("document.getElementById('count').textContent.startsWith('0 records')")
        await page.screenshot(tmp_path / "viewer-review.png", full_page=False)

    lines = [json.loads(line) for line in (run / REVIEWS_FILE).read_text().splitlines()]
    assert [(r["record"], r["verdict"], r["note"], r["who"]) for r in lines] == [
        (record, "bad", "clear and correct", "ana"),
        (record, "good", "clear and correct", "ana"),
    ]


async def test_a_page_from_another_origin_cannot_write_a_review(tmp_path: Path) -> None:
    run = await make_quality_run(tmp_path / "out", records=10)
    async with ViewerServer(run, port=0, review=True) as server:
        # Another site on another port of the same machine: a different origin.
        evil = web.Application()

        async def evil_page(request: web.Request) -> web.Response:
            return web.Response(text="<html><body>hello</body></html>", content_type="text/html")

        evil.router.add_get("/", evil_page)
        runner = web.AppRunner(evil)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        evil_url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        try:
            async with Chromium(tmp_path / "profile") as page:
                # Learn the real token the way only the viewer's own page can (the test reads it from
                # the page directly, so the Origin check alone is what refuses the forged request).
                await page.goto(server.url)
                token = await page.evaluate("CONFIG.token")
                assert token
                await page.goto(evil_url)
                target = json.dumps(server.url + "api/review")
                body = json.dumps(json.dumps({"record": 0, "verdict": "good", "note": "forged"}))
                simple = await page.evaluate(
                    f"fetch({target}, {{method: 'POST', mode: 'no-cors',"
                    f" headers: {{'Content-Type': 'text/plain'}}, body: {body}}})"
                    ".then((r) => r.type, (e) => 'error: ' + e)"
                )
                assert simple == "opaque"  # sent, but the answer is hidden from the page
                preflighted = await page.evaluate(
                    f"fetch({target}, {{method: 'POST', headers: {{'Content-Type': 'application/json',"
                    f" 'X-Synthloom-Token': {json.dumps(token)}}}, body: {body}}})"
                    ".then((r) => 'status ' + r.status, (e) => 'error')"
                )
                assert preflighted == "error"  # the browser's preflight is not answered with CORS
        finally:
            await runner.cleanup()
    assert not (run / REVIEWS_FILE).exists()
