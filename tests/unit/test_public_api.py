"""The public surface: `synthloom.__all__` is exactly what the package exports, and the error tree."""

from __future__ import annotations

import inspect
import re
import types

import pytest

import synthloom
from synthloom import errors
from synthloom.errors import ConfigError, PlanError, SeedDataError


def test_every_name_in_all_is_importable() -> None:
    for name in synthloom.__all__:
        assert hasattr(synthloom, name), name
    namespace: dict[str, object] = {}
    exec("from synthloom import *", namespace)
    assert set(synthloom.__all__) <= set(namespace)


def test_all_has_no_duplicates_and_is_sorted() -> None:
    assert len(synthloom.__all__) == len(set(synthloom.__all__))
    assert synthloom.__all__ == sorted(synthloom.__all__)


def test_every_public_attribute_is_in_all() -> None:
    public = {
        name
        for name, value in vars(synthloom).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(synthloom.__all__) - {"__version__"}


def test_the_documented_entry_points_are_exported() -> None:
    for name in (
        "load_config",
        "validate",
        "preview",
        "create",
        "open_run",
        "DatasetBuilder",
        "DatasetResult",
        "register_column_type",
        "ColumnType",
        "ConfigError",
        "SynthloomError",
        "__version__",
    ):
        assert name in synthloom.__all__, name
    assert isinstance(synthloom.__version__, str)


def test_errors_all_is_exactly_the_exception_classes() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == errors.__name__
    }
    assert set(errors.__all__) == classes


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_derives_from_synthloom_error(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.SynthloomError)
    assert issubclass(cls, Exception)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_drawn_in_the_module_docstring(name: str) -> None:
    assert re.search(rf"(^|[─ ]){name}\s", errors.__doc__ or "", re.MULTILINE), name


def test_error_tree_matches_the_documented_hierarchy() -> None:
    e = errors
    expected_parents = {
        e.ConfigError: e.SynthloomError,
        e.PlanError: e.ConfigError,
        e.SeedDataError: e.ConfigError,
        e.ModelError: e.SynthloomError,
        e.ModelHTTPError: e.ModelError,
        e.RateLimitError: e.ModelHTTPError,
        e.ServerError: e.ModelHTTPError,
        e.RequestRejectedError: e.ModelHTTPError,
        e.ModelTimeoutError: e.ModelError,
        e.ModelConnectionError: e.ModelError,
        e.MalformedResponseError: e.ModelError,
        e.ParseError: e.ModelError,
        e.LocalModelError: e.ModelError,
        e.ServingError: e.ModelError,
        e.BatchRequestError: e.ModelError,
        e.GenerationError: e.SynthloomError,
        e.CellFailedError: e.GenerationError,
        e.EarlyShutdownError: e.GenerationError,
        e.BudgetExceededError: e.GenerationError,
        e.ValidatorError: e.GenerationError,
        e.ToolError: e.GenerationError,
        e.MediaError: e.GenerationError,
        e.RunStateError: e.SynthloomError,
        e.OutputError: e.SynthloomError,
    }
    for cls, parent in expected_parents.items():
        assert cls.__bases__ == (parent,), cls
    assert set(expected_parents) | {e.SynthloomError} == {getattr(e, n) for n in e.__all__}


def test_user_errors_are_not_run_time_errors() -> None:
    for cls in (errors.ConfigError, errors.PlanError, errors.SeedDataError):
        assert not issubclass(cls, errors.ModelError | errors.GenerationError | errors.RunStateError)


def test_config_error_renders_file_line_model_column_field_and_reason() -> None:
    err = ConfigError("reason", source="file.yaml", line=12, model="m", column="c", field="f")
    assert str(err) == "file.yaml:12, model 'm', column 'c', field 'f': reason"
    assert (err.reason, err.source, err.line, err.model, err.column, err.field) == (
        "reason",
        "file.yaml",
        12,
        "m",
        "c",
        "f",
    )


@pytest.mark.parametrize(
    ("kwargs", "rendered"),
    [
        ({}, "reason"),
        ({"source": "a.yaml"}, "a.yaml: reason"),
        ({"source": "a.yaml", "line": 3}, "a.yaml:3: reason"),
        ({"line": 3, "column": "c"}, "column 'c': reason"),
        ({"column": "c", "field": "prompt"}, "column 'c', field 'prompt': reason"),
        ({"model": "m", "field": "timeout"}, "model 'm', field 'timeout': reason"),
    ],
)
def test_config_error_renders_only_what_it_knows(kwargs: dict[str, object], rendered: str) -> None:
    assert str(ConfigError("reason", **kwargs)) == rendered  # type: ignore[arg-type]


def test_with_source_fills_a_missing_source_only() -> None:
    err = PlanError("unknown column 'x'", column="c", field="expr").with_source("d.yaml")
    assert str(err) == "d.yaml, column 'c', field 'expr': unknown column 'x'"
    assert isinstance(err, PlanError)
    kept = SeedDataError("empty", source="seed.jsonl").with_source("d.yaml")
    assert str(kept) == "seed.jsonl: empty"


def test_http_errors_keep_status_headers_and_body() -> None:
    err = errors.RateLimitError(
        "slow down", retry_after=2.5, status_code=429, headers={"Retry-After": "2.5"}, body="{}"
    )
    assert (err.status_code, err.headers, err.body, err.retry_after) == (
        429,
        {"Retry-After": "2.5"},
        "{}",
        2.5,
    )
    assert err.retryable
    assert errors.ServerError("x", status_code=503).retryable
    assert not errors.RequestRejectedError("x", status_code=401).retryable
    assert not errors.ParseError("x").retryable


def test_every_exported_config_class_is_documented_in_the_readme() -> None:
    from pathlib import Path

    from pydantic import BaseModel

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    configs = [
        name
        for name in synthloom.__all__
        if inspect.isclass(value := getattr(synthloom, name))
        and issubclass(value, BaseModel)
        and value.__module__.startswith(("synthloom.columns.", "synthloom.tools."))
    ]
    assert len(configs) >= 30
    missing = [name for name in configs if f"`{name}`" not in readme]
    assert not missing, missing
