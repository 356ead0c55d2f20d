"""How a row group starts its rows: a few at a time, so the first requests leave before the last rows
are set up, and none outlives its group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from synthloom import DatasetConfig
from synthloom.engine.contexts import GeneratorSetup
from synthloom.engine.failures import Failure, FilteredRow
from synthloom.engine.generation import make_generators
from synthloom.engine.row_group import RowGroupRunner
from synthloom.engine.row_runner import CellPolicy, NoEvents
from synthloom.errors import EarlyShutdownError
from synthloom.plan import build_plan
from synthloom.row_groups import RowGroupSlice

from . import _row_helpers

HELPERS = "tests.engine._row_helpers"
SIZE = 1000


def runner_for(function: str) -> RowGroupRunner:
    config = DatasetConfig.model_validate(
        {
            "name": "start",
            "columns": [
                {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 9}},
                {"name": "out", "type": "custom", "function": f"{HELPERS}:{function}", "inputs": ["n"]},
            ],
        }
    )
    plan = build_plan(config)
    generators = make_generators(plan, GeneratorSetup(config=config, run_seed=0))
    return RowGroupRunner(plan, generators, policy=CellPolicy())


@pytest.fixture(autouse=True)
def _fresh_lists() -> Any:
    for found in (_row_helpers.STARTED, _row_helpers.STARTED_WHEN_FIRST_RESUMED, _row_helpers.CANCELLED):
        found.clear()
    yield


async def test_the_first_row_is_past_its_first_wait_before_the_last_rows_are_set_up() -> None:
    group = RowGroupSlice(index=0, start=0, size=SIZE, run_seed=0)
    rows = await runner_for("note_start").run(group, models=None, events=NoEvents())
    assert rows.values["out"] == list(range(SIZE))
    # All 1,000 rows set up in one turn of the loop would be 1,000 here: the first request of a large
    # group waited for every other row to be set up.
    (seen,) = _row_helpers.STARTED_WHEN_FIRST_RESUMED
    assert seen < SIZE // 10


class StopOnFailure(NoEvents):
    """Stops the run at the first failed row, as the failure monitor does past its rate."""

    def row_removed(self, record: Failure | FilteredRow) -> None:
        raise EarlyShutdownError(f"record {record.record} failed", failure_rate=1.0, window=1)


async def test_a_row_that_stops_the_run_cancels_the_rows_still_running() -> None:
    group = RowGroupSlice(index=0, start=0, size=60, run_seed=0)
    with pytest.raises(EarlyShutdownError):
        await runner_for("wait_forever_unless_first").run(group, models=None, events=StopOnFailure())
    await asyncio.sleep(0)
    # Every row that had started is cancelled by the time the group's run has raised: none is left
    # running against a model pool that is about to close.
    assert sorted(_row_helpers.CANCELLED) == sorted(r for r in _row_helpers.STARTED if r != 0)
    assert len(_row_helpers.CANCELLED) >= 1
