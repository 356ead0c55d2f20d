"""The ServiceNow example plugin (examples/servicenow), installed, against a loopback stand-in of the
Table API (an aiohttp server in its own thread): records read page by page as a seed, generated records
inserted by `synthloom export -f servicenow`, credentials only from the environment."""

from __future__ import annotations

import asyncio
import base64
import importlib.metadata
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from synthloom.interface.cli import cli

try:
    importlib.metadata.distribution("synthloom-servicenow")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("pip install -e examples/servicenow", allow_module_level=True)

USER, PASSWORD = "synth.bot", "pw-61d0c3f9-secret"
INCIDENTS = [
    {
        "number": f"INC{i:07d}",
        "short_description": f"printer {i} jammed",
        "description": f"Printer {i} on floor {i % 4} shows error E{i}.",
        "active": "true" if i % 3 else "false",
    }
    for i in range(1, 26)
]


@dataclass
class TableApiStandIn:
    """The Table API's shape: GET pages with sysparm_limit/offset/query/fields, POST creates."""

    url: str = ""
    inserted: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/now/table/{table}", self.list_records)
        app.router.add_post("/api/now/table/{table}", self.create)
        return app

    def authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def list_records(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({"error": {"message": "User Not Authenticated"}}, status=401)
        params = dict(request.query)
        self.pages.append(params)
        rows = INCIDENTS
        if params.get("sysparm_query") == "active=true":
            rows = [r for r in rows if r["active"] == "true"]
        offset, limit = int(params.get("sysparm_offset", 0)), int(params.get("sysparm_limit", 10_000))
        rows = rows[offset : offset + limit]
        if "sysparm_fields" in params:
            keep = params["sysparm_fields"].split(",")
            rows = [{k: r[k] for k in keep} for r in rows]
        return web.json_response({"result": rows})

    async def create(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({"error": {"message": "User Not Authenticated"}}, status=401)
        record = await request.json()
        self.inserted.append(record)
        return web.json_response({"result": {**record, "sys_id": f"{len(self.inserted):032x}"}}, status=201)


@pytest.fixture
def table_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[TableApiStandIn]:
    stand_in = TableApiStandIn()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(stand_in.app())

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        stand_in.url = f"http://127.0.0.1:{port}"
        started.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    started.wait(10)
    monkeypatch.setenv("SERVICENOW_INSTANCE_URL", stand_in.url)
    monkeypatch.setenv("SERVICENOW_USERNAME", USER)
    monkeypatch.setenv("SERVICENOW_PASSWORD", PASSWORD)
    monkeypatch.delenv("SERVICENOW_TOKEN", raising=False)
    try:
        yield stand_in
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "incidents.yaml"
    path.write_text(
        "name: incidents\n"
        "seed:\n"
        "  reader: servicenow\n"
        "  options: {table: incident, query: active=true, page_size: 4,\n"
        "            fields: [number, short_description]}\n"
        "  transforms: [{sort: {by: number, descending: true}}, {limit: 5}]\n"
        "columns:\n"
        "  - {name: ticket, type: expression, expr: '{{ number }}: {{ short_description }}'}\n"
    )
    return path


def test_incidents_are_read_page_by_page_and_written_back(table_api: TableApiStandIn, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = CliRunner().invoke(
        cli, ["create", str(config), "-n", "5", "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    active = [r for r in INCIDENTS if r["active"] == "true"]
    assert len(active) == 17
    assert [p["sysparm_offset"] for p in table_api.pages] == [
        "0",
        "4",
        "8",
        "12",
        "16",
    ]  # the last page short
    assert {p["sysparm_fields"] for p in table_api.pages} == {"number,short_description"}
    export = CliRunner().invoke(
        cli, ["export", str(tmp_path / "out" / "incidents"), "-f", "servicenow", "-o", "u_synthetic_incident"]
    )
    assert export.exit_code == 0, export.output
    expected = sorted(active, key=lambda r: r["number"], reverse=True)[:5]
    assert [r["ticket"] for r in table_api.inserted] == [
        f"{r['number']}: {r['short_description']}" for r in expected
    ]
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes()


def test_the_example_config_validates_against_the_stand_in(table_api: TableApiStandIn) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "servicenow" / "example.yaml"
    out = CliRunner().invoke(cli, ["validate", str(example)])
    assert out.exit_code == 0, out.output
    assert table_api.pages and table_api.pages[0]["sysparm_query"] == "active=true"


def test_wrong_credentials_fail_validation_without_showing_them(
    table_api: TableApiStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICENOW_PASSWORD", "wrong-password-123")
    out = CliRunner().invoke(cli, ["validate", str(write_config(tmp_path))])
    assert out.exit_code == 2
    assert "HTTP 401" in out.output and "wrong-password-123" not in out.output


def test_a_misspelt_option_exits_2_naming_it(table_api: TableApiStandIn, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "seed: {reader: servicenow, options: {tabel: incident}}\n"
        "columns:\n  - {name: e, type: expression, expr: '{{ number }}'}\n"
    )
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 2
    assert "seed.options" in out.output and "tabel" in out.output
    assert json.dumps(INCIDENTS[0]) not in out.output
