"""What a cell function sees through its `context` parameter: the record, the attempt, a reproducible
seed, its column, and the run's model clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.engine.contexts import CellContext
from synthloom.testing import SimulatedEndpoint

from . import _row_helpers
from .conftest import model

HELPERS = "tests.engine._row_helpers"


@pytest.fixture(autouse=True)
def seen() -> Iterator[list[CellContext]]:
    _row_helpers.SEEN.clear()
    yield _row_helpers.SEEN
    _row_helpers.SEEN.clear()


def context_config(*, seed: int = 3, buffer_size: int = 5, column: str = "ctx") -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "ctx",
            "columns": [
                {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 9}},
                {"name": column, "type": "custom", "function": f"{HELPERS}:context_fields", "inputs": ["n"]},
            ],
            "run": {"buffer_size": buffer_size, "seed": seed},
        }
    )


def seeds(rows: Iterable[dict[str, Any]], column: str = "ctx") -> list[str]:
    return [row[column]["seed"] for row in rows]


def test_a_cell_function_declaring_context_gets_record_attempt_seed_and_column(
    tmp_path: Path, seen: list[CellContext]
) -> None:
    rows = list(synthloom.create(context_config(), 20, tmp_path))
    assert [r["ctx"]["record"] for r in rows] == list(range(20))
    assert {r["ctx"]["attempt"] for r in rows} == {1}
    assert {r["ctx"]["column"] for r in rows} == {"ctx"}
    assert len(set(seeds(rows))) == 20  # a seed per record
    assert len(seen) == 20
    assert all(isinstance(c, CellContext) and c.models is None and c.tag == "ctx" for c in seen)


def test_cell_seeds_repeat_across_runs_with_the_same_run_seed(tmp_path: Path) -> None:
    first = synthloom.create(context_config(), 12, tmp_path / "a")
    second = synthloom.create(context_config(), 12, tmp_path / "b")
    assert seeds(first) == seeds(second)
    # The preview draws the same seeds as create.
    assert seeds(synthloom.preview(context_config(), num_records=12)) == seeds(first)


def test_cell_seeds_do_not_depend_on_which_records_share_a_row_group(tmp_path: Path) -> None:
    small = synthloom.create(context_config(buffer_size=3), 12, tmp_path / "a")
    large = synthloom.create(context_config(buffer_size=10), 12, tmp_path / "b")
    assert seeds(small) == seeds(large)


def test_cell_seeds_change_with_the_run_seed_and_the_column(tmp_path: Path) -> None:
    base = synthloom.create(context_config(), 12, tmp_path / "a")
    other_seed = synthloom.create(context_config(seed=4), 12, tmp_path / "b")
    other_column = synthloom.create(context_config(column="other"), 12, tmp_path / "c")
    assert not set(seeds(base)) & set(seeds(other_seed))
    assert not set(seeds(base)) & set(seeds(other_column, "other"))


async def test_a_cell_function_calls_a_declared_model_through_its_context(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    config = DatasetConfig.model_validate(
        {
            "name": "asking",
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 9}},
                {
                    "name": "asked",
                    "type": "custom",
                    "function": f"{HELPERS}:ask_model",
                    "inputs": ["n"],
                    "models": ["m"],
                },
            ],
            "run": {"buffer_size": 10},
        }
    )
    result = await synthloom.acreate(config, 30, tmp_path)
    rows = list(result)
    assert len(rows) == 30
    assert all(r["asked"] == f"Simulated reply to: hi {r['n']}" for r in rows)
    assert endpoint.stats()["requests"] == 30
    usage = result.usage
    assert usage["models"]["m"]["requests"] == 30
    assert usage["columns"]["asked"]["requests"] == 30  # accounted under the custom column
    assert usage["columns"]["asked"]["cells_done"] == 30
    groups = result.metadata["row_groups"].values()
    assert sum(g["usage"]["m"]["requests"] for g in groups) == 30


async def test_a_cell_function_calling_an_undeclared_model_fails_its_rows_saying_so() -> None:
    config = DatasetConfig.model_validate(
        {
            "columns": [
                {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 9}},
                {"name": "asked", "type": "custom", "function": f"{HELPERS}:ask_model", "inputs": ["n"]},
            ],
        }
    )
    result = await synthloom.apreview(config, num_records=3)
    assert len(result) == 0
    assert len(result.failures) == 3
    for failure in result.failures:
        assert (failure["column"], failure["error_type"]) == ("asked", "GenerationError")
        assert "declare the aliases a custom column calls in its `models` list" in failure["error"]
