"""Hugging Face exports: a `save_to_disk` folder read back by `datasets.load_from_disk`, an in-memory
`datasets.Dataset`, the dataset card, and `push_to_hub` against a local stand-in for the Hub's HTTP API.

The stand-in implements the endpoints `huggingface_hub` calls for `create_repo`, `list_repo_files` and
`create_commit` (validate-yaml, preupload, commit), answering "regular" upload mode so files travel
inside the commit itself; it keeps the files committed, so a second push can be checked too.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aiohttp import web
from click.testing import CliRunner

from synthloom.errors import OutputError
from synthloom.interface.cli import cli
from synthloom.interface.dataset_result import DatasetResult
from tests.unit.test_export_files import RECORDS, make_run

datasets = pytest.importorskip("datasets")

SECRET_KEY = "sk-test-3c9f1d0e-do-not-leak"
SECRET_HEADER = "header-secret-value"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNTHLOOM_TEST_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return make_run(tmp_path / "runs" / "qa")


def test_hf_export_round_trips_through_load_from_disk(tmp_path: Path, run: Path) -> None:
    folder = DatasetResult.open(run).save_to_disk(tmp_path / "hf", license="apache-2.0")
    loaded = datasets.load_from_disk(str(folder))
    assert len(loaded) == 4
    assert loaded.column_names == ["question", "answer", "n"]
    assert loaded["question"] == ["Q1", "Q2", "Q3", "Q4"]
    assert loaded["n"] == [1.0, 2.0, None, 0.5]
    # One struct for every record: a field absent from a record is null in it.
    assert loaded[0]["answer"] == {"text": "A1", "score": 1, "refs": None}
    assert loaded[2]["answer"] is None
    assert loaded[3]["answer"] == {"text": "A4", "score": None, "refs": [1, 2]}
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0\n")


def test_hf_export_of_a_training_format_has_message_structs(tmp_path: Path, run: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["export", str(run), "-f", "hf", "-o", str(tmp_path / "hf")],
    )
    assert result.exit_code == 0, result.output
    DatasetResult.open(run).save_to_disk(
        tmp_path / "sft", format="messages", sources={"user": "question", "assistant": "answer.text"}
    )
    loaded = datasets.load_from_disk(str(tmp_path / "sft"))
    assert loaded.features["messages"] == datasets.List(
        {"role": datasets.Value("string"), "content": datasets.Value("string")}
    )
    assert loaded[0] == {
        "messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]
    }
    assert len(loaded) == 3


def test_hf_export_refuses_a_folder_with_other_files(tmp_path: Path, run: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="is not empty and is not an earlier `hf` export"):
        DatasetResult.open(run).save_to_disk(tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    # An earlier export is replaced.
    DatasetResult.open(run).save_to_disk(tmp_path / "again")
    DatasetResult.open(run).save_to_disk(tmp_path / "again")
    assert len(datasets.load_from_disk(str(tmp_path / "again"))) == 4


def test_to_hf_dataset_in_memory(run: Path) -> None:
    dataset = DatasetResult.open(run).to_hf_dataset()
    assert [dict(r) for r in dataset] == [
        {**r, "n": None if r["n"] is None else float(r["n"]), "answer": _full_answer(r["answer"])}
        for r in RECORDS
    ]


def _full_answer(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if answer is None else {"text": None, "score": None, "refs": None, **answer}


# ---- the dataset card -----------------------------------------------------------------------------


def test_the_card_states_columns_models_usage_seed_and_counts(tmp_path: Path, run: Path) -> None:
    DatasetResult.open(run).save_to_disk(tmp_path / "hf", license="cc-by-4.0")
    card = (tmp_path / "hf" / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    import yaml

    meta = yaml.safe_load(front)
    assert meta["license"] == "cc-by-4.0"
    assert meta["pretty_name"] == "qa"
    assert meta["size_categories"] == ["n<1K"]
    assert "synthetic" in meta["tags"]
    assert "| `question` | `string` | llm-text, model `writer` |" in body
    assert "| `n` | `double` | sampler (uniform) |" in body
    assert "| `writer` | openai | org/qa-7b |" in body
    assert "| `writer` | 8 | 150 | 60 | 0.7500 |" in body  # summed over both sessions
    assert "- run seed: 7" in body
    assert "- records in this dataset: 4" in body


def test_the_card_never_contains_a_secret(tmp_path: Path, run: Path) -> None:
    DatasetResult.open(run).save_to_disk(tmp_path / "hf")
    card = (tmp_path / "hf" / "README.md").read_text()
    for secret in (SECRET_KEY, SECRET_HEADER, "SYNTHLOOM_TEST_SECRET_KEY", "Authorization", "127.0.0.1:9"):
        assert secret not in card
    everything = b"".join(p.read_bytes() for p in (tmp_path / "hf").iterdir())
    assert SECRET_KEY.encode() not in everything and SECRET_HEADER.encode() not in everything


# ---- push_to_hub against a local Hub --------------------------------------------------------------


class FakeHub:
    """Just enough of the Hub's HTTP API for `create_repo`, `list_repo_files` and `create_commit`."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.created: list[dict[str, Any]] = []
        self.commits: list[list[dict[str, Any]]] = []
        self.app = web.Application(middlewares=[self._record])
        self.app.add_routes(
            [
                web.post("/api/repos/create", self.create_repo),
                web.post("/api/validate-yaml", self.validate_yaml),
                web.get("/api/datasets/{org}/{name}/tree/{revision}", self.tree),
                web.post("/api/datasets/{org}/{name}/preupload/{revision}", self.preupload),
                web.post("/api/datasets/{org}/{name}/commit/{revision}", self.commit),
            ]
        )

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.headers.get("Authorization") != "Bearer hf_test_token":
            return web.json_response({"error": "Invalid credentials"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def create_repo(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        repo = f"{body['organization']}/{body['name']}"
        url = f"{request.url.origin()}/datasets/{repo}"
        if repo in self.repos:  # as the Hub does: a conflict, with the repo's URL
            return web.json_response(
                {"error": "You already created this dataset repo", "url": url}, status=409
            )
        self.repos[repo] = {}
        return web.json_response({"url": url, "name": repo})

    async def validate_yaml(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert body["repoType"] == "dataset"
        return web.json_response({"errors": [], "warnings": []})

    def _repo(self, request: web.Request) -> dict[str, bytes]:
        repo = f"{request.match_info['org']}/{request.match_info['name']}"
        if repo not in self.repos:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Repository not found"}), content_type="application/json"
            )
        return self.repos[repo]

    async def tree(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        return web.json_response(
            [{"type": "file", "path": p, "size": len(b), "oid": "0" * 40} for p, b in sorted(files.items())]
        )

    async def preupload(self, request: web.Request) -> web.Response:
        self._repo(request)
        body = await request.json()
        return web.json_response(
            {
                "files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]
                ]
            }
        )

    async def commit(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        lines = [json.loads(line) for line in (await request.read()).splitlines() if line.strip()]
        self.commits.append(lines)
        for line in lines:
            if line["key"] == "file":
                files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
            elif line["key"] == "deletedFile":
                files.pop(line["value"]["path"])
        repo = f"{request.match_info['org']}/{request.match_info['name']}"
        return web.json_response(
            {"commitUrl": f"{request.url.origin()}/datasets/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40}
        )


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeHub, str]]:
    fake = FakeHub()
    runner = web.AppRunner(fake.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        yield fake, endpoint
    finally:
        await runner.cleanup()


def _shards(files: dict[str, bytes]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in sorted(f for f in files if f.startswith("data/")):
        rows.extend(pq.read_table(io.BytesIO(files[name])).to_pylist())
    return rows


async def test_push_to_hub_uploads_shards_and_a_card(run: Path, hub: tuple[FakeHub, str]) -> None:
    fake, endpoint = hub
    result = DatasetResult.open(run)
    pushed = await asyncio.to_thread(
        result.push_to_hub,
        "me/qa-sft",
        token="hf_test_token",
        license="mit",
        private=True,
        format="messages",
        sources={"user": "question", "assistant": "answer.text"},
    )
    assert pushed.commit_url == f"{endpoint}/datasets/me/qa-sft/commit/{'a' * 40}"
    assert pushed.records == 3
    assert fake.created == [
        {"name": "qa-sft", "organization": "me", "visibility": "private", "type": "dataset"}
    ]
    files = fake.repos["me/qa-sft"]
    assert sorted(files) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert _shards(files) == [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in (("Q1", "A1"), ("Q2", "A2"), ("Q4", "A4"))
    ]
    card = files["README.md"].decode()
    assert card.startswith("---\nlicense: mit\n")
    assert "path: data/train-*" in card
    assert 'load_dataset("me/qa-sft", split="train")' in card
    assert "Records are in the `messages` training format." in card
    for secret in (SECRET_KEY, SECRET_HEADER):
        assert secret not in card
        assert all(secret not in json.dumps(c) for c in fake.commits)
        assert all(secret not in json.dumps(h) for _, _, h in fake.requests)
    paths = [(m, p) for m, p, _ in fake.requests]
    assert ("POST", "/api/repos/create") in paths
    assert ("POST", "/api/datasets/me/qa-sft/commit/main") in paths


async def test_a_second_push_replaces_the_shards_of_the_first(
    tmp_path: Path, run: Path, hub: tuple[FakeHub, str]
) -> None:
    fake, _ = hub
    big = DatasetResult.open(
        make_run(
            tmp_path / "big",
            [{"question": [f"Q{i}" for i in range(50)], "answer": [None] * 50, "n": list(range(50))}] * 3,
        )
    )
    from synthloom.outputs import push_to_hub

    await asyncio.to_thread(push_to_hub, big.export_source(), "me/qa", token="hf_test_token", shard_bytes=1)
    assert sorted(fake.repos["me/qa"]) == [
        "README.md",
        "data/train-00000-of-00003.parquet",
        "data/train-00001-of-00003.parquet",
        "data/train-00002-of-00003.parquet",
    ]
    await asyncio.to_thread(DatasetResult.open(run).push_to_hub, "me/qa", token="hf_test_token")
    assert sorted(fake.repos["me/qa"]) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert [r["question"] for r in _shards(fake.repos["me/qa"])] == ["Q1", "Q2", "Q3", "Q4"]
    deleted = [line["value"]["path"] for line in fake.commits[-1] if line["key"] == "deletedFile"]
    assert sorted(deleted) == [f"data/train-0000{i}-of-00003.parquet" for i in range(3)]


async def test_a_refused_token_is_a_clear_error(run: Path, hub: tuple[FakeHub, str]) -> None:
    with pytest.raises(OutputError, match=r"the Hub refused the push to 'me/qa' \(HTTP 401\): set HF_TOKEN"):
        await asyncio.to_thread(DatasetResult.open(run).push_to_hub, "me/qa", token="hf_wrong")


async def test_cli_push_to_hub(run: Path, hub: tuple[FakeHub, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = hub
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        [
            "export",
            str(run),
            "-f",
            "sharegpt",
            "--map",
            "user=question",
            "--map",
            "assistant=answer.text",
            "--push-to-hub",
            "me/qa-share",
            "--license",
            "apache-2.0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["records"], report["filtered"]) == (3, 1)
    assert _shards(fake.repos["me/qa-share"])[0] == {
        "conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}]
    }
    assert b"license: apache-2.0" in fake.repos["me/qa-share"]["README.md"]
