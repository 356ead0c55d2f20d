"""Provider batch APIs end to end against the simulated endpoint: a run with `batch:` on an OpenAI and
an Anthropic model sends its chat requests as batches and pays the batch price; a batch that fails
partly or expires resubmits only what it did not answer; a request beyond its attempts fails its cell
with a clear error; the response cache stays outside the batches; a run killed with its batches in
flight takes them up again on resume, with no request submitted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli
from synthloom.report.html_report import build_report
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig, subprocess_endpoint

RECORDS = 20
PRICING = {"input_per_million": 10.0, "output_per_million": 30.0}


def _model(provider: str, base_url: str, *, batch: Any = None, pricing: Any = PRICING) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "alias": "m",
        "provider": provider,
        "model": "sim",
        "timeout": 5,
        "max_retries": 1,
        "pricing": pricing,
    }
    # The simulated endpoint serves OpenAI under /v1 and Anthropic's /v1/messages at its root.
    entry["base_url"] = base_url if provider == "openai" else base_url.removesuffix("/v1")
    if batch is not None:
        entry["batch"] = batch
    return entry


def config(provider: str, base_url: str, *, batch: Any = None, **run: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "batched",
            "models": [_model(provider, base_url, batch=batch)],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["history", "science", "art", "sport"]},
                },
                {"name": "summary", "type": "llm-text", "model": "m", "prompt": "Summarise {{ topic }}."},
                {"name": "critique", "type": "llm-text", "model": "m", "prompt": "Critique: {{ summary }}"},
            ],
            "run": {"buffer_size": 10, "seed": 3, "cache": False, **run},
        }
    )


#: Small, quick batches: submitted once 8 wait or after 50 ms, polled every 20 ms.
QUICK = {"size": 8, "max_wait": 0.05, "poll_interval": 0.02}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_batched_run_sends_batches_only_and_pays_the_batch_price(
    endpoint: SimulatedEndpoint, tmp_path: Path, provider: str
) -> None:
    direct = await synthloom.acreate(config(provider, endpoint.base_url), RECORDS, tmp_path / "direct")
    direct_stats = endpoint.stats()
    assert direct_stats["requests"] == 2 * RECORDS and direct_stats["batches"] == 0
    endpoint.reset_stats()

    batched = await synthloom.acreate(
        config(provider, endpoint.base_url, batch=QUICK), RECORDS, tmp_path / "batched"
    )
    stats = endpoint.stats()
    # No chat request went directly; every one went into a batch, once.
    assert stats["requests"] == 0
    assert stats["batch_requests"] == stats["batch_distinct_requests"] == 2 * RECORDS
    assert stats["batches"] >= 2 * RECORDS / QUICK["size"]
    # The same rows as the direct run (the simulated answers depend on the request only).
    assert list(batched) == list(direct)
    usage, direct_usage = batched.usage["models"]["m"], direct.usage["models"]["m"]
    assert (usage["requests"], usage["batched"], usage["failures"]) == (2 * RECORDS, 2 * RECORDS, 0)
    assert usage["input_tokens"] == direct_usage["input_tokens"]
    assert usage["cost"] == pytest.approx(direct_usage["cost"] * 0.5, rel=1e-6)
    assert batched.usage["batches"]["m"]["batches"] == stats["batches"]
    # The report counts batched requests as such.
    report = build_report(batched.path)
    cell = f'<td class="num">{2 * RECORDS}</td>'
    assert "<th>from cache</th><th>batched</th>" in report
    assert f'<td>m</td>{cell}<td class="num">0</td>{cell}' in report
    # Every batch the run submitted is on record in the run directory.
    lines = [json.loads(x) for x in (batched.path / "batches.jsonl").read_text().splitlines()]
    assert len(lines) == stats["batches"]
    assert sum(len(x["ids"]) for x in lines) == 2 * RECORDS


async def test_a_batch_discount_of_the_models_pricing_sets_the_batch_price(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    cfg = config("openai", endpoint.base_url, batch=QUICK)
    model = cfg.models[0].model_copy(
        update={"pricing": cfg.models[0].pricing.model_copy(update={"batch_discount": 0.25})}  # type: ignore[union-attr]
    )
    cfg = cfg.model_copy(update={"models": [model]})
    direct = await synthloom.acreate(config("openai", endpoint.base_url), RECORDS, tmp_path / "d")
    batched = await synthloom.acreate(cfg, RECORDS, tmp_path / "b")
    cost, direct_cost = batched.usage["models"]["m"]["cost"], direct.usage["models"]["m"]["cost"]
    assert cost == pytest.approx(direct_cost * 0.75, rel=1e-6)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_partly_failed_batch_resubmits_only_its_failed_requests(
    endpoint: SimulatedEndpoint, tmp_path: Path, provider: str
) -> None:
    endpoint.update(batch_error_rate=0.3, batch_error_attempts=1)
    result = await synthloom.acreate(
        config(provider, endpoint.base_url, batch=QUICK), RECORDS, tmp_path / "run"
    )
    stats = endpoint.stats()
    assert len(list(result)) == RECORDS and not result.failures
    resubmitted = stats["batch_requests"] - stats["batch_distinct_requests"]
    # Some requests failed once and were sent once more; none was sent a third time, and none that
    # succeeded was sent again.
    assert 0 < resubmitted < 2 * RECORDS
    assert stats["batch_max_submissions"] == 2
    assert result.usage["batches"]["m"]["resubmitted"] == resubmitted


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_expired_batch_resubmits_what_it_did_not_answer(
    endpoint: SimulatedEndpoint, tmp_path: Path, provider: str
) -> None:
    endpoint.update(batch_expire_next=1)
    # One batch holds every request of the run's first wave.
    batch = {"size": 10_000, "max_wait": 0.05, "poll_interval": 0.02}
    result = await synthloom.acreate(config(provider, endpoint.base_url, batch=batch), 10, tmp_path / "run")
    stats = endpoint.stats()
    assert len(list(result)) == 10 and not result.failures
    # The first batch (the 10 summaries) expired with half answered: only the other 5 were sent again.
    lines = [json.loads(x) for x in (result.path / "batches.jsonl").read_text().splitlines()]
    assert len(lines[0]["ids"]) == 10
    later = {cid for line in lines[1:] for cid in line["ids"]}
    assert len(set(lines[0]["ids"]) & later) == 5
    assert stats["batch_max_submissions"] == 2
    assert stats["batch_requests"] - stats["batch_distinct_requests"] == 5


async def test_a_request_failing_in_every_batch_fails_its_cell_with_the_reason(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    endpoint.update(batch_error_rate=0.2, batch_error_attempts=100)
    batch = {**QUICK, "max_attempts": 2}
    result = await synthloom.acreate(
        config("openai", endpoint.base_url, batch=batch, max_failure_rate=1.0), RECORDS, tmp_path / "run"
    )
    stats = endpoint.stats()
    assert result.failures, "some requests were chosen to fail in every batch"
    assert stats["batch_max_submissions"] == 2  # the bound: never a third batch
    failure = result.failures[0]
    assert failure["error_type"] == "BatchRequestError"
    assert "model 'm': not answered in 2 batch(es)" in failure["error"]
    assert "simulated batch request error" in failure["error"]
    usage = result.usage["models"]["m"]
    assert usage["failures"] == len(result.failures)  # one failed request per failed row
    assert len(list(result)) == RECORDS - len(result.failures)


async def test_a_cached_answer_never_goes_into_a_batch(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    cfg = config("openai", endpoint.base_url, batch=QUICK, cache={"mode": "read_write"})
    first = await synthloom.acreate(cfg, RECORDS, tmp_path / "a", cache=cache)
    assert endpoint.stats()["batch_requests"] == 2 * RECORDS
    endpoint.reset_stats()
    second = await synthloom.acreate(cfg, RECORDS, tmp_path / "b", cache=cache)
    assert endpoint.stats()["batch_requests"] == 0 and endpoint.stats()["batches"] == 0
    assert list(second) == list(first)
    usage = second.usage["models"]["m"]
    assert (usage["cached"], usage["batched"], usage["cost"]) == (2 * RECORDS, 0, 0.0)


async def test_a_preview_answers_directly(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    cfg = config("openai", endpoint.base_url, batch=QUICK)
    rows = await synthloom.apreview(cfg, 3, output=tmp_path)
    assert len(rows) == 3
    assert endpoint.stats()["batches"] == 0 and endpoint.stats()["requests"] == 6


# -- config mistakes ---------------------------------------------------------------------------------


def _write(tmp_path: Path, model: dict[str, Any], **run: Any) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "name": "x",
        "models": [model],
        "columns": [{"name": "a", "type": "llm-text", "model": model["alias"], "prompt": "Hi"}],
        "run": run,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"alias": "tiny", "provider": "local", "batch": True}, "'batch' needs a provider with a batch API"),
        (
            {
                "alias": "tiny",
                "provider": "openai",
                "model": "x",
                "batch": True,
                "serve": {"engine": "llama.cpp"},
            },
            "'batch' needs a provider with a batch API",
        ),
        (
            {
                "alias": "tiny",
                "provider": "openai",
                "model": "x",
                "base_url": "http://h/v1",
                "batch": {"size": 0},
            },
            "size",
        ),
        (
            {
                "alias": "tiny",
                "provider": "openai",
                "model": "x",
                "base_url": "http://h/v1",
                "batch": {"sise": 5},
            },
            "sise",
        ),
    ],
)
def test_a_batch_mistake_is_a_config_error_naming_the_model(
    tmp_path: Path, model: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, model)
    outcome = CliRunner().invoke(cli, ["validate", str(path)])
    assert outcome.exit_code == 2, outcome.output
    assert expected in outcome.output and "tiny" in outcome.output
    assert "Traceback" not in outcome.output


def test_batch_under_the_ray_executor_is_refused_at_validation(tmp_path: Path) -> None:
    model = {"alias": "writer", "provider": "openai", "model": "x", "base_url": "http://h/v1", "batch": True}
    path = _write(tmp_path, model, executor="ray")
    outcome = CliRunner().invoke(cli, ["validate", str(path)])
    assert outcome.exit_code == 2, outcome.output
    assert "batch is not applied under the ray executor" in outcome.output
    assert "writer" in outcome.output and "batch" in outcome.output


def test_batch_on_a_plugin_provider_without_a_batch_api_is_refused() -> None:
    from synthloom.config.model_config import ModelConfig
    from synthloom.models.providers.base import Provider

    class NoBatches(Provider):
        name = "no-batches"

        def chat_url(self, base_url: str) -> str:
            return base_url

        def build_chat_request(self, request: Any) -> dict[str, Any]:
            return {}

        def parse_chat_reply(self, body: dict[str, Any]) -> Any:
            return None

    config = ModelConfig(alias="p", provider="no-batches", base_url="http://h", model="x", batch=True)
    with pytest.raises(ConfigError) as caught:
        NoBatches().check_config(config)
    assert caught.value.model == "p" and caught.value.field == "batch"
    assert "has no batch API" in str(caught.value)


# -- kill and resume ---------------------------------------------------------------------------------

RUNNER = textwrap.dedent(
    """
    import sys
    import synthloom
    from synthloom import DatasetConfig
    import json
    config = DatasetConfig.model_validate(json.loads(sys.argv[1]))
    synthloom.create(config, int(sys.argv[2]), sys.argv[3], progress=False)
    """
)


def _stats(base_url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=5) as answer:
        return dict(json.loads(answer.read()))


def _configure(base_url: str, **changes: Any) -> None:
    import urllib.request

    request = urllib.request.Request(
        base_url.removesuffix("/v1") + "/admin/config",
        data=json.dumps(changes).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_run_killed_with_batches_in_flight_takes_them_up_on_resume(tmp_path: Path, provider: str) -> None:
    # Batches stay in flight (an hour) until the test lets them end.
    with subprocess_endpoint(SimulatedEndpointConfig(batch_delay=3600)) as base_url:
        cfg = config(provider, base_url, batch={"size": 5, "max_wait": 0.05, "poll_interval": 0.05})
        records = 10
        argv = [
            sys.executable,
            "-c",
            RUNNER,
            cfg.model_dump_json(exclude_unset=True),
            str(records),
            str(tmp_path),
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        run = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # The forced point: every summary (the first column) is in a submitted batch and on record.
            state = tmp_path / "batched" / "batches.jsonl"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if run.poll() is not None:
                    raise AssertionError(f"the run ended early: {run.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                stats = _stats(base_url)
                recorded = state.read_text().count("\n") if state.exists() else 0
                if stats["batch_requests"] == records and recorded == stats["batches"]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"the batches were not submitted: {_stats(base_url)}")
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait()
            if run.stderr is not None:
                run.stderr.close()
        assert run.returncode == -signal.SIGKILL
        submitted_before = _stats(base_url)["batches"]
        assert submitted_before == 2

        _configure(base_url, batch_delay=0)  # the provider finishes the batches
        resumed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        stats = _stats(base_url)
        # Each request was submitted exactly once across both sessions: the summaries' batches were
        # picked up again, and only the critiques (never sent before the kill) went into new batches.
        assert stats["batch_requests"] == stats["batch_distinct_requests"] == 2 * records
        assert stats["batch_max_submissions"] == 1
        assert stats["requests"] == 0
        result = synthloom.open_run(tmp_path / "batched")
        assert len(list(result)) == records
        usage = result.usage["models"]["m"]
        assert usage["batched"] == 2 * records and usage["failures"] == 0
        assert result.usage["batches"]["m"]["resumed_batches"] == 2
