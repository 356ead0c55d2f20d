from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as ep:
        yield ep


def model(alias: str, base_url: str, **extra: Any) -> dict[str, Any]:
    """A model entry pointing at a simulated endpoint, with quick retries for tests."""
    return {
        "alias": alias,
        "provider": "openai",
        "base_url": base_url,
        "model": "sim",
        "max_parallel_requests": 16,
        "timeout": 5,
        **extra,
    }
