"""`serve:` under the Ray executor: replicas run by Ray actors on the local cluster (the simulated
endpoint started as the server command), routed to through the workers' endpoint sets with one budget
per replica, restarted when one dies, stopped at the end; resources the cluster cannot give are an
error before any request, never a hang."""

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
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom.errors import ConfigError, ServingError
from synthloom.executors.ray.executor import RayExecutor

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")

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
    """Bindable the way `serve.port` is checked (a port some connection still holds is not)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as reply:  # loopback only
        return dict(json.loads(reply.read()))


def _answered(port: int) -> int:
    """Requests the replica on `port` has had; -1 while it is not listening."""
    try:
        return int(_stats(port)["requests"])
    except OSError:
        return -1


def _admin(port: int, **changes: Any) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/config", data=json.dumps(changes).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as reply:  # loopback only
        reply.read()


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _servers(port: int) -> list[int]:
    """The mock servers started for `port` (found by their command line, not their guard)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = _cmdline(int(entry.name))
            ours = b"mock-server" in argv and str(port).encode() in argv
            if ours and b"synthloom.models.serving.guard" not in argv:
                pids.append(int(entry.name))
    return pids


def _actor_of(server: int) -> int:
    """The process whose death stops `server`: its guard's parent, the Ray actor."""
    return _parent(_parent(server))


def _config(folder: Path, port: int, *, latency: float = 0.02, **serve: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    args = [*MOCK, "--latency", str(latency), "--jitter", "0"]
    config = {
        "name": "served-on-ray",
        "models": [
            {
                "alias": "m",
                "model": "sim",
                "max_parallel_requests": 4,
                "timeout": 120,
                "serve": {"engine": "command", "args": args, "replicas": 2, "port": port, **serve},
            }
        ],
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {"name": "text", "type": "llm-text", "model": "m", "prompt": "say {{ id }}"},
        ],
        "run": {"buffer_size": 10, "max_row_groups_in_flight": 2},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "served-on-ray" / "data").to_pylist()


async def _until(condition: Callable[[], bool], limit: float = 300.0) -> None:
    # A guard against a hang, not a timing assertion: a loaded machine may take minutes.
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


def test_served_replicas_run_as_ray_actors_are_both_used_and_all_stopped(
    cluster: str, tmp_path: Path
) -> None:
    port = _ports(2)
    # Slow until both replicas are seen answering (so the run cannot end first), then at speed.
    config = _config(tmp_path / "project", port, latency=0.5)
    seen: dict[str, Any] = {}

    async def watch() -> None:
        await _until(lambda: _listening(port) and _listening(port + 1))
        sockets = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False).stdout
        ours = (f":{port} ", f":{port + 1} ")
        seen["listening"] = [line for line in sockets.splitlines() if any(p in line for p in ours)]
        seen["servers"] = _servers(port) + _servers(port + 1)
        seen["actors"] = [b" ".join(_cmdline(_actor_of(pid))) for pid in seen["servers"]]
        # Both replicas answer requests of this run (each has its own budget, so both are used).
        await _until(lambda: _answered(port) > 0 and _answered(port + 1) > 0)
        seen["requests"] = [_answered(port), _answered(port + 1)]
        _admin(port, latency=0.02)  # the rest of the run at speed
        _admin(port + 1, latency=0.02)

    async def run() -> synthloom.DatasetResult:
        watcher = asyncio.create_task(watch())
        result = await synthloom.acreate(
            config, 100, tmp_path / "out", resume="never", executor=RayExecutor(workers=2)
        )
        await watcher
        return result

    result = asyncio.run(run())
    rows = _rows(tmp_path / "out")
    assert len(rows) == 100 == len({r["id"] for r in rows})
    assert result.usage["models"]["m"]["requests"] == 100
    assert all(count > 0 for count in seen["requests"]), seen
    # One budget per replica, shared by the workers.
    assert result.usage["limiters"]["m"]["ceiling"] == 8
    # Each server was run by a Ray actor and listened on loopback only.
    assert len(seen["actors"]) == 2 and all(b"ReplicaActor" in line for line in seen["actors"]), seen
    assert len(seen["listening"]) == 2 and all("127.0.0.1:" in line for line in seen["listening"]), seen
    # Nothing left running or listening once the run is over.
    assert not any(_alive(pid) for pid in seen["servers"])
    assert not _listening(port) and not _listening(port + 1)


def test_a_replica_whose_actor_is_killed_mid_run_is_replaced_and_no_record_is_lost(
    cluster: str, tmp_path: Path
) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port, latency=0.05)
    out = tmp_path / "out"
    killed: list[int] = []

    async def kill_replica_0() -> None:
        await _until(lambda: bool(_servers(port)) and _listening(port))
        await _until(lambda: _answered(port) >= 10)
        # Hold its requests there, so that the kill takes requests in flight with it, and slow the
        # other replica so that the run cannot end before replica 0 is back.
        _admin(port, latency=30.0)
        await _until(lambda: _stats(port)["in_flight"] >= 2)
        _admin(port + 1, latency=5.0)
        (server,) = _servers(port)
        actor = _actor_of(server)
        assert b"ReplicaActor" in b" ".join(_cmdline(actor))
        os.kill(actor, signal.SIGKILL)  # the actor's process: its guard stops the server
        killed.append(server)
        await _until(lambda: not _alive(server))
        # A new actor starts the server again on the same port.
        await _until(lambda: _listening(port) and _servers(port) not in ([], [server]))
        _admin(port + 1, latency=0.05)

    async def run() -> synthloom.DatasetResult:
        killer = asyncio.create_task(kill_replica_0())
        result = await synthloom.acreate(config, 200, out, resume="never", executor=RayExecutor(workers=2))
        await killer
        return result

    result = asyncio.run(run())
    rows = _rows(out)
    assert killed
    assert len(rows) == 200 == len({r["id"] for r in rows})
    assert result.metadata["status"] == "completed"
    assert not _servers(port) and not _servers(port + 1)
    assert not _listening(port) and not _listening(port + 1)


def test_gpus_the_cluster_does_not_have_are_a_config_error_naming_the_model(
    cluster: str, tmp_path: Path
) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port, resources={"num_gpus": 1})
    with pytest.raises(ConfigError) as caught:
        synthloom.create(config, 10, tmp_path / "out", resume="never", executor=RayExecutor(workers=2))
    error = caught.value
    assert error.model == "m" and error.field == "serve.resources"
    assert "num_gpus" in str(error)
    assert not _servers(port) and not _listening(port)


@ray.remote(num_cpus=2)
class _Hog:
    def ready(self) -> bool:
        return True


def test_a_replica_the_cluster_cannot_place_now_is_a_run_error_not_a_hang(
    cluster: str, tmp_path: Path
) -> None:
    hog = _Hog.remote()  # holds both CPUs of the cluster
    ray.get(hog.ready.remote())
    try:
        port = _ports(2)
        config = _config(tmp_path / "project", port, resources={"num_cpus": 1})
        with pytest.raises(ServingError) as caught:
            synthloom.create(
                config, 10, tmp_path / "out", resume="never", executor=RayExecutor(placement_timeout=2)
            )
    finally:
        ray.kill(hog)
    assert "model 'm'" in str(caught.value) and "serve.resources" in str(caught.value)
    assert not _servers(port) and not _listening(port)


DRIVER = textwrap.dedent(
    """
    import sys, synthloom
    config, out, address = sys.argv[1:4]
    synthloom.create(config, 100000, out, resume="never", executor="ray", ray_address=address)
    """
)


def test_a_killed_ray_driver_leaves_no_server_running(cluster: str, tmp_path: Path) -> None:
    port = _ports(2)
    config = _config(tmp_path / "project", port, latency=0.5)
    log = tmp_path / "driver.log"
    with log.open("wb") as stderr:
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(config), str(tmp_path / "out"), cluster],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        up = lambda: _listening(port) and _listening(port + 1)  # noqa: E731
        asyncio.run(_until(lambda: up() or driver.poll() is not None))
        assert driver.poll() is None, log.read_text()
        servers = _servers(port) + _servers(port + 1)
        assert len(servers) == 2
        driver.send_signal(signal.SIGKILL)  # no chance to stop anything
        driver.wait(30)
        # Ray ends the actors the dead driver owned; their guards stop the servers.
        asyncio.run(_until(lambda: not any(_alive(pid) for pid in servers), limit=120))
    finally:
        if driver.poll() is None:
            driver.kill()


@pytest.mark.llama
def test_two_llamacpp_replicas_as_ray_actors_serve_a_run(cluster: str, tmp_path: Path) -> None:
    """Real replicas of the embedded model, one CPU each (the workers get what is left)."""
    pytest.importorskip("xllamacpp")
    config = tmp_path / "config.yaml"
    model = {
        "alias": "smol",
        "max_parallel_requests": 2,
        "timeout": 300,
        "inference": {"temperature": 0.0, "max_tokens": 8},
        "serve": {"engine": "llama.cpp", "replicas": 2, "resources": {"num_cpus": 1}},
    }
    columns = [
        {"name": "id", "type": "sampler", "sampler": "uuid"},
        {"name": "text", "type": "llm-text", "model": "smol", "prompt": "Greet {{ id }}."},
    ]
    config.write_text(yaml.safe_dump({"name": "served-llama", "models": [model], "columns": columns}))
    executor = RayExecutor()
    result = synthloom.create(config, 12, tmp_path / "out", resume="never", executor=executor)
    rows = pq.read_table(tmp_path / "out" / "served-llama" / "data").to_pylist()
    assert len(rows) == 12 and all(r["text"].strip() for r in rows)
    # One budget per replica; both answered.
    budgets = executor.budget_figures()
    assert len(budgets) == 2 and all(f["requests"] > 0 for f in budgets.values()), budgets
    assert sum(f["requests"] for f in budgets.values()) == result.usage["models"]["smol"]["requests"] == 12
    ports = [int(name.rsplit(":", 1)[1].split("/")[0]) for name in budgets]
    assert not any(_listening(port) for port in ports)
    leftover = subprocess.run(["pgrep", "-f", "serving.llamacpp_main"], capture_output=True, check=False)
    assert leftover.stdout == b""
