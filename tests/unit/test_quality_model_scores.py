"""Token counts, perplexity and reward scores against a local server that answers as llama.cpp and
vLLM do (their routes and reply shapes), over real sockets."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import synthloom
from synthloom import DatasetConfig
from synthloom.columns.quality.config import PerplexityColumn, TokenCountColumn
from synthloom.columns.quality.model_scores import PerplexityGenerator, TokenCountGenerator, read_score
from synthloom.config.model_config import ModelConfig
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generator import CellFiltered
from synthloom.models import ModelPool

CONVERSATION = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello, how can I help?"},
]


class FakeServer:
    """llama.cpp's /tokenize, /apply-template and /completion; vLLM's /tokenize, /v1/completions
    (echo + logprobs) and /pooling. Tokens are words."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, body))
        path = request.path
        if path == "/tokenize":
            if "content" in body:  # llama.cpp
                return web.json_response({"tokens": list(range(len(body["content"].split())))})
            text = body.get("prompt") or " ".join(f"<{m['role']}> {m['content']}" for m in body["messages"])
            return web.json_response({"count": len(text.split()), "tokens": [], "max_model_len": 4096})
        if path == "/apply-template":
            return web.json_response(
                {"prompt": " ".join(f"<{m['role']}> {m['content']}" for m in body["messages"])}
            )
        if path == "/completion":
            forced = body["grammar"].removeprefix("root ::= ").split()
            return web.json_response(
                {"completion_probabilities": [{"id": 1, "logprob": -1.0, "top_logprobs": []} for _ in forced]}
            )
        if path == "/v1/completions":
            n = len(body["prompt"].split())
            return web.json_response(
                {"choices": [{"text": "x", "logprobs": {"token_logprobs": [None] + [-2.0] * n}}]}
            )
        if path == "/pooling":
            return web.json_response({"data": [{"index": 0, "data": [0.25 * len(body["messages"])]}]})
        raise web.HTTPNotFound()


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeServer, str]]:
    fake = FakeServer()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield fake, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


def model(base_url: str) -> dict[str, Any]:
    return {"alias": "m", "provider": "openai", "base_url": base_url, "model": "fake", "timeout": 5}


async def test_scores_in_a_run_through_an_openai_compatible_server(
    server: tuple[FakeServer, str], tmp_path: Path
) -> None:
    fake, base_url = server
    config = {
        "name": "scores",
        "models": [model(base_url)],
        "columns": [
            {
                "name": "text",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": ["one two three four"]},
            },
            {"name": "chat", "type": "expression", "expr": json.dumps(CONVERSATION), "dtype": "json"},
            {"name": "tokens", "type": "token-count", "source": "text", "model": "m"},
            {
                "name": "chat_tokens",
                "type": "token-count",
                "source": "chat",
                "model": "m",
                "filter": {"max": 100},
            },
            {"name": "ppl", "type": "perplexity", "source": "text", "model": "m"},
            {"name": "reward", "type": "reward", "model": "m", "prompt": "text", "response": "text"},
        ],
        "run": {"buffer_size": 4},
    }
    result = await synthloom.acreate(DatasetConfig.model_validate(config), 4, tmp_path)
    rows = list(result)
    assert len(rows) == 4
    assert rows[0]["tokens"] == 4
    assert rows[0]["chat_tokens"] == 9  # through the chat template: role markers counted
    assert rows[0]["ppl"] == pytest.approx(math.exp(2.0), abs=1e-3)
    assert rows[0]["reward"] == 0.5
    paths = {p for p, _ in fake.requests}
    assert paths == {"/tokenize", "/v1/completions", "/pooling"}
    echo = next(b for p, b in fake.requests if p == "/v1/completions")
    assert echo["echo"] is True and echo["logprobs"] == 0 and echo["model"] == "fake"
    usage = result.usage["columns"]
    assert usage["ppl"]["requests"] == 4 and usage["reward"]["requests"] == 4
    lineage = [c for c in result_lineage(result.path) if c["column"] == "ppl"]
    assert lineage and lineage[0]["calls"][0]["request"]["path"] == "/completions"


def result_lineage(run: Path | None) -> list[dict[str, Any]]:
    from synthloom.store.run_directory import RunDirectory

    assert run is not None
    return RunDirectory(run).read_lineage(0)


async def test_the_llama_cpp_routes_count_tokens_and_score_forced_tokens(
    server: tuple[FakeServer, str],
) -> None:
    fake, base_url = server
    setup = GeneratorSetup(
        config=DatasetConfig.model_validate(
            {"models": [model(base_url)], "columns": [{"name": "a", "type": "sampler", "sampler": "uuid"}]}
        ),
        run_seed=0,
    )
    tokens = TokenCountGenerator(
        TokenCountColumn(name="n", source="chat", model="m", filter={"max": 5}), setup
    )
    ppl = PerplexityGenerator(PerplexityColumn(name="p", source="text", model="m", max_tokens=3), setup)
    tokens._local = ppl._local = True  # the routes of a `provider: local` model (llama.cpp)
    async with ModelPool([ModelConfig.model_validate(model(base_url))]) as pool:
        ctx = CellContext(column="n", record=0, attempt=1, seed=0, models=pool)
        verdict = await tokens.generate({"chat": CONVERSATION}, ctx)
        assert isinstance(verdict, CellFiltered)  # 9 tokens through the template, above max 5
        assert verdict.reason == "'n' = 9 is above max 5"
        out = await ppl.generate({"text": "a b c d e f"}, ctx)
        assert not isinstance(out, CellFiltered) and out.value == pytest.approx(math.e, abs=1e-3)
        assert (await ppl.generate({"text": "  "}, ctx)).value is None  # type: ignore[union-attr]
    completion = next(b for p, b in fake.requests if p == "/completion")
    assert completion["prompt"] == [0] and completion["grammar"] == "root ::= <[1]> <[2]>"
    assert completion["n_probs"] == 1 and completion["post_sampling_probs"] is False
    assert [p for p, _ in fake.requests][:2] == ["/apply-template", "/tokenize"]


def test_reward_scores_are_read_from_the_usual_reply_shapes() -> None:
    assert read_score({"data": [{"data": [0.1, 0.9]}]}, None) == 0.9
    assert read_score({"data": [{"score": 2.5}]}, None) == 2.5
    assert read_score({"reward": -1}, None) == -1.0
    assert read_score({"scores": [[0.3]]}, None) == 0.3
    assert read_score({"out": {"value": 7}}, "out.value") == 7.0
    assert read_score({"nothing": "here"}, None) is None


def test_a_tokenizer_file_counts_in_process(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]")
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "config.yaml").write_text(
        json.dumps(
            {
                "columns": [
                    {
                        "name": "text",
                        "type": "sampler",
                        "sampler": "category",
                        "params": {"values": ["hello big world !"]},
                    },
                    {"name": "n", "type": "token-count", "source": "text", "tokenizer": "tokenizer.json"},
                ]
            }
        )
    )
    rows = list(synthloom.preview(tmp_path / "config.yaml", 2))
    assert [r["n"] for r in rows] == [4, 4]
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(synthloom.ConfigError, match=r"not a tokenizer\.json file"):
        synthloom.validate(tmp_path / "config.yaml")


class RefusingServer(FakeServer):
    """Answers as llama.cpp does for texts it cannot take: HTTP 500 "empty grammar stack" on scoring,
    and a chat template that cannot render a conversation (a turn with an unknown role)."""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.path == "/tokenize" and "Ã" in body.get("content", ""):
            # The broken word's token (999) is the one the grammar cannot take.
            return web.json_response(
                {"tokens": [999 if "Ã" in w else i for i, w in enumerate(body["content"].split())]}
            )
        if request.path in ("/completion", "/v1/completions") and (
            "Ã" in str(body.get("prompt")) or "<[999]>" in body.get("grammar", "")
        ):
            self.requests.append((request.path, body))
            message = "Unexpected empty grammar stack after accepting piece: Ã"
            return web.json_response({"error": {"code": 500, "message": message}}, status=500)
        if request.path == "/apply-template" and any(m["role"] == "robot" for m in body["messages"]):
            self.requests.append((request.path, body))
            message = "Jinja template error: unknown role 'robot'"
            return web.json_response({"error": {"code": 500, "message": message}}, status=500)
        return await super().handle(request)


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[FakeServer, str]]:
    fake = RefusingServer()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    await runner.cleanup()


async def test_a_text_the_server_cannot_score_is_a_tag_not_a_failed_row(
    refusing: tuple[FakeServer, str], tmp_path: Path
) -> None:
    _, base_url = refusing
    config = {
        "name": "unscored",
        "models": [model(base_url)],
        "columns": [
            {"name": "text", "type": "sampler", "sampler": "category", "params": {"values": ["GrÃ¶ÃŸe x"]}},
            {"name": "ppl", "type": "perplexity", "source": "text", "model": "m"},
        ],
        "run": {"buffer_size": 3},
    }
    result = await synthloom.acreate(DatasetConfig.model_validate(config), 3, tmp_path)
    rows = list(result)
    assert len(rows) == 3 and not result.failures
    assert all(r["ppl"] is None for r in rows)
    assert all("empty grammar stack" in r["ppl__unscored"] for r in rows)


async def test_llama_cpp_grammar_and_template_errors_give_a_reason(refusing: tuple[FakeServer, str]) -> None:
    _, base_url = refusing
    setup = GeneratorSetup(
        config=DatasetConfig.model_validate(
            {"models": [model(base_url)], "columns": [{"name": "a", "type": "sampler", "sampler": "uuid"}]}
        ),
        run_seed=0,
    )
    tokens = TokenCountGenerator(TokenCountColumn(name="n", source="chat", model="m"), setup)
    ppl = PerplexityGenerator(PerplexityColumn(name="p", source="text", model="m"), setup)
    tokens._local = ppl._local = True
    async with ModelPool([ModelConfig.model_validate(model(base_url))]) as pool:
        ctx = CellContext(column="n", record=0, attempt=1, seed=0, models=pool)
        out = await ppl.generate({"text": "Die GrÃ¶ÃŸe der Datei"}, ctx)
        assert not isinstance(out, CellFiltered) and out.value is None
        assert out.side["p__unscored"].startswith("HTTP 500") and "grammar" in out.side["p__unscored"]
        robot = [{"role": "robot", "content": "beep"}, {"role": "user", "content": "hi"}]
        out = await tokens.generate({"chat": robot}, ctx)
        assert not isinstance(out, CellFiltered) and out.value is None
        assert "template" in out.side["n__unscored"]
        out = await tokens.generate({"chat": CONVERSATION}, ctx)
        assert not isinstance(out, CellFiltered) and out.value == 9 and not out.side


def test_only_content_problems_are_unscorable() -> None:
    from synthloom.columns.quality.model_scores import unscorable
    from synthloom.errors import RequestRejectedError, ServerError

    assert unscorable(ServerError("x", status_code=500, body="empty grammar stack")) is not None
    assert unscorable(ServerError("x", status_code=503, body="loading model")) is None
    assert unscorable(RequestRejectedError("x", status_code=401, body="invalid api key")) is None
