"""Kept, filtered and failed rows through `create`: the filter column, early shutdown (which filtered rows
never trip) and `run.target: kept` (generate until N rows are kept, in record order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.engine.committer import Committer, KeptTarget
from synthloom.engine.executor import GroupResult
from synthloom.errors import EarlyShutdownError, GenerationError
from synthloom.interface.cli import cli
from synthloom.row_groups import RowGroupSlice

from . import _row_helpers

HELPERS = "tests.engine._row_helpers"
SHARP: dict[str, Any] = {"max_failure_rate": 0.1, "failure_window": 5}


def config_of(filter_column: dict[str, Any] | None = None, **run: Any) -> dict[str, Any]:
    """`n` uniform in 0..99, a uuid, a cell column, and a filter keeping about 40 % of rows (`n < 40`)."""
    keep = (
        filter_column
        if filter_column is not None
        else {"name": "keep", "type": "filter", "condition": "{{ n < 40 }}"}
    )
    return {
        "name": "outcomes",
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {
                "name": "n",
                "type": "sampler",
                "sampler": "uniform",
                "params": {"low": 0, "high": 99, "dtype": "int"},
            },
            keep,
            {"name": "doubled", "type": "custom", "function": f"{HELPERS}:double", "inputs": ["n"]},
        ],
        "run": {"buffer_size": 10, "seed": 5, **run},
    }


def create(config: dict[str, Any], num_records: int, output: Path, **kwargs: Any) -> synthloom.DatasetResult:
    return synthloom.create(DatasetConfig.model_validate(config), num_records, output, **kwargs)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_record(line: dict[str, Any]) -> int:
    return int(line["record"])


def part_stats(run: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in sorted((run / "data").glob("part-*"))}


# ---- the filter column ----------------------------------------------------------------------------


def test_filtered_rows_never_trip_early_shutdown(tmp_path: Path) -> None:
    result = create(config_of(**SHARP), 200, tmp_path)
    meta = result.metadata
    assert meta["status"] == "completed"
    rows = list(result)
    assert 40 <= len(rows) <= 120  # about 40 % kept: the filter removed most rows
    assert meta["committed_records"] == len(rows)
    assert meta["filtered_records"] == 200 - len(rows)
    assert meta["failed_records"] == 0


def test_failing_cells_at_the_same_rate_do_stop_early(tmp_path: Path) -> None:
    """The control for the test above: the same settings stop a run whose rows fail."""
    failing = {"name": "keep", "type": "custom", "function": f"{HELPERS}:fail_if_big", "inputs": ["n"]}
    with pytest.raises(EarlyShutdownError):
        create(config_of(failing, **SHARP), 200, tmp_path)


def test_filter_records_every_removed_row_with_its_rendered_reason(tmp_path: Path) -> None:
    keep = {"name": "keep", "type": "filter", "condition": "{{ n < 40 }}", "reason": "n={{ n }} too big"}
    result = create(config_of(keep, max_row_groups_in_flight=2), 120, tmp_path)
    assert result.path is not None
    rows = list(result)
    assert rows and all(r["n"] < 40 for r in rows)
    assert all(r["doubled"] == 2 * r["n"] for r in rows)
    assert list(rows[0]) == ["id", "n", "doubled"]  # the filter column is dropped by default

    filtered = jsonl(result.path / "filtered.jsonl")
    assert len(filtered) == 120 - len(rows)
    assert len({f["record"] for f in filtered}) == len(filtered)  # one line per filtered record
    for f in filtered:
        assert f["column"] == "keep"
        assert f["row_group"] == f["record"] // 10
        n = int(f["reason"].removeprefix("n=").removesuffix(" too big"))
        assert f["reason"] == f"n={n} too big" and n >= 40

    meta = result.metadata
    assert meta["filtered_records"] == len(filtered)
    by_group: dict[int, int] = {}
    for f in filtered:
        by_group[f["row_group"]] = by_group.get(f["row_group"], 0) + 1
    for index, entry in meta["row_groups"].items():
        assert entry["filtered"] == by_group.get(int(index), 0)
        assert entry["records"] + entry["filtered"] == entry["size"]

    usage = json.loads((result.path / "usage.json").read_text())
    assert usage["columns"]["keep"]["cells_filtered"] == len(filtered)
    assert usage["columns"]["keep"]["cells_done"] == len(rows)
    assert usage["columns"]["doubled"]["cells_done"] == len(rows)  # filtered rows never reach it
    assert usage["columns"]["doubled"]["cells_filtered"] == 0


def test_output_rows_are_the_unfiltered_run_minus_the_filtered_records(tmp_path: Path) -> None:
    everything = {"name": "keep", "type": "expression", "expr": "x"}
    unfiltered = list(create(config_of(everything), 60, tmp_path / "all"))
    result = create(config_of(), 60, tmp_path / "some")
    removed = {f["record"] for f in result.filtered}
    expected = [
        {k: v for k, v in r.items() if k != "keep"} for i, r in enumerate(unfiltered) if i not in removed
    ]
    assert list(result) == expected
    assert removed == {i for i, r in enumerate(unfiltered) if r["n"] >= 40}


def test_a_filter_kept_with_drop_false_shows_true_in_the_output(tmp_path: Path) -> None:
    keep = {"name": "keep", "type": "filter", "condition": "{{ n < 40 }}", "drop": False}
    rows = list(create(config_of(keep), 40, tmp_path))
    assert rows and list(rows[0]) == ["id", "n", "keep", "doubled"]
    assert all(r["keep"] is True and r["n"] < 40 for r in rows)


def test_filter_function_returning_false_and_a_reason(tmp_path: Path) -> None:
    keep = {"name": "keep", "type": "filter", "function": f"{HELPERS}:keep_small", "inputs": ["n"]}
    result = create(config_of(keep), 50, tmp_path)
    rows = list(result)
    assert rows and all(r["n"] < 40 for r in rows)
    assert len(result.filtered) == 50 - len(rows) > 0
    for f in result.filtered:
        assert f["column"] == "keep"
        assert f["reason"].startswith("n=") and f["reason"].endswith(" is 40 or more")


def test_filter_function_returning_a_bare_false_uses_the_default_reason(tmp_path: Path) -> None:
    keep = {"name": "keep", "type": "filter", "function": f"{HELPERS}:is_small", "inputs": ["n"]}
    result = create(config_of(keep), 30, tmp_path)
    assert result.filtered
    assert {f["reason"] for f in result.filtered} == {f"filter 'keep': {HELPERS}:is_small returned false"}


def test_a_filter_downstream_of_a_cell_filters_row_by_row(tmp_path: Path) -> None:
    """A filter reading a cell column runs in the row phase (per row), with the same outcome."""
    config = config_of({"name": "keep", "type": "expression", "expr": "x", "drop": True})
    config["columns"].append({"name": "late", "type": "filter", "condition": "{{ doubled < 80 }}"})
    result = create(config, 60, tmp_path)
    rows = list(result)
    assert rows and all(r["doubled"] < 80 for r in rows)
    assert {f["column"] for f in result.filtered} == {"late"}
    assert len(result.filtered) == 60 - len(rows) > 0
    assert result.metadata["filtered_records"] == len(result.filtered)


# ---- run.target: kept -----------------------------------------------------------------------------


def kept_config(target: str = "kept") -> dict[str, Any]:
    config = config_of(target=target, max_row_groups_in_flight=4)
    # Row group 0 finishes after later groups in flight: results reach the committer out of order.
    config["columns"].append(
        {"name": "v", "type": "custom", "function": f"{HELPERS}:slow_first_group", "inputs": ["n"]}
    )
    return config


def test_target_kept_gives_exactly_the_first_n_kept_records_in_order(tmp_path: Path) -> None:
    kept = create(kept_config(), 30, tmp_path / "kept")
    assert len(kept) == 30
    meta = kept.metadata
    assert (meta["status"], meta["committed_records"], meta["target_records"]) == ("completed", 30, 30)
    records = create(kept_config(target="records"), 150, tmp_path / "all")
    assert len(records) > 30
    assert list(kept) == list(records)[:30]


def test_target_kept_lists_only_the_rows_up_to_the_cut(tmp_path: Path) -> None:
    kept = create(kept_config(), 30, tmp_path / "kept")
    full = create(kept_config(target="records"), 150, tmp_path / "all")
    left_out = {by_record(line) for line in jsonl(full.path / "filtered.jsonl")}
    last_kept = [r for r in range(150) if r not in left_out][29]  # the record of the 30th kept row
    filtered = jsonl(kept.path / "filtered.jsonl")
    # Rows past the last kept record were never part of the dataset: not listed, not counted.
    assert sorted(by_record(line) for line in filtered) == sorted(r for r in left_out if r < last_kept)
    meta = kept.metadata
    assert meta["filtered_records"] == len(filtered) and meta["failed_records"] == 0
    assert sum(g.get("filtered", 0) for g in meta["row_groups"].values()) == len(filtered)


def test_target_kept_is_reproducible(tmp_path: Path) -> None:
    first = create(kept_config(), 25, tmp_path / "a")
    second = create(kept_config(), 25, tmp_path / "b")
    assert first.to_arrow().equals(second.to_arrow())
    # filtered.jsonl is written in commit order, which varies; its records do not.
    assert sorted(first.filtered, key=by_record) == sorted(second.filtered, key=by_record)


def test_target_kept_extends_to_the_same_rows_as_a_fresh_run(tmp_path: Path) -> None:
    create(kept_config(), 40, tmp_path / "grown")
    grown = create(kept_config(), 70, tmp_path / "grown", resume="always")
    fresh = create(kept_config(), 70, tmp_path / "fresh")
    assert len(grown) == 70
    assert grown.to_arrow().equals(fresh.to_arrow())
    meta = grown.metadata
    assert (meta["status"], meta["committed_records"], meta["target_records"]) == ("completed", 70, 70)
    assert [s["status"] for s in meta["sessions"]] == ["completed", "completed"]
    # filtered.jsonl holds each filtered record once, as a fresh run's does.
    assert sorted(grown.filtered, key=by_record) == sorted(fresh.filtered, key=by_record)
    assert meta["filtered_records"] == len(grown.filtered)


def test_target_kept_asked_again_for_the_same_n_does_no_work(tmp_path: Path) -> None:
    first = create(kept_config(), 30, tmp_path)
    assert first.path is not None
    before = part_stats(first.path)
    groups_before = first.metadata["row_groups"]
    again = create(kept_config(), 30, tmp_path, resume="always")
    assert part_stats(first.path) == before  # no row group file written
    meta = again.metadata
    assert meta["row_groups"] == groups_before
    assert meta["status"] == "completed"
    assert [s["records_committed"] for s in meta["sessions"]] == [30, 0]
    assert again.to_arrow().equals(first.to_arrow())


class SimulatedKill(RuntimeError):
    """Raised in place of committing a result: the run stops as if killed before that commit."""


def held_first_group_config() -> dict[str, Any]:
    """Records 0-9 and 40 onwards are kept; row group 0 is held back while later groups commit."""
    return {
        "name": "held",
        "columns": [
            {"name": "rec", "type": "custom", "function": f"{HELPERS}:record_held_first_group"},
            {"name": "keep", "type": "filter", "condition": "{{ rec < 10 or rec >= 40 }}"},
        ],
        "run": {"buffer_size": 10, "target": "kept", "max_row_groups_in_flight": 4},
    }


def test_target_kept_resumed_after_a_kill_before_an_earlier_group_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = _row_helpers.Probe()
    monkeypatch.setattr(_row_helpers, "probe", probe)
    apply, next_group = Committer.apply, KeptTarget.next_group
    running: set[int] = set()

    async def killed_at_group_0(self: Committer, result: GroupResult) -> None:
        if result.group.index == 0:
            raise SimulatedKill
        await apply(self, result)
        running.discard(result.group.index)
        if self.metadata.committed_records >= 30:
            probe.release.set()  # later groups hold the target: now let group 0 finish

    def releasing_when_done(self: KeptTarget) -> RowGroupSlice | None:
        group = next_group(self)
        if group is not None:
            running.add(group.index)
        elif running == {0}:
            probe.release.set()  # nothing else left to run: never leave group 0 waiting
        return group

    with monkeypatch.context() as patch:
        patch.setattr(Committer, "apply", killed_at_group_0)
        patch.setattr(KeptTarget, "next_group", releasing_when_done)
        with pytest.raises(SimulatedKill):
            create(held_first_group_config(), 30, tmp_path)
    at_kill = synthloom.open_run(tmp_path / "held")
    assert "0" not in at_kill.metadata["row_groups"]
    assert len(at_kill) >= 30  # the state this test is about

    resumed = create(held_first_group_config(), 30, tmp_path, resume="always")
    assert [r["rec"] for r in resumed] == [*range(10), *range(40, 60)]


def test_target_kept_shrunk_to_fewer_rows_counts_no_negative_commits(tmp_path: Path) -> None:
    create(kept_config(), 40, tmp_path)
    shrunk = create(kept_config(), 30, tmp_path, resume="always")
    fresh = create(kept_config(), 30, tmp_path / "fresh")
    assert shrunk.to_arrow().equals(fresh.to_arrow())
    sessions = shrunk.metadata["sessions"]
    assert [s["status"] for s in sessions] == ["completed", "completed"]
    assert all(s["records_committed"] >= 0 for s in sessions), sessions


def test_target_kept_short_of_n_after_max_extra_records_fails_keeping_the_kept_rows(tmp_path: Path) -> None:
    rare = {"name": "keep", "type": "filter", "condition": "{{ n < 8 }}"}  # about 8 % kept
    config = config_of(rare, target="kept", max_extra_records=50)
    with pytest.raises(GenerationError, match="max_extra_records"):
        create(config, 20, tmp_path / "kept")
    run = synthloom.open_run(tmp_path / "kept" / "outcomes")
    meta = run.metadata
    assert meta["status"] == "failed"
    assert meta["sessions"][-1]["status"] == "failed"
    tried = create(config_of(rare), 70, tmp_path / "tried")  # the 20 + 50 records the run could try
    assert 0 < len(tried) < 20
    assert list(run) == list(tried)
    assert meta["committed_records"] == len(tried)
    assert meta["filtered_records"] == 70 - len(tried) == len(run.filtered)


def test_target_kept_with_a_filter_rejecting_everything_fails(tmp_path: Path) -> None:
    never = {"name": "keep", "type": "filter", "condition": "{{ false }}"}
    with pytest.raises(GenerationError, match="only 0 of 10 rows were kept"):
        create(config_of(never, target="kept", max_extra_records=50), 10, tmp_path)
    run = synthloom.open_run(tmp_path / "outcomes")
    assert len(run) == 0
    assert run.metadata["status"] == "failed"
    assert run.metadata["filtered_records"] == 60


def test_cli_exits_1_when_target_kept_is_not_reached(tmp_path: Path) -> None:
    never = {"name": "keep", "type": "filter", "condition": "{{ false }}"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_of(never, target="kept", max_extra_records=50)))
    result = CliRunner().invoke(
        cli, ["create", str(path), "-n", "10", "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error:")
    assert "max_extra_records" in result.stderr
    assert "Traceback" not in result.output


def test_target_kept_with_a_small_n_sizes_row_groups_from_n_not_n_plus_the_extra(tmp_path: Path) -> None:
    """With buffer_size 1000 and N = 3 the first group used to span N + 9N records at once; now groups
    hold at most N records, and more are handed out only as the measured accept rate asks."""
    config = config_of(target="kept")
    config["run"]["buffer_size"] = 1000
    result = create(config, 3, tmp_path)
    assert len(result) == 3
    groups = result.metadata["row_groups"]
    assert result.metadata["buffer_size"] == 3
    assert {g["size"] for g in groups.values()} == {3}
    tried = sum(g["size"] for g in groups.values())
    assert tried < 30, groups


def test_target_kept_resumed_with_a_larger_n_keeps_its_row_group_size(tmp_path: Path) -> None:
    config = config_of(target="kept")
    config["run"]["buffer_size"] = 1000
    create(config, 3, tmp_path)
    grown = create(config, 8, tmp_path, resume="always")
    assert len(grown) == 8
    assert {g["size"] for g in grown.metadata["row_groups"].values()} == {3}
    assert [r["id"] for r in grown][:3] == [r["id"] for r in create(config, 3, tmp_path / "fresh")]
