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

from synthloom.columns.sampler.params import PERSON_FIELDS, SAMPLER_PARAMS, SamplerName
from synthloom.config.base import ColumnConfig, ModelClass, ValueShape
from synthloom.errors import PlanError

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

    def value_shape(self) -> ValueShape | None:
        if self.sampler != "person":
            return None
        return dict.fromkeys(self.params.get("fields") or PERSON_FIELDS)

    def drawn_values(self) -> list[Any] | None:
        if self.sampler == "category":
            return list(self.params["values"])
        return None

    def check_with(self, columns: Mapping[str, ColumnConfig]) -> None:
        if self.sampler != "subcategory":
            return
        parent = columns.get(self.params["category"])
        drawn = parent.drawn_values() if parent is not None else None
        if parent is None or drawn is None:
            return
        # The generator looks a parent value up as it is, then as text: compare the same way.
        drawn_text = [str(value) for value in drawn]
        keys = list(self.params["values"])
        for key in keys:
            if key not in drawn_text:
                close = difflib.get_close_matches(key, drawn_text, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"it draws: {', '.join(drawn_text)}"
                raise PlanError(
                    f"key '{key}' is not one of the values column '{parent.name}' draws ({hint}); "
                    "a row whose parent value has no key gets an empty value",
                    column=self.name,
                    field=f"params.values.{key}",
                )
        missing = [value for value in drawn_text if value not in keys]
        if missing:
            raise PlanError(
                f"no values for {', '.join(repr(m) for m in missing)}, which column '{parent.name}' draws: "
                "add a key for each (those rows would get an empty value)",
                column=self.name,
                field="params.values",
            )

    def referenced_columns(self) -> dict[str, list[str]]:
        if self.sampler == "subcategory":
            return {"params.category": [self.params["category"]]}
        if self.sampler == "timedelta" and self.params.get("reference"):
            return {"params.reference": [self.params["reference"]]}
        return {}
