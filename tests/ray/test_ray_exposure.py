"""A Ray cluster synthloom starts listens on loopback only and refuses a client without its token.

The run is held open by a custom column that waits for a file, so the cluster is inspected while it is
up (no sleeps, no timing): every listening TCP socket of the driver's process tree is listed and must be
on 127.0.0.1 / ::1, and a client with a wrong token is refused by the cluster's GCS.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

pytestmark = pytest.mark.ray


def _is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or IPv4 loopback written as IPv6 (`::ffff:127.0.0.1`, gRPC's dual-stack form)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


GATE = '''
from pathlib import Path

import ray

FOLDER = Path({folder!r})


def hold(row):
    """Say where the cluster is, then block until the test has looked at it (it writes the FIFO)."""
    (FOLDER / "ready.tmp").write_text(ray.get_runtime_context().gcs_address)
    (FOLDER / "ready.tmp").rename(FOLDER / "ready")
    with open(FOLDER / "release") as release:
        release.read()
    return "held"
'''


def _project(folder: Path, gate: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "gate_helper.py").write_text(GATE.format(folder=str(gate)))
    config = {
        "name": "exposure",
        "columns": [
            {"name": "n", "type": "sampler", "sampler": "uuid"},
            {"name": "held", "type": "custom", "function": "gate_helper:hold", "inputs": ["n"]},
        ],
        "run": {"buffer_size": 1},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_for(path: Path, driver: subprocess.Popen[bytes], log: Path, limit: float = 240.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert driver.poll() is None, f"the driver ended early: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the run never reached its held cell: {log.read_text()[-3000:]}"
        time.sleep(0.05)


def _release(gate: Path, driver: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    """Let the held cell go: open its FIFO for writing once it reads it, and close it (its EOF)."""
    deadline = time.monotonic() + limit
    while (gate / "ready").exists() and driver.poll() is None and time.monotonic() < deadline:
        try:
            fd = os.open(gate / "release", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
            continue
        os.close(fd)
        return


def _listening(root_pid: int) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every listening TCP socket of `root_pid` and its descendants."""
    root = psutil.Process(root_pid)
    pids = {root_pid} | {p.pid for p in root.children(recursive=True)}
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.NoSuchProcess:
                continue
            found.append((conn.laddr.ip, conn.laddr.port, name))
    return found


def _connect_with(gcs: str, env: dict[str, str]) -> subprocess.CompletedProcess[str] | None:
    """A client joining the cluster; None when it was still waiting after 30 s (never connected:
    Ray 2.60 keeps retrying a refused token instead of failing)."""
    code = f"import ray; ray.init(address={gcs!r}, logging_level='ERROR'); print('CONNECTED')"
    try:
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return None


def test_a_cluster_synthloom_starts_listens_on_loopback_only_and_needs_its_token(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    os.mkfifo(gate / "release")
    config = _project(tmp_path / "project", gate)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    log = tmp_path / "driver.log"
    command = [
        sys.executable,
        "-m",
        "synthloom",
        "create",
        str(config),
        "-n",
        "1",
        "-o",
        str(tmp_path / "out"),
    ]
    with log.open("wb") as stderr:
        driver = subprocess.Popen(
            [*command, "--no-progress", "--executor", "ray"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_for(gate / "ready", driver, log)
        gcs = (gate / "ready").read_text()
        sockets = _listening(driver.pid)
        assert any(name == "gcs_server" for _, _, name in sockets), sockets
        beyond = [s for s in sockets if not _is_loopback(s[0])]
        assert beyond == [], f"listening beyond loopback: {beyond}"
        assert gcs.startswith("127.0.0.1:")

        wrong = _connect_with(gcs, {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "f" * 64})
        # Refused outright, or still waiting 30 s later: either way it never joined the cluster.
        if wrong is not None:
            assert "CONNECTED" not in wrong.stdout
            refused = "AuthenticationError" in wrong.stderr or "InvalidAuthToken" in wrong.stderr
            assert refused, wrong.stderr[-2000:]
    finally:
        _release(gate, driver)
        try:
            driver.wait(120)
        finally:
            if driver.poll() is None:
                driver.kill()
    assert driver.returncode == 0, log.read_text()[-3000:]
