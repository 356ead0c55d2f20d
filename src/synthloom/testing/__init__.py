"""Test helpers users may use too: a simulated OpenAI-compatible inference service.

Point a model's `base_url` at `SimulatedEndpoint(...).base_url` for a zero-cost dry run of a
pipeline's plumbing, or run `synthloom mock-server`.
"""

from __future__ import annotations

from synthloom.testing.schema_values import value_for_schema
from synthloom.testing.simulated_endpoint import (
    RecordedRequest,
    ScriptedResponse,
    SimulatedEndpoint,
    SimulatedEndpointConfig,
)
from synthloom.testing.subprocess_endpoint import serve, subprocess_endpoint

__all__ = [
    "RecordedRequest",
    "ScriptedResponse",
    "SimulatedEndpoint",
    "SimulatedEndpointConfig",
    "serve",
    "subprocess_endpoint",
    "value_for_schema",
]
