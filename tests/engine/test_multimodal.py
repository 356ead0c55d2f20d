"""Images and audio through whole runs: visual QA over seed images, media kept in the output, and the
`image` column against the simulated endpoint."""

from __future__ import annotations

import io
import json
import shutil
import wave
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import ConfigError
from synthloom.testing import SimulatedEndpoint
from synthloom.testing.png import decode_png, solid_png

from .conftest import model


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00" * 40)
    return buffer.getvalue()


def _write_config(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def test_visual_qa_over_seed_images_fails_only_the_row_whose_image_is_missing(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    (tmp_path / "images").mkdir()
    colours = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220)}
    for name, colour in colours.items():
        (tmp_path / "images" / f"{name}.png").write_bytes(solid_png(32, 32, colour))
    (tmp_path / "clip.wav").write_bytes(_wav())
    records = [{"image": f"images/{name}.png", "colour": name} for name in colours]
    records.insert(1, {"image": "images/missing.png", "colour": "none"})
    (tmp_path / "seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = _write_config(
        tmp_path,
        {
            "name": "visual-qa",
            "models": [model("vision", endpoint.base_url)],
            "media_roots": ["."],
            "seed": {"path": "seed.jsonl", "sampling": "ordered"},
            "columns": [
                {
                    "name": "question",
                    "type": "llm-text",
                    "model": "vision",
                    "prompt": "Ask one question about this picture.",
                    "images": ["{{ image }}"],
                },
                {
                    "name": "answer",
                    "type": "llm-text",
                    "model": "vision",
                    "prompt": "{{ question }}",
                    "images": ["{{ image }}"],
                    "audio": ["clip.wav"],
                },
            ],
            "run": {"buffer_size": 4, "max_failure_rate": 0.5},
        },
    )
    result = await synthloom.acreate(synthloom.load_config(path), 4, tmp_path / "out")
    rows = list(result)
    assert [row["colour"] for row in rows] == ["red", "green", "blue"]
    for row in rows:
        assert (
            row["question"]
            == "Simulated reply to: [image image/png 32x32] Ask one question about this picture."
        )
        assert row["answer"].startswith(
            "Simulated reply to: [image image/png 32x32] [audio wav 124 bytes] Simulated"
        )
    failures = (tmp_path / "out" / "visual-qa" / "failures.jsonl").read_text().splitlines()
    [failure] = [json.loads(line) for line in failures]
    assert failure["record"] == 1 and failure["column"] == "question"
    assert failure["error_type"] == "MediaError"
    assert "images[0]: image file not found: images/missing.png" in failure["error"]


async def test_seed_images_as_bytes_and_hugging_face_features_survive_into_the_output(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    images = [solid_png(8, 8, (i * 40, 0, 0)) for i in range(4)]
    table = pa.table(
        {
            "raw": pa.array(images, type=pa.binary()),
            "feature": pa.array(
                [{"bytes": data, "path": f"img{i}.png"} for i, data in enumerate(images)],
                type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
            ),
        }
    )
    pq.write_table(table, tmp_path / "seed.parquet")
    config = DatasetConfig.model_validate(
        {
            "models": [model("vision", endpoint.base_url)],
            "seed": {"path": str(tmp_path / "seed.parquet"), "sampling": "ordered"},
            "columns": [
                {
                    "name": "caption",
                    "type": "llm-text",
                    "model": "vision",
                    "prompt": "Caption both.",
                    "images": ["{{ raw }}", "{{ feature }}"],
                }
            ],
        }
    )
    result = await synthloom.acreate(config, 4, tmp_path / "out")
    rows = list(result)
    assert [row["raw"] for row in rows] == images
    assert [row["feature"] for row in rows] == [
        {"bytes": d, "path": f"img{i}.png"} for i, d in enumerate(images)
    ]
    assert all(row["caption"].count("[image image/png 8x8]") == 2 for row in rows)
    [part] = sorted((tmp_path / "out" / "dataset" / "data").glob("*.parquet"))
    schema = pq.read_schema(part)
    assert schema.field("raw").type == pa.binary()
    assert schema.field("feature").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    frame = result.to_pandas()
    assert frame["raw"].tolist() == images


def _painter_config(base_url: str, folder: Path, **extra: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "pictures",
            "models": [model("painter", base_url, **extra)],
            "columns": [
                {
                    "name": "animal",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["fox", "owl"]},
                },
                {
                    "name": "picture",
                    "type": "image",
                    "model": "painter",
                    "prompt": "A watercolour {{ animal }}",
                    "size": "48x32",
                },
                {
                    "name": "night",
                    "type": "image",
                    "model": "painter",
                    "mode": "edit",
                    "source": "picture",
                    "prompt": "The same {{ animal }} at night",
                },
            ],
        }
    )


async def test_image_column_output_decodes_as_png_with_its_prompt(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    result = await synthloom.acreate(_painter_config(endpoint.base_url, tmp_path), 6, tmp_path / "out")
    rows = list(result)
    assert len(rows) == 6
    for row in rows:
        width, height, pixels = decode_png(row["picture"])
        assert (width, height) == (48, 32) and len(pixels) == 32
        assert decode_png(row["night"])[:2] == (48, 32)  # an edit keeps its source's size
        assert row["picture__prompt"] == f"A watercolour {row['animal']}"
        assert row["night__prompt"] == f"The same {row['animal']} at night"
    paths = [request.path for request in endpoint.requests]
    assert paths.count("/v1/images/generations") == paths.count("/v1/images/edits") == 6
    assert result.usage["columns"]["picture"]["requests"] == 6
    assert result.usage["columns"]["night"]["output_tokens"] == 6 * 64
    [part] = sorted((tmp_path / "out" / "pictures" / "data").glob("*.parquet"))
    assert pq.read_schema(part).field("picture").type == pa.binary()


async def test_image_column_on_a_model_without_images_is_refused_before_any_request(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    config = _painter_config(endpoint.base_url.removesuffix("/v1"), tmp_path, provider="anthropic")
    with pytest.raises(ConfigError, match="provider 'anthropic'\\) does not take image generation") as caught:
        await synthloom.acreate(config, 4, tmp_path / "out")
    assert (caught.value.column, caught.value.field) == ("picture", "model")
    assert endpoint.stats()["requests"] == 0


def test_an_edit_without_a_source_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="'mode: edit' needs 'source'"):
        DatasetConfig.model_validate(
            {
                "models": [model("painter", "http://127.0.0.1:9/v1")],
                "columns": [
                    {"name": "p", "type": "image", "model": "painter", "prompt": "x", "mode": "edit"}
                ],
            }
        )


async def test_the_visual_qa_example_runs_against_the_simulated_endpoint(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "visual-qa"
    shutil.copytree(example, tmp_path / "visual-qa")
    path = tmp_path / "visual-qa" / "config.yaml"
    path.write_text(path.read_text().replace("http://127.0.0.1:8000/v1", endpoint.base_url))
    result = await synthloom.acreate(synthloom.load_config(path), 8, tmp_path / "out")
    rows = list(result)
    assert len(rows) == 8 and not result.failures
    for row in rows:
        assert row["question"] == "Simulated reply to: [image image/png 32x32] Ask about the picture."
        assert isinstance(row["answer"]["answer"], str)
        assert decode_png(row["variant"])[:2] == (32, 32)
        assert row["variant__prompt"].startswith(f"The same {row['shape']}")
