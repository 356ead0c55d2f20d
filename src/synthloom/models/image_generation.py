"""OpenAI's images endpoints, as OpenAI-compatible servers speak them: request bodies and replies.

    POST {base_url}/images/generations   JSON {model, prompt, n, size, ...}
    POST {base_url}/images/edits         multipart: image (file), prompt, model, n, size, ...
    -> {"data": [{"b64_json": "...", "revised_prompt": "..."}], "usage": {...}}

Images come back as base64 (`b64_json`); a server that answers only URLs is asked for base64 with
`extra_body: {response_format: b64_json}` (gpt-image models always answer base64 and refuse that
parameter, so it is not sent by default). No I/O here: `ModelClient.generate_image` sends.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from synthloom.errors import MalformedResponseError
from synthloom.models.results import CallUsage

__all__ = ["ImageRequest", "ImageResult", "edit_form", "generation_body", "parse_images_reply"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRequest:
    """One images request: a generation, or an edit of `image` when it is given."""

    model: str
    prompt: str
    size: str | None = None
    n: int = 1
    #: The image to edit (edits only), with its media type and a file name for the form.
    image: bytes | None = None
    image_media_type: str = "image/png"
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_edit(self) -> bool:
        return self.image is not None


@dataclass(slots=True)
class ImageResult:
    """The images a request produced (decoded bytes, in order), the prompt the server says it used,
    and what the exchange cost."""

    images: list[bytes]
    usage: CallUsage
    revised_prompt: str | None = None


def generation_body(request: ImageRequest) -> dict[str, Any]:
    """The JSON body of `POST /images/generations`; `extra_body` is merged last and wins."""
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": request.n}
    if request.size is not None:
        body["size"] = request.size
    body.update(request.extra_body)
    return body


def edit_form(request: ImageRequest) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """The fields and the file of the multipart `POST /images/edits`."""
    if request.image is None:
        raise ValueError("an edit needs the image to edit")
    fields = {"model": request.model, "prompt": request.prompt, "n": str(request.n)}
    if request.size is not None:
        fields["size"] = request.size
    for key, value in request.extra_body.items():
        fields[key] = value if isinstance(value, str) else orjson.dumps(value).decode()
    extension = request.image_media_type.rpartition("/")[2] or "png"
    files = {"image": (f"image.{extension}", request.image, request.image_media_type)}
    return fields, files


def parse_images_reply(body: dict[str, Any], expected: int) -> tuple[list[bytes], str | None, int, int]:
    """Decoded images, the first revised prompt, and input/output tokens, from an images reply."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedResponseError("images reply without a data list")
    images: list[bytes] = []
    revised: str | None = None
    for item in data:
        if not isinstance(item, dict):
            raise MalformedResponseError(f"images reply item is not an object: {item!r:.100}")
        encoded = item.get("b64_json")
        if not isinstance(encoded, str):
            if isinstance(item.get("url"), str):
                raise MalformedResponseError(
                    "the server answered an image URL, not base64: set the column's "
                    "`extra_body: {response_format: b64_json}`"
                )
            raise MalformedResponseError("images reply item without b64_json")
        try:
            images.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise MalformedResponseError(f"images reply b64_json is not base64: {exc}") from exc
        if revised is None and isinstance(item.get("revised_prompt"), str):
            revised = item["revised_prompt"]
    if len(images) < expected:
        raise MalformedResponseError(f"asked for {expected} images, got {len(images)}")
    usage = body.get("usage") or {}
    return images, revised, int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
