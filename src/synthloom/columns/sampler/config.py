"""The `sampler` column: a value drawn from a distribution."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from synthloom.columns.sampler.params import SAMPLER_PARAMS, SamplerName
from synthloom.config.base import ColumnConfig, ModelClass

__all__ = ["SamplerColumn"]


class SamplerColumn(ColumnConfig):
    """A value drawn from a distribution, vectorised per row group."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "topic",
        "type": "sampler",
        "sampler": "category",
        "params": {"values": ["cooking", "travel", "finance"]},
    }

    type: Literal["sampler"] = "sampler"
    #: Which sampler draws the value (see the samplers in `synthloom reference`).
    sampler: SamplerName
    #: The sampler's parameters (each sampler's fields are listed under samplers).
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        sampler = info.data.get("sampler")
        if sampler is None:
            return value
        try:
            SAMPLER_PARAMS[sampler].model_validate(value)
        except ValidationError as exc:
            problems = []
            known = list(SAMPLER_PARAMS[sampler].model_fields)
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1, cutoff=0.6)
                    msg = "unknown parameter" + (
                        f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
                    )
                problems.append(f"{where}: {msg}" if where else msg)
            raise ValueError(f"invalid parameters for sampler '{sampler}': " + "; ".join(problems)) from None
        return value

    @classmethod
    def field_model(cls, name: str, data: Mapping[str, Any]) -> ModelClass | None:
        sampler = data.get("sampler")
        if name == "params" and isinstance(sampler, str) and sampler in SAMPLER_PARAMS:
            return SAMPLER_PARAMS[sampler]
        return None

    def parsed_params(self) -> Any:
        """The params as the sampler's typed model."""
        return SAMPLER_PARAMS[self.sampler].model_validate(self.params)

    def referenced_columns(self) -> dict[str, list[str]]:
        if self.sampler == "subcategory":
            return {"params.category": [self.params["category"]]}
        if self.sampler == "timedelta" and self.params.get("reference"):
            return {"params.reference": [self.params["reference"]]}
        return {}
