"""The budget's ceiling under the schedules a busy machine produces, played on a fake clock (no Ray):
workers whose renewals are late or whose event loops stall with requests at the server, budgets that
are lost and recreated mid-run. Every step checks what the *server* has in flight, not what the budget
believes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from synthloom.executors.ray import LeaseBudget, LeaseRequest

TTL = 1.0
TIMEOUT = 3.0
CEILING = 6


@dataclass
class Worker:
    """A `LeasedLimiter` reduced to its rules: starts requests only under a lease still valid by its
    own clock (counted from when it sent the renewal), shrinks before asking, reports what it has out."""

    name: str
    lease: int = 0
    valid_until: float = 0.0
    #: When each of its requests will end at the server (a request takes at most TIMEOUT).
    requests: list[float] = field(default_factory=list)
    #: Requests it believes are in flight (it learns of an end only when its loop runs).
    believed: int = 0
    stalled_until: float = 0.0

    def step(self, now: float, rng: random.Random, budget: LeaseBudget) -> None:
        if now < self.stalled_until:
            return  # event loop starved: nothing runs, not even its renewal
        self.believed = len(self.requests)
        if now >= self.valid_until:
            self.lease = 0
        demand = rng.choice([0, 2, 6, 20])
        if rng.random() < 0.5:
            held = min(self.lease, max(demand, self.believed))
            self.lease = held
            sent = now - rng.uniform(0, TTL / 2)  # the message spent up to ttl/2 on its way
            request = LeaseRequest(self.name, held, self.believed, demand, level=CEILING)
            grant = budget.renew(request)
            self.lease, self.valid_until = grant.lease, sent + grant.ttl
        while now < self.valid_until and len(self.requests) < min(self.lease, demand):
            self.requests.append(now + rng.uniform(0.01, TIMEOUT))


def play(seed: int, *, stalls: bool, restarts: bool) -> int:
    """Play one schedule; return the most requests the server had at once."""
    rng = random.Random(seed)
    clock = [0.0]

    def make(recovering: bool) -> LeaseBudget:
        return LeaseBudget(
            CEILING,
            ttl=TTL,
            request_timeout=TIMEOUT,
            holders=4,
            recovering=recovering,
            limiter_options={"initial": CEILING},
            clock=lambda: clock[0],
        )

    budget = make(False)
    workers = [Worker(f"w{i}") for i in range(4)]
    peak = 0
    for _ in range(3000):
        clock[0] += rng.uniform(0.005, 0.2)
        now = clock[0]
        for worker in workers:
            worker.requests = [end for end in worker.requests if end > now]  # the server answers
        if stalls and rng.random() < 0.01:
            # A starved loop: silent well past its lease, its requests still at the server.
            rng.choice(workers).stalled_until = now + rng.uniform(TTL, 3 * TTL)
        if restarts and rng.random() < 0.003:
            budget = make(True)  # the actor was lost: a new one knows nothing
        worker = rng.choice(workers)
        worker.step(now, rng, budget)
        in_flight = sum(len(w.requests) for w in workers)
        assert in_flight <= CEILING, f"server saw {in_flight} > {CEILING} at t={now:.2f} (seed {seed})"
        peak = max(peak, in_flight)
    return peak


@pytest.mark.parametrize("seed", range(20))
def test_stalled_workers_never_push_the_server_past_the_ceiling(seed: int) -> None:
    assert play(seed, stalls=True, restarts=False) >= 4  # the level was actually used


@pytest.mark.parametrize("seed", range(20))
def test_a_recreated_budget_never_lets_the_server_past_the_ceiling(seed: int) -> None:
    assert play(seed, stalls=True, restarts=True) >= 4
