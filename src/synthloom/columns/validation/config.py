"""The `validation` column: code, SQL, JSON, a regex or a callable checked per row."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from synthloom.config.base import ColumnConfig, ImportPath, ImportPathText

__all__ = ["ValidationColumn"]


_VALIDATOR_FIELDS = {
    "dialect": "sql",
    "json_schema": "json-schema",
    "pattern": "regex",
    "function": "callable",
    "url": "http",
    "timeout": "http",
}


class ValidationColumn(ColumnConfig):
    """Checks other columns; the value is `{is_valid, ...details}`."""

    type: Literal["validation"] = "validation"
    #: How the targets are checked: python, sql, json-schema, regex, callable or http.
    validator: Literal["python", "sql", "json-schema", "regex", "callable", "http"]
    #: The columns checked.
    targets: Annotated[list[str], Field(min_length=1)]
    #: sql: the sqlglot dialect.
    dialect: str | None = None
    #: json-schema: the schema each target must satisfy.
    json_schema: dict[str, Any] | None = None
    #: regex: the pattern each target must fully match.
    pattern: str | None = None
    #: callable: `package.module:function` taking the target values, returning bool or a dict with is_valid.
    function: ImportPathText | None = None
    #: http: a URL that receives `{"values": {...}}` by POST and answers `{"is_valid": ..., ...}`.
    url: str | None = None
    #: http: seconds to wait for the validator's answer.
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
        if self.validator == "json-schema":
            import jsonschema

            try:
                jsonschema.validators.validator_for(self.json_schema).check_schema(self.json_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"'json_schema' is not a valid JSON Schema: {exc.message}") from None
        if self.validator == "http" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        for name, owner in _VALIDATOR_FIELDS.items():
            if owner != self.validator and name in self.model_fields_set:
                raise ValueError(
                    f"'{name}' is only used by validator '{owner}' (this column's validator is "
                    f"'{self.validator}'): remove it or change the validator"
                )
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"targets": list(self.targets)}

    def import_paths(self) -> dict[str, ImportPath]:
        if self.validator == "callable" and self.function:
            return {"function": ImportPath(self.function, "callable")}
        return {}
