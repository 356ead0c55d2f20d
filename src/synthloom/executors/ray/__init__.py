"""Running row groups on a Ray cluster under one concurrency budget per endpoint.

The lease arithmetic (`LeaseBudget`, `LeasedLimiter`) needs no Ray and is importable anywhere; the
executor and its actors import Ray when used: `synthloom.executors.ray.executor.RayExecutor`.
"""

from __future__ import annotations

from synthloom.executors.ray.lease_budget import (
    LeaseBudget,
    LeaseGrant,
    LeaseRequest,
    Observation,
    fair_shares,
)
from synthloom.executors.ray.leased_limiter import BudgetChannel, LeasedLimiter

__all__ = [
    "BudgetChannel",
    "LeaseBudget",
    "LeaseGrant",
    "LeaseRequest",
    "LeasedLimiter",
    "Observation",
    "fair_shares",
]
