"""The dataset config: `models`, `seed`, `columns`, `run`. One Pydantic model for YAML, JSON and Python."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import ConfigDict, Field, GetCoreSchemaHandler, PrivateAttr, model_validator
from pydantic_core import CoreSchema

from synthloom.config.base import ColumnConfig, StrictModel
from synthloom.config.model_config import ModelConfig
from synthloom.config.output_config import OutputConfig
from synthloom.config.registry import ColumnTypeRegistry, default_registry
from synthloom.config.run_config import RunConfig
from synthloom.config.seed_config import SeedConfig
from synthloom.errors import ConfigError

__all__ = ["ColumnSpec", "DatasetConfig", "RegisteredColumnTypes", "RunConfig", "SeedConfig"]


class RegisteredColumnTypes:
    """Pydantic metadata for one entry of `columns`: the union of every column type registered in
    `registry`, told apart by `type`. The schema is made when `DatasetConfig` is first used
    (validation, JSON Schema), which is when the registry loads its plugins; a change to the registry
    after that rebuilds `DatasetConfig`."""

    def __init__(self, registry: ColumnTypeRegistry) -> None:
        self.registry = registry

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        configs = [t.config for t in self.registry.types().values()]
        if not configs:
            raise ConfigError("no column type is registered (is synthloom installed correctly?)")
        if len(configs) == 1:
            return handler.generate_schema(configs[0])
        union: Any = Annotated[Union[tuple(configs)], Field(discriminator="type")]  # noqa: UP007
        return handler.generate_schema(union)


#: One entry of `DatasetConfig.columns`: any registered column type.
ColumnSpec = Annotated[ColumnConfig, RegisteredColumnTypes(default_registry)]


class DatasetConfig(StrictModel):
    """A declarative description of a dataset."""

    # Built on first use, not on import: the column union needs the registry's plugins.
    # Inputs stay out of validation messages: a key pasted where a name belongs must not be echoed.
    model_config = ConfigDict(defer_build=True, hide_input_in_errors=True)

    #: The dataset's name: the run is written to `OUTPUT/<name>/`.
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=128)] = "dataset"
    #: The models columns call, each under an alias.
    models: list[ModelConfig] = Field(default_factory=list)
    #: Records every generated record starts from (files, Hugging Face, documents, a previous run).
    seed: SeedConfig | None = None
    #: The columns, in any order: each is generated after the columns it reads.
    columns: Annotated[list[ColumnSpec], Field(min_length=1)]
    #: How the run is executed: row groups, seed, failure handling, target, executor.
    run: RunConfig = Field(default_factory=RunConfig)
    #: How each row becomes the final record: mapping, training format, schema (see output_config).
    output: OutputConfig | None = None
    #: Folders (relative to the config file's) whose files an image or audio value may name. Seed rows
    #: are not trusted, so by default no media value reads a local file (see `columns/media.py`).
    media_roots: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    #: Where relative paths (seed files) are resolved: the config file's folder, else the working dir.
    _base_dir: Path | None = PrivateAttr(default=None)
    #: The file the config came from, for error messages.
    _source: str | None = PrivateAttr(default=None)
    #: Line of each key path in that file (YAML only), for error messages.
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    def line_of(self, column: str | None, field: str | None = None) -> int | None:
        """The line where `column` (and its `field`, like `params.category`) is written, when known."""
        index = next((i for i, c in enumerate(self.columns) if c.name == column), None)
        return None if index is None else self._line_at(("columns", index), field)

    def line_of_model(self, alias: str | None, field: str | None = None) -> int | None:
        """The line where model `alias` (and its `field`) is written, when known."""
        index = next((i for i, m in enumerate(self.models) if m.alias == alias), None)
        return None if index is None else self._line_at(("models", index), field)

    def line_of_field(self, field: str) -> int | None:
        """The line where a top-level `field` (like `media_roots.1`) is written, when known."""
        head = field.split(".", 1)[0]
        return self._line_at((), field) or self._lines.get((head,))

    def _line_at(self, prefix: tuple[str | int, ...], field: str | None) -> int | None:
        parts = field.split(".") if field else []
        path: tuple[str | int, ...] = (*prefix, *(int(p) if p.isdigit() else p for p in parts))
        for end in range(len(path), 1, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None

    @property
    def base_dir(self) -> Path:
        return self._base_dir or Path.cwd()

    @property
    def source_dir(self) -> Path | None:
        """The folder of the file the config was loaded from (None for a config built in Python):
        import paths in the config (custom functions, schemas, validators) resolve there first."""
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source or "<config>"

    @model_validator(mode="after")
    def _unique_names(self) -> DatasetConfig:
        aliases = [m.alias for m in self.models]
        dupes = sorted({a for a in aliases if aliases.count(a) > 1})
        if dupes:
            raise ValueError(f"duplicate model alias: {', '.join(dupes)}")
        names = [c.name for c in self.columns]
        for col in self.columns:
            names.extend(col.side_columns())
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column name: {', '.join(dupes)}")
        return self

    def column(self, name: str) -> ColumnConfig:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def model(self, alias: str) -> ModelConfig:
        for m in self.models:
            if m.alias == alias:
                return m
        raise KeyError(alias)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, with the `schema` alias and without defaults the user did not set."""
        data = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        # A column's `type` is its own default, but it is what selects the column type when read back.
        data["columns"] = [
            {"name": c.name, "type": c.type, **d} for c, d in zip(self.columns, data["columns"], strict=True)
        ]
        return data

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML that `load_config` reads back to the same config (written to `path` too,
        when given). Values of credential-like headers are replaced by `<redacted>` unless they are
        `${VAR}` references: a config written out never carries a secret (keys are only ever named, by
        `api_key_env`)."""
        data = self.to_dict()
        for model in data.get("models", []):
            headers = model.get("headers") or {}
            for name, value in headers.items():
                if _CREDENTIAL_HEADER.search(name) and not _ENV_REFERENCE.fullmatch(str(value)):
                    headers[name] = "<redacted>"
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


#: Header names whose values are credentials (as the run directory's config.yaml treats them).
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie|session|password", re.IGNORECASE)
_ENV_REFERENCE = re.compile(r"(?:[^$]*\$\{[A-Za-z_][A-Za-z0-9_]*\})+[^$]*")


def _rebuild_if_built() -> None:
    # Before its first use the model has no schema yet, and will read the registry when it builds.
    if DatasetConfig.__pydantic_complete__:
        DatasetConfig.model_rebuild(force=True)


default_registry.on_change(_rebuild_if_built)
