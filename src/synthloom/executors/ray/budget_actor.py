"""`BudgetActor`: the Ray actor holding one endpoint's `LeaseBudget` for every worker of a run.

One per limiter key (the same model on the same server), created by the driver and owned by it, so it
ends with the run. Ray restarts it if its process dies; the new one knows it was reconstructed and
starts in recovery (`LeaseBudget(recovering=True)`): workers keep their leases meanwhile, and renew
with the new one as soon as it answers. It needs no CPU of its own: a renewal takes microseconds.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from synthloom.executors.ray.lease_budget import LeaseBudget, LeaseGrant, LeaseRequest

__all__ = ["BudgetActor"]


class BudgetActor:
    """Wrapped with `ray.remote` by the executor; each method is one message."""

    def __init__(
        self,
        ceiling: int,
        name: str,
        ttl: float,
        limiter_options: dict[str, Any] | None = None,
        *,
        request_timeout: float = 120.0,
        holders: int | None = None,
        opening: dict[str, int] | None = None,
    ) -> None:
        import ray

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own use of a deprecated property inside
            recovering = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        self._budget = LeaseBudget(
            ceiling,
            name=name,
            ttl=ttl,
            request_timeout=request_timeout,
            holders=holders,
            recovering=recovering,
            limiter_options=limiter_options,
            opening=opening,
        )
        self._recovered = recovering

    def renew(self, request: LeaseRequest) -> LeaseGrant:
        return self._budget.renew(request)

    def gone(self, worker: str) -> None:
        self._budget.gone(worker)

    def figures(self) -> dict[str, Any]:
        return {**self._budget.figures(), "recovered": self._recovered, "pid": os.getpid()}

    def drain_samples(self) -> list[tuple[str, float]]:
        return self._budget.drain_samples()

    def pid(self) -> int:
        return os.getpid()
