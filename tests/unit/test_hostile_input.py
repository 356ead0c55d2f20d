"""Hostile input: templates that reach for Python internals, seed data that looks like a template,
dataset names that try to leave the output directory, API keys that must never be written down, and
servers whose replies never end."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.interface.cli import cli
from synthloom.models.http_session import MAX_RESPONSE_BYTES
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

CANARY = "canary-" + uuid.uuid4().hex

#: Templates that try to escape the sandbox. Each must be refused: a plan-time error or a row failure.
HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self.__dict__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ joiner.__init__.__globals__.os.environ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ config }}",
    "{{ environ }}",
    "{{ range(10**9) | list | length }}",
    "{% for i in range(10**9) %}x{% endfor %}",
]

#: What a leak would look like in any output.
LEAK_MARKERS = (CANARY, "<module ", "<class ", "__builtins__", "environ(", "<function ")


@pytest.fixture(autouse=True)
def _canary_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLOOM_TEST_CANARY", CANARY)


def _assert_no_leak(*texts: Any) -> None:
    for text in texts:
        blob = text if isinstance(text, str) else json.dumps(text, default=str)
        for marker in LEAK_MARKERS:
            assert marker not in blob, f"{marker!r} leaked into: {blob[:300]}"


def _refused(failures: list[dict[str, Any]], rows: int) -> None:
    assert len(failures) == rows
    for f in failures:
        # An expression records `SecurityError: ...` as its error; an LLM column records the type apart.
        kind = f["error_type"] if f["error_type"] != "CellFailure" else f["error"].split(":")[0]
        assert kind in ("SecurityError", "OverflowError"), f
        assert "not allowed" in f["error"] or "MAX_RANGE" in f["error"], f


# ---- templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_expression_is_refused_and_leaks_nothing(template: str) -> None:
    config = DatasetConfig.model_validate(
        {
            "name": "hostile",
            "columns": [
                {"name": "x", "type": "sampler", "sampler": "uuid"},
                {"name": "e", "type": "expression", "expr": template},
            ],
            "run": {"max_failure_rate": 1.0},
        }
    )
    try:
        result = synthloom.preview(config, num_records=3)
    except synthloom.ConfigError as exc:  # refused before anything ran: an unknown name
        assert "unknown column" in str(exc)
        _assert_no_leak(str(exc))
        return
    assert len(result) == 0
    _refused(result.failures, 3)
    _assert_no_leak(result.failures)


@pytest.mark.parametrize("template", HOSTILE)
async def test_hostile_prompt_sends_nothing(template: str, tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        config = DatasetConfig.model_validate(
            {
                "name": "hostile",
                "models": [_model(endpoint.base_url)],
                "columns": [
                    {"name": "x", "type": "sampler", "sampler": "uuid"},
                    {
                        "name": "t",
                        "type": "llm-text",
                        "model": "m",
                        "system_prompt": "sys {{ x }}",
                        "prompt": f"Say {template}",
                    },
                ],
                "run": {"max_failure_rate": 1.0},
            }
        )
        try:
            result = await synthloom.acreate(config, 3, tmp_path)
        except synthloom.ConfigError as exc:
            assert "unknown column" in str(exc)
            assert not (tmp_path / "hostile").exists()  # refused before anything was written
            return
        assert len(result) == 0
        _refused(result.failures, 3)
        _assert_no_leak(result.failures, [r.json_body for r in endpoint.requests])
        assert endpoint.stats()["requests"] == 0  # a refused prompt is never sent
        _assert_no_leak(*(p.read_text() for p in (tmp_path / "hostile").glob("*.json*")))


@pytest.mark.parametrize("template", [t for t in HOSTILE if "for " not in t])
async def test_hostile_when_condition_is_refused(template: str) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        config = DatasetConfig.model_validate(
            {
                "models": [_model(endpoint.base_url)],
                "columns": [
                    {"name": "t", "type": "llm-text", "model": "m", "prompt": "hi", "when": template},
                ],
                "run": {"max_failure_rate": 1.0},
            }
        )
        try:
            result = await synthloom.apreview(config, num_records=3)
        except synthloom.ConfigError as exc:
            assert "unknown column" in str(exc)
            return
        assert endpoint.stats()["requests"] == 0
        if "range" in template:
            # The sandbox's range limit is an ordinary evaluation error: the condition cannot be
            # evaluated, so the cell is skipped (documented `when` behaviour), and nothing is sent.
            assert [r["t"] for r in result] == [None] * 3 and result.failures == []
            return
        assert len(result) == 0
        _refused(result.failures, 3)
        assert all(f["error"].startswith("when: access to attribute") for f in result.failures)
        _assert_no_leak(result.failures)


async def test_hostile_when_on_a_batch_column_fails_its_rows() -> None:
    config = DatasetConfig.model_validate(
        {
            "columns": [
                {"name": "n", "type": "sampler", "sampler": "category", "params": {"values": [1, 2]}},
                {
                    "name": "e",
                    "type": "expression",
                    "expr": "{{ n }}",
                    "when": "{{ n == 2 or lipsum.__globals__ }}",
                },
            ],
            "run": {"max_failure_rate": 1.0},
        }
    )
    result = await synthloom.apreview(config, num_records=20)
    rows = list(result)
    assert rows and all(r["n"] == 2 and r["e"] == "2" for r in rows)
    assert result.failures and all(
        f["error_type"] == "SecurityError" and f["column"] == "e" for f in result.failures
    )
    assert len(rows) + len(result.failures) == 20


def test_sandbox_error_messages_name_the_refused_attribute() -> None:
    config = DatasetConfig.model_validate(
        {"columns": [{"name": "e", "type": "expression", "expr": "{{ lipsum.__globals__ }}"}]}
    )
    failure = synthloom.preview(config, num_records=1).failures[0]
    assert failure["column"] == "e"
    assert failure["error"] == "SecurityError: access to attribute '__globals__' of a function is not allowed"


# ---- seed data is data ------------------------------------------------------------------------------

SEED_TEXTS = ["{{ 7*7 }}", "{% raw %}x{% endraw %}", "{% raw %}", "{{ ''.__class__ }}", "{{ environ }}"]


async def test_seed_values_that_look_like_templates_are_sent_literally(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"text": t}) + "\n" for t in SEED_TEXTS))
    config_path = tmp_path / "c.yaml"
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        config_path.write_text(
            yaml.safe_dump(
                {
                    "models": [_model(endpoint.base_url)],
                    "seed": {"path": "seed.jsonl"},
                    "columns": [
                        {"name": "t", "type": "llm-text", "model": "m", "prompt": "Echo <{{ text }}>"},
                        {"name": "e", "type": "expression", "expr": "[{{ text }}]"},
                    ],
                }
            )
        )
        result = await synthloom.apreview(config_path, num_records=len(SEED_TEXTS))
        prompts = sorted(r.json_body["messages"][-1]["content"] for r in endpoint.requests)
    assert result.failures == []
    assert prompts == sorted(f"Echo <{t}>" for t in SEED_TEXTS)
    assert not any("49" in p for p in prompts)
    rows = list(result)
    assert sorted(r["e"] for r in rows) == sorted(f"[{t}]" for t in SEED_TEXTS)
    assert sorted(r["t"] for r in rows) == sorted(f"Simulated reply to: Echo <{t}>" for t in SEED_TEXTS)


# ---- names and paths --------------------------------------------------------------------------------

BAD_NAMES = ["../evil", "/abs", "a/b", "..", ".", ".hidden", "a\\b", "evil\n", "", "~root", "a/../../b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_dataset_names_that_leave_the_output_directory_are_refused(name: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({"name": name, "columns": [{"name": "x", "type": "sampler", "sampler": "uuid"}]})
    )
    out = tmp_path / "nest" / "out"
    for command in (["validate", str(config)], ["create", str(config), "-n", "2", "-o", str(out)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error:") and "Traceback" not in result.output
        assert "field 'name'" in result.output
    with pytest.raises(synthloom.ConfigError):
        synthloom.validate(config)
    # Nothing anywhere: not in the output directory, not beside it, not above it.
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["c.yaml"]


def test_a_good_name_writes_only_under_output_slash_name(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {"name": "ok.name-1", "columns": [{"name": "x", "type": "sampler", "sampler": "uuid"}]}
        )
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["create", str(config), "-n", "3", "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != config]
    assert written and all(p.is_relative_to(out / "ok.name-1") for p in written)
    assert {p.name for p in out.iterdir()} == {"ok.name-1"}


# ---- API keys -------------------------------------------------------------------------------------


def _model(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "alias": "m",
        "provider": "openai",
        "base_url": base_url,
        "model": "sim",
        "max_parallel_requests": 4,
        "timeout": 5,
        **extra,
    }


def _key_config(base_url: str, name: str = "keyed") -> dict[str, Any]:
    return {
        "name": name,
        "models": [_model(base_url, api_key_env="SYNTHLOOM_TEST_KEY", max_retries=0)],
        "columns": [
            {"name": "i", "type": "sampler", "sampler": "uuid"},
            {"name": "t", "type": "llm-text", "model": "m", "prompt": "hi {{ i }}"},
        ],
        "run": {"buffer_size": 4, "max_row_groups_in_flight": 1, "cell_retries": 0, "max_failure_rate": 1.0},
    }


def _echo_key_script(endpoint: SimulatedEndpoint, key: str) -> None:
    endpoint.script(
        {"status": 400, "body": {"error": {"message": f"invalid key {key}", "echo": f"Bearer {key}"}}},
        {"status": 500, "body": f"upstream said Authorization: Bearer {key}"},
        {"status": 401, "headers": {"X-Echo": key}, "body": key},
    )


def _files_without(root: Path, key: str) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"
    return files


async def test_api_key_is_sent_but_never_written_logged_or_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"sk-test-{uuid.uuid4()}"
    monkeypatch.setenv("SYNTHLOOM_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        _echo_key_script(endpoint, key)
        config = DatasetConfig.model_validate(_key_config(endpoint.base_url))
        result = await synthloom.acreate(config, 8, tmp_path)
        # The key was used: every request carried it.
        assert endpoint.requests
        assert all(r.headers.get("Authorization") == f"Bearer {key}" for r in endpoint.requests)
        # A run that fails for good: its exception must not carry the key either.
        endpoint.script(*[{"status": 403, "body": f"denied {key}"}] * 50)
        failing = _key_config(endpoint.base_url, name="denied")
        failing["run"].update(failure_window=4, max_failure_rate=0.5)
        with pytest.raises(synthloom.EarlyShutdownError) as raised:
            await synthloom.acreate(DatasetConfig.model_validate(failing), 20, tmp_path)
    errors = {f["error_type"] for f in result.failures}
    assert len(result.failures) == 3 and errors == {"RequestRejectedError", "ServerError"}
    assert any("***" in f["error"] for f in result.failures)  # the echo was scrubbed, not dropped
    files = _files_without(tmp_path, key)
    assert {"config.yaml", "metadata.json", "usage.json", "failures.jsonl"} <= {p.name for p in files}
    assert any(p.suffix == ".parquet" for p in files)
    chain: list[BaseException] = []
    exc: BaseException | None = raised.value
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        assert key not in str(e) and key not in repr(e.args)
    assert key not in caplog.text
    for record in caplog.records:
        assert key not in record.getMessage()


async def test_api_key_never_reaches_cli_output_even_verbose(tmp_path: Path) -> None:
    key = f"sk-test-{uuid.uuid4()}"
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        _echo_key_script(endpoint, key)
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump(_key_config(endpoint.base_url)))
        env = {**os.environ, "SYNTHLOOM_TEST_KEY": key, "SYNTHLOOM_DEBUG": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "synthloom",
            "-v",
            "create",
            str(config),
            "-n",
            "8",
            "-o",
            str(tmp_path / "out"),
            "--no-progress",
            "--allow-partial",  # some rows fail on purpose
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert all(r.headers.get("Authorization") == f"Bearer {key}" for r in endpoint.requests)
    output = stdout.decode() + stderr.decode()
    assert proc.returncode == 0, output
    assert "400" in output or "failed" in output.lower()  # the failures were reported...
    assert key not in output  # ...without the key
    _files_without(tmp_path / "out", key)
    _files_without(tmp_path, key)


# ---- unbounded replies ----------------------------------------------------------------------------

CHUNK = b"x" * 65536


async def _stream(request: web.Request, total: int | None, declare: bool) -> web.StreamResponse:
    """Answer `total` bytes (None: without end) without holding them in memory."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    if declare and total is not None:
        response.content_length = total
    await response.prepare(request)
    sent = 0
    try:
        while total is None or sent < total:
            await response.write(CHUNK)
            sent += len(CHUNK)
    except (ConnectionError, RuntimeError):
        return response  # the client hung up: what it should do
    await response.write_eof()
    return response


class _HostileServer:
    """A local server whose every other answer is 50 MB (declared or chunked) or endless."""

    def __init__(self, mode: str, ok_body: dict[str, Any]) -> None:
        self.mode = mode
        self.ok_body = ok_body
        self.calls = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.calls += 1
        if self.calls % 2 == 0:
            return web.json_response(self.ok_body)
        if self.mode == "endless":
            return await _stream(request, None, declare=False)
        return await _stream(request, 50 * 1024 * 1024, declare=self.mode == "declared")

    async def __aenter__(self) -> _HostileServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def rss() -> AsyncIterator[list[int]]:
    gc.collect()
    proc = psutil.Process()
    samples = [proc.memory_info().rss]
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append(proc.memory_info().rss)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(sample())
    yield samples
    stop.set()
    await task


@pytest.mark.parametrize("mode", ["declared", "chunked", "endless"])
async def test_remote_validator_with_a_huge_or_endless_body_fails_the_cell(
    mode: str, tmp_path: Path, rss: list[int]
) -> None:
    async with _HostileServer(mode, {"is_valid": True}) as server:
        config = DatasetConfig.model_validate(
            {
                "name": "remote",
                "columns": [
                    {"name": "x", "type": "sampler", "sampler": "uuid"},
                    {
                        "name": "check",
                        "type": "validation",
                        "validator": "http",
                        "targets": ["x"],
                        "url": f"{server.url}/validate",
                        "timeout": 10,
                    },
                ],
                "run": {"buffer_size": 6, "max_failure_rate": 1.0, "cell_retries": 0},
            }
        )
        result = await asyncio.wait_for(synthloom.acreate(config, 6, tmp_path), 30)
    growth = max(rss) - rss[0]
    assert growth < 100 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
    # The run went on: the good answers made rows, the hostile ones made failures with a clear reason.
    assert len(result) >= 1 and result.failures
    assert len(result) + len(result.failures) == 6
    for f in result.failures:
        assert f["column"] == "check"
        assert "remote validator answered" in f["error"] and "bytes" in f["error"], f["error"]
    assert all(r["check"]["is_valid"] is True for r in result)


async def test_remote_validator_reads_a_large_valid_body_completely(tmp_path: Path) -> None:
    """A verdict of a few hundred KB arrives in many chunks; it must be read whole, not cut at a chunk."""
    verdict = {"is_valid": False, "errors": ["e" * 100] * 3000}

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        body = json.dumps(verdict).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            await response.write(body[start : start + 65536])
            await asyncio.sleep(0.01)  # the client sees the body arrive in pieces
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        config = DatasetConfig.model_validate(
            {
                "columns": [
                    {"name": "x", "type": "sampler", "sampler": "uuid"},
                    {
                        "name": "check",
                        "type": "validation",
                        "validator": "http",
                        "targets": ["x"],
                        "url": f"http://127.0.0.1:{port}/v",
                    },
                ],
                "run": {"cell_retries": 0},
            }
        )
        result = await asyncio.wait_for(synthloom.apreview(config, num_records=2), 30)
    finally:
        await runner.cleanup()
    assert result.failures == []
    assert [len(r["check"]["errors"]) for r in result] == [3000, 3000]


@pytest.mark.parametrize("mode", ["declared", "chunked", "endless"])
async def test_chat_endpoint_with_a_huge_or_endless_body_is_refused(
    mode: str, tmp_path: Path, rss: list[int]
) -> None:
    reply = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    async with _HostileServer(mode, reply) as server:
        config = DatasetConfig.model_validate(
            {
                "name": "chat",
                "models": [_model(f"{server.url}/v1", max_retries=0, max_parallel_requests=1, timeout=20)],
                "columns": [
                    {"name": "x", "type": "sampler", "sampler": "uuid"},
                    {"name": "t", "type": "llm-text", "model": "m", "prompt": "hi {{ x }}"},
                ],
                "run": {"buffer_size": 4, "max_failure_rate": 1.0, "cell_retries": 0},
            }
        )
        result = await asyncio.wait_for(synthloom.acreate(config, 4, tmp_path), 30)
    growth = max(rss) - rss[0]
    assert growth < 100 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
    assert len(result) >= 1 and result.failures
    assert len(result) + len(result.failures) == 4
    assert all(r["t"] == "fine" for r in result)
    for f in result.failures:
        assert f["error_type"] == "MalformedResponseError", f
        assert str(MAX_RESPONSE_BYTES) in f["error"], f["error"]
