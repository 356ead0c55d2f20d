"""Records you can read: the viewer's API (sort, ge/le, images, labelled exchanges, default columns)
and the report (per-field profiles, judge scores before and after filters, sample cards), on a small
run with a person, a structured reply, a conversation, a tool-using answer and an image. The browser
tier drives the pages themselves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from synthloom.report import ViewerServer, build_report
from synthloom.report.record_cards import value_html
from tests.browser._records_run import make_records_run


@pytest.fixture
async def run(tmp_path: Path) -> Path:
    return await make_records_run(tmp_path / "out", records=40, buffer_size=20)


async def _get(http: aiohttp.ClientSession, url: str, params: Any = None) -> Any:
    async with http.get(url, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_viewer_sorts_filters_between_bounds_and_hides_side_columns(run: Path) -> None:
    async with ViewerServer(run, port=0) as server, aiohttp.ClientSession() as http:
        base = server.url
        summary = await _get(http, base + "api/summary")
        assert "answer__trajectory" in summary["columns"]
        assert "answer__trajectory" not in summary["default_columns"]
        assert {"ge", "le"} <= set(summary["ops"])
        between = await _get(
            http, base + "api/records", [("f", "level:ge:3"), ("f", "level:le:5"), ("limit", "500")]
        )
        levels = [r["values"]["level"] for r in between["rows"]]
        assert levels and set(levels) <= {3, 4, 5} and {3, 5} <= set(levels)
        up = await _get(http, base + "api/records", {"sort": "level", "limit": "500"})
        down = await _get(http, base + "api/records", {"sort": "level", "desc": "1", "limit": "500"})
        ups = [r["values"]["level"] for r in up["rows"]]
        assert ups == sorted(ups) and ups != [
            r["values"]["level"] for r in (await _get(http, base + "api/records", {"limit": "500"}))["rows"]
        ]
        assert [r["values"]["level"] for r in down["rows"]] == sorted(ups, reverse=True)
        by_score = await _get(http, base + "api/records", {"sort": "grade.clarity.score", "desc": "1"})
        assert by_score["rows"][0]["values"]["grade"].startswith('{"clarity":{"score":3')
        # The list shows short forms: an image and a chat are named, not dumped.
        first = up["rows"][0]["values"]
        assert re.fullmatch(r"\[image, \d+ bytes\]", first["picture"])
        assert first["chat"].startswith("[5 messages]")
        assert first["answer__trajectory"].startswith("[5 messages, 1 tool call]")


async def test_a_record_has_its_image_as_data_and_each_exchange_labelled(run: Path) -> None:
    async with ViewerServer(run, port=0) as server, aiohttp.ClientSession() as http:
        rows = await _get(http, server.url + "api/records")
        detail = await _get(http, f"{server.url}api/record/{rows['rows'][0]['record']}")
        picture = detail["values"]["picture"]
        assert picture["$image"].startswith("data:image/png;base64,") and picture["bytes"] > 0
        chat = next(c for c in detail["lineage"] if c["column"] == "chat")
        labels = [(call.get("node"), call.get("speaker")) for call in chat["calls"]]
        assert labels == [("user", "user"), ("assistant", "assistant")] * 2
        answer = next(c for c in detail["lineage"] if c["column"] == "answer")
        assert all("node" not in call for call in answer["calls"])  # not a flow: no node to name


async def test_report_profiles_fields_judge_scores_before_filters_and_shows_cards(run: Path) -> None:
    html = build_report(run, samples=4)
    # A person and a structured reply: one chart per field, not "keys present".
    assert "keys present" not in html
    for field in ("first_name", "age", "city", "difficulty", "words"):
        assert re.search(rf">{field} \(\d+ of \d+\)", html), field
    # Judge scores of every scored row, the filtered ones included.
    section = html.split("Judge scores before and after filters", 1)[1]
    table = section.split("</table>", 1)[0]
    cells = re.findall(
        r"<tr><td>grade\.clarity</td><td class='num'>(\d)</td><td class='num'>(\d+)</td>"
        r"<td class='num'>(\d+)</td>",
        table,
    )
    by_value = {int(v): (int(before), int(kept)) for v, before, kept in cells}
    assert by_value[1][0] > 0 and by_value[1][1] == 0  # score 1 rows were all filtered out
    assert all(before >= kept for before, kept in by_value.values())
    assert by_value[3][0] == by_value[3][1] > 0
    # Samples as cards: chats as bubbles, images inline, persons as fields.
    assert html.count('class="sl-card"') == 4
    assert 'class="sl-msg sl-user"' in html and "data:image/png;base64," in html
    assert "→ lookup(" in html


def test_values_render_as_what_they_are() -> None:
    steps = [{"step": 1, "node": "user", "output": "hi", "next": "assistant"}]
    assert "step 1 · node user → assistant" in value_html(steps)
    assert "vector of 16 numbers" in value_html([0.5] * 16)
    assert value_html("x" * 10, limit=4).startswith("xxxx<details><summary>6 more characters")
    assert "<script>" not in value_html({"a": "<script>alert(1)</script>"})
