"""Validation columns: check other columns' values; the value is `{is_valid, errors, <target>: details}`.

Generated code is parsed and linted, never executed. CPU work runs off the event loop.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import re
import shutil
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from synthloom.columns.validation.config import ValidationColumn
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generator import CellGenerator, CellOutput
from synthloom.errors import MalformedResponseError, ValidatorError
from synthloom.models.http_session import read_bounded
from synthloom.models.structured_formats import parse_xml, parse_yaml
from synthloom.plan.planner import import_object

__all__ = ["ValidationGenerator", "check_document", "check_python", "check_sql"]

#: Ruff rules for generated code: syntax and the pyflakes errors that mean the code cannot work.
RUFF_RULES = "E9,F63,F7,F82,F401,F811,F841"
#: Bodies a remote validator may return; anything larger is refused rather than read.
MAX_REMOTE_BODY = 1 << 20


def _ruff_command() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        from ruff.__main__ import find_ruff_bin

        return [find_ruff_bin()]
    except Exception:
        return None


async def check_python(code: str, slots: asyncio.Semaphore | None = None) -> dict[str, Any]:
    """Parse `code` and lint it with ruff's error rules (when ruff is installed). `slots` bounds how many
    ruff processes run at once."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return {"is_valid": False, "errors": [f"line {exc.lineno}: SyntaxError: {exc.msg}"]}
    command = _ruff_command()
    if command is None:
        return {"is_valid": True, "errors": [], "linted": False}
    async with slots or contextlib.nullcontext():
        proc = await asyncio.create_subprocess_exec(
            *command,
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            RUFF_RULES,
            "--output-format",
            "json",
            "--stdin-filename",
            "generated.py",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(code.encode())
    try:
        findings = json.loads(out or b"[]")
    except ValueError:
        return {"is_valid": True, "errors": [], "linted": False, "lint_error": err.decode()[:500]}
    errors = [f"line {f['location']['row']}: {f['code']} {f['message']}" for f in findings]
    return {"is_valid": not errors, "errors": errors, "linted": True}


def check_sql(code: str, dialect: str | None) -> dict[str, Any]:
    try:
        import sqlglot
        from sqlglot.errors import ParseError
    except ImportError:  # pragma: no cover - an optional extra
        raise ValidatorError("the sql validator needs sqlglot: pip install 'synthloom[validators]'") from None
    try:
        statements = [s for s in sqlglot.parse(code, read=dialect) if s is not None]
    except ParseError as exc:
        return {"is_valid": False, "errors": [str(exc).splitlines()[0][:500]]}
    if not statements:
        return {"is_valid": False, "errors": ["no SQL statement"]}
    return {"is_valid": True, "errors": [], "statements": len(statements)}


_FENCED = re.compile(r"```[\w-]*\n(.*?)\n?```", re.DOTALL)


def check_json_schema(value: Any, schema: dict[str, Any]) -> dict[str, Any]:
    import jsonschema

    if isinstance(value, str):
        text = value.strip()
        fenced = _FENCED.fullmatch(text)  # a reply's one fenced block: its content is the document
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError as exc:
            return {"is_valid": False, "errors": [f"not JSON: {exc}"]}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(value)
    ]
    return {"is_valid": not errors, "errors": errors[:20]}


def check_document(value: Any, fmt: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """A YAML or XML text read safely (see `structured_formats`), then checked against `schema` if any.
    A value that is already parsed (an `llm-structured` column's) is checked against the schema only."""
    if isinstance(value, str):
        text = value.strip()
        fenced = _FENCED.fullmatch(text)
        try:
            body = fenced.group(1) if fenced else text
            value = parse_yaml(body) if fmt == "yaml" else parse_xml(body, schema)
        except ValueError as exc:
            return {"is_valid": False, "errors": [str(exc)[:500]]}
    if schema is None:
        return {"is_valid": True, "errors": []}
    return check_json_schema(value, schema) if not isinstance(value, str) else _string_against(value, schema)


def _string_against(value: str, schema: dict[str, Any]) -> dict[str, Any]:
    # A document whose value is a bare string: check it as a JSON string, not as JSON text.
    return check_json_schema({"__value__": value}, {"properties": {"__value__": schema}})


class ValidationGenerator(CellGenerator[ValidationColumn]):
    def __init__(self, config: ValidationColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._pattern = re.compile(config.pattern, re.DOTALL) if config.pattern else None
        # Two ruff processes at a time (one per core); a generator lives for one run, so one event loop.
        self._ruff_slots = asyncio.Semaphore(2)
        self._function: Callable[..., Any] | None = (
            import_object(config.function, base_dir=setup.config.source_dir)  # type: ignore[assignment]
            if config.function and config.validator == "callable"
            else None
        )

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput:
        values = {t: row.get(t) for t in self.config.targets}
        kind = self.config.validator
        if kind == "callable":
            return CellOutput(await self._call(values))
        if kind == "http":
            return CellOutput(await self._remote(values))
        details: dict[str, Any] = {}
        for target, value in values.items():
            details[target] = await self._check_one(value)
        errors = [f"{t}: {e}" for t, d in details.items() for e in d.get("errors", [])]
        return CellOutput(
            {"is_valid": all(d["is_valid"] for d in details.values()), "errors": errors, **details}
        )

    async def _check_one(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {"is_valid": False, "errors": ["no value (the cell was skipped)"]}
        try:
            return await self._check_value(value)
        except (RecursionError, MemoryError) as exc:
            # A model's reply may nest without end (`((((...`, `[[[[...`): the parsers give up with
            # these rather than a syntax error. It is a verdict on the value, not a failed cell.
            what = "recursion limit" if isinstance(exc, RecursionError) else "parser stack"
            return {"is_valid": False, "errors": [f"nested too deeply to check ({what} reached)"]}

    async def _check_value(self, value: Any) -> dict[str, Any]:
        kind = self.config.validator
        if kind == "python":
            return await check_python(str(value), self._ruff_slots)
        if kind == "sql":
            return await asyncio.to_thread(check_sql, str(value), self.config.dialect)
        if kind == "json-schema":
            assert self.config.json_schema is not None
            return check_json_schema(value, self.config.json_schema)
        if kind in ("yaml", "xml"):
            return check_document(value, kind, self.config.json_schema)
        assert self._pattern is not None
        ok = self._pattern.fullmatch(str(value)) is not None
        return {"is_valid": ok, "errors": [] if ok else [f"does not match /{self.config.pattern}/"]}

    async def _call(self, values: dict[str, Any]) -> dict[str, Any]:
        assert self._function is not None
        if inspect.iscoroutinefunction(self._function):
            result = await self._function(values)
        else:
            result = await asyncio.to_thread(self._function, values)
        return _as_verdict(result)

    async def _remote(self, values: dict[str, Any]) -> dict[str, Any]:
        """POST the values; every transport failure becomes a `ValidatorError` here, at the validator's
        boundary. The model layer's errors would make the engine wait out an "endpoint outage"."""
        assert self.config.url is not None
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.config.url, json={"values": values}) as response,
            ):
                body = await read_bounded(response, limit=MAX_REMOTE_BODY, what="remote validator")
                status = response.status
        except TimeoutError:
            raise ValidatorError(f"remote validator did not answer within {self.config.timeout:g}s") from None
        except MalformedResponseError as exc:  # the shared bounded reader refused the body
            raise ValidatorError(str(exc)) from None
        except aiohttp.ClientError as exc:
            raise ValidatorError(f"remote validator unreachable: {type(exc).__name__}: {exc}") from None
        if status >= 400:
            raise ValidatorError(f"remote validator answered HTTP {status}")
        try:
            verdict = json.loads(body)
        except ValueError:
            raise ValidatorError("remote validator did not answer JSON") from None
        return _as_verdict(verdict)


def _as_verdict(result: Any) -> dict[str, Any]:
    if isinstance(result, bool):
        return {"is_valid": result}
    if isinstance(result, Mapping) and "is_valid" in result:
        return {**result, "is_valid": bool(result["is_valid"])}
    raise ValidatorError(
        f"a validator must return a bool or a dict with 'is_valid', not {type(result).__name__}"
    )
