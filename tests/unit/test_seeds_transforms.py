"""Seed transforms (rename, select, drop, filter, skip, window, dedup) and several combined sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds import source_builder
from synthloom.seeds.reader import SeedReader

RECORDS = [{"id": i, "text": f"t{i}", "group": "even" if i % 2 == 0 else "odd"} for i in range(10)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path.name


def reader(base: Path, **seed: Any) -> SeedReader:
    return SeedReader(SeedConfig.model_validate(seed), base_dir=base, run_seed=3)


def rows(r: SeedReader, start: int = 0, size: int | None = None) -> list[dict[str, Any]]:
    values = r.rows_for(RowGroupSlice(index=0, start=start, size=size or len(r), run_seed=3))
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]


@pytest.fixture
def seed_file(tmp_path: Path) -> str:
    return write_jsonl(tmp_path / "s.jsonl", RECORDS)


# -- single steps -----------------------------------------------------------------------------------


def test_rename_select_and_drop(tmp_path: Path, seed_file: str) -> None:
    r = reader(
        tmp_path,
        path=seed_file,
        transforms=[
            {"rename": {"text": "body", "id": "key"}},
            {"drop": ["group"]},
            {"select": ["body", "key"]},
        ],
    )
    assert r.column_names == ["body", "key"]
    assert rows(r)[:2] == [{"body": "t0", "key": 0}, {"body": "t1", "key": 1}]


def test_filter_renders_a_condition_per_record(tmp_path: Path, seed_file: str) -> None:
    r = reader(tmp_path, path=seed_file, transforms=[{"filter": "{{ id > 2 and group == 'odd' }}"}])
    assert [x["id"] for x in rows(r)] == [3, 5, 7, 9]


def test_filter_reads_false_like_text_as_false(tmp_path: Path) -> None:
    values = ["False", "0", "none", "", "no", "NULL", "yes", "1", "x"]
    name = write_jsonl(tmp_path / "f.jsonl", [{"flag": v, "n": i} for i, v in enumerate(values)])
    r = reader(tmp_path, path=name, transforms=[{"filter": "{{ flag }}"}])
    assert [x["flag"] for x in rows(r)] == ["yes", "1", "x"]


def test_skip_first_and_last_across_chunks(
    tmp_path: Path, seed_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_builder.TableSource, "batches", _tiny_batches)
    r = reader(tmp_path, path=seed_file, transforms=[{"skip": {"first": 2, "last": 3}}])
    assert [x["id"] for x in rows(r)] == [2, 3, 4, 5, 6]


def _tiny_batches(self: Any, batch_rows: int = 0) -> Any:
    """Batches of three records: steps must carry state across chunk boundaries."""
    for start in range(0, self.num_rows, 3):
        yield self.table.slice(start, 3)


def test_window_joins_and_lists_consecutive_records(
    tmp_path: Path, seed_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_builder.TableSource, "batches", _tiny_batches)
    r = reader(
        tmp_path,
        path=seed_file,
        transforms=[{"select": ["id", "text"]}, {"window": {"size": 3, "step": 2, "join": {"text": " | "}}}],
    )
    assert rows(r) == [
        {"id": [0, 1, 2], "text": "t0 | t1 | t2"},
        {"id": [2, 3, 4], "text": "t2 | t3 | t4"},
        {"id": [4, 5, 6], "text": "t4 | t5 | t6"},
        {"id": [6, 7, 8], "text": "t6 | t7 | t8"},
    ]


def test_window_partial_keeps_the_short_tail_and_one_separator_joins_every_field(
    tmp_path: Path, seed_file: str
) -> None:
    r = reader(
        tmp_path,
        path=seed_file,
        transforms=[{"select": ["id"]}, {"window": {"size": 4, "join": "+", "partial": True}}],
    )
    assert [x["id"] for x in rows(r)] == ["0+1+2+3", "4+5+6+7", "8+9"]


def test_dedup_keeps_the_first_record_of_each_key(tmp_path: Path, seed_file: str) -> None:
    r = reader(tmp_path, path=seed_file, transforms=[{"dedup": "group"}])
    assert [(x["id"], x["group"]) for x in rows(r)] == [(0, "even"), (1, "odd")]


def test_steps_apply_in_order(tmp_path: Path, seed_file: str) -> None:
    r = reader(
        tmp_path,
        path=seed_file,
        transforms=[{"filter": "{{ group == 'even' }}"}, {"skip": {"first": 1}}, {"rename": {"id": "n"}}],
    )
    assert [x["n"] for x in rows(r)] == [2, 4, 6, 8]


# -- bad references ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transforms", "field", "message"),
    [
        ([{"rename": {"text": "id"}}], "seed.transforms[0].rename", "cannot rename onto 'id': a field"),
        ([{"rename": {"nope": "x"}}], "seed.transforms[0].rename", "no field 'nope' in the seed records"),
        ([{"drop": ["id"]}, {"select": ["id"]}], "seed.transforms[1].select", "no field 'id'"),
        ([{"filter": "{{ score > 1 }}"}], "seed.transforms[0].filter", "reads 'score', not a field"),
        ([{"filter": "{{ id > }}"}], "seed.transforms[0].filter", "template syntax error on line 1"),
        ([{"dedup": ["id", "missing"]}], "seed.transforms[0].dedup", "no field 'missing'"),
        (
            [{"window": {"size": 2, "join": {"txt": "\n"}}}],
            "seed.transforms[0].window.join",
            "no field 'txt'",
        ),
        ([{"drop": ["id", "text", "group"]}], "seed.transforms[0].drop", "drops every field"),
        ([{"rename": {"id": "a", "text": "a"}}], "seed.transforms[0].rename", "two fields renamed to 'a'"),
    ],
)
def test_bad_references_name_the_step(
    tmp_path: Path, seed_file: str, transforms: list[dict[str, Any]], field: str, message: str
) -> None:
    with pytest.raises(SeedDataError) as info:
        reader(tmp_path, path=seed_file, transforms=transforms)
    assert info.value.field == field
    assert message in info.value.reason
    assert str(tmp_path / "s.jsonl") in str(info.value)


def test_filter_leaving_nothing_names_the_step(tmp_path: Path, seed_file: str) -> None:
    with pytest.raises(
        SeedDataError, match=r"no seed record is left after this step \(10 in, 0 out\)"
    ) as info:
        reader(tmp_path, path=seed_file, transforms=[{"rename": {"id": "n"}}, {"filter": "{{ n > 100 }}"}])
    assert info.value.field == "seed.transforms[1].filter"


def test_filter_error_at_render_time_names_the_record(tmp_path: Path, seed_file: str) -> None:
    with pytest.raises(SeedDataError, match=r"seed record 0: .*") as info:
        reader(tmp_path, path=seed_file, transforms=[{"filter": "{{ text + 1 }}"}])
    assert info.value.field == "seed.transforms[0].filter"


def test_a_transform_is_exactly_one_step() -> None:
    with pytest.raises(ValidationError, match="each transform is exactly one of rename, select"):
        SeedConfig.model_validate({"path": "x", "transforms": [{"rename": {"a": "b"}, "drop": ["c"]}]})


# -- several sources --------------------------------------------------------------------------------


@pytest.fixture
def two_sources(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "q.jsonl", [{"doc": d, "q": f"q{i}"} for i, d in enumerate(["a", "b", "a", "z"])])
    pq.write_table(pa.table({"doc": ["a", "b", "c"], "body": ["A", "B", "C"]}), tmp_path / "d.parquet")
    return tmp_path


def test_join_on_a_key_keeps_the_first_sources_order(two_sources: Path) -> None:
    r = reader(two_sources, combine="join", key="doc", sources=[{"path": "q.jsonl"}, {"path": "d.parquet"}])
    assert r.column_names == ["doc", "q", "body"]
    assert rows(r) == [
        {"doc": "a", "q": "q0", "body": "A"},
        {"doc": "b", "q": "q1", "body": "B"},
        {"doc": "a", "q": "q2", "body": "A"},
    ]


def test_left_join_keeps_unmatched_records(two_sources: Path) -> None:
    r = reader(
        two_sources, combine="left_join", key="doc", sources=[{"path": "q.jsonl"}, {"path": "d.parquet"}]
    )
    assert [(x["q"], x["body"]) for x in rows(r)] == [("q0", "A"), ("q1", "B"), ("q2", "A"), ("q3", None)]


def test_join_key_missing_on_one_side_names_the_source(two_sources: Path) -> None:
    with pytest.raises(SeedDataError, match=r"join key 'doc' is not a field of seed\.sources\[1\]") as info:
        reader(
            two_sources,
            combine="join",
            key="doc",
            sources=[{"path": "q.jsonl"}, {"path": "d.parquet", "transforms": [{"rename": {"doc": "d"}}]}],
        )
    assert info.value.field == "seed.key"


def test_zip_pairs_records_up_to_the_shortest(two_sources: Path) -> None:
    r = reader(
        two_sources,
        combine="zip",
        sources=[{"path": "q.jsonl", "columns": ["q"]}, {"path": "d.parquet", "columns": ["body"]}],
    )
    assert len(r) == 3
    assert rows(r) == [{"q": "q0", "body": "A"}, {"q": "q1", "body": "B"}, {"q": "q2", "body": "C"}]


def test_cross_gives_every_combination(two_sources: Path) -> None:
    r = reader(
        two_sources,
        combine="cross",
        sources=[{"path": "q.jsonl", "columns": ["q"]}, {"path": "d.parquet", "columns": ["body"]}],
    )
    assert len(r) == 12
    got = [(x["q"], x["body"]) for x in rows(r)]
    assert got[:4] == [("q0", "A"), ("q0", "B"), ("q0", "C"), ("q1", "A")]
    assert len(set(got)) == 12


def test_clashing_fields_are_refused_with_a_rename_hint(two_sources: Path) -> None:
    with pytest.raises(
        SeedDataError, match=r"field 'doc' is in both seed\.sources\[0\] and seed\.sources\[1\]"
    ):
        reader(two_sources, combine="zip", sources=[{"path": "q.jsonl"}, {"path": "d.parquet"}])


def test_sample_draws_each_source_on_its_own(two_sources: Path) -> None:
    r = reader(
        two_sources,
        combine="sample",
        sources=[
            {"path": "q.jsonl", "columns": ["q"], "sampling": "ordered"},
            {"path": "d.parquet", "columns": ["body"], "sampling": "shuffle"},
        ],
    )
    got = rows(r, 0, 12)
    assert [x["q"] for x in got] == ["q0", "q1", "q2", "q3"] * 3  # cycles through its 4 records
    bodies = [x["body"] for x in got]
    for epoch in range(4):  # a permutation of the 3 bodies per epoch of the second source
        assert sorted(bodies[3 * epoch : 3 * epoch + 3]) == ["A", "B", "C"]
    again = reader(
        two_sources,
        combine="sample",
        sources=[
            {"path": "q.jsonl", "columns": ["q"], "sampling": "ordered"},
            {"path": "d.parquet", "columns": ["body"], "sampling": "shuffle"},
        ],
    )
    assert rows(again, 4, 8) == got[4:]  # record i gets the same values, whatever the row group


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"sources": [{"path": "a"}, {"path": "b"}]}, "several 'sources' need 'combine'"),
        ({"sources": [{"path": "a"}, {"path": "b"}], "combine": "join"}, "'combine: join' needs 'key'"),
        ({"sources": [{"path": "a"}, {"path": "b"}], "combine": "zip", "key": "x"}, "'key' applies only"),
        (
            {"sources": [{"path": "a", "sampling": "shuffle"}, {"path": "b"}], "combine": "zip"},
            r"sources\[0\]: 'sampling' applies to the combined seed",
        ),
        (
            {"path": "a", "hf": "b"},
            "a seed needs exactly one of path, hf, documents, run, sources, reader, stage; got path, hf",
        ),
        ({"path": "a", "chunk": {"size": 10}}, "'chunk' applies only to a 'documents' seed"),
        (
            {"hf": "a", "streaming": True, "sampling": "with_replacement"},
            "a streamed dataset has no known length",
        ),
    ],
)
def test_seed_config_shapes_are_checked(seed: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SeedConfig.model_validate(seed)


def test_large_transformed_seed_spills_to_a_temporary_file(
    tmp_path: Path, seed_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_builder, "SPILL_BYTES", 1)
    monkeypatch.setattr(source_builder.TableSource, "batches", _tiny_batches)
    r = reader(tmp_path, path=seed_file, sampling="shuffle", transforms=[{"filter": "{{ id != 4 }}"}])
    (source,) = r._sources
    assert source.lazy
    spill_dir = Path(source.files[0]).parent  # type: ignore[attr-defined]
    assert spill_dir.exists()
    assert sorted(x["id"] for x in rows(r, 0, 9)) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    r.close()
    assert not spill_dir.exists()


# -- sort and limit -----------------------------------------------------------------------------------


def test_sort_orders_by_several_fields_and_limit_keeps_the_first_records(tmp_path: Path) -> None:
    records = [{"id": i, "group": "b" if i % 3 else "a", "n": (i * 7) % 5} for i in range(9)]
    name = write_jsonl(tmp_path / "s.jsonl", records)
    r = reader(tmp_path, path=name, transforms=[{"sort": {"by": ["group", "n"], "descending": False}}])
    got = [(row["group"], row["n"], row["id"]) for row in rows(r)]
    assert got == sorted((rec["group"], rec["n"], rec["id"]) for rec in records)
    r = reader(tmp_path, path=name, transforms=[{"sort": {"by": "id", "descending": True}}, {"limit": 3}])
    assert [row["id"] for row in rows(r)] == [8, 7, 6]
    r = reader(tmp_path, path=name, transforms=[{"limit": 4}, {"sort": "n"}])
    assert len(r) == 4 and [row["n"] for row in rows(r)] == sorted(rec["n"] for rec in records[:4])


def test_limit_stops_reading_a_long_stream(tmp_path: Path) -> None:
    name = write_jsonl(tmp_path / "s.jsonl", [{"id": i} for i in range(50_000)])
    r = reader(tmp_path, path=name, transforms=[{"limit": 5}])
    assert len(r) == 5 and [row["id"] for row in rows(r)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"sort": "missing"}, "no field 'missing'"),
        ({"limit": 0}, "greater than 0"),
        ({"sort": {"by": "id", "descend": True}}, "descend"),
    ],
)
def test_bad_sort_and_limit_steps_are_named(
    tmp_path: Path, seed_file: str, transform: Any, message: str
) -> None:
    with pytest.raises((SeedDataError, ValidationError)) as caught:
        reader(tmp_path, path=seed_file, transforms=[transform])
    assert message in str(caught.value)
