"""The run directory: atomic commits, what counts as committed, metadata, failures, the lock."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom.config.loader import parse_config
from synthloom.errors import OutputError, RunStateError
from synthloom.store.fingerprint import config_fingerprint, describe_changes, fingerprint_view
from synthloom.store.run_directory import RunDirectory

CONFIG = """\
name: qa
models:
  - {alias: writer, provider: openai, base_url: 'http://127.0.0.1:8000/v1', model: m}
columns:
  - {name: topic, type: sampler, sampler: category, params: {values: [a, b]}}
  - {name: question, type: llm-text, model: writer, prompt: 'Ask about {{ topic }}'}
run: {buffer_size: 4}
"""


def table(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {"x": list(range(start, start + n)), "text": [f"row {i}" for i in range(start, start + n)]}
    )


@pytest.fixture
def store(tmp_path: Path) -> RunDirectory:
    s = RunDirectory(tmp_path / "run")
    s.lock()
    yield s  # type: ignore[misc]
    s.unlock()


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_commit_leaves_only_the_final_file(store: RunDirectory) -> None:
    path = store.commit_row_group(3, table(4))
    assert path == store.data_dir / "part-00003.parquet"
    assert names(store.data_dir) == {"part-00003.parquet"}
    assert pq.read_table(path).equals(table(4))


def test_committed_lists_final_files_with_their_record_counts(store: RunDirectory) -> None:
    store.commit_row_group(0, table(4))
    store.commit_row_group(2, table(2))
    committed = store.committed()
    assert sorted(committed) == [0, 2]
    assert (committed[0].records, committed[2].records) == (4, 2)
    assert committed[2].path == store.part_path(2)


def test_a_leftover_temporary_is_not_committed_and_is_cleared(store: RunDirectory) -> None:
    store.commit_row_group(0, table(4))
    leftover = store.data_dir / ".part-00001.parquet.tmp"
    pq.write_table(table(4), leftover)  # complete, but never renamed: not a commit
    metadata_tmp = store.root / ".metadata.json.tmp"
    metadata_tmp.write_text("{")
    assert sorted(store.committed()) == [0]
    store.clear_temporaries()
    assert not leftover.exists()
    assert not metadata_tmp.exists()
    assert names(store.data_dir) == {"part-00000.parquet"}


def test_a_truncated_part_file_is_not_committed(store: RunDirectory) -> None:
    store.commit_row_group(0, table(4))
    path = store.commit_row_group(1, table(4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert sorted(store.committed()) == [0]


def test_a_garbage_part_file_is_not_committed(store: RunDirectory) -> None:
    store.part_path(0).write_bytes(b"not parquet at all")
    store.part_path(1).write_bytes(b"")
    assert store.committed() == {}


def test_files_not_named_like_parts_are_ignored(store: RunDirectory) -> None:
    pq.write_table(table(1), store.data_dir / "part-1.parquet")
    pq.write_table(table(1), store.data_dir / "extra.parquet")
    (store.data_dir / "notes.txt").write_text("hi")
    assert store.committed() == {}


def test_committed_is_empty_when_there_is_no_data_folder(tmp_path: Path) -> None:
    s = RunDirectory(tmp_path / "nothing")
    assert s.committed() == {}
    assert not s.exists()
    assert s.read_metadata() is None


def test_exists_once_metadata_or_a_part_is_there(tmp_path: Path) -> None:
    s = RunDirectory(tmp_path / "run")
    with s:
        assert not s.exists()
        s.commit_row_group(0, table(1))
        assert s.exists()
    other = RunDirectory(tmp_path / "run2")
    with other:
        other.write_metadata({"status": "running"})
        assert other.exists()


def test_metadata_round_trips_and_leaves_no_temporary(store: RunDirectory) -> None:
    metadata = {
        "name": "qa",
        "target_records": 10,
        "row_groups": {"0": {"size": 4, "records": 4}, "2": {"size": 2, "records": 1}},
        "nested": {"list": [1, 2.5, None, "x"]},
    }
    store.write_metadata(metadata)
    assert store.read_metadata() == metadata
    assert store.group_sizes() == {0: 4, 2: 2}
    assert not list(store.root.glob(".*.tmp"))
    store.write_metadata({"status": "completed"})
    assert store.read_metadata() == {"status": "completed"}
    assert store.group_sizes() == {}


def test_unreadable_metadata_is_a_run_state_error(store: RunDirectory) -> None:
    store.metadata_path.write_text("{not json")
    with pytest.raises(RunStateError, match=r"metadata\.json is unreadable"):
        store.read_metadata()


def test_failures_append_and_are_dropped_for_regenerated_groups(store: RunDirectory) -> None:
    store.append_failures([{"row_group": 0, "record": 1, "column": "q", "error": "boom"}])
    store.append_failures([])
    store.append_failures(
        [
            {"row_group": 1, "record": 5, "column": "q", "error": "bad"},
            {"row_group": 2, "record": 9, "column": "q", "error": "worse"},
        ]
    )
    lines = [orjson.loads(x) for x in store.failures_path.read_bytes().splitlines()]
    assert [f["record"] for f in lines] == [1, 5, 9]
    store.drop_records_for([1, 7])
    lines = [orjson.loads(x) for x in store.failures_path.read_bytes().splitlines()]
    assert [f["row_group"] for f in lines] == [0, 2]
    assert not list(store.root.glob(".*.tmp"))


def test_dropping_failures_keeps_lines_without_a_row_group(store: RunDirectory) -> None:
    store.failures_path.write_bytes(b'{"row_group": 1}\n{"note": "manual"}\nnot json\n')
    store.drop_records_for([1])
    assert store.failures_path.read_bytes().splitlines() == [b'{"note": "manual"}', b"not json"]


def test_dropping_failures_without_a_file_is_a_no_op(store: RunDirectory) -> None:
    store.drop_records_for([0])
    assert not store.failures_path.exists()


def test_the_lock_keeps_a_second_store_out_of_the_same_directory(tmp_path: Path) -> None:
    first = RunDirectory(tmp_path / "run")
    with first:
        second = RunDirectory(tmp_path / "run")
        with pytest.raises(RunStateError, match="in use by another synthloom process"):
            second.lock()
    with RunDirectory(tmp_path / "run") as third:
        assert third.root == first.root


def test_output_under_a_regular_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    s = RunDirectory(tmp_path / "afile" / "out")
    with pytest.raises(OutputError, match="cannot write to output directory"):
        s.lock()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_dir_is_an_output_error(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(OutputError):
            RunDirectory(parent / "run").lock()
    finally:
        parent.chmod(0o700)


def test_commit_failure_is_an_output_error_and_leaves_no_temporary(store: RunDirectory) -> None:
    store.data_dir.rmdir()
    store.data_dir.write_text("a file where the data folder should be")
    with pytest.raises(OutputError, match="cannot write"):
        store.commit_row_group(0, table(1))
    assert not list(store.root.glob(".*.tmp"))


def test_write_config_writes_resolved_yaml(store: RunDirectory) -> None:
    config = parse_config(CONFIG)
    store.write_config(config)
    text = store.config_path.read_text()
    assert "name: qa" in text
    assert "Ask about {{ topic }}" in text


def test_fingerprint_ignores_concurrency_timeouts_and_pricing() -> None:
    base = parse_config(CONFIG)
    tuned = parse_config(
        CONFIG.replace(
            "model: m}",
            "model: m, max_parallel_requests: 99, timeout: 5, max_retries: 1, "
            "pricing: {input_per_million: 1}}",
        ).replace("buffer_size: 4", "buffer_size: 4, max_row_groups_in_flight: 2, cell_retries: 0")
    )
    assert config_fingerprint(tuned) == config_fingerprint(base)


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("'Ask about {{ topic }}'", "'Ask on {{ topic }}'", "columns.question.prompt changed"),
        ("values: [a, b]", "values: [a, c]", "columns.topic.params.values[1] changed"),
        ("buffer_size: 4", "buffer_size: 5", "run.buffer_size changed (4 -> 5)"),
        ("model: m}", "model: other}", "models.writer.model changed"),
        (
            "run: {buffer_size: 4}",
            "  - {name: extra, type: sampler, sampler: uuid}\nrun: {buffer_size: 4}",
            "columns.extra added",
        ),
    ],
)
def test_fingerprint_changes_are_described_by_path(old: str, new: str, change: str) -> None:
    before, after = parse_config(CONFIG), parse_config(CONFIG.replace(old, new))
    assert config_fingerprint(before) != config_fingerprint(after)
    changes = describe_changes(fingerprint_view(before), fingerprint_view(after))
    assert any(c.startswith(change) for c in changes), changes


def test_credential_like_header_values_are_not_written_to_the_run_directory(tmp_path: Path) -> None:
    config = parse_config(
        CONFIG.replace(
            "model: m}",
            "model: m, headers: {Authorization: 'Bearer sk-secret-1', X-Api-Key: sk-secret-2, X-Team: blue}}",
        )
    )
    store = RunDirectory(tmp_path / "run")
    with store:
        store.write_config(config)
    text = store.config_path.read_text()
    assert "sk-secret" not in text
    assert "blue" in text and text.count("<redacted>") == 2
