"""The Ray tier: one local Ray cluster on loopback for the whole module, started and stopped here.

Run it alone and serially (`pytest tests/ray -m ray -p no:randomly`): it spawns worker processes on a
2-core machine, and two Ray test sessions at once would starve each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: runs on a local Ray cluster (run serially, alone)")


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
