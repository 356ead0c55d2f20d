"""Reviews: recorded through the viewer's API (token, Origin and Host checked; unknown records refused
with nothing written), kept across a resume, and read by `export --reviewed` and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from click.testing import CliRunner

import synthloom
from synthloom.config.dataset import DatasetConfig
from synthloom.interface.cli import cli
from synthloom.report import ViewerServer
from synthloom.store.reviews import REVIEWS_FILE, ReviewLog
from synthloom.testing import SimulatedEndpoint

from .conftest import model

SCORES = [{"name": "ok", "description": "fine?", "options": {0: "no", 1: "yes"}}]


def _config(endpoint: SimulatedEndpoint) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "reviewed",
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {
                    "name": "n",
                    "type": "sampler",
                    "sampler": "uniform",
                    "params": {"low": 0, "high": 9, "dtype": "int"},
                },
                {"name": "text", "type": "llm-text", "model": "m", "prompt": "Say {{ n }}"},
                {
                    "name": "grade",
                    "type": "llm-judge",
                    "model": "m",
                    "prompt": "Rate {{ text }}",
                    "scores": SCORES,
                },
            ],
            "run": {"buffer_size": 4, "seed": 1},
        }
    )


async def _run(endpoint: SimulatedEndpoint, tmp_path: Path, records: int) -> Path:
    result = await synthloom.acreate(_config(endpoint), records, tmp_path / "out", progress=False)
    assert result.path is not None
    return Path(result.path)


async def _post(server: ViewerServer, body: Any, **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.url + "api/review",
            data=json.dumps(body),
            headers={"Content-Type": "application/json", **headers},
        ) as response,
    ):
        return response.status, await response.text()


async def test_viewer_writes_reviews_only_from_its_own_page(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    run = await _run(endpoint, tmp_path, 8)
    async with ViewerServer(run, review=True, reviewer="ana") as server:
        async with aiohttp.ClientSession() as session, session.get(server.url) as response:
            page = await response.text()
        token = json.loads(page.split("const CONFIG = ", 1)[1].split(";\n", 1)[0])["token"]
        assert len(token) >= 32
        own = f"http://127.0.0.1:{server.port}"
        body = {"record": 2, "verdict": "good", "note": "nice"}
        # Refused, nothing written: no token, a wrong token, another origin, no origin, an unknown record.
        assert (await _post(server, body, Origin=own))[0] == 403
        assert (await _post(server, body, Origin=own, **{"X-Synthloom-Token": "x" * 43}))[0] == 403
        assert (await _post(server, body, Origin="http://evil.example", **{"X-Synthloom-Token": token}))[
            0
        ] == 403
        assert (await _post(server, body, **{"X-Synthloom-Token": token}))[0] == 403
        status, text = await _post(server, {**body, "record": 99}, Origin=own, **{"X-Synthloom-Token": token})
        assert status == 400 and "not a kept record" in text
        status, text = await _post(
            server, {**body, "verdict": "meh"}, Origin=own, **{"X-Synthloom-Token": token}
        )
        assert status == 400
        # A rebinding page reaches the server under another host name: refused before any handler.
        forged = {"Host": "evil.example", "Origin": "http://evil.example", "X-Synthloom-Token": token}
        assert (await _post(server, body, **forged))[0] == 403
        assert not (run / REVIEWS_FILE).exists()
        # Accepted from the page's origin with its token.
        status, text = await _post(server, body, Origin=own, **{"X-Synthloom-Token": token})
        assert status == 200 and json.loads(text)["who"] == "ana"
        status, _ = await _post(
            server, {"record": 5, "verdict": "bad"}, Origin=own, **{"X-Synthloom-Token": token}
        )
        assert status == 200
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "api/record/2") as response:
                assert (await response.json())["review"]["verdict"] == "good"
            async with session.get(server.url + "api/records?review=unreviewed") as response:
                listed = await response.json()
            assert listed["total"] == 6 and all(r["review"] is None for r in listed["rows"])
    # A viewer started without --review writes nothing.
    async with ViewerServer(run) as plain:
        status, _ = await _post(
            plain, body, Origin=f"http://127.0.0.1:{plain.port}", **{"X-Synthloom-Token": ""}
        )
        assert status == 403
    lines = [json.loads(line) for line in (run / REVIEWS_FILE).read_text().splitlines()]
    assert [(r["record"], r["verdict"], r["note"], r["who"]) for r in lines] == [
        (2, "good", "nice", "ana"),
        (5, "bad", "", "ana"),
    ]
    assert all(r["when"].endswith("Z") for r in lines)


async def test_reviews_survive_a_resume_and_feed_export_and_report(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    run = await _run(endpoint, tmp_path, 8)
    log = ReviewLog(run)
    log.add(1, "good", "first", who="ana")
    log.add(3, "bad", who="ana")
    log.add(6, "good", who="bo")
    log.add(3, "good", "changed my mind", who="ana")
    assert await _run(endpoint, tmp_path, 12) == run  # resumed and grown
    assert {r: v.verdict for r, v in ReviewLog(run).latest().items()} == {1: "good", 3: "good", 6: "good"}
    log.add(6, "bad", who="bo")

    out = tmp_path / "good.jsonl"
    result = CliRunner().invoke(cli, ["export", str(run), "--reviewed", "good", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    good = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(good) == 2 and json.loads(result.stdout)["records"] == 2
    result = CliRunner().invoke(cli, ["export", str(run), "--reviewed", "unreviewed", "-o", str(out)])
    assert result.exit_code == 0 and len(out.read_text().splitlines()) == 12 - 3
    texts = {row["text"] for row in good}
    from synthloom.store.run_reader import RunData

    by_record = dict(RunData(run).rows())
    assert texts == {by_record[1]["text"], by_record[3]["text"]}

    result = CliRunner().invoke(cli, ["report", str(run), "--json"])
    assert result.exit_code == 0, result.output
    reviews = json.loads(result.stdout)["reviews"]
    assert reviews["reviewed"] == 3 and reviews["good"] == 2 and reviews["bad"] == 1
    assert reviews["share_reviewed"] == 0.25
    judge = reviews["judges"]["grade"]
    expected = sum(
        (by_record[r]["grade"]["ok"]["score"] == 1) == (v == "good")
        for r, v in ((1, "good"), (3, "good"), (6, "bad"))
    )
    assert judge == {"compared": 3, "agree": expected, "agreement": round(expected / 3, 4)}
    html = (run / "report.html").read_text()
    assert "<h2>Reviews</h2>" in html and "records reviewed" in html


async def test_reviewed_records_seed_few_shot_examples_in_a_prompt(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    run = await _run(endpoint, tmp_path, 8)
    from synthloom.store.run_reader import RunData

    by_record = dict(RunData(run).rows())
    log = ReviewLog(run)
    log.add(2, "good", who="ana")
    log.add(4, "bad", who="ana")
    log.add(6, "good", who="ana")
    log.add(7, "good", who="ana")
    prompt = (
        "Examples:{% for ex in examples('"
        + str(run)
        + "', verdict='good', n=2) %}\n- {{ ex.text }}{% endfor %}"
        "\nNow write one more."
    )
    config = DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [{"name": "more", "type": "llm-text", "model": "m", "prompt": prompt}],
        }
    )
    endpoint.requests.clear()
    rows = list(await synthloom.apreview(config, num_records=1))
    assert len(rows) == 1
    sent = endpoint.requests[-1].json_body["messages"][-1]["content"]
    assert sent == f"Examples:\n- {by_record[2]['text']}\n- {by_record[6]['text']}\nNow write one more."
