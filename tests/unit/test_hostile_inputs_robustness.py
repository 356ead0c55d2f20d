"""Hostile inputs that used to exhaust memory, stop a run or leak: an alias bomb in a config, one bad
line in a JSON Lines seed, a reply nested without end, a multi-megabyte value in the report, and a
secret echoed back base64- or URL-encoded."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

import synthloom
from synthloom.config.loader import MAX_YAML_VALUES, parse_config
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, RequestRejectedError, SeedDataError
from synthloom.models import ModelPool
from synthloom.report.html_report import build_report

COLUMNS = "columns: [{name: a, type: sampler, sampler: uuid}]\n"


def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(8)
    ]
    text = "x-bomb:\n" + "".join(f"  {line}\n" for line in levels) + COLUMNS  # 10^9 values
    with pytest.raises(ConfigError, match=f"expand to more than {MAX_YAML_VALUES:,} values"):
        parse_config(text, source="bomb.yaml")


def test_a_self_referring_anchor_and_deep_nesting_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="an anchor refers to itself"):
        parse_config("x-loop: &l [*l]\n" + COLUMNS, source="c.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_config("x-deep: " + "[" * 50_000 + "]" * 50_000 + "\n" + COLUMNS, source="c.yaml")


def test_anchors_within_the_cap_still_work() -> None:
    text = "x-m: &m {provider: openai, base_url: 'http://127.0.0.1:1/v1', model: m}\n"
    text += "models: [{<<: *m, alias: one}, {<<: *m, alias: two}]\n" + COLUMNS
    assert [m.alias for m in parse_config(text, source="c.yaml").models] == ["one", "two"]


def _bad_utf8_seed(folder: Path, skip: bool) -> Path:
    (folder / "seed.jsonl").write_bytes(b'{"t": "one"}\n{"t": "bad \xff\xfe here"}\n{"t": "three"}\n')
    seed = "{path: seed.jsonl, sampling: ordered" + (", skip_bad_lines: true}" if skip else "}")
    (folder / "c.yaml").write_text(
        f"seed: {seed}\ncolumns:\n  - {{name: e, type: expression, expr: '{{{{ t }}}}'}}\n"
    )
    return folder / "c.yaml"


def test_an_invalid_utf8_line_in_a_jsonl_seed_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeedDataError, match=r"line 2 is not valid UTF-8 \(byte 12\).*skip_bad_lines"):
        synthloom.validate(_bad_utf8_seed(tmp_path, skip=False))


def test_skip_bad_lines_leaves_the_line_out_and_reports_it(tmp_path: Path) -> None:
    result = synthloom.create(_bad_utf8_seed(tmp_path, skip=True), 2, tmp_path / "out")
    assert [row["e"] for row in result] == ["one", "three"]
    report = json.loads(next((tmp_path / "out").glob("*/seed_report.json")).read_text())
    assert [(s["path"], s["error"]) for s in report["skipped"]] == [
        ("line 2", "is not valid UTF-8 (byte 12)")
    ]


@pytest.mark.parametrize(
    ("validator", "value"),
    [
        ("python", "x = " + "-" * 1_000_000 + "1"),  # the parser's stack: MemoryError
        ("python", "a" + ".b" * 200_000),  # RecursionError in the parser
        ("json-schema", "[" * 200_000 + "]" * 200_000),  # RecursionError in the JSON decoder
    ],
)
def test_a_value_nested_without_end_is_not_valid_rather_than_a_failed_cell(
    tmp_path: Path, validator: str, value: str
) -> None:
    (tmp_path / "seed.jsonl").write_text(json.dumps({"reply": value}) + "\n")
    extra = ", json_schema: {type: array}" if validator == "json-schema" else ""
    (tmp_path / "c.yaml").write_text(
        "seed: {path: seed.jsonl}\ncolumns:\n"
        f"  - {{name: check, type: validation, validator: {validator}, targets: [reply]{extra}}}\n"
    )
    result = synthloom.preview(tmp_path / "c.yaml", num_records=1)
    assert not result.failures
    [row] = list(result)
    assert row["check"]["is_valid"] is False
    assert "nested too deeply" in json.dumps(row["check"])


def test_a_huge_value_is_elided_in_the_report(tmp_path: Path) -> None:
    big = "A" * 5_000_000
    (tmp_path / "seed.jsonl").write_text(json.dumps({"t": big}) + "\n" + json.dumps({"t": "small"}) + "\n")
    (tmp_path / "c.yaml").write_text(
        "seed: {path: seed.jsonl, sampling: ordered}\n"
        "columns:\n  - {name: e, type: expression, expr: '{{ t }}'}\n"
    )
    result = synthloom.create(tmp_path / "c.yaml", 2, tmp_path / "out")
    assert [len(row["e"]) for row in result] == [5_000_000, 5]  # the data keeps the whole value
    html = build_report(next((tmp_path / "out").iterdir()))
    assert len(html) < 200_000  # it was 20 MB: four copies of the value
    assert "(5,000,000 characters; the viewer shows the whole value)" in html


KEY = "sk-live-0123456789abcdefSECRET"


@pytest.mark.parametrize(
    "echo",
    [
        base64.b64encode(KEY.encode()).decode(),
        base64.b64encode(b"user:" + KEY.encode()).decode(),  # inside Basic credentials
        base64.urlsafe_b64encode(b"xy" + KEY.encode()).decode(),
        quote(KEY, safe=""),
        f"Bearer {KEY}",
    ],
)
async def test_an_echoed_secret_is_scrubbed_in_any_common_encoding(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRUB_TEST_KEY", KEY)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=400, text=f"bad request; we saw {echo} in your request")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = ModelConfig(
        alias="m", base_url=f"http://127.0.0.1:{port}/v1", model="x", api_key_env="SCRUB_TEST_KEY", timeout=5
    )
    try:
        async with ModelPool([config]) as pool:
            with pytest.raises(RequestRejectedError) as caught:
                await pool.client("m").chat([{"role": "user", "content": "hi"}])
    finally:
        await runner.cleanup()
    text = f"{caught.value} {caught.value.body}"
    assert "we saw" in text and "***" in text
    assert echo.replace("Bearer ", "") not in text
    for fragment in (KEY, base64.b64encode(KEY.encode()).decode()[:20], quote(KEY, safe="")):
        assert fragment not in text
