"""`fewer_collections`: a run collects garbage less often, and leaves the collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from synthloom.engine.collector import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture
def default_collector() -> Iterator[None]:
    saved, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield
    gc.set_threshold(*saved)
    if not enabled:
        gc.disable()


def test_a_run_raises_the_young_threshold_and_freezes_what_it_started_with(default_collector: None) -> None:
    before = object.__new__(type("Kept", (), {}))  # a container the collector tracks
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
        assert not any(o is before for o in gc.get_objects())  # out of the collector's sight
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_nested_and_concurrent_runs_restore_only_when_the_last_ends(default_collector: None) -> None:
    with fewer_collections():
        with fewer_collections():
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the outer run is still in flight
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_set_by_the_user_is_kept(default_collector: None) -> None:
    gc.set_threshold(50_000, 20, 20)
    with fewer_collections():
        assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_threshold() == (50_000, 20, 20)


def test_a_process_that_turned_the_collector_off_keeps_it_off(default_collector: None) -> None:
    gc.disable()
    with fewer_collections():
        assert not gc.isenabled() and gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0
    assert not gc.isenabled()
