"""Iterating cheaply, end to end against the simulated endpoint: a run made again is answered by the
response cache; a run regenerated under a changed prompt sends only the changed column's and its
dependents' requests, and holds exactly what a fresh run of the new config holds; a spend budget stops a
run cleanly."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import BudgetExceededError, ConfigError, RunStateError
from synthloom.interface.cli import cli
from synthloom.report.html_report import build_report
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

RECORDS = 30


def diamond(
    base_url: str, *, summary: str = "Summarise {{ topic }}.", pricing: Any = None, **run: Any
) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "diamond",
            # A drawn temperature: the body holds the draw, fixed by the cell seed.
            "models": [
                model(
                    "m",
                    base_url,
                    inference={"temperature": {"distribution": "uniform", "low": 0.2, "high": 0.9}},
                    pricing=pricing,
                )
            ],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["history", "science", "art", "sport", "music"]},
                },
                {"name": "summary", "type": "llm-text", "model": "m", "prompt": summary},
                {"name": "trivia", "type": "llm-text", "model": "m", "prompt": "Trivia about {{ topic }}."},
                {"name": "analysis", "type": "llm-text", "model": "m", "prompt": "Analyse: {{ summary }}"},
            ],
            "run": {"buffer_size": 10, "seed": 5, **run},
        }
    )


def _rows(result: synthloom.DatasetResult) -> list[dict[str, Any]]:
    return list(result)


async def test_a_config_made_again_sends_nothing_and_gives_the_same_rows(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.sqlite3"
    first = await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path / "a", cache=cache)
    assert endpoint.stats()["requests"] == 3 * RECORDS
    endpoint.reset_stats()
    second = await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path / "b", cache=cache)
    assert endpoint.stats()["requests"] == 0
    assert _rows(second) == _rows(first)
    usage = second.usage["models"]["m"]
    assert (usage["requests"], usage["cached"], usage["cost"]) == (3 * RECORDS, 3 * RECORDS, 0.0)
    assert second.usage["cache"]["responses"]["hits"] == 3 * RECORDS
    report = build_report(second.path)
    cell = f'<td class="num">{3 * RECORDS}</td>'
    assert "<th>requests</th><th>from cache</th>" in report and f"<td>m</td>{cell}{cell}" in report


async def test_preview_and_create_share_the_default_cache_under_the_output_folder(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNTHLOOM_CACHE")
    config = diamond(endpoint.base_url)
    await synthloom.apreview(config, num_records=10, output=tmp_path)
    assert endpoint.stats()["requests"] == 30
    endpoint.reset_stats()
    await synthloom.acreate(config, RECORDS, tmp_path)
    assert endpoint.stats()["requests"] == 3 * (RECORDS - 10)  # the previewed records came from the cache
    assert (tmp_path / ".cache" / "responses.sqlite3").exists()


async def test_a_changed_prompt_regenerates_only_its_column_and_dependents_and_matches_a_fresh_run(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.sqlite3"
    await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path / "runs", cache=cache)
    changed = diamond(endpoint.base_url, summary="Summarise {{ topic }} in one line.")
    with pytest.raises(RunStateError, match="regenerate"):
        await synthloom.acreate(changed, RECORDS, tmp_path / "runs", cache=cache)
    endpoint.reset_stats()
    regenerated = await synthloom.acreate(
        changed, RECORDS, tmp_path / "runs", cache=cache, resume="regenerate"
    )
    # summary changed, analysis reads it; trivia is answered from the cache.
    assert endpoint.stats()["requests"] == 2 * RECORDS
    assert regenerated.usage["columns"]["trivia"]["cached"] == RECORDS
    assert regenerated.usage["columns"]["summary"]["cached"] == 0
    endpoint.reset_stats()
    fresh = await synthloom.acreate(changed, RECORDS, tmp_path / "fresh", cache_mode="off")
    assert endpoint.stats()["requests"] == 3 * RECORDS
    assert _rows(regenerated) == _rows(fresh)
    assert all(row["summary"].endswith("in one line.") for row in _rows(regenerated))
    meta = regenerated.metadata
    assert len(meta["sessions"]) == 2 and meta["status"] == "completed"
    # The regenerated run now resumes under the new config.
    again = await synthloom.acreate(changed, RECORDS, tmp_path / "runs", cache=cache, resume="always")
    assert _rows(again) == _rows(fresh)


async def test_a_changed_config_made_into_a_new_folder_from_an_old_run_requests_only_what_changed(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNTHLOOM_CACHE")
    old = await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path / "old")
    assert old.metadata["response_cache"] == str(
        (tmp_path / "old" / ".cache" / "responses.sqlite3").resolve()
    )
    changed = diamond(endpoint.base_url, summary="Summarise {{ topic }} in one line.")
    endpoint.reset_stats()
    new = await synthloom.acreate(changed, RECORDS, tmp_path / "new", from_run=old.path)
    assert endpoint.stats()["requests"] == 2 * RECORDS  # summary and analysis; trivia from the old cache
    assert new.usage["columns"]["trivia"]["cached"] == RECORDS
    fresh = await synthloom.acreate(changed, RECORDS, tmp_path / "fresh", cache_mode="off")
    assert _rows(new) == _rows(fresh)
    assert _rows(old) != _rows(new)  # the old run is left as it was


def test_create_from_a_run_without_a_cache_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(diamond("http://127.0.0.1:9/v1").to_yaml())
    no_run = CliRunner().invoke(cli, ["create", str(config), "-n", "1", "--from", str(tmp_path / "nothing")])
    assert no_run.exit_code == 2 and "is not a run directory" in no_run.output
    run = tmp_path / "out" / "diamond"
    run.mkdir(parents=True)
    (run / "metadata.json").write_text(json.dumps({"response_cache": None}))
    uncached = CliRunner().invoke(cli, ["create", str(config), "-n", "1", "--from", str(run)])
    assert uncached.exit_code == 2 and "used no response cache" in uncached.output
    both = CliRunner().invoke(cli, ["create", str(config), "-n", "1", "--from", str(run), "--cache", "x.db"])
    assert both.exit_code == 2 and "not both" in both.output


# -- the spend budget --------------------------------------------------------------------------------


async def test_a_run_past_its_budget_stops_cleanly_keeping_committed_rows(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    # 3 requests a record; the first group of 10 projects 300 requests for 100 records.
    config = diamond(endpoint.base_url, max_row_groups_in_flight=1, budget={"requests": 100})
    with pytest.raises(BudgetExceededError, match=r"30 requests spent, 300 requests projected") as caught:
        await synthloom.acreate(config, 100, tmp_path, cache_mode="off")
    assert caught.value.projected["requests"] == 300
    run = synthloom.open_run(tmp_path / "diamond")
    assert len(run) == 10
    assert run.metadata["status"] == "over_budget"
    assert endpoint.stats()["requests"] < 100


async def test_a_regenerated_run_counts_what_its_earlier_sessions_spent(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path)  # 90 requests
    changed = diamond(endpoint.base_url, summary="Briefly: {{ topic }}.", budget={"requests": 120})
    # Alone, the regeneration would send 60 (summary and analysis): within 120. With the 90 before, not.
    with pytest.raises(BudgetExceededError, match=r"budget 120 requests"):
        await synthloom.acreate(changed, RECORDS, tmp_path, resume="regenerate")
    assert synthloom.open_run(tmp_path / "diamond").metadata["status"] == "over_budget"


async def test_cached_answers_do_not_count_against_a_budget(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    await synthloom.acreate(diamond(endpoint.base_url), RECORDS, tmp_path / "a")
    budgeted = diamond(endpoint.base_url, budget={"requests": 1})
    result = await synthloom.acreate(budgeted, RECORDS, tmp_path / "b")  # every answer from the cache
    assert result.metadata["status"] == "completed"


async def test_a_dollar_budget_for_a_model_without_pricing_is_a_config_error(tmp_path: Path) -> None:
    config = diamond("http://127.0.0.1:9/v1", budget={"usd": 5})
    with pytest.raises(ConfigError, match=r"model 'm', field 'pricing': run.budget.usd counts dollars"):
        await synthloom.acreate(config, 10, tmp_path)


# -- the projection (`synthloom plan`) ----------------------------------------------------------------


async def test_plan_against_a_run_projects_only_the_changed_columns_from_measured_tokens(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    priced = {"input_per_million": 1.0, "output_per_million": 2.0}
    run = await synthloom.acreate(diamond(endpoint.base_url, pricing=priced), RECORDS, tmp_path)
    endpoint.reset_stats()
    changed = diamond(
        endpoint.base_url, summary="Briefly: {{ topic }}.", pricing=priced, budget={"usd": 1e-6}
    )
    projected = synthloom.projection(changed, 2 * RECORDS, against=run.path)
    assert endpoint.stats()["requests"] == 0  # nothing is sent to make a projection
    by_column = {c.name: c for c in projected.columns}
    assert {n: (c.reason, c.cells) for n, c in by_column.items()} == {
        "summary": ("changed", 2 * RECORDS),
        "trivia": ("cached", RECORDS),  # only the records the run does not hold yet
        "analysis": ("reads summary", 2 * RECORDS),
    }
    usage = run.usage["columns"]["trivia"]
    assert by_column["trivia"].input_tokens_per_request == usage["input_tokens"] / RECORDS
    model = projected.models["m"]
    assert model["requests"] == 5 * RECORDS
    expected = (model["input_tokens"] * 1.0 + model["output_tokens"] * 2.0) / 1e6
    assert model["cost"] == pytest.approx(expected) and model["cost"] > 0
    assert projected.budget_warnings and "run.budget.usd" in projected.budget_warnings[0]


def test_plan_on_the_command_line_needs_no_server(tmp_path: Path) -> None:
    config = tmp_path / "diamond.yaml"
    config.write_text(yaml.safe_dump(diamond("http://127.0.0.1:9/v1").to_dict()))
    result = CliRunner().invoke(cli, ["plan", str(config), "-n", "40", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(c["name"], c["reason"], c["requests"]) for c in data["columns"]] == [
        ("summary", "all", 40.0),
        ("trivia", "all", 40.0),
        ("analysis", "all", 40.0),
    ]
    assert data["models"]["m"]["cost"] is None  # no pricing, no measured tokens


def test_a_run_over_budget_exits_3_and_a_budget_without_pricing_exits_2(tmp_path: Path) -> None:
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        config = tmp_path / "diamond.yaml"
        data = diamond(base_url, max_row_groups_in_flight=1, budget={"requests": 50}).to_dict()
        config.write_text(yaml.safe_dump(data))
        over = CliRunner().invoke(cli, ["create", str(config), "-n", "100", "-o", str(tmp_path / "out")])
        assert over.exit_code == 3, over.output
        assert "committed records are kept" in over.output
        data["run"]["budget"] = {"usd": 5}
        config.write_text(yaml.safe_dump(data))
        unpriced = CliRunner().invoke(cli, ["create", str(config), "-n", "10", "-o", str(tmp_path / "o2")])
    assert unpriced.exit_code == 2, unpriced.output
    assert "model 'm'" in unpriced.output and "pricing" in unpriced.output


async def test_preview_warns_how_large_a_run_passes_the_budget(
    endpoint: SimulatedEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    config = diamond(endpoint.base_url, budget={"requests": 300})
    with caplog.at_level(logging.WARNING, logger="synthloom.interface.api"):
        await synthloom.apreview(config, num_records=10)
    (warning,) = [r.getMessage() for r in caplog.records if "run.budget" in r.getMessage()]
    assert "3 requests a record, a run of more than 100 records passes run.budget.requests" in warning
