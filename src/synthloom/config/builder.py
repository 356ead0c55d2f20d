"""A small fluent builder for `DatasetConfig`, for users who prefer Python to YAML.

    config = (
        DatasetBuilder("reviews")
        .model("writer", provider="local")
        .sampler("product", "category", values=["phone", "laptop"])
        .llm_text("review", model="writer", prompt="Review a {{ product }} in two sentences.")
        .build()
    )

It produces exactly what the YAML would: the same model, the same validation and error messages.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import config_error_from_validation

__all__ = ["DatasetBuilder"]


class DatasetBuilder:
    def __init__(self, name: str = "dataset") -> None:
        self._data: dict[str, Any] = {"name": name, "models": [], "columns": []}

    def model(self, alias: str, *, provider: str = "openai", **fields: Any) -> DatasetBuilder:
        """Add a model alias (`ModelConfig` fields as keywords)."""
        self._data["models"].append({"alias": alias, "provider": provider, **fields})
        return self

    def seed(self, path: str, *, sampling: str = "ordered", **fields: Any) -> DatasetBuilder:
        """Use seed records from `path`."""
        self._data["seed"] = {"path": path, "sampling": sampling, **fields}
        return self

    def run(self, **fields: Any) -> DatasetBuilder:
        """Set `run` options (buffer_size, seed, max_row_groups_in_flight, ...)."""
        self._data.setdefault("run", {}).update(fields)
        return self

    def column(self, name: str, type: str, **fields: Any) -> DatasetBuilder:
        """Add a column of any registered type, plugins included."""
        self._data["columns"].append({"name": name, "type": type, **fields})
        return self

    def sampler(
        self, name: str, sampler: str, *, when: str | None = None, drop: bool = False, **params: Any
    ) -> DatasetBuilder:
        extra: dict[str, Any] = {"when": when} if when else {}
        return self.column(name, "sampler", sampler=sampler, params=params, drop=drop, **extra)

    def expression(self, name: str, expr: str, *, dtype: str = "str", **fields: Any) -> DatasetBuilder:
        return self.column(name, "expression", expr=expr, dtype=dtype, **fields)

    def llm_text(self, name: str, *, model: str, prompt: str, **fields: Any) -> DatasetBuilder:
        return self.column(name, "llm-text", model=model, prompt=prompt, **fields)

    def llm_code(
        self, name: str, *, model: str, prompt: str, language: str = "python", **fields: Any
    ) -> DatasetBuilder:
        return self.column(name, "llm-code", model=model, prompt=prompt, language=language, **fields)

    def llm_structured(
        self, name: str, *, model: str, prompt: str, schema: dict[str, Any] | str, **fields: Any
    ) -> DatasetBuilder:
        return self.column(name, "llm-structured", model=model, prompt=prompt, schema=schema, **fields)

    def llm_judge(
        self, name: str, *, model: str, prompt: str, scores: list[dict[str, Any]], **fields: Any
    ) -> DatasetBuilder:
        return self.column(name, "llm-judge", model=model, prompt=prompt, scores=scores, **fields)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if v or k == "columns"}

    def build(self) -> DatasetConfig:
        """Validate and return the config; raises `ConfigError` exactly as loading YAML would."""
        data = self.to_dict()
        try:
            return DatasetConfig.model_validate(data)
        except ValidationError as exc:
            raise config_error_from_validation(exc, data, source="<builder>") from None
