"""The shared budget's lease arithmetic, without Ray: shares, the ceiling, shrinking, expiry, recovery."""

from __future__ import annotations

import random

import pytest

from synthloom.executors.ray import LeaseBudget, LeaseRequest, fair_shares


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ask(worker: str, held: int, demand: int, in_flight: int = 0, **extra: object) -> LeaseRequest:
    return LeaseRequest(worker=worker, held=held, in_flight=in_flight, demand=demand, **extra)  # type: ignore[arg-type]


def test_fair_shares_give_nobody_more_than_it_asks_and_split_the_rest_evenly() -> None:
    assert fair_shares(32, {"a": 100, "b": 100}) == {"a": 16, "b": 16}
    assert fair_shares(32, {"a": 4, "b": 100, "c": 100}) == {"a": 4, "b": 14, "c": 14}
    assert fair_shares(32, {"a": 0, "b": 5}) == {"a": 0, "b": 5}
    assert fair_shares(2, {"a": 9, "b": 9, "c": 9}) == {"a": 0, "b": 1, "c": 1}
    assert sum(fair_shares(31, {"a": 50, "b": 50}).values()) == 31


def test_a_lone_worker_gets_the_level_up_to_its_demand() -> None:
    budget = LeaseBudget(32, clock=Clock())
    assert budget.renew(ask("a", 0, 100)).lease == budget.level == 8  # the limiter's starting level
    assert budget.renew(ask("a", 8, 3)).lease == 3


def test_a_second_worker_gets_slots_only_once_the_first_has_shrunk() -> None:
    budget = LeaseBudget(8, limiter_options={"initial": 8}, clock=Clock())
    assert budget.renew(ask("a", 0, 100)).lease == 8
    # b's fair share is 4, but a still holds 8: nothing for b yet.
    assert budget.renew(ask("b", 0, 100)).lease == 0
    # a renews: told 4; until its next renewal it may still be using 8.
    assert budget.renew(ask("a", 8, 100, in_flight=8)).lease == 4
    assert budget.renew(ask("b", 0, 100)).lease == 0
    # a renews under its 4: now b gets its share.
    assert budget.renew(ask("a", 4, 100, in_flight=4)).lease == 4
    assert budget.renew(ask("b", 0, 100)).lease == 4


def test_committed_slots_never_exceed_the_ceiling_under_any_renewal_order() -> None:
    rng = random.Random(7)
    clock = Clock()
    budget = LeaseBudget(20, limiter_options={"initial": 20}, clock=clock)
    held = {w: 0 for w in "abcde"}
    in_flight = dict.fromkeys(held, 0)
    for _ in range(2000):
        worker = rng.choice(list(held))
        # Requests end at random; new ones start only under the lease the worker holds.
        in_flight[worker] = rng.randint(0, max(held[worker], in_flight[worker]))
        demand = rng.choice([0, 1, 5, 30])
        held[worker] = min(held[worker], max(demand, in_flight[worker]))  # a worker may shrink unasked
        grant = budget.renew(ask(worker, held[worker], max(demand, in_flight[worker]), in_flight[worker]))
        held[worker] = grant.lease
        # What workers may really have in flight: under their leases, or above them from before.
        assert sum(max(held[w], in_flight[w]) for w in held) <= 20
        assert sum(budget.committed().values()) <= 20
        clock.now += 0.01


def test_a_rate_limit_reported_by_one_worker_lowers_every_lease() -> None:
    budget = LeaseBudget(32, limiter_options={"initial": 32}, clock=Clock())
    first = budget.renew(ask("a", 0, 100))
    budget.renew(ask("b", 0, 100))
    budget.renew(ask("a", first.lease, 100, in_flight=first.lease))
    level = budget.level
    rejected = ("rate_limited", first.epoch, 0.01, None)
    grant = budget.renew(ask("b", 0, 100, in_flight=0, observations=(rejected,)))
    assert budget.level < level
    assert grant.epoch == first.epoch + 1
    # The same overload reported again (an older epoch) is not counted twice.
    budget.renew(ask("a", 16, 100, in_flight=16, observations=(rejected,)))
    assert budget.figures()["decreases"] == 1
    assert budget.figures()["rate_limited"] == 2
    leases = [budget.renew(ask(w, 16, 100, in_flight=0)).lease for w in "ab"]
    assert sum(leases) <= budget.level


def test_successes_reported_while_demand_exceeds_the_level_raise_it() -> None:
    budget = LeaseBudget(64, clock=Clock())
    grant = budget.renew(ask("a", 0, 100))
    ok = tuple(("success", grant.epoch, 0.05, None) for _ in range(8))
    budget.renew(ask("a", grant.lease, 100, in_flight=grant.lease, observations=ok))
    assert budget.level > 8


def test_a_silent_worker_loses_its_slots_after_the_ttl() -> None:
    clock = Clock()
    budget = LeaseBudget(8, ttl=5.0, limiter_options={"initial": 8}, clock=clock)
    assert budget.renew(ask("a", 0, 100)).lease == 8
    assert budget.renew(ask("b", 0, 100)).lease == 0
    clock.now += 4.0
    budget.renew(ask("b", 0, 100))  # keeps b alive
    clock.now += 1.5  # a has been silent for 5.5 s: its lease expired on its side first
    assert budget.renew(ask("b", 0, 100)).lease == 8
    assert budget.figures()["expired"] == 1


def test_a_recreated_budget_only_shrinks_leases_for_one_ttl_and_takes_the_reported_level() -> None:
    clock = Clock()
    budget = LeaseBudget(32, ttl=5.0, recovering=True, clock=clock)
    grant = budget.renew(ask("a", 12, 100, in_flight=12, level=24))
    assert budget.level == 24
    assert grant.lease == 12  # not more: other workers may still hold leases it has not heard of
    assert budget.renew(ask("b", 0, 100, level=24)).lease == 0
    clock.now += 5.1  # every lease it had not heard of has expired on its worker's side
    budget.renew(ask("a", 12, 12, in_flight=12, level=24))
    assert budget.renew(ask("b", 0, 100, level=24)).lease == 12


def test_a_worker_that_leaves_frees_its_slots_at_once() -> None:
    budget = LeaseBudget(8, limiter_options={"initial": 8}, clock=Clock())
    budget.renew(ask("a", 0, 100))
    budget.leave("a")
    assert budget.renew(ask("b", 0, 100)).lease == 8


def test_the_renewal_interval_stretches_with_many_workers() -> None:
    budget = LeaseBudget(1000, interval=0.1, max_rate=100.0, clock=Clock())
    for i in range(50):
        grant = budget.renew(ask(f"w{i}", 0, 1))
    assert grant.interval == pytest.approx(0.5)
