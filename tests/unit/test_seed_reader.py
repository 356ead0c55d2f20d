from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom.config.dataset import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.reader import SeedReader

RECORDS = [{"id": i, "text": f"record {i}"} for i in range(10)]


def reader(base: Path, path: str, **kwargs: object) -> SeedReader:
    return SeedReader(SeedConfig(path=path, **kwargs), base_dir=base, run_seed=7)


def group(index: int, start: int, size: int, run_seed: int = 7) -> RowGroupSlice:
    return RowGroupSlice(index=index, start=start, size=size, run_seed=run_seed)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_hf_dataset(directory: Path, table: pa.Table, shards: int = 1) -> Path:
    """The layout `datasets.Dataset.save_to_disk` writes: Arrow IPC *stream* shards, state.json
    listing them, and dataset_info.json. Built by hand (with no features in dataset_info.json, which
    `datasets.load_from_disk` refuses), so these tests pin the no-dependency Arrow reader; the
    library's own folders are tested in test_seeds_hf.py."""
    directory.mkdir(parents=True)
    per_shard = -(-table.num_rows // shards)
    names = []
    for k in range(shards):
        name = f"data-{k:05d}-of-{shards:05d}.arrow"
        with pa.OSFile(str(directory / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table.slice(k * per_shard, per_shard))
        names.append(name)
    state = {
        "_data_files": [{"filename": n} for n in names],
        "_fingerprint": "0123456789abcdef",
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (directory / "state.json").write_text(json.dumps(state))
    (directory / "dataset_info.json").write_text(json.dumps({"citation": "", "features": {}}))
    return directory


# -- formats ------------------------------------------------------------------------------------------


def test_reads_jsonl_relative_to_base_dir(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "seed.jsonl", RECORDS)
    r = reader(tmp_path, "seed.jsonl")
    assert len(r) == 10
    assert r.column_names == ["id", "text"]
    assert r.rows_for(group(0, 0, 3)) == {"id": [0, 1, 2], "text": ["record 0", "record 1", "record 2"]}


def test_jsonl_keeps_date_like_text_as_text(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"when": "2024-01-01", "nested": {"at": "2024-01-02T03:04:05"}}])
    rows = reader(tmp_path, "s.jsonl").rows_for(group(0, 0, 1))
    assert rows == {"when": ["2024-01-01"], "nested": [{"at": "2024-01-02T03:04:05"}]}


def test_reads_gzipped_jsonl(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "s.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert len(reader(tmp_path, "s.jsonl.gz")) == 10


def test_reads_json_array_with_union_of_keys(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps([{"a": 1}, {"a": 2, "b": "x"}]))
    r = reader(tmp_path, "s.json")
    assert r.rows_for(group(0, 0, 2)) == {"a": [1, 2], "b": [None, "x"]}


def test_json_file_holding_json_lines_is_read_as_jsonl(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.json", RECORDS)
    assert len(reader(tmp_path, "s.json")) == 10


def test_reads_csv_with_inferred_numbers(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("id,score,day\n1,0.5,2024-01-01\n2,1.5,2024-01-02\n")
    rows = reader(tmp_path, "s.csv").rows_for(group(0, 0, 2))
    assert rows == {"id": [1, 2], "score": [0.5, 1.5], "day": ["2024-01-01", "2024-01-02"]}


def test_reads_parquet_with_column_selection(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(RECORDS), tmp_path / "s.parquet")
    r = reader(tmp_path, str(tmp_path / "s.parquet"), columns=["text"])
    assert r.column_names == ["text"]
    assert r.rows_for(group(0, 0, 1)) == {"text": ["record 0"]}


def test_glob_concatenates_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    write_jsonl(tmp_path / "parts" / "b.jsonl", RECORDS[5:])
    write_jsonl(tmp_path / "parts" / "a.jsonl", RECORDS[:5])
    r = reader(tmp_path, "parts/*.jsonl")
    assert r.rows_for(group(0, 0, 10))["id"] == list(range(10))


def test_reads_hf_dataset_saved_to_disk(tmp_path: Path) -> None:
    write_hf_dataset(tmp_path / "ds", pa.Table.from_pylist(RECORDS), shards=2)
    r = reader(tmp_path, "ds")
    assert len(r) == 10
    assert r.rows_for(group(0, 0, 10))["id"] == list(range(10))


def test_hf_dataset_dict_uses_train_split(tmp_path: Path) -> None:
    root = tmp_path / "dd"
    write_hf_dataset(root / "train", pa.Table.from_pylist(RECORDS))
    write_hf_dataset(root / "test", pa.Table.from_pylist(RECORDS[:2]))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert len(reader(tmp_path, "dd")) == 10


def test_hf_dataset_dict_without_train_and_several_splits_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "dd"
    write_hf_dataset(root / "a", pa.Table.from_pylist(RECORDS))
    write_hf_dataset(root / "b", pa.Table.from_pylist(RECORDS))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["a", "b"]}))
    with pytest.raises(SeedDataError, match="splits a, b and no 'train'"):
        reader(tmp_path, "dd")


# -- sampling -----------------------------------------------------------------------------------------


def test_ordered_cycles_from_the_group_start(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", RECORDS)
    r = reader(tmp_path, "s.jsonl")
    assert r.rows_for(group(2, 8, 5))["id"] == [8, 9, 0, 1, 2]
    assert r.rows_for(group(5, 25, 3))["id"] == [5, 6, 7]


def test_shuffle_visits_every_record_once_per_epoch(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", RECORDS)
    r = reader(tmp_path, "s.jsonl", sampling="shuffle")
    first, second = r.rows_for(group(0, 0, 10))["id"], r.rows_for(group(1, 10, 10))["id"]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != list(range(10))
    assert first != second


def test_shuffle_maps_each_record_to_the_same_seed_row_whatever_the_grouping(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", RECORDS)
    whole = reader(tmp_path, "s.jsonl", sampling="shuffle").rows_for(group(0, 0, 25))["id"]
    fresh = reader(tmp_path, "s.jsonl", sampling="shuffle")
    pieces = [fresh.rows_for(group(k, start, 5))["id"] for k, start in enumerate(range(0, 25, 5))]
    assert [i for piece in pieces for i in piece] == whole


def test_shuffle_depends_on_run_seed(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"id": i} for i in range(100)])
    seed = SeedConfig(path="s.jsonl", sampling="shuffle")
    a = SeedReader(seed, base_dir=tmp_path, run_seed=1).rows_for(group(0, 0, 100, run_seed=1))
    b = SeedReader(seed, base_dir=tmp_path, run_seed=2).rows_for(group(0, 0, 100, run_seed=2))
    assert a != b


def test_with_replacement_is_reproducible_per_group(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"id": i} for i in range(1000)])
    r = reader(tmp_path, "s.jsonl", sampling="with_replacement")
    a = r.rows_for(group(3, 3000, 1000))["id"]
    assert a == reader(tmp_path, "s.jsonl", sampling="with_replacement").rows_for(group(3, 3000, 1000))["id"]
    assert a != r.rows_for(group(4, 4000, 1000))["id"]
    assert len(set(a)) < 1000  # draws repeat: about 632 distinct of 1000 expected
    assert np.mean(a) == pytest.approx(499.5, abs=40)


def test_seed_text_that_looks_like_a_template_is_data(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"text": "{{ secret }}"}])
    assert reader(tmp_path, "s.jsonl").rows_for(group(0, 0, 1)) == {"text": ["{{ secret }}"]}


# -- errors -------------------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeedDataError, match=r"nope\.jsonl: no such file or directory") as info:
        reader(tmp_path, "nope.jsonl")
    assert info.value.source == str(tmp_path / "nope.jsonl")


def test_glob_matching_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SeedDataError, match=r"\*\.parquet: the pattern matches no files"):
        reader(tmp_path, "*.parquet")


def test_bad_jsonl_line_is_reported_with_its_number(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n')
    with pytest.raises(SeedDataError, match=r"s\.jsonl: line 3 is not valid JSON"):
        reader(tmp_path, "s.jsonl")


def test_jsonl_with_changing_types_is_refused(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"a": 1}, {"a": "x"}])
    with pytest.raises(
        SeedDataError, match=r"s\.jsonl: cannot read JSON Lines: .*changed from number to string"
    ):
        reader(tmp_path, "s.jsonl")


def test_corrupt_parquet_is_refused_with_parser_message(tmp_path: Path) -> None:
    (tmp_path / "s.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SeedDataError, match=r"s\.parquet: cannot read parquet data: .*"):
        reader(tmp_path, "s.parquet")


def test_json_that_is_not_records_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("[1, 2, 3]")
    with pytest.raises(SeedDataError, match="expected a JSON array of objects"):
        reader(tmp_path, "s.json")


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("a,b\n")
    with pytest.raises(SeedDataError, match=r"s\.csv: the seed dataset has no records"):
        reader(tmp_path, "s.csv")


def test_unknown_columns_are_named_with_the_available_ones(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", RECORDS)
    with pytest.raises(
        SeedDataError, match=r"'columns' names 'txt', 'x', not in the data; available: id, text"
    ):
        reader(tmp_path, "s.jsonl", columns=["id", "txt", "x"])


def test_unsupported_extension_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.xlsx").write_text("x")
    with pytest.raises(SeedDataError, match=r"unsupported seed file type '\.xlsx'.*set seed 'format'"):
        reader(tmp_path, "s.xlsx")


def test_forced_format_overrides_the_extension(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.txt", RECORDS)
    assert len(reader(tmp_path, "s.txt", format="jsonl")) == 10


def test_plain_directory_is_not_taken_for_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(SeedDataError, match="is a directory, but not a Hugging Face dataset"):
        reader(tmp_path, "d")


def test_hf_directory_with_missing_shard_is_refused(tmp_path: Path) -> None:
    ds = write_hf_dataset(tmp_path / "ds", pa.Table.from_pylist(RECORDS))
    (ds / "data-00000-of-00001.arrow").unlink()
    with pytest.raises(SeedDataError, match=r"data file named in state\.json is missing"):
        reader(tmp_path, "ds")
