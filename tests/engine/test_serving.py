"""`serve:` with the `command` engine: the simulated endpoint started as a server command, in replicas
synthloom starts, routes to, restarts and stops (real processes on loopback; llama.cpp replicas of the
embedded model are in the llama tier)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, ServingError
from synthloom.interface.cli import cli as cli_main
from synthloom.models.serving import replica_launch

MOCK = [sys.executable, "-m", "synthloom", "mock-server", "--host", "{host}", "--port", "{port}"]


def _ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = int(sock.getsockname()[1])
        if first + count < 65535 and all(_free(first + i) for i in range(count)):
            return first
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _get(port: int, path: str, method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as reply:  # loopback only
        text = reply.read()
    return json.loads(text) if text else {}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Running (a zombie not yet reaped by its parent counts as gone: it holds no socket)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _server_pids(port: int) -> list[int]:
    """The mock servers listening on `port` (found by their command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"mock-server" in argv
            and str(port).encode() in argv
            and b"synthloom.models.serving.guard" not in argv
        ):
            pids.append(int(entry.name))
    return pids


def _config(folder: Path, port: int, *, replicas: int = 2, latency: float = 0.02, **serve: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    args = [*MOCK, "--latency", str(latency), "--jitter", "0"]
    config = {
        "name": "served",
        "models": [
            {
                "alias": "m",
                "model": "sim",
                "max_parallel_requests": 4,
                "timeout": 30,
                "serve": {"engine": "command", "args": args, "replicas": replicas, "port": port, **serve},
            }
        ],
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {"name": "text", "type": "llm-text", "model": "m", "prompt": "say {{ id }}"},
        ],
        "run": {"buffer_size": 10},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "served" / "data").to_pylist()


async def _until(condition: Callable[[], bool], limit: float = 120.0) -> None:
    # A guard against a hang, not a timing assertion.
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


def test_replicas_are_started_used_and_stopped(tmp_path: Path) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port)
    listening: list[str] = []

    async def run() -> synthloom.DatasetResult:
        async def watch() -> None:
            await _until(lambda: _listening(port) and _listening(port + 1))
            sockets = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False).stdout
            listening.extend(
                line for line in sockets.splitlines() if f":{port} " in line or f":{port + 1} " in line
            )

        watcher = asyncio.create_task(watch())
        result = await synthloom.acreate(config, 60, tmp_path / "out", resume="never")
        await watcher
        return result

    result = asyncio.run(run())
    assert len(_rows(tmp_path / "out")) == 60
    replicas = result.usage["endpoints"]["m"]
    assert sorted(replicas) == [f"http://127.0.0.1:{port + i}/v1" for i in range(2)]
    assert all(r["answered"] > 0 for r in replicas.values())  # both replicas used
    assert sum(r["answered"] for r in replicas.values()) == 60
    # Each replica listened on loopback only, and nothing listens once the run is over.
    assert len(listening) == 2 and all("127.0.0.1:" in line for line in listening), listening
    assert not _listening(port) and not _listening(port + 1)
    assert not _server_pids(port) and not _server_pids(port + 1)


def test_a_replica_that_crashes_mid_run_is_restarted_and_no_record_is_lost(tmp_path: Path) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port, latency=0.05)
    out = tmp_path / "out"
    killed: list[int] = []
    came_back: list[bool] = []

    async def crash_replica_0() -> None:
        await _until(lambda: _listening(port) and bool(_server_pids(port)))
        await _until(lambda: _get(port, "/stats")["requests"] >= 10)
        # Hold its requests there, so that the crash takes requests in flight with it.
        _get(port, "/admin/config", "POST", {"latency": 30.0})
        await _until(lambda: _get(port, "/stats")["in_flight"] >= 2)
        (pid,) = _server_pids(port)
        # The other replica slowed down too, so the run cannot end before replica 0 is back.
        _get(port + 1, "/admin/config", "POST", {"latency": 5.0})
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        # Started again on the same port, by a new process.
        await _until(lambda: _listening(port) and _server_pids(port) not in ([], [pid]))
        came_back.append(True)
        _get(port + 1, "/admin/config", "POST", {"latency": 0.05})

    async def run() -> synthloom.DatasetResult:
        crasher = asyncio.create_task(crash_replica_0())
        result = await synthloom.acreate(config, 200, out, resume="never")
        await crasher
        return result

    result = asyncio.run(run())
    rows = _rows(out)
    assert killed and came_back
    assert len(rows) == 200 == len({r["id"] for r in rows})
    assert result.metadata["status"] == "completed"
    assert not _listening(port) and not _listening(port + 1)


DRIVER = textwrap.dedent(
    """
    import sys, synthloom
    synthloom.create(sys.argv[1], 100000, sys.argv[2], resume="never")
    """
)


def test_a_killed_driver_leaves_no_server_running(tmp_path: Path) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port, latency=0.5)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(config), str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(_until(lambda: _listening(port) and _listening(port + 1)))
        servers = _server_pids(port) + _server_pids(port + 1)
        assert len(servers) == 2
        driver.send_signal(signal.SIGKILL)  # no chance to stop anything
        driver.wait(30)
        # The guards notice their parent is gone and stop their servers.
        asyncio.run(_until(lambda: not any(_alive(pid) for pid in servers), limit=60))
    finally:
        if driver.poll() is None:
            driver.kill()
    # (The ports themselves may be taken again at once by anything else on a busy machine: the
    # processes are what is checked.)


def test_models_check_starts_checks_and_stops_served_replicas(tmp_path: Path) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port)
    result = CliRunner().invoke(cli_main, ["models", "check", str(config), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["alias"] == "m" and row["ok"]
    assert not _listening(port) and not _listening(port + 1)


# -- bad input: a clear error naming the model and the field, before any request, never a hang ------


def _served_model(**serve: Any) -> dict[str, Any]:
    return {"alias": "m", "model": "sim", "serve": serve}


def _bad(tmp_path: Path, model: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    columns = [{"name": "text", "type": "llm-text", "model": "m", "prompt": "hi"}]
    path.write_text(yaml.safe_dump({"name": "bad", "models": [model], "columns": columns}))
    return path


@pytest.mark.parametrize(
    ("serve", "field", "words"),
    [
        ({"engine": "vllm", "model": "org/model"}, "serve.engine", "vllm"),
        ({"engine": "sglang", "model": "org/model"}, "serve.engine", "sglang"),
        ({"engine": "llama.cpp", "model": "missing.gguf"}, "serve.model", "not found"),
        ({"engine": "command", "args": ["no-such-server-program", "{port}"]}, "serve.args", "not found"),
        ({"engine": "command", "args": [*MOCK], "resources": {"num_gpus": 1}}, "serve.resources", "GPU"),
    ],
)
def test_a_served_model_that_cannot_start_is_a_config_error(
    tmp_path: Path, serve: dict[str, Any], field: str, words: str
) -> None:
    if serve["engine"] == "vllm" and __import__("shutil").which("vllm"):
        pytest.skip("vllm is installed here")
    config = _bad(tmp_path, _served_model(**serve))
    with pytest.raises(ConfigError, match=words) as caught:
        synthloom.create(config, 5, tmp_path / "out", resume="never")
    assert caught.value.model == "m" and caught.value.field == field
    # The command line says it the same way, with exit 2 and no traceback.
    result = CliRunner().invoke(cli_main, ["create", str(config), "-n", "5", "-o", str(tmp_path / "cli")])
    assert result.exit_code == 2
    assert field in result.output and "Traceback" not in result.output


def test_a_port_that_is_taken_is_a_config_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = _bad(tmp_path, _served_model(engine="command", args=MOCK, port=port))
        with pytest.raises(ConfigError, match=f"port {port}") as caught:
            synthloom.create(config, 5, tmp_path / "out", resume="never")
    assert caught.value.field == "serve.port"


def test_a_server_that_exits_before_it_is_healthy_fails_the_run_at_once(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; print('cannot load weights'); sys.exit(3)", "{port}"]
    config = _bad(tmp_path, _served_model(engine="command", args=crash))
    with pytest.raises(ServingError, match=r"(?s)model 'm'.*exited with code 3.*cannot load weights"):
        synthloom.create(config, 5, tmp_path / "out", resume="never")


def test_engines_build_their_documented_command_lines() -> None:
    def argv(**serve: Any) -> list[str]:
        config = ModelConfig(alias="m", model="served-name", serve=serve)
        return replica_launch(config, port=8001, index=1, base_dir=None).argv

    assert argv(engine="vllm", model="org/llm", args=["--dtype", "half"]) == [
        "vllm", "serve", "org/llm", "--host", "127.0.0.1", "--port", "8001",
        "--served-model-name", "served-name", "--dtype", "half",
    ]  # fmt: skip
    assert argv(engine="sglang", model="org/llm")[1:] == [
        "-m", "sglang.launch_server", "--model-path", "org/llm", "--host", "127.0.0.1", "--port", "8001",
        "--served-model-name", "served-name",
    ]  # fmt: skip
    assert argv(engine="command", args=["srv", "--listen={host}:{port}", '{"a": 1}']) == [
        "srv", "--listen=127.0.0.1:8001", '{"a": 1}'
    ]  # fmt: skip
    gpus = ModelConfig(alias="m", serve={"engine": "vllm", "model": "x", "resources": {"num_gpus": 2}})
    assert replica_launch(gpus, port=1, index=1, base_dir=None).env == {"CUDA_VISIBLE_DEVICES": "2,3"}


def test_serve_and_base_url_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        ModelConfig(alias="m", base_url="http://x/v1", model="x", serve={"engine": "command", "args": ["a"]})
