"""`run.retry: same_inputs`, end to end against the simulated endpoint: a row a filter rejects is generated
again with the same sampler values and new cell seeds (new requests, never the cached rejected answer),
so the kept rows are the sampled records themselves rather than those that pass easily."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.engine.committer import Committer
from synthloom.engine.executor import GroupResult
from synthloom.interface.cli import cli
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model

KINDS = ["a", "b", "c", "d"]
#: The judge passes kind d a quarter of the time and the others three quarters of the time.
SKEWED = SimulatedEndpointConfig(accept_rate=0.75, accept_rates={"kind d.": 0.25}, vary_repeats=True)


def sampled(**run: Any) -> dict[str, Any]:
    """The samplers alone: `id` (unique per record) and `kind` (four values, equal weights)."""
    return {
        "name": "judged",
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {"name": "kind", "type": "sampler", "sampler": "category", "params": {"values": KINDS}},
        ],
        "run": {"buffer_size": 10, "seed": 3, **run},
    }


def judged(base_url: str, **run: Any) -> DatasetConfig:
    """A judge whose verdict a filter keeps; its pass rate depends on the kind (see `SKEWED`). Its
    temperature is drawn per request from the cell's seed, so the body shows which seed asked."""
    config = sampled(target="kept", **run)
    drawn = {"temperature": {"distribution": "uniform", "low": 0.1, "high": 1.0}}
    config["models"] = [model("m", base_url, inference=drawn)]
    config["columns"] += [
        {
            "name": "verdict",
            "type": "llm-structured",
            "model": "m",
            "prompt": "Judge item {{ id }} of kind {{ kind }}.",
            "schema": {
                "type": "object",
                "properties": {"verdict": {"enum": ["reject", "accept"]}},
                "required": ["verdict"],
            },
        },
        {"name": "keep", "type": "filter", "condition": "{{ verdict.verdict == 'accept' }}"},
    ]
    return DatasetConfig.model_validate(config)


def reference(tmp_path: Path, records: int = 200) -> list[tuple[str, str]]:
    """(id, kind) of the first `records` records, in record order: what the samplers draw."""
    result = synthloom.create(DatasetConfig.model_validate(sampled()), records, tmp_path / "reference")
    return [(r["id"], r["kind"]) for r in result]


def record_of(body: dict[str, Any]) -> str:
    """The record (its id) a judge request is about."""
    return json.dumps(body["messages"]).split("Judge item ")[1].split(" ")[0]


def requests_per_record(endpoint: SimulatedEndpoint) -> Counter[str]:
    """How many requests the server received for each record."""
    return Counter(record_of(request.json_body) for request in endpoint.requests)


async def test_kept_rows_are_the_sampled_records_with_their_sampled_values(tmp_path: Path) -> None:
    sampled_rows = reference(tmp_path)
    async with SimulatedEndpoint(SKEWED) as endpoint:
        config = judged(endpoint.base_url, retry={"mode": "same_inputs", "max_attempts": 30})
        result = await synthloom.acreate(config, 40, tmp_path / "same")
    kept = [(r["id"], r["kind"]) for r in result]
    # Every record passed within its attempts: the kept rows are the first 40 records, each with the
    # values its samplers drew, so the kept distribution is exactly the sampled one.
    assert kept == sampled_rows[:40]
    assert Counter(k for _, k in kept) == Counter(k for _, k in sampled_rows[:40])
    assert result.metadata["committed_records"] == 40
    assert result.filtered == []


async def test_new_records_mode_skews_the_kept_rows_toward_the_easy_kind(tmp_path: Path) -> None:
    sampled_rows = reference(tmp_path)
    async with SimulatedEndpoint(SKEWED) as endpoint:
        result = await synthloom.acreate(judged(endpoint.base_url), 40, tmp_path / "new")
    kept = [(r["id"], r["kind"]) for r in result]
    by_id = dict(sampled_rows)
    assert all(by_id[i] == k for i, k in kept)  # sampler values are never changed, in either mode
    assert kept != sampled_rows[:40]
    # The hard kind is under-represented among the kept rows compared with the records drawn.
    tried = sampled_rows[: sampled_rows.index(kept[-1]) + 1]
    assert Counter(k for _, k in kept)["d"] / 40 < Counter(k for _, k in tried)["d"] / len(tried)


async def test_a_retried_row_keeps_its_sampler_values_and_gets_new_answers_not_cache_hits(
    tmp_path: Path,
) -> None:
    sampled_rows = reference(tmp_path)
    by_id = dict(sampled_rows)
    async with SimulatedEndpoint(SKEWED) as endpoint:
        config = judged(endpoint.base_url, retry={"mode": "same_inputs", "max_attempts": 30})
        cache = tmp_path / "cache.sqlite3"
        first = await synthloom.acreate(config, 30, tmp_path / "first", cache=cache)
        sent = requests_per_record(endpoint)
        retried = [i for i, n in sent.items() if n > 1]
        assert len(retried) >= 5  # the state this test is about: many rows were rejected first
        # Each attempt reached the server (a new request with a new cell seed), none came from the cache.
        usage = first.usage["models"]["m"]
        assert usage["requests"] == sum(sent.values()) == endpoint.stats()["requests"]
        assert usage["cached"] == 0
        # Every attempt of a record ran under a new cell seed: its drawn temperature is a new draw.
        temperatures: dict[str, list[float]] = {}
        for request in endpoint.requests:
            temperatures.setdefault(record_of(request.json_body), []).append(request.json_body["temperature"])
        for record in retried:
            assert len(set(temperatures[record])) == sent[record], temperatures[record]
        kept = {r["id"]: r for r in first}
        for record in retried:
            assert kept[record]["kind"] == by_id[record]  # the sampled value, on every attempt
            assert kept[record]["verdict"] == {
                "verdict": "accept"
            }  # a new answer: the rejected one was not reused
        # The same config again: every attempt has its own key, so all come from the cache, unchanged.
        endpoint.reset_stats()
        second = await synthloom.acreate(config, 30, tmp_path / "second", cache=cache)
        assert endpoint.stats()["requests"] == 0
        assert list(second) == list(first)
        assert second.usage["models"]["m"]["cached"] == usage["requests"]


async def test_a_row_rejected_on_every_attempt_is_filtered_and_a_new_record_fills_its_place(
    tmp_path: Path,
) -> None:
    sampled_rows = reference(tmp_path)
    never_d = SimulatedEndpointConfig(accept_rate=1.0, accept_rates={"kind d.": 0.0}, vary_repeats=True)
    async with SimulatedEndpoint(never_d) as endpoint:
        config = judged(endpoint.base_url, retry={"mode": "same_inputs", "max_attempts": 3})
        result = await synthloom.acreate(config, 20, tmp_path / "run")
        sent = requests_per_record(endpoint)
    expected = [row for row in sampled_rows if row[1] != "d"][:20]
    assert [(r["id"], r["kind"]) for r in result] == expected
    last = sampled_rows.index(expected[-1])
    d_records = [n for n, (_, kind) in enumerate(sampled_rows[:last]) if kind == "d"]
    assert sorted(f["record"] for f in result.filtered) == d_records
    assert {f["attempts"] for f in result.filtered} == {3}
    assert all(sent[sampled_rows[n][0]] == 3 for n in d_records)


class SimulatedKill(RuntimeError):
    """Raised in place of committing a result: the run stops as if killed before that commit."""


async def test_a_killed_same_inputs_run_resumes_to_exactly_n_sampled_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sampled_rows = reference(tmp_path)
    apply = Committer.apply

    async def killed_at_second_commit(self: Committer, result: GroupResult) -> None:
        if self.metadata.data.get("row_groups"):
            raise SimulatedKill
        await apply(self, result)

    easy = SimulatedEndpointConfig(accept_rate=0.9, accept_rates={"kind d.": 0.5}, vary_repeats=True)
    async with SimulatedEndpoint(easy) as endpoint:
        config = judged(endpoint.base_url, retry={"mode": "same_inputs", "max_attempts": 20})
        with monkeypatch.context() as patch:
            patch.setattr(Committer, "apply", killed_at_second_commit)
            with pytest.raises(SimulatedKill):
                await synthloom.acreate(config, 40, tmp_path)
        run = tmp_path / "judged"
        at_kill = synthloom.open_run(run)
        assert len(at_kill.metadata["row_groups"]) == 1 and len(at_kill) == 10
        (committed,) = at_kill.metadata["row_groups"]
        part = next((run / "data").glob("part-*"))
        before = (part.name, part.stat().st_mtime_ns, list(at_kill))
        resumed = await synthloom.acreate(config, 40, tmp_path, resume="always")
    assert [(r["id"], r["kind"]) for r in resumed] == sampled_rows[:40]
    assert resumed.metadata["committed_records"] == 40
    assert sorted(resumed.metadata["row_groups"]) == ["0", "1", "2", "3"]
    # The group committed before the kill was not made again: same file, same rows, same records.
    assert (part.name, part.stat().st_mtime_ns) == before[:2]
    start = int(committed) * 10
    assert list(resumed)[start : start + 10] == before[2]
    assert len(resumed.metadata["sessions"]) == 2


@pytest.mark.parametrize(
    ("run", "field", "message"),
    [
        ({"retry": "same_inputs"}, "run.retry", "needs run.target: kept"),
        (
            {"target": "kept", "retry": {"mode": "same_inputs", "max_attempts": 0}},
            "run.retry.max_attempts",
            "greater than or equal to 1",
        ),
        ({"target": "kept", "retry": "same_input"}, "run.retry.mode", "'new_records' or 'same_inputs'"),
    ],
)
def test_a_bad_retry_setting_exits_2_naming_the_field(
    tmp_path: Path, run: dict[str, Any], field: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(sampled(**run)))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"field '{field}'" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_same_inputs_settings_are_part_of_the_fingerprint_and_the_default_is_not() -> None:
    from synthloom.store.fingerprint import config_fingerprint, fingerprint_view

    plain = DatasetConfig.model_validate(sampled(target="kept"))
    assert "retry" not in fingerprint_view(plain)["run"]  # runs made before the option resume as before
    default = DatasetConfig.model_validate(sampled(target="kept", retry="same_inputs"))
    five = DatasetConfig.model_validate(
        sampled(target="kept", retry={"mode": "same_inputs", "max_attempts": 5})
    )
    assert default.run.retry.max_attempts == 8
    assert len({config_fingerprint(c) for c in (plain, default, five)}) == 3
