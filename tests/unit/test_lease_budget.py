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


def test_a_silent_worker_keeps_its_slots_until_its_requests_must_have_ended() -> None:
    clock = Clock()
    budget = LeaseBudget(8, ttl=5.0, request_timeout=30.0, limiter_options={"initial": 8}, clock=clock)
    assert budget.renew(ask("a", 0, 100)).lease == 8
    assert budget.renew(ask("b", 0, 100)).lease == 0
    clock.now += 4.0
    budget.renew(ask("b", 0, 100))  # keeps b alive
    clock.now += 1.5  # a has been silent for 5.5 s: its lease is void, but its requests may be out
    assert budget.renew(ask("b", 0, 100)).lease == 0
    assert budget.figures()["expired"] == 1
    clock.now += 29.0  # still within ttl + request timeout of a's last word
    assert budget.renew(ask("b", 0, 100)).lease == 0
    clock.now += 1.0  # now every request a started has ended or timed out
    assert budget.renew(ask("b", 0, 100)).lease == 8
    assert budget.figures()["reclaimed"] == 1


def test_a_late_renewal_frees_only_what_the_worker_no_longer_has_in_flight() -> None:
    clock = Clock()
    budget = LeaseBudget(8, ttl=5.0, request_timeout=30.0, limiter_options={"initial": 8}, clock=clock)
    budget.renew(ask("a", 0, 100))
    budget.renew(ask("b", 0, 100))
    clock.now += 6.0
    assert budget.renew(ask("b", 0, 100)).lease == 0
    # a's loop was starved: its lease ran out on its side, 3 requests it started are still out and
    # nothing else waits. Its report replaces the 8 it held by what it has out.
    assert budget.renew(ask("a", 0, 3, in_flight=3)).lease == 3
    assert budget.committed()["a"] == 3
    assert budget.renew(ask("b", 0, 100)).lease == 5
    assert sum(budget.committed().values()) == 8


def test_a_confirmed_death_frees_the_slots_at_once() -> None:
    clock = Clock()
    budget = LeaseBudget(8, ttl=5.0, limiter_options={"initial": 8}, clock=clock)
    budget.renew(ask("a", 0, 100))
    budget.gone("a")
    assert budget.renew(ask("b", 0, 100)).lease == 8
    assert budget.figures()["gone"] == 1


def test_a_recreated_budget_only_shrinks_leases_until_unknown_requests_must_have_ended() -> None:
    clock = Clock()
    budget = LeaseBudget(32, ttl=5.0, request_timeout=20.0, recovering=True, clock=clock)
    grant = budget.renew(ask("a", 12, 100, in_flight=12, level=24))
    assert budget.level == 24
    assert grant.lease == 12  # not more: other workers may still hold leases it has not heard of
    assert budget.renew(ask("b", 0, 100, level=24)).lease == 0
    clock.now += 5.1  # every lease it had not heard of has expired, but not what was started under it
    budget.renew(ask("a", 12, 12, in_flight=12, level=24))
    assert budget.renew(ask("b", 0, 100, level=24)).lease == 0
    clock.now += 20.0
    budget.renew(ask("a", 12, 12, in_flight=12, level=24))
    assert budget.renew(ask("b", 0, 100, level=24)).lease == 12


def test_a_recreated_budget_that_has_heard_from_every_holder_grows_leases_at_once() -> None:
    clock = Clock()
    budget = LeaseBudget(8, ttl=5.0, holders=2, recovering=True, clock=clock)
    assert budget.renew(ask("a", 0, 100, in_flight=5, level=8)).lease == 0
    # b is the last holder: what every worker may use is known, so b gets what a does not hold.
    assert budget.renew(ask("b", 0, 100, in_flight=1, level=8)).lease == 3
    assert budget.renew(ask("a", 0, 100, in_flight=5, level=8)).lease == 4
    assert sum(budget.committed().values()) <= 8


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


def test_observations_sent_again_after_a_lost_answer_are_counted_once() -> None:
    budget = LeaseBudget(8, clock=Clock())
    grant = budget.renew(ask("a", 0, 100))
    done = tuple(("success", grant.epoch, 0.05, None) for _ in range(3))
    budget.renew(ask("a", grant.lease, 100, observations=done, first=0))
    # The answer was lost on the way: the worker sends the same three again, with two new ones.
    budget.renew(ask("a", grant.lease, 100, observations=done + done[:2], first=0))
    assert budget.figures()["requests"] == 5
    assert len(budget.drain_samples()) == 5


def test_an_opening_lease_is_committed_until_its_holder_renews() -> None:
    # The driver took the ceiling (its opening lease may grow to it) before this budget existed.
    budget = LeaseBudget(8, opening={"driver": 8}, clock=Clock())
    assert budget.renew(ask("w", 0, 100)).lease == 0
    assert budget.renew(ask("driver", 8, 3, in_flight=3)).lease == 3
    assert budget.committed()["driver"] == 8  # what it held counts until it renews under the new lease
    budget.renew(ask("driver", 3, 3, in_flight=3))
    assert budget.renew(ask("w", 0, 100)).lease == 5


def test_a_recreated_budget_ignores_the_opening_lease() -> None:
    # Its unknown leases are covered by recovery, not by an opening that may have been handed back.
    budget = LeaseBudget(8, opening={"driver": 8}, recovering=True, clock=Clock())
    assert "driver" not in budget.committed()
