"""Several images per cell (`n`) and `image` nodes in flows, against the simulated endpoint's images
API; the PNG bytes kept as bytes in storage and as base64 in exports."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint
from synthloom.testing.png import decode_png

from .conftest import model


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


async def test_n_images_per_cell_are_a_list_of_pngs_from_one_request(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    config = DatasetConfig.model_validate(
        {
            "name": "many",
            "models": [model("painter", endpoint.base_url)],
            "columns": [
                {
                    "name": "pics",
                    "type": "image",
                    "model": "painter",
                    "prompt": "A fox",
                    "size": "16x16",
                    "n": 3,
                }
            ],
        }
    )
    result = await synthloom.acreate(config, 2, tmp_path)
    rows = list(result)
    assert len(rows) == 2
    for row in rows:
        assert len(row["pics"]) == 3 and all(decode_png(p)[:2] == (16, 16) for p in row["pics"])
    assert [r.json_body["n"] for r in endpoint.requests] == [3, 3]
    [part] = sorted((tmp_path / "many" / "data").glob("*.parquet"))
    assert pq.read_schema(part).field("pics").type == pa.list_(pa.binary())


async def test_an_image_node_in_a_flow_draws_from_the_state_and_exports_as_base64(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    config = DatasetConfig.model_validate(
        {
            "name": "story",
            "models": [model("m", endpoint.base_url), model("painter", endpoint.base_url)],
            "columns": [
                {
                    "name": "scene",
                    "type": "flow",
                    "nodes": [
                        {
                            "name": "idea",
                            "type": "llm-text",
                            "model": "m",
                            "prompt": "An idea for a picture.",
                        },
                        {
                            "name": "picture",
                            "type": "image",
                            "model": "painter",
                            "prompt": "Paint: {{ idea }}",
                            "size": "24x16",
                        },
                    ],
                    "outputs": {"idea": "idea", "picture": "picture", "prompt": "picture__prompt"},
                }
            ],
        }
    )
    result = await synthloom.acreate(config, 3, tmp_path)
    rows = list(result)
    assert len(rows) == 3, result.failures
    for row in rows:
        assert decode_png(row["scene"]["picture"])[:2] == (24, 16)
        assert row["scene"]["prompt"] == f"Paint: {row['scene']['idea']}"
    exported = result.to_jsonl(tmp_path / "story.jsonl").read_text()
    first = json.loads(exported.splitlines()[0])
    assert decode_png(base64.b64decode(first["scene"]["picture"]))[:2] == (24, 16)
    assert result.usage["columns"]["scene.picture"]["requests"] == 3


def test_too_many_images_per_cell_exits_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from synthloom.interface.cli import cli

    path = tmp_path / "c.yaml"
    path.write_text(
        "models: [{alias: p, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: x}]\n"
        "columns: [{name: pics, type: image, model: p, prompt: fox, n: 11}]\n"
    )
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 2 and "field 'n'" in out.output and "10" in out.output, out.output
