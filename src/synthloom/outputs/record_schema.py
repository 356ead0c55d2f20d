"""Final-record validation: `output.schema` as a JSON Schema or a Pydantic model (`pkg.module:Model`).

At run time a record that does not validate is *filtered* with the validator's message as the reason
(`RecordSchema.problem`). Before the run, `RecordSchema.static_problems` catches a schema no record can
meet when the record's keys are known from the config: a top-level type that is not an object, a
required key the mapping never writes, a key the schema forbids, a constant that breaks its property's
schema.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import jsonschema
import orjson
from pydantic import BaseModel, ValidationError

from synthloom.errors import PlanError
from synthloom.plan.planner import import_object

__all__ = ["RecordSchema"]


class RecordSchema:
    """A compiled `output.schema`."""

    def __init__(self, schema: Mapping[str, Any] | type[BaseModel]) -> None:
        self.model: type[BaseModel] | None = None
        self.json_schema: dict[str, Any] | None = None
        if isinstance(schema, type):
            self.model = schema
        else:
            self.json_schema = dict(schema)
            cls = jsonschema.validators.validator_for(self.json_schema)
            self._validator = cls(self.json_schema)

    @classmethod
    def load(cls, spec: Mapping[str, Any] | str, *, where: str = "output.schema") -> RecordSchema:
        """From a JSON Schema or an import path; an unusable one is a `PlanError` naming `where`."""
        if isinstance(spec, str):
            try:
                obj = import_object(spec)
            except (ImportError, AttributeError, ValueError) as exc:
                raise PlanError(f"cannot import '{spec}': {exc}", field=where) from None
            if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
                raise PlanError(
                    f"'{spec}' is a {type(obj).__name__}, not a Pydantic model (a BaseModel subclass)",
                    field=where,
                )
            return cls(obj)
        try:
            jsonschema.validators.validator_for(spec).check_schema(spec)
        except jsonschema.SchemaError as exc:
            raise PlanError(f"not a valid JSON Schema: {exc.message}", field=where) from None
        return cls(spec)

    # ---- per record -----------------------------------------------------------------------------
    def problem(self, record: Mapping[str, Any]) -> str | None:
        """Why `record` is invalid, or None when it is valid."""
        if self.model is not None:
            try:
                self.model.model_validate(record)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                return f"{where + ': ' if where else ''}{first['msg']}{more}"
            return None
        if self._validator.is_valid(record):
            return None
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(record))
        where = ".".join(str(p) for p in error.absolute_path)
        return f"{where + ': ' if where else ''}{error.message}"

    # ---- before the run -------------------------------------------------------------------------
    def static_problems(self, keys: Collection[str] | None, constants: Mapping[str, Any]) -> list[str]:
        """Why no record could pass, given the keys every record has (None when they are not known
        before the run) and the fields whose value is a constant."""
        if self.model is not None:
            return self._model_problems(keys)
        schema = self.json_schema or {}
        problems: list[str] = []
        kind = schema.get("type")
        kinds = [kind] if isinstance(kind, str) else list(kind or [])
        if kinds and "object" not in kinds:
            problems.append(f"the schema is for a {' or '.join(kinds)}, but a record is an object")
            return problems
        found = schema.get("properties")
        properties: dict[str, Any] = found if isinstance(found, dict) else {}
        if keys is not None:
            missing = [k for k in schema.get("required", []) if k not in keys]
            if missing:
                problems.append(
                    f"the schema requires {_names(missing)}, which no record has "
                    f"(records have {_names(keys)})"
                )
            if schema.get("additionalProperties") is False and not schema.get("patternProperties"):
                extra = [k for k in keys if k not in properties]
                if extra:
                    problems.append(
                        f"the schema allows no property {_names(extra)} (additionalProperties: false)"
                    )
        for key, value in constants.items():
            sub = properties.get(key)
            if isinstance(sub, dict) and b"$ref" not in orjson.dumps(sub):
                validator = jsonschema.validators.validator_for(sub)(sub)
                if not validator.is_valid(value):
                    message = jsonschema.exceptions.best_match(validator.iter_errors(value)).message
                    problems.append(f"the constant value of '{key}' breaks the schema: {message}")
        return problems

    def _model_problems(self, keys: Collection[str] | None) -> list[str]:
        assert self.model is not None
        if keys is None:
            return []
        accepted: dict[str, str] = {}
        required: list[str] = []
        for name, info in self.model.model_fields.items():
            key = info.validation_alias if isinstance(info.validation_alias, str) else (info.alias or name)
            accepted[key] = name
            accepted.setdefault(name, name)
            if info.is_required():
                required.append(key)
        problems = []
        missing = [k for k in required if k not in keys and accepted.get(k, k) not in keys]
        if missing:
            problems.append(
                f"{self.model.__name__} requires {_names(missing)}, which no record has "
                f"(records have {_names(keys)})"
            )
        if self.model.model_config.get("extra") == "forbid":
            extra = [k for k in keys if k not in accepted]
            if extra:
                problems.append(
                    f"{self.model.__name__} forbids extra fields and records have {_names(extra)}"
                )
        return problems


def _names(names: Collection[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) or "no fields"
