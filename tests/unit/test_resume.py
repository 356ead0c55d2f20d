"""`remaining_work`: which row groups a run still has to generate, from what is on disk."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import parse_config
from synthloom.errors import RunStateError
from synthloom.row_groups import row_group_slices
from synthloom.store.metadata import base_metadata
from synthloom.store.resume import remaining_work
from synthloom.store.run_directory import RunDirectory

CONFIG = """\
name: qa
models:
  - {alias: writer, provider: openai, base_url: 'http://127.0.0.1:8000/v1', model: m}
columns:
  - {name: topic, type: sampler, sampler: category, params: {values: [a, b]}}
  - {name: question, type: llm-text, model: writer, prompt: 'Ask about {{ topic }}'}
run: {buffer_size: 4, seed: 3}
"""


def config(text: str = CONFIG) -> DatasetConfig:
    return parse_config(text)


@pytest.fixture
def store(tmp_path: Path) -> RunDirectory:
    s = RunDirectory(tmp_path / "run")
    s.lock()
    yield s  # type: ignore[misc]
    s.unlock()


def commit_run(
    store: RunDirectory, cfg: DatasetConfig, num_records: int, groups: list[int] | None = None
) -> None:
    """What a run of `num_records` leaves behind after committing `groups` (all by default)."""
    slices = row_group_slices(num_records, cfg.run.buffer_size, cfg.run.seed)
    metadata = base_metadata(cfg, target=num_records, run_seed=cfg.run.seed)
    metadata["row_groups"] = {}
    for s in slices:
        if groups is not None and s.index not in groups:
            continue
        store.commit_row_group(s.index, pa.table({"x": list(range(s.start, s.start + s.size))}))
        metadata["row_groups"][str(s.index)] = {"size": s.size, "records": s.size}
    store.write_metadata(metadata)


def todo(plan) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return [(s.index, s.start, s.size) for s in plan.todo]


def test_row_group_slices_cover_every_record_once() -> None:
    slices = row_group_slices(10, 4, run_seed=9)
    assert [(s.index, s.start, s.size) for s in slices] == [(0, 0, 4), (1, 4, 4), (2, 8, 2)]
    assert {s.run_seed for s in slices} == {9}
    assert row_group_slices(8, 4, 0)[-1].size == 4
    assert len(row_group_slices(1, 1000, 0)) == 1


@pytest.mark.parametrize("mode", ["never", "if-possible"])
def test_a_fresh_directory_plans_every_row_group(store: RunDirectory, mode: str) -> None:
    plan = remaining_work(store, config(), num_records=10, mode=mode)  # type: ignore[arg-type]
    assert todo(plan) == [(0, 0, 4), (1, 4, 4), (2, 8, 2)]
    assert plan.kept == {}
    assert not plan.resumed
    assert plan.committed_records == 0


def test_resume_always_needs_an_existing_run(store: RunDirectory) -> None:
    with pytest.raises(RunStateError, match="there is no run to resume"):
        remaining_work(store, config(), num_records=10, mode="always")


def test_resume_never_refuses_a_directory_holding_a_run(store: RunDirectory) -> None:
    commit_run(store, config(), 10)
    with pytest.raises(RunStateError, match="already holds a run") as info:
        remaining_work(store, config(), num_records=10, mode="never")
    assert str(store.root) in str(info.value)


@pytest.mark.parametrize("mode", ["always", "if-possible"])
def test_resume_skips_committed_row_groups(store: RunDirectory, mode: str) -> None:
    commit_run(store, config(), 10, groups=[0, 2])
    plan = remaining_work(store, config(), num_records=10, mode=mode)  # type: ignore[arg-type]
    assert todo(plan) == [(1, 4, 4)]
    assert plan.kept == {0: 4, 2: 2}
    assert plan.resumed
    assert plan.committed_records == 6


def test_a_finished_run_has_nothing_left_to_do(store: RunDirectory) -> None:
    commit_run(store, config(), 10)
    plan = remaining_work(store, config(), num_records=10, mode="always")
    assert plan.todo == []
    assert plan.committed_records == 10


def test_a_damaged_part_is_regenerated(store: RunDirectory) -> None:
    commit_run(store, config(), 10)
    store.part_path(1).write_bytes(b"PAR1 truncated")
    plan = remaining_work(store, config(), num_records=10, mode="always")
    assert todo(plan) == [(1, 4, 4)]


def test_a_changed_config_is_refused_naming_what_changed(store: RunDirectory) -> None:
    commit_run(store, config(), 10)
    changed = config(CONFIG.replace("Ask about", "Ask one question about"))
    with pytest.raises(RunStateError) as info:
        remaining_work(store, changed, num_records=10, mode="if-possible")
    message = str(info.value)
    assert "config changed" in message
    assert "columns.question.prompt" in message
    assert "--output" in message


def test_a_changed_run_seed_is_refused(store: RunDirectory) -> None:
    commit_run(store, config(), 10)
    with pytest.raises(RunStateError, match=r"run\.seed changed \(3 -> 4\)"):
        remaining_work(store, config(CONFIG.replace("seed: 3", "seed: 4")), num_records=10, mode="always")


def test_changes_that_do_not_affect_the_data_do_not_refuse_a_resume(store: RunDirectory) -> None:
    commit_run(store, config(), 10, groups=[0])
    tuned = config(CONFIG.replace("model: m}", "model: m, max_parallel_requests: 3, timeout: 9}"))
    plan = remaining_work(store, tuned, num_records=10, mode="always")
    assert plan.kept == {0: 4}


def test_extending_a_run_generates_only_the_new_records(store: RunDirectory) -> None:
    commit_run(store, config(), 8)
    plan = remaining_work(store, config(), num_records=15, mode="always")
    assert plan.kept == {0: 4, 1: 4}
    assert todo(plan) == [(2, 8, 4), (3, 12, 3)]


def test_extending_regenerates_a_partial_last_group_whole(store: RunDirectory) -> None:
    commit_run(store, config(), 10)  # groups of 4, 4, 2
    plan = remaining_work(store, config(), num_records=15, mode="if-possible")
    assert plan.kept == {0: 4, 1: 4}
    assert todo(plan) == [(2, 8, 4), (3, 12, 3)]


def test_a_group_with_failed_rows_counts_its_kept_records(store: RunDirectory) -> None:
    cfg = config()
    commit_run(store, cfg, 8, groups=[0])
    store.commit_row_group(1, pa.table({"x": [4, 5, 7]}))  # one row failed and was removed
    metadata = store.read_metadata() or {}
    metadata["row_groups"]["1"] = {"size": 4, "records": 3}
    store.write_metadata(metadata)
    plan = remaining_work(store, cfg, num_records=8, mode="always")
    assert plan.todo == []
    assert plan.kept == {0: 4, 1: 3}


def test_asking_for_fewer_records_than_committed_is_refused(store: RunDirectory) -> None:
    commit_run(store, config(), 12)
    with pytest.raises(RunStateError, match="ask for at least 12 records"):
        remaining_work(store, config(), num_records=5, mode="always")


def test_fewer_records_than_committed_is_refused_within_the_last_group(
    store: RunDirectory,
) -> None:
    commit_run(store, config(), 8)
    with pytest.raises(RunStateError, match="at least 8 records"):
        remaining_work(store, config(), num_records=5, mode="always")


def test_parts_without_metadata_are_trusted(store: RunDirectory) -> None:
    commit_run(store, config(), 10, groups=[0, 1])
    store.metadata_path.unlink()
    plan = remaining_work(store, config(), num_records=10, mode="always")
    assert plan.kept == {0: 4, 1: 4}
    assert todo(plan) == [(2, 8, 2)]
