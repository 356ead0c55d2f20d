"""The `image` column: a prompt rendered per record, sent to the model's images endpoint, kept as PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from synthloom.columns.image.config import ImageColumn
from synthloom.columns.media import MediaError, MediaRoots, load_media, sniff_media_type
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generator import CellGenerator, CellOutput
from synthloom.plan.templates import compile_template

__all__ = ["ImageGenerator", "as_png"]


class ImageGenerator(CellGenerator[ImageColumn]):
    """Generates (or edits) one image per cell through the model's limiter, retries and usage; the
    value is PNG bytes and `<name>__prompt` the prompt sent."""

    def __init__(self, config: ImageColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._prompt = compile_template(config.prompt)

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        config = self.config
        prompt = self._prompt.render(row)
        image: bytes | None = None
        media_type = "image/png"
        if config.mode == "edit":
            image, media_type = self._source(row)
        result = await ctx.client(config.model).generate_image(
            prompt,
            size=config.size,
            image=image,
            image_media_type=media_type,
            n=config.n,
            extra_body=config.extra_body,
            tag=ctx.tag,
        )
        if len(result.images) < config.n:
            raise MediaError(f"asked for {config.n} images, the server answered {len(result.images)}")
        images = [as_png(data) for data in result.images[: config.n]]
        value: bytes | list[bytes] = images[0] if config.n == 1 else images
        return CellOutput(value, {f"{config.name}__prompt": prompt})

    def _source(self, row: Mapping[str, Any]) -> tuple[bytes, str]:
        """The bytes and media type of the image to edit."""
        config = self.config
        value = row.get(config.source or "")
        if value is None:
            raise MediaError(f"source: '{config.source}' is null for this record: no image to edit")
        try:
            items = load_media(
                value, "image", roots=MediaRoots.of(self.setup.config), max_bytes=config.max_media_bytes
            )
        except MediaError as exc:
            raise MediaError(f"source: {exc}") from None
        if len(items) != 1:
            raise MediaError(f"source: '{config.source}' holds {len(items)} images; an edit takes one")
        item = items[0]
        if item.data is None or item.media_type is None:
            raise MediaError(
                f"source: '{config.source}' is a URL; the image to edit is uploaded: give its bytes or a file"
            )
        return item.data, item.media_type


def as_png(data: bytes) -> bytes:
    """`data` when it is a PNG; other image types converted with Pillow when it is installed."""
    media_type = sniff_media_type(data)
    if media_type == "image/png":
        return data
    try:
        from PIL import Image  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise MediaError(
            f"the server answered {media_type or 'an unknown image type'}, not PNG: ask for PNG "
            "(`extra_body: {output_format: png}`) or install Pillow to convert"
        ) from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            out = io.BytesIO()
            opened.save(out, format="PNG")
    except Exception as exc:
        raise MediaError(f"the server's image cannot be read ({media_type}): {exc}") from exc
    return out.getvalue()
