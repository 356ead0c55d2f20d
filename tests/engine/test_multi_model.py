"""The `multi-model` column: one prompt to every alias concurrently (proved by a server that answers only
once every alias's request has arrived), the value keyed by alias, and a judge that picks chosen and
rejected; its config mistakes are config errors naming the column and field."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.columns.multi_model.generator import preference
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model


class Rendezvous:
    """An OpenAI-compatible server that holds every chat request until `expected` of them are waiting
    at once, then answers them all: a client that sends them one after another never gets its first
    answer (after `patience` seconds it gets a 400, which is not retried). Judge requests (with a JSON
    schema) are answered with `scores` at once."""

    def __init__(self, expected: int, scores: dict[str, int] | None = None, patience: float = 10.0) -> None:
        self.expected = expected
        self.scores = scores or {}
        self.patience = patience
        self.waiting = 0
        self.peak_waiting = 0
        self.requests: list[dict[str, Any]] = []
        self.fail_model: str | None = None
        self._together = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> Rendezvous:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._together.set()  # a request still held (its client gave up) ends now
        await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("response_format"):
            schema = body["response_format"]["json_schema"]["schema"]
            labels = list(schema["properties"]["scores"]["properties"])
            scores = {label: self.scores.get(label, 5) for label in labels}
            return _reply(json.dumps({"reasoning": "compared", "scores": scores}))
        if body["model"] == self.fail_model:
            return web.json_response({"error": {"message": "bad request"}}, status=400)
        self.waiting += 1
        self.peak_waiting = max(self.peak_waiting, self.waiting)
        if self.waiting >= self.expected:
            self._together.set()
        try:
            await asyncio.wait_for(self._together.wait(), self.patience)
        except TimeoutError:
            return web.json_response({"error": {"message": "the other requests never came"}}, status=400)
        finally:
            self.waiting -= 1
        return _reply(f"{body['model']} says: {body['messages'][-1]['content']}")


def _reply(text: str) -> web.Response:
    return web.json_response(
        {
            "id": "x",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
    )


def config(
    base_url: str,
    *,
    aliases: tuple[str, ...] = ("a", "b"),
    judge: bool = False,
    run_seed: int = 0,
    **extra: Any,
) -> DatasetConfig:
    column: dict[str, Any] = {
        "name": "answers",
        "type": "multi-model",
        "models": list(aliases),
        "system_prompt": "Be brief.",
        "prompt": "Explain {{ topic }}",
    }
    if judge:
        column["judge"] = {"model": "judge", "criteria": "Which explains {{ topic }} best?"}
    column.update(extra)
    return DatasetConfig.model_validate(
        {
            "models": [model(alias, base_url, model=f"model-{alias}") for alias in (*aliases, "judge")],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["tides", "moons"]},
                },
                column,
            ],
            "run": {"buffer_size": 10, "seed": run_seed},
        }
    )


@pytest.fixture
async def rendezvous() -> AsyncIterator[Rendezvous]:
    async with Rendezvous(expected=3) as server:
        yield server


async def test_every_alias_is_asked_at_once_and_the_value_is_keyed_by_alias(rendezvous: Rendezvous) -> None:
    result = await synthloom.apreview(config(rendezvous.base_url, aliases=("a", "b", "c")), 1)
    assert not result.failures, result.failures
    row = next(iter(result))
    topic = row["topic"]
    assert row["answers"] == {alias: f"model-{alias} says: Explain {topic}" for alias in ("a", "b", "c")}
    assert rendezvous.peak_waiting == 3  # all three requests were in flight together
    for body in rendezvous.requests:
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Explain {topic}"},
        ]


async def test_the_judge_picks_chosen_and_rejected_among_the_replies() -> None:
    async with Rendezvous(expected=2, scores={"A": 9, "B": 2}) as server:
        result = await synthloom.apreview(config(server.base_url, judge=True), 1)
        judge_request = next(b for b in server.requests if b.get("response_format"))
    assert not result.failures, result.failures
    row = next(iter(result))
    judgement = row["answers__judgement"]
    prompt = judge_request["messages"][-1]["content"]
    assert f"Which explains {row['topic']} best?" in prompt
    shown = dict(re.findall(r"Response ([AB]):\n<response>\n(.*?)\n</response>", prompt))
    assert judgement["chosen"] == shown["A"] and judgement["rejected"] == shown["B"]
    assert judgement["chosen"] == row["answers"][judgement["chosen_model"]]
    assert judgement["rejected"] == row["answers"][judgement["rejected_model"]]
    assert judgement["scores"] == {judgement["chosen_model"]: 9, judgement["rejected_model"]: 2}
    assert judgement["reasoning"] == "compared"
    assert judge_request["model"] == "model-judge"
    # The judge's usage is accounted under the column, as `answers.judge`.
    assert result.usage["columns"]["answers.judge"]["requests"] == 1


async def test_replies_of_equal_score_make_no_pair() -> None:
    async with Rendezvous(expected=2, scores={"A": 7, "B": 7}) as server:
        result = await synthloom.apreview(config(server.base_url, judge=True), 1)
    judgement = next(iter(result))["answers__judgement"]
    assert judgement["chosen"] is None and judgement["rejected"] is None and judgement["chosen_model"] is None
    assert set(judgement["scores"].values()) == {7}


async def test_an_alias_that_fails_fails_the_row() -> None:
    async with Rendezvous(expected=2, patience=5.0) as server:
        server.fail_model = "model-b"
        result = await synthloom.apreview(config(server.base_url), 1)
    assert len(result) == 0
    assert [f["column"] for f in result.failures] == ["answers"]


async def test_the_judge_sees_the_replies_in_an_order_drawn_per_record_reproducibly() -> None:
    async def shown_orders(seed: int) -> list[list[str]]:
        async with Rendezvous(expected=2) as server:
            result = await synthloom.apreview(config(server.base_url, judge=True, run_seed=seed), 30)
        # `scores` lists the aliases in the order the judge saw their replies.
        return [list(row["answers__judgement"]["scores"]) for row in result]

    orders = await shown_orders(0)
    assert {tuple(o) for o in orders} == {("a", "b"), ("b", "a")}  # no alias always goes first
    assert await shown_orders(0) == orders  # the same run seed shows the same orders
    assert await shown_orders(1) != orders


async def test_chosen_is_the_best_scored_reply_and_rejected_the_worst() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        result = await synthloom.apreview(config(endpoint.base_url, aliases=("a", "b", "c"), judge=True), 30)
    assert len(result) == 30
    paired = 0
    for row in result:
        judgement = row["answers__judgement"]
        scores = judgement["scores"]
        assert set(scores) == {"a", "b", "c"} and all(1 <= s <= 10 for s in scores.values())
        if judgement["chosen_model"] is None:
            assert len(set(scores.values())) == 1 and judgement["rejected"] is None
            continue
        paired += 1
        assert scores[judgement["chosen_model"]] == max(scores.values())
        assert scores[judgement["rejected_model"]] == min(scores.values())
        assert judgement["chosen"] == row["answers"][judgement["chosen_model"]]
    assert paired > 20


def test_preference_breaks_ties_by_the_order_shown() -> None:
    replies = {"a": "x", "b": "y", "c": "z"}
    picked = preference(["c", "a", "b"], {"a": 9, "b": 1, "c": 9}, replies)
    assert (picked["chosen_model"], picked["rejected_model"]) == ("c", "b")
    assert (picked["chosen"], picked["rejected"]) == ("z", "y")


async def test_a_dpo_output_reads_the_pair(tmp_path: Path) -> None:
    async with Rendezvous(expected=2, scores={"A": 8, "B": 3}) as server:
        data = config(server.base_url, judge=True).to_dict()
        data["output"] = {
            "format": {
                "type": "dpo",
                "prompt": "topic",
                "chosen": "answers__judgement.chosen",
                "rejected": "answers__judgement.rejected",
            }
        }
        result = await synthloom.acreate(DatasetConfig.model_validate(data), 1, tmp_path, resume="never")
    [record] = list(result)
    assert set(record) == {"prompt", "chosen", "rejected"}
    assert record["chosen"] != record["rejected"] and record["chosen"].startswith("model-")


# ---- the config ----------------------------------------------------------------------------------------


def _write(tmp_path: Path, column: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "models:\n  - {alias: a, provider: local}\n  - {alias: b, provider: local}\n"
        "columns:\n  - {name: topic, type: sampler, sampler: uuid}\n" + column
    )
    return path


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (
            "  - {name: m, type: multi-model, models: [a], prompt: x}\n",
            ("config.yaml:6, column 'm', field 'models'", "two or more model aliases (got 1)"),
        ),
        (
            "  - {name: m, type: multi-model, models: [a, a], prompt: x}\n",
            ("column 'm', field 'models'", "alias listed twice: a"),
        ),
        (
            "  - name: m\n    type: multi-model\n    models: [a, c]\n    prompt: x\n",
            ("config.yaml:8, column 'm', field 'models.1'", "unknown model alias 'c'"),
        ),
        (
            "  - {name: m, type: multi-model, models: [a, b], prompt: x, judge: {model: jduge}}\n",
            ("column 'm', field 'judge.model'", "unknown model alias 'jduge'"),
        ),
        (
            "  - {name: m, type: multi-model, models: [a, b], prompt: '{{ topc }}'}\n",
            ("column 'm', field 'prompt'", "unknown column 'topc' (did you mean 'topic'?)"),
        ),
        (
            "  - {name: m, type: multi-model, models: [a, b], prompt: x,\n"
            "     judge: {model: a, criteria: '{{ nope }}'}}\n",
            ("column 'm', field 'judge.criteria'", "unknown column 'nope'"),
        ),
        (
            "  - {name: m, type: multi-model, model: [a, b], prompt: x}\n",
            ("column 'm', field 'model'", "unknown field (did you mean 'models'?)"),
        ),
    ],
)
def test_bad_multi_model_columns_are_config_errors(
    tmp_path: Path, column: str, expected: tuple[str, ...]
) -> None:
    path = _write(tmp_path, column)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert [e for e in expected if e not in message] == [], message
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output


def test_a_multi_model_column_plans_its_aliases_and_side_column(tmp_path: Path) -> None:
    column = "  - {name: m, type: multi-model, models: [a, b], prompt: '{{ topic }}', judge: {model: a}}\n"
    plan = synthloom.validate(_write(tmp_path, column))
    assert plan.model_aliases == {"a", "b"}
    assert plan.column("m").depends_on == {"topic"}
    assert plan.output_columns == ["topic", "m", "m__judgement"]


async def test_the_dpo_pairs_example_runs(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "examples" / "dpo-pairs" / "config.yaml"
    async with Rendezvous(expected=1, scores={"A": 8, "B": 3}) as server:
        data = yaml.safe_load(source.read_text())
        data["models"] = [
            model(m["alias"], server.base_url, model=f"model-{m['alias']}") for m in data["models"]
        ]
        result = await synthloom.acreate(DatasetConfig.model_validate(data), 4, tmp_path, resume="never")
    records = list(result)
    assert len(records) == 4
    for record in records:
        assert set(record) == {"prompt", "chosen", "rejected"}
        assert {record["chosen"].split()[0], record["rejected"].split()[0]} == {
            "model-careful",
            "model-creative",
        }
