"""`synthloom models check` and `synthloom mock-server`, through click's runner."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from synthloom.interface.cli_models import mock_server_command, models_group
from synthloom.testing import SimulatedEndpoint


@pytest.fixture
def endpoint_url() -> Iterator[str]:
    """A simulated endpoint on its own thread and loop (the command calls asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    endpoint = SimulatedEndpoint()
    asyncio.run_coroutine_threadsafe(endpoint.start(), loop).result(10)
    yield endpoint.base_url
    asyncio.run_coroutine_threadsafe(endpoint.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "name: check\n"
        "models:\n"
        f"  - {{alias: good, provider: openai, base_url: '{base_url}', model: sim}}\n"
        "  - {alias: bad, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: nope, timeout: 2}\n"
        "columns:\n"
        "  - {name: q, type: llm-text, model: good, prompt: hi}\n"
        "  - {name: r, type: llm-text, model: bad, prompt: hi}\n"
    )
    return path


def test_models_check_reports_each_model_and_fails_on_unreachable(tmp_path: Path, endpoint_url: str) -> None:
    result = CliRunner().invoke(models_group, ["check", str(_write_config(tmp_path, endpoint_url))])
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("good\topenai\tsim\tok ")
    assert lines[1].startswith("bad\topenai\tnope\terror: ModelConnectionError")
    assert "1 of 2 model(s) unreachable: bad" in result.output
    assert "Traceback" not in result.output


def test_models_check_json_output(tmp_path: Path, endpoint_url: str) -> None:
    result = CliRunner().invoke(models_group, ["check", "--json", str(_write_config(tmp_path, endpoint_url))])
    rows = json.loads(result.output[: result.output.rindex("]") + 1])
    assert [(r["alias"], r["ok"]) for r in rows] == [("good", True), ("bad", False)]
    assert rows[0]["latency_ms"] > 0


def test_models_check_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(models_group, ["check", str(tmp_path / "absent.yaml")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_mock_server_rejects_queueing_without_capacity() -> None:
    result = CliRunner().invoke(mock_server_command, ["--queueing", "--port", "0"])
    assert result.exit_code == 2
    assert "--queueing needs --capacity" in result.output


def test_mock_server_binds_loopback_by_default() -> None:
    host = next(p for p in mock_server_command.params if p.name == "host")
    assert host.default == "127.0.0.1"


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_mock_server_takes_a_yaml_file_and_flags_for_replies_verdicts_and_tool_turns(tmp_path: Path) -> None:
    settings = tmp_path / "mock.yaml"
    settings.write_text("accept_rate: 1.0\ntool_turns: 2\nlatency: 0\nscript:\n  - first scripted\n")
    command = [sys.executable, "-m", "synthloom", "mock-server", "--port", "0", "--config", str(settings)]
    command += ["--reply", "second scripted", "--jitter", "0"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        base_url = line.split("Simulated endpoint at ", 1)[1].split()[0]
        chat = f"{base_url}/chat/completions"
        hello = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        replies = [_post(chat, hello)["choices"][0]["message"]["content"] for _ in range(2)]
        assert replies == ["first scripted", "second scripted"]
        verdict_schema = {"type": "object", "properties": {"verdict": {"enum": ["reject", "accept"]}}}
        structured = {
            **hello,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "v", "schema": verdict_schema},
            },
        }
        verdicts = {json.loads(_post(chat, structured)["choices"][0]["message"]["content"])["verdict"]}
        assert verdicts == {"accept"}  # accept_rate 1.0
        tool = {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}
        first = _post(chat, {**hello, "tools": [tool]})["choices"][0]
        assert first["finish_reason"] == "tool_calls"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
