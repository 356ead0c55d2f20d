"""The row runner used on its own: one row's columns in, that row's outputs (or its end) out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from synthloom import DatasetConfig
from synthloom.engine.contexts import GeneratorSetup
from synthloom.engine.failures import Failure, FilteredRow
from synthloom.engine.generation import make_generators
from synthloom.engine.row_runner import CellPolicy, CellStatus, RowRunner
from synthloom.plan import Plan, build_plan
from synthloom.row_groups import RowGroupSlice

from . import _row_helpers

HELPERS = "tests.engine._row_helpers"
GROUP = RowGroupSlice(index=0, start=0, size=10, run_seed=0)


def custom(name: str, function: str, inputs: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "custom", "function": f"{HELPERS}:{function}", "inputs": inputs, **extra}


def executor_for(columns: list[dict[str, Any]], run: list[str], **policy: Any) -> RowRunner:
    config = DatasetConfig.model_validate(
        {
            "name": "rows",
            "columns": [
                {
                    "name": "n",
                    "type": "sampler",
                    "sampler": "uniform",
                    "params": {"low": 0, "high": 9, "dtype": "int"},
                },
                *columns,
            ],
        }
    )
    plan: Plan = build_plan(config)
    generators = make_generators(plan, GeneratorSetup(config=config, run_seed=0))
    return RowRunner(plan, run, generators, policy=CellPolicy(**policy) if policy else None)


class RecordingEvents:
    """A `CellEvents` that keeps what it is told."""

    def __init__(self) -> None:
        self.cells: list[tuple[str, CellStatus, int]] = []
        self.removed: list[Failure | FilteredRow] = []

    def cells_finished(self, column: str, status: CellStatus, count: int = 1) -> None:
        self.cells.append((column, status, count))

    def row_removed(self, record: Failure | FilteredRow) -> None:
        self.removed.append(record)


@pytest.fixture
def probe() -> Iterator[_row_helpers.Probe]:
    installed = _row_helpers.Probe()
    _row_helpers.probe = installed
    yield installed
    _row_helpers.probe = None


async def test_row_executor_computes_cells_and_the_batch_columns_downstream_of_them() -> None:
    executor = executor_for(
        [
            custom("doubled", "double", ["n"]),
            {"name": "label", "type": "expression", "expr": "{{ n }}->{{ doubled }}"},
        ],
        ["doubled", "label"],
    )
    events = RecordingEvents()
    result = await executor.run({"n": 4}, record=3, group=GROUP, events=events)
    assert result.outcome == "kept"
    assert result.values == {"doubled": 8, "label": "4->8"}
    assert result.failure is None and result.filtered is None
    assert sorted(events.cells) == [("doubled", "done", 1), ("label", "done", 1)]
    assert events.removed == []


async def test_a_raising_cell_fails_its_row_with_the_column_and_the_error() -> None:
    executor = executor_for(
        [custom("bad", "boom", ["n"]), {"name": "after", "type": "expression", "expr": "{{ bad }}!"}],
        ["bad", "after"],
    )
    events = RecordingEvents()
    result = await executor.run({"n": 7}, record=3, group=GROUP, events=events)
    assert result.outcome == "failed"
    failure = result.failure
    assert failure is not None
    assert (failure.column, failure.record, failure.row_group) == ("bad", 3, 0)
    assert failure.error_type == "ValueError"
    assert failure.error == "boom at n=7"
    assert failure.attempts == 1
    assert result.values == {"bad": None, "after": None}  # the column downstream never ran
    assert events.removed == [failure]
    assert ("bad", "failed", 1) in events.cells


async def test_a_cell_returning_cell_filtered_filters_its_row_with_the_reason() -> None:
    executor = executor_for([custom("gate", "reject", ["n"])], ["gate"])
    events = RecordingEvents()
    result = await executor.run({"n": 2}, record=5, group=GROUP, events=events)
    assert result.outcome == "filtered"
    assert result.failure is None
    assert result.filtered == FilteredRow(row_group=0, record=5, column="gate", reason="n=2 is not wanted")
    assert events.removed == [result.filtered]
    assert events.cells == [("gate", "filtered", 1)]


async def test_when_false_gives_null_and_the_row_is_kept() -> None:
    executor = executor_for(
        [custom("doubled", "double", ["n"], when="{{ n > 5 }}")],
        ["doubled"],
    )
    events = RecordingEvents()
    skipped = await executor.run({"n": 3}, record=0, group=GROUP, events=events)
    ran = await executor.run({"n": 8}, record=1, group=GROUP, events=events)
    assert (skipped.outcome, skipped.values) == ("kept", {"doubled": None})
    assert (ran.outcome, ran.values) == ("kept", {"doubled": 16})
    assert events.cells == [("doubled", "skipped", 1), ("doubled", "done", 1)]


async def test_concurrent_rows_each_get_their_own_values(probe: _row_helpers.Probe) -> None:
    # The cell returns only when both rows are inside it at once: run one after the other, this hangs.
    executor = executor_for(
        [
            custom("tenfold", "tenfold_together", ["n"]),
            {"name": "label", "type": "expression", "expr": "{{ n }}:{{ tenfold }}"},
        ],
        ["tenfold", "label"],
    )
    first, second = await asyncio.wait_for(
        asyncio.gather(
            executor.run({"n": 1}, record=0, group=GROUP),
            executor.run({"n": 2}, record=1, group=GROUP),
        ),
        timeout=30,
    )
    assert first.values == {"tenfold": 10, "label": "1:10"}
    assert second.values == {"tenfold": 20, "label": "2:20"}


async def test_a_failing_cell_cancels_its_slow_sibling(probe: _row_helpers.Probe) -> None:
    executor = executor_for(
        [custom("slow", "slow_sibling", ["n"]), custom("bad", "fail_once_sibling_runs", ["n"])],
        ["slow", "bad"],
    )
    result = await asyncio.wait_for(executor.run({"n": 1}, record=2, group=GROUP), timeout=30)
    assert result.outcome == "failed"
    assert result.failure is not None and result.failure.column == "bad"
    assert result.failure.error_type == "RuntimeError"
    assert probe.slow_cancelled.is_set()  # cancelled (and awaited) before run returned
    assert result.values == {"slow": None, "bad": None}


async def test_a_transient_model_error_is_retried_with_the_next_attempt() -> None:
    executor = executor_for(
        [custom("attempt", "flaky_then_attempt", ["n"])], ["attempt"], retry_delay=0.0, cell_retries=1
    )
    result = await executor.run({"n": 1}, record=0, group=GROUP)
    assert (result.outcome, result.values) == ("kept", {"attempt": 2})


async def test_a_transient_error_past_the_retries_fails_the_row_counting_attempts() -> None:
    executor = executor_for(
        [custom("attempt", "flaky_then_attempt", ["n"])], ["attempt"], retry_delay=0.0, cell_retries=0
    )
    result = await executor.run({"n": 1}, record=0, group=GROUP)
    assert result.outcome == "failed"
    assert result.failure is not None
    assert (result.failure.error_type, result.failure.attempts) == ("FlakyModelError", 1)


def test_executor_refuses_columns_missing_from_the_plan() -> None:
    with pytest.raises(KeyError, match="nope"):
        executor_for([custom("doubled", "double", ["n"])], ["doubled", "nope"])
