"""The Ray tier: one local Ray cluster on loopback for the whole module, started and stopped here.

Run it alone and serially (`pytest tests/ray -m ray -p no:randomly`): it spawns worker processes on a
2-core machine, and two Ray test sessions at once would starve each other.

The ceiling and the fault drills run with both cores kept busy by two spinning processes the test
starts itself (`busy_cores`): they must hold on a loaded machine, where event loops stall and renewals
arrive late, not only on an idle one. The other tests (same rows as a local run, a shared cache,
resume across executors) assert nothing about timing and run without the load, which would only
slow them down.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: runs on a local Ray cluster (run serially, alone)")


#: Spins until its deadline or until its parent (the test session) is gone, whichever comes first.
_SPIN = """
import os, time
parent, end = os.getppid(), time.monotonic() + {seconds}
while time.monotonic() < end and os.getppid() == parent:
    pass
"""


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Two processes spinning on the CPU for the test (at most 10 minutes each)."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN.format(seconds=600)]) for _ in range(2)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray cluster with 2 CPUs; yields its address, for drivers in other processes."""
    import logging

    context = ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
