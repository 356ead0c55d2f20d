"""The Ray executor on a local cluster: same data as the local executor, one ceiling across workers,
nothing lost or duplicated when a worker, a budget's actor or the driver dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom.errors import EarlyShutdownError
from synthloom.executors.ray.executor import RayExecutor
from synthloom.observers.metrics import RunMetrics
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

pytestmark = pytest.mark.ray

HELPER = "def shout(row):\n    return str(row['topic']).upper()\n"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """An endpoint with no capacity limit (so what it sees in flight is what the clients sent)."""
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.03, jitter=0.5)) as base_url:
        yield base_url


def _stats(base_url: str, *, reset: bool = False) -> dict[str, Any]:
    url = base_url.removesuffix("/v1") + "/stats"
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE" if reset else "GET")) as reply:
        return json.loads(reply.read()) if not reset else {}  # loopback only


def _configure(base_url: str, **changes: Any) -> None:
    """Change how the endpoint in its own process behaves (e.g. hold requests there for seconds)."""
    url = base_url.removesuffix("/v1") + "/admin/config"
    request = urllib.request.Request(url, data=json.dumps(changes).encode(), method="POST")
    with urllib.request.urlopen(request) as reply:  # loopback only
        reply.read()


async def _hold_requests(base_url: str, latency: float, at_least: int) -> None:
    """Make every new request stay `latency` seconds at the server, and wait until `at_least` are there:
    from then on, requests are in flight whatever the machine's timing."""
    _configure(base_url, latency=latency, jitter=0.0)
    await _until(lambda: _stats(base_url)["in_flight"] >= at_least)


def _config(
    folder: Path,
    base_url: str,
    *,
    ceiling: int = 8,
    buffer_size: int = 10,
    in_flight: int = 2,
    seed: bool = False,
) -> Path:
    """A config next to a helper module its custom column imports (shipped to workers with the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ray_helpers.py").write_text(HELPER)
    config = {
        "name": "on-ray",
        "models": [
            {
                "alias": "m",
                "provider": "openai",
                "base_url": base_url,
                "model": "sim",
                "max_parallel_requests": ceiling,
                # Generous: on a loaded machine a worker's loop may stall for seconds, and a request
                # timed out on the client side is sent again (the server would count it twice).
                "timeout": 120,
            }
        ],
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {
                "name": "topic",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": ["a", "b", "c"]},
            },
            {"name": "text", "type": "llm-text", "model": "m", "prompt": "{{ id }} about {{ topic }}"},
            {"name": "loud", "type": "custom", "function": "ray_helpers:shout", "inputs": ["topic"]},
        ],
        "run": {"buffer_size": buffer_size, "max_row_groups_in_flight": in_flight},
    }
    if seed:  # read on the driver, each group's slice shipped with its task
        (folder / "people.jsonl").write_text("".join(f'{{"person": "p{i}"}}\n' for i in range(37)))
        config["seed"] = {"path": "people.jsonl", "sampling": "shuffle"}
        config["columns"][2]["prompt"] += " for {{ person }}"
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "on-ray" / "data").sort_by("id").to_pylist()


def _committed(out: Path) -> int:
    try:
        return int(json.loads((out / "on-ray" / "metadata.json").read_text()).get("committed_records", 0))
    except (OSError, ValueError):
        return 0


async def _until(condition: Callable[[], bool], limit: float = 600.0) -> None:
    # A guard against a hang, not a timing assertion: a loaded machine may take minutes.
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def test_a_ray_run_writes_what_a_local_run_writes(cluster: str, server: str, tmp_path: Path) -> None:
    config = _config(tmp_path / "project", server, seed=True)
    local = synthloom.create(config, 60, tmp_path / "local", resume="never")
    on_ray = synthloom.create(config, 60, tmp_path / "ray", resume="never", executor=RayExecutor(workers=2))
    assert len(on_ray) == 60
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert {r["person"] for r in _rows(tmp_path / "ray")} <= {f"p{i}" for i in range(37)}
    assert [p.name for p in (on_ray.path / "data").iterdir()] == [
        p.name for p in (local.path / "data").iterdir()
    ]
    usage = on_ray.usage
    assert usage["models"]["m"]["requests"] == 60
    assert usage["columns"]["text"]["cells_done"] == 60
    assert usage["ray"]["workers"] == 2
    assert on_ray.metadata["status"] == "completed"
    # The workers' requests reach the driver's spend journal, and from it the paid account.
    meta = on_ray.metadata
    assert meta["usage_paid"]["m"]["requests"] == 60 == meta["usage_committed"]["m"]["requests"]
    assert (on_ray.path / "spend.jsonl").read_bytes().count(b"\n") == 60


def test_ray_workers_share_the_drivers_response_cache(cluster: str, server: str, tmp_path: Path) -> None:
    config = _config(tmp_path / "project", server, seed=True)
    cache = tmp_path / "cache.sqlite3"
    before = _stats(server)["requests"]
    first = synthloom.create(config, 60, tmp_path / "a", executor=RayExecutor(workers=2), cache=cache)
    sent = _stats(server)["requests"] - before
    assert sent == 60 and first.usage["models"]["m"]["cached"] == 0
    second = synthloom.create(config, 60, tmp_path / "b", executor=RayExecutor(workers=2), cache=cache)
    assert _stats(server)["requests"] - before == sent  # every worker answered from the one file
    assert second.usage["models"]["m"]["cached"] == 60
    assert _rows(tmp_path / "b") == _rows(tmp_path / "a")


def test_the_driver_runs_the_opening_groups_while_the_workers_start(
    cluster: str, server: str, tmp_path: Path
) -> None:
    """The workers are slow to start (their import of the config's helper takes seconds): the driver
    runs the first groups meanwhile, under its opening lease, and the ceiling holds for all of them."""
    folder = tmp_path / "project"
    config = _config(folder, server, ceiling=6, buffer_size=10, in_flight=2)
    slow = f"import os\nimport time\n\nif os.getpid() != {os.getpid()}:  # a worker\n    time.sleep(3)\n"
    (folder / "ray_helpers.py").write_text(slow + HELPER)
    _stats(server, reset=True)
    result = synthloom.create(config, 120, tmp_path / "out", resume="never", executor=RayExecutor(workers=2))
    stats = _stats(server)
    assert len(_rows(tmp_path / "out")) == 120 == stats["requests"]
    assert stats["peak_in_flight"] <= 6
    assert result.usage["ray"]["groups_on_driver"] >= 1
    assert result.metadata["status"] == "completed"


def test_without_start_on_driver_the_workers_run_every_group(
    cluster: str, server: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "project", server)
    executor = RayExecutor(workers=2, start_on_driver=False)
    result = synthloom.create(config, 40, tmp_path / "out", resume="never", executor=executor)
    assert len(result) == 40
    assert result.usage["ray"]["groups_on_driver"] == 0


@pytest.mark.usefixtures("busy_cores")
@pytest.mark.parametrize("workers", [2, 4])
def test_the_endpoint_never_sees_more_than_the_ceiling(
    cluster: str, server: str, tmp_path: Path, workers: int
) -> None:
    config = _config(tmp_path / "project", server, ceiling=6, buffer_size=20, in_flight=2)
    _stats(server, reset=True)
    metrics = RunMetrics()
    result = asyncio.run(_create_with_metrics(config, tmp_path / "out", workers, metrics))
    stats = _stats(server)
    assert len(result) == 240
    assert stats["requests"] == 240
    assert stats["peak_in_flight"] <= 6
    assert stats["peak_in_flight"] >= 4  # the shared level was actually used
    snapshot = metrics.snapshot
    assert snapshot.row_groups == 12 and snapshot.records == 240
    assert snapshot.cells[("text", "done")] == 240
    assert snapshot.models["m"]["ceiling"] == 6 and snapshot.models["m"]["requests"] == 240
    assert sum(cumulative[-1] for cumulative, _ in snapshot.latency.values()) == 240


async def _create_with_metrics(
    config: Path, out: Path, workers: int, metrics: RunMetrics
) -> synthloom.DatasetResult:
    from synthloom.engine.generation import generate_dataset
    from synthloom.interface.api import _prepare
    from synthloom.store.run_directory import RunDirectory

    job = _prepare(synthloom.load_config(config))
    directory = RunDirectory(out / job.config.name)
    with directory:
        await generate_dataset(
            job,
            directory=directory,
            num_records=240,
            resume="never",
            show_progress=False,
            executor=RayExecutor(workers=workers),
            metrics=metrics,
        )
    job.close()
    return synthloom.open_run(directory.root)


@pytest.mark.usefixtures("busy_cores")
def test_a_killed_worker_loses_no_row_and_duplicates_none(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.05, jitter=0.5)) as base_url:
        config = _config(tmp_path / "project", base_url, ceiling=8)
        # Both workers running groups from the start (none run on the driver): the drill is a worker's.
        executor = RayExecutor(workers=2, start_on_driver=False)
        killed: list[int] = []

        async def kill_a_worker() -> None:
            await _until(lambda: _committed(out) >= 40 and len(executor.worker_pids()) == 2)
            # Both workers' leases out at the server: the one killed surely has row groups in flight.
            await _hold_requests(base_url, latency=2.0, at_least=5)
            pid = executor.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            _configure(base_url, latency=0.05, jitter=0.5)

        async def run() -> synthloom.DatasetResult:
            killer = asyncio.create_task(kill_a_worker())
            try:
                return await synthloom.acreate(config, 300, out, resume="never", executor=executor)
            finally:
                killer.cancel()

        result = asyncio.run(run())
    rows = _rows(out)
    assert killed, "the run ended before a worker could be killed"
    assert len(rows) == 300 == len({r["id"] for r in rows})
    assert result.usage["ray"]["groups_resubmitted"] >= 1
    assert result.metadata["status"] == "completed"


@pytest.mark.usefixtures("busy_cores")
def test_a_lost_budget_actor_comes_back_and_the_ceiling_holds(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.05, jitter=0.5)) as base_url:
        config = _config(tmp_path / "project", base_url, ceiling=6)
        executor = RayExecutor(workers=2, lease_ttl=1.0)
        killed: list[int] = []

        async def kill_the_budget() -> None:
            await _until(lambda: _committed(out) >= 40 and bool(executor.budget_figures()))
            # The ceiling's worth of requests at the server, and staying there longer than the leases
            # (ttl 1 s): the recreated budget must not hand out slots that are still in use.
            await _hold_requests(base_url, latency=2.5, at_least=5)
            (figures,) = executor.budget_figures().values()
            os.kill(figures["pid"], signal.SIGKILL)
            killed.append(figures["pid"])
            await _until(lambda: next(iter(executor.budget_figures().values()))["pid"] != killed[0])
            _configure(base_url, latency=0.05, jitter=0.5)

        async def run() -> synthloom.DatasetResult:
            killer = asyncio.create_task(kill_the_budget())
            try:
                return await synthloom.acreate(config, 300, out, resume="never", executor=executor)
            finally:
                killer.cancel()

        result = asyncio.run(run())
        stats = _stats(base_url)
    (figures,) = executor.budget_figures().values()
    assert killed and figures["pid"] != killed[0] and figures["recovered"]
    assert stats["peak_in_flight"] >= 5  # the ceiling's worth was at the server when the budget died
    assert len(_rows(out)) == 300 == stats["requests"]
    assert stats["peak_in_flight"] <= 6
    assert result.metadata["status"] == "completed"


@pytest.mark.usefixtures("busy_cores")
def test_a_worker_stalled_past_its_lease_keeps_its_slots_until_it_reports(
    cluster: str, tmp_path: Path
) -> None:
    """A worker's process is stopped (SIGSTOP: its event loop, its renewals, everything) for longer
    than its lease while its requests stay at the server; the other worker keeps renewing meanwhile.
    The budget must not give the stopped worker's slots away while those requests are still there."""
    out = tmp_path / "out"
    ttl = 1.0
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.05, jitter=0.5)) as base_url:
        config = _config(tmp_path / "project", base_url, ceiling=6, buffer_size=20)
        # Both workers running groups from the start (none run on the driver): the drill is a worker's.
        executor = RayExecutor(workers=2, lease_ttl=ttl, start_on_driver=False)
        stalled: list[int] = []

        async def stall_a_worker() -> None:
            await _until(lambda: _committed(out) >= 20 and len(executor.worker_pids()) == 2)
            # Requests now stay 3 s at the server: longer than the stop below, so those of the stopped
            # worker are still there after its lease (1 s) has run out.
            await _hold_requests(base_url, latency=3.0, at_least=5)
            pid = executor.worker_pids()[0]
            os.kill(pid, signal.SIGSTOP)
            stalled.append(pid)
            try:
                await asyncio.sleep(2.5 * ttl)  # the fault itself: silent for 2.5 leases
            finally:
                os.kill(pid, signal.SIGCONT)
            _configure(base_url, latency=0.05, jitter=0.5)

        async def run() -> synthloom.DatasetResult:
            staller = asyncio.create_task(stall_a_worker())
            try:
                result = await synthloom.acreate(config, 240, out, resume="never", executor=executor)
                await staller  # its errors are the test's
                return result
            finally:
                staller.cancel()

        result = asyncio.run(run())
        stats = _stats(base_url)
    (figures,) = executor.budget_figures().values()
    assert stalled
    assert figures["expired"] >= 1  # the budget did see the stopped worker's lease run out
    assert stats["peak_in_flight"] <= 6
    assert len(_rows(out)) == 240 == stats["requests"]
    assert result.metadata["status"] == "completed"


def test_a_local_run_resumes_on_ray_and_a_ray_run_resumes_locally(
    cluster: str, server: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "project", server)
    synthloom.create(config, 120, tmp_path / "reference", resume="never")
    synthloom.create(config, 50, tmp_path / "local-then-ray", resume="never")
    synthloom.create(
        config, 120, tmp_path / "local-then-ray", resume="always", executor=RayExecutor(workers=2)
    )
    synthloom.create(config, 50, tmp_path / "ray-then-local", resume="never", executor=RayExecutor(workers=2))
    synthloom.create(config, 120, tmp_path / "ray-then-local", resume="always")
    reference = _rows(tmp_path / "reference")
    assert _rows(tmp_path / "local-then-ray") == reference
    assert _rows(tmp_path / "ray-then-local") == reference


def test_a_killed_ray_driver_resumes_with_the_cli(cluster: str, tmp_path: Path) -> None:
    """`synthloom create --executor ray --ray-address` in a process of its own (the config's folder
    shipped as the job's working directory), killed mid-run, then resumed locally."""
    out = tmp_path / "out"
    # Slow enough that the 170 records left after the kill point take 20 s: the driver cannot finish
    # between the check and the kill, however the machine schedules the two processes.
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.5)) as base_url:
        config = _config(tmp_path / "project", base_url, ceiling=4)
        command = [sys.executable, "-m", "synthloom", "create", str(config), "-n", "200", "-o", str(out)]
        log = tmp_path / "driver.log"
        with log.open("wb") as stderr:
            driver = subprocess.Popen(
                [*command, "--no-progress", "--executor", "ray", "--ray-address", cluster],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            asyncio.run(_until(lambda: _committed(out) >= 30 or driver.poll() is not None))
            assert driver.poll() is None, log.read_text()
            driver.send_signal(signal.SIGKILL)
            driver.wait(30)
        finally:
            if driver.poll() is None:
                driver.kill()
        assert _committed(out) < 200
        _configure(base_url, latency=0.05, jitter=0.5)
        resumed = subprocess.run(
            [*command, "--no-progress", "--resume", "always"], capture_output=True, check=False
        )
        assert resumed.returncode == 0, resumed.stderr.decode()
        synthloom.create(config, 200, tmp_path / "reference", resume="never")
    rows = _rows(out)
    assert len(rows) == 200 == len({r["id"] for r in rows})
    assert rows == _rows(tmp_path / "reference")


def test_too_many_failures_on_workers_stop_the_run_early_on_the_driver(cluster: str, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "failing.py").write_text("def boom(row):\n    raise ValueError('boom')\n")
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "on-ray",
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "bad", "type": "custom", "function": "failing:boom", "inputs": ["id"]},
                ],
                "run": {"buffer_size": 10, "failure_window": 20, "max_failure_rate": 0.5, "cell_retries": 0},
            }
        )
    )
    with pytest.raises(EarlyShutdownError, match="boom"):
        synthloom.create(config, 2000, tmp_path / "out", resume="never", executor=RayExecutor(workers=2))
    metadata = json.loads((tmp_path / "out" / "on-ray" / "metadata.json").read_text())
    assert metadata["status"] == "failed"
