"""Repeat keys: a repeated request gets a key of its own, counts survive one generation turn, and the
counters never hold more than two generations."""

from __future__ import annotations

import hashlib

from synthloom.models.calls.repeats import RepeatKeys, repeat_key


def _base(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).digest()


def test_the_first_sending_keeps_its_key_and_each_repeat_gets_its_own() -> None:
    keys = RepeatKeys()
    first, second, third = (keys.key(_base(1)) for _ in range(3))
    assert first == _base(1)
    assert len({first, second, third}) == 3
    assert second == repeat_key(_base(1), 1) and third == repeat_key(_base(1), 2)
    assert keys.key(_base(2)) == _base(2)


def test_a_count_is_remembered_across_a_generation_turn() -> None:
    keys = RepeatKeys(generation=10)
    keys.key(_base(0))
    for i in range(1, 15):  # the generation turns after 10 distinct requests
        keys.key(_base(i))
    assert keys.key(_base(0)) == repeat_key(_base(0), 1)


def test_the_counters_stay_within_two_generations() -> None:
    keys = RepeatKeys(generation=100)
    for i in range(10_000):
        keys.key(_base(i))
        assert len(keys._counts) + len(keys._older) <= 200
