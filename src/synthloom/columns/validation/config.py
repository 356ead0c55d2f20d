"""The `validation` column: code, SQL, JSON, YAML, XML, a regex or a callable checked per row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from synthloom.config.base import ColumnConfig, ImportPath, ImportPathText

__all__ = ["ValidationColumn"]


_VALIDATOR_FIELDS: dict[str, tuple[str, ...]] = {
    "dialect": ("sql",),
    "json_schema": ("json-schema", "yaml", "xml"),
    "pattern": ("regex",),
    "function": ("callable",),
    "url": ("http",),
    "timeout": ("http",),
}


class ValidationColumn(ColumnConfig):
    """Checks other columns; the value is `{is_valid, ...details}`."""

    type: Literal["validation"] = "validation"
    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_is_yaml",
        "type": "validation",
        "validator": "yaml",
        "targets": ["answer"],
    }

    #: What checks the targets: python (parsed and linted), sql, json-schema, yaml or xml (parsed
    #: safely, then checked against `json_schema` when given), regex, callable, http.
    validator: Literal["python", "sql", "json-schema", "yaml", "xml", "regex", "callable", "http"]
    #: The columns to check.
    targets: Annotated[list[str], Field(min_length=1)]
    #: sql: the sqlglot dialect.
    dialect: str | None = None
    #: json-schema (and optionally yaml, xml): the schema each target's value must satisfy.
    json_schema: dict[str, Any] | None = None
    #: regex: the pattern each target must fully match.
    pattern: str | None = None
    #: callable: `package.module:function` taking the target values, returning bool or a dict with is_valid.
    function: ImportPathText | None = None
    #: http: a URL that receives `{"values": {...}}` by POST and answers `{"is_valid": ..., ...}`.
    url: str | None = None
    #: http: seconds to wait for the remote validator.
    timeout: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _check_validator_fields(self) -> ValidationColumn:
        needs = {"json-schema": "json_schema", "regex": "pattern", "callable": "function", "http": "url"}
        field = needs.get(self.validator)
        if field and getattr(self, field) is None:
            raise ValueError(f"validator '{self.validator}' needs '{field}'")
        if self.validator == "regex":
            import re

            try:
                re.compile(self.pattern or "")
            except re.error as exc:
                raise ValueError(f"'pattern' is not a valid regular expression: {exc}") from None
        if self.json_schema is not None:
            import jsonschema

            try:
                jsonschema.validators.validator_for(self.json_schema).check_schema(self.json_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"'json_schema' is not a valid JSON Schema: {exc.message}") from None
        if self.validator == "http" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        for name, owners in _VALIDATOR_FIELDS.items():
            if self.validator not in owners and name in self.model_fields_set:
                raise ValueError(
                    f"'{name}' is only used by validator {' or '.join(repr(o) for o in owners)} (this "
                    f"column's validator is '{self.validator}'): remove it or change the validator"
                )
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"targets": list(self.targets)}

    def import_paths(self) -> dict[str, ImportPath]:
        if self.validator == "callable" and self.function:
            return {"function": ImportPath(self.function, "callable")}
        return {}
