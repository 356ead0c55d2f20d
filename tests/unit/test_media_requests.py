"""The exact JSON sent for prompts with images and audio, and for image generation, captured on a
loopback server (the simulated endpoint records every request body)."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, ModelError
from synthloom.models import ModelPool
from synthloom.testing import SimulatedEndpoint
from synthloom.testing.png import solid_png

PNG = solid_png(8, 8, (1, 2, 3))
PNG_B64 = base64.b64encode(PNG).decode()


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 10)
    return buffer.getvalue()


WAV = _wav()


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


@pytest.fixture
def media_files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "photo.png").write_bytes(PNG)
    (tmp_path / "clip.wav").write_bytes(WAV)
    return {"photo": str(tmp_path / "photo.png"), "clip": str(tmp_path / "clip.wav")}


def _config(model: dict[str, Any], files: dict[str, str], **column: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "models": [model],
            "media_roots": [str(Path(files["photo"]).parent)],
            "columns": [
                {
                    "name": "photo",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": [files["photo"]]},
                },
                {
                    "name": "clip",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": [files["clip"]]},
                },
                {"name": "answer", "type": "llm-text", "model": "m", "prompt": "Describe.", **column},
            ],
        }
    )


async def test_openai_request_carries_image_url_and_input_audio_parts_before_the_text(
    endpoint: SimulatedEndpoint, media_files: dict[str, str]
) -> None:
    model = {"alias": "m", "provider": "openai", "base_url": endpoint.base_url, "model": "vision"}
    config = _config(
        model,
        media_files,
        system_prompt="Be brief.",
        images=["{{ photo }}"],
        audio=["{{ clip }}"],
        image_detail="high",
    )
    rows = list(await synthloom.apreview(config, num_records=1))
    assert endpoint.requests[-1].path == "/v1/chat/completions"
    assert endpoint.requests[-1].json_body == {
        "model": "vision",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"},
                    },
                    {
                        "type": "input_audio",
                        "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"},
                    },
                    {"type": "text", "text": "Describe."},
                ],
            },
        ],
    }
    assert rows[0]["answer"] == "Simulated reply to: [image image/png 8x8] [audio wav 64 bytes] Describe."


async def test_several_images_per_record_and_urls_passed_through(
    endpoint: SimulatedEndpoint, media_files: dict[str, str]
) -> None:
    model = {"alias": "m", "provider": "openai", "base_url": endpoint.base_url, "model": "vision"}
    config = _config(model, media_files, images=["{{ [photo, 'https://example.org/x.jpg'] }}", "{{ photo }}"])
    await synthloom.apreview(config, num_records=1)
    parts = endpoint.requests[-1].json_body["messages"][0]["content"]
    assert [part["image_url"]["url"][:22] for part in parts[:3]] == [
        "data:image/png;base64,",
        "https://example.org/x.",
        "data:image/png;base64,",
    ]
    assert parts[3] == {"type": "text", "text": "Describe."}


async def test_anthropic_request_carries_image_blocks(
    endpoint: SimulatedEndpoint, media_files: dict[str, str]
) -> None:
    base = endpoint.base_url.removesuffix("/v1")
    model = {"alias": "m", "provider": "anthropic", "base_url": base, "model": "claude"}
    config = _config(model, media_files, images=["{{ photo }}"])
    rows = list(await synthloom.apreview(config, num_records=1))
    assert endpoint.requests[-1].path == "/v1/messages"
    assert endpoint.requests[-1].json_body == {
        "model": "claude",
        "max_tokens": 1024,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                    {"type": "text", "text": "Describe."},
                ],
            }
        ],
    }
    assert rows[0]["answer"].startswith("Simulated reply to: [image image/png 8x8]")


async def test_a_provider_without_audio_input_is_refused_before_any_request(
    endpoint: SimulatedEndpoint, media_files: dict[str, str], tmp_path: Path
) -> None:
    base = endpoint.base_url.removesuffix("/v1")
    model = {"alias": "m", "provider": "anthropic", "base_url": base, "model": "claude"}
    config = _config(model, media_files, audio=["{{ clip }}"])
    with pytest.raises(ConfigError, match="provider 'anthropic'\\) does not take audio"):
        await synthloom.acreate(config, 2, tmp_path / "out")
    assert endpoint.stats()["requests"] == 0
    assert not (tmp_path / "out").exists()  # refused before anything was written


async def test_image_generation_sends_the_images_request_and_decodes_the_reply(
    endpoint: SimulatedEndpoint,
) -> None:
    config = ModelConfig(alias="p", base_url=endpoint.base_url, model="painter")
    async with ModelPool([config]) as pool:
        result = await pool.client("p").generate_image(
            "a red fox", size="24x16", extra_body={"quality": "low"}, tag="picture"
        )
        usage = pool.usage.summary()
    assert endpoint.requests[-1].path == "/v1/images/generations"
    assert endpoint.requests[-1].json_body == {
        "model": "painter",
        "prompt": "a red fox",
        "n": 1,
        "size": "24x16",
        "quality": "low",
    }
    [image] = result.images
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert result.revised_prompt == "a red fox"
    assert usage["models"]["p"]["requests"] == 1
    assert usage["columns"]["picture"]["output_tokens"] == 64


async def test_image_edit_uploads_the_source_as_a_multipart_form(endpoint: SimulatedEndpoint) -> None:
    config = ModelConfig(alias="p", base_url=endpoint.base_url, model="painter")
    async with ModelPool([config]) as pool:
        result = await pool.client("p").generate_image("at night", image=PNG, size="8x8")
    recorded = endpoint.requests[-1]
    assert recorded.path == "/v1/images/edits"
    assert recorded.headers["Content-Type"].startswith("multipart/form-data")
    assert recorded.json_body == {
        "model": "painter",
        "prompt": "at night",
        "n": "1",
        "size": "8x8",
        "image": {"filename": "image.png", "content_type": "image/png", "data": len(PNG)},
    }
    assert result.images[0].startswith(b"\x89PNG")


async def test_a_provider_without_an_images_endpoint_is_refused() -> None:
    config = ModelConfig(alias="c", provider="anthropic", model="claude", base_url="http://127.0.0.1:9")
    async with ModelPool([config]) as pool:
        with pytest.raises(ModelError, match="provider 'anthropic' has no images endpoint"):
            await pool.client("c").generate_image("a cat")


async def test_a_bad_data_url_is_refused_by_the_simulated_server(endpoint: SimulatedEndpoint) -> None:
    config = ModelConfig(alias="m", base_url=endpoint.base_url, model="vision")
    message = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}],
    }
    async with ModelPool([config]) as pool:
        with pytest.raises(ModelError, match="does not hold valid base64"):
            await pool.client("m").generate_text([message])
