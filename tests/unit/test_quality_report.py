"""`synthloom report` and the viewer's API, on a small finished run (the browser tier drives the pages)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from synthloom.interface.cli import cli
from synthloom.report import RunData, ViewerServer, build_report
from synthloom.report.diversity import category_coverage, distinct_n, embedding_spread
from synthloom.report.svg_charts import bar_chart, histogram
from tests.browser._quality_run import make_quality_run


@pytest.fixture
async def run(tmp_path: Path) -> Path:
    return await make_quality_run(tmp_path / "out", records=60)


async def test_the_report_is_one_self_contained_file_with_plots(run: Path, tmp_path: Path) -> None:
    html = build_report(run)
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched
    assert "<script" not in html
    assert html.count("<svg") >= 15
    for text in [
        "records kept",
        "clarity score",
        "language",
        "Dedup",
        "exact",
        "distinct-2",
        "p95",
        "checked: ValueError",
        "boilerplate",  # each defect tag's distribution
        "encoding",
        "markup",
        "repeated_sentence_ratio",
    ]:
        assert text in html, text
    done = CliRunner().invoke(cli, ["report", str(run), "-o", str(tmp_path / "r.html")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "r.html").read_text().count("<svg") >= 15


def test_report_of_something_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert done.exit_code == 2 and "not a synthloom run directory" in done.output


async def test_records_keep_their_record_numbers(run: Path) -> None:
    data = RunData(run)
    removed = {f["record"] for f in data.failures} | {f["record"] for f in data.filtered}
    records = [r for r, _ in data.rows()]
    assert records == sorted(set(range(60)) - removed)
    lineage = data.lineage(records[0])
    assert {c["column"] for c in lineage} >= {"answer", "grade"}
    assert all(c["record"] == records[0] for c in lineage)


async def test_viewer_api_filters_and_serves_lineage(run: Path) -> None:
    async with ViewerServer(run, port=0) as server, aiohttp.ClientSession() as http:
        base = server.url
        summary = await (await http.get(base + "api/summary")).json()
        assert summary["name"] == "quality-demo" and summary["failed"] == 6
        assert "tags.language" in summary["fields"] and "grade.clarity.score" in summary["fields"]
        assert {"tags.boilerplate", "tags.encoding", "tags.markup"} <= set(summary["fields"])
        everything = await (await http.get(base + "api/records")).json()
        tides = await (await http.get(base + "api/records", params=[("f", "topic:eq:tides")])).json()
        assert 0 < tides["total"] < everything["total"]
        assert {r["values"]["topic"] for r in tides["rows"]} == {"tides"}
        high = await (
            await http.get(base + "api/records", params=[("f", "level:gt:5"), ("q", "volcanoes")])
        ).json()
        assert all(r["values"]["level"] > 5 and r["values"]["topic"] == "volcanoes" for r in high["rows"])
        record = everything["rows"][0]["record"]
        detail = await (await http.get(f"{base}api/record/{record}")).json()
        answer = next(c for c in detail["lineage"] if c["column"] == "answer")
        call = answer["calls"][0]
        assert call["messages"][0] == {"role": "system", "content": "You are a patient teacher."}
        assert call["input_tokens"] > 0 and call["latency_s"] >= 0
        failed = await (await http.get(base + "api/removed", params={"kind": "failed"})).json()
        assert failed["total"] == 6 and "not supported" in failed["rows"][0]["error"]
        one = await (await http.get(f"{base}api/record/{failed['rows'][0]['record']}")).json()
        assert one["removal"]["kind"] == "failed" and one["values"] is None
        assert (await http.get(base + "api/records", params={"f": "topic:like:x"})).status == 400
        assert (await http.get(base + "api/record/99999")).status == 404
        # Another Host (DNS rebinding from a web page elsewhere) is refused.
        assert (await http.get(base + "api/summary", headers={"Host": "evil.example:80"})).status == 403


def test_charts_and_diversity_measures() -> None:
    assert "no data" in bar_chart([]) and "no data" in histogram([])
    assert bar_chart([("a", 3), ("b", 1)]).count("<rect") == 2
    assert histogram([1, 2, 2, 3]).count("<rect") == 3  # one bar per small integer
    assert distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6, abs=1e-3)
    assert distinct_n([], 2) is None
    spread = embedding_spread([[1, 0], [0, 1], [1, 0]])
    assert spread is not None and 0 < spread["mean_cosine_distance"] <= 1
    assert embedding_spread([[1, 0], [1, 0, 0]]) is None
    coverage = category_coverage(["x", "x", "y"], ["x", "y", "z"])
    assert coverage["categories"] == 2 and coverage["missing"] == ["z"] and 0 < coverage["evenness"] < 1
