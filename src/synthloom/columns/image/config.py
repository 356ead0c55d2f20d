"""The `image` column: an image made by an OpenAI-compatible images endpoint, kept as PNG bytes.

    - name: picture
      type: image
      model: painter                 # a model alias served at /images/generations
      prompt: "A watercolour of {{ animal }} in {{ place }}"
      size: 512x512
    - name: night
      type: image
      model: painter
      mode: edit                     # /images/edits: change an existing image
      source: picture                # the column (or seed field) holding the image to edit
      prompt: "The same scene at night"

The value is the PNG's bytes (a binary column in parquet; `bytes` from the Python API), or with
`n: 4` a list of four (one request asks for all of them; a server answering fewer fails the cell), and
the prompt actually sent goes to the side column `<name>__prompt`, so each image keeps the text it was
made from. The source of an edit may be any image value a prompt accepts (bytes, a file path, a data
URI, a Hugging Face Image feature); it is uploaded, so a URL is not enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from synthloom.config.base import ColumnConfig

__all__ = ["ImageColumn"]


class ImageColumn(ColumnConfig):
    """An image generated (or an image edited) from a prompt; the value is PNG bytes."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "prompt")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "picture",
        "type": "image",
        "model": "painter",
        "prompt": "A photo of {{ topic }}",
        "size": "512x512",
    }

    type: Literal["image"] = "image"
    #: The model alias of an OpenAI-compatible images endpoint.
    model: str
    #: What to draw (or how to edit): a Jinja2 template.
    prompt: str
    #: generate a new image, or edit the image in `source`.
    mode: Literal["generate", "edit"] = "generate"
    #: `mode: edit`: the column or seed field holding the image to edit.
    source: str | None = None
    #: The size asked for, as the server names it ("1024x1024", "512x512", "auto", ...).
    size: Annotated[str, Field(pattern=r"^(\d+x\d+|auto)$")] | None = None
    #: Images per cell, made in one request: with 1 the value is the PNG's bytes, with more a list of them.
    n: Annotated[int, Field(ge=1, le=10)] = 1
    #: Merged into the request last (`quality`, `background`, `output_format: png`, ...).
    extra_body: dict[str, Any] = Field(default_factory=dict)
    #: The largest source image uploaded for an edit, in bytes.
    max_media_bytes: Annotated[int, Field(gt=0)] = 20 * 1024 * 1024

    @model_validator(mode="after")
    def _check_mode(self) -> ImageColumn:
        if self.mode == "edit" and not self.source:
            raise ValueError("'mode: edit' needs 'source': the column holding the image to edit")
        if self.mode == "generate" and self.source:
            raise ValueError("'source' is only for 'mode: edit'")
        return self

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [self.source]} if self.source else {}

    def side_columns(self) -> list[str]:
        return [f"{self.name}__prompt"]
