"""Python functions as tools: JSON Schema from type hints and docstrings, classes and modules of
functions, argument checking, and what a `tools:` entry gets wrong (a ConfigError naming the column
and the field)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import ConfigError
from synthloom.tools import ToolArgumentsError, function_signature, python_tools
from synthloom.tools.config import ToolSource
from synthloom.tools.signature_schema import parse_docstring

HERE = "tests.unit.test_tools_schema"

# -- tools named by import path in these tests --------------------------------------------------------


class Point(BaseModel):
    x: float
    y: float
    title: str = "origin"


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def everything(
    city: str,
    unit: Literal["c", "f"] = "c",
    days: list[int] | None = None,
    near: Optional[Point] = None,  # noqa: UP045 - the spelling under test
    colour: Colour = Colour.RED,
    *,
    _cache: int = 0,
) -> str:
    """Today's weather in a city.

    Args:
        city: The city's name.
        unit: Celsius or
            Fahrenheit.
        days: Which days ahead.
    """
    return city


def numpy_style(a: int, b: int = 2) -> int:
    """Add two numbers.

    Parameters
    ----------
    a : int
        The first.
    b : int
        The second.

    Returns
    -------
    int
    """
    return a + b


def sphinx_style(a: int, b: int) -> int:
    """Multiply.

    :param a: The first.
    :param int b: The second.
    :returns: the product
    """
    return a * b


def with_kwargs(name: str, **options: Any) -> dict[str, Any]:
    """Echo."""
    return {"name": name, **options}


class Counter:
    """A tool class: one instance per run, its public methods are the tools."""

    built = 0

    def __init__(self) -> None:
        Counter.built += 1
        self.count = 0

    def bump(self, by: int = 1) -> int:
        """Add to the count."""
        self.count += by
        return self.count

    @staticmethod
    def double(n: int) -> int:
        """Twice n."""
        return 2 * n

    def _private(self) -> None:
        raise AssertionError("not a tool")


class NeedsArguments:
    def __init__(self, key: str) -> None:
        self.key = key

    def call(self) -> str:
        return self.key


NOT_CALLABLE = 42


# -- schema ---------------------------------------------------------------------------------------


def test_schema_from_type_hints_covers_optional_lists_literal_enums_defaults_and_models() -> None:
    signature = function_signature(everything)
    assert signature.description == "Today's weather in a city."
    params = signature.parameters
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    assert params["additionalProperties"] is False
    props = params["properties"]
    assert list(props) == ["city", "unit", "days", "near", "colour"]  # `_cache` is private
    assert props["city"] == {"type": "string", "description": "The city's name."}
    assert props["unit"] == {
        "type": "string",
        "enum": ["c", "f"],
        "default": "c",
        "description": "Celsius or Fahrenheit.",
    }
    assert props["days"] == {
        "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
        "default": None,
        "description": "Which days ahead.",
    }
    assert props["near"] == {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}], "default": None}
    # pydantic's titles are dropped, but a property named `title` is kept.
    assert params["$defs"]["Point"]["properties"]["title"] == {"type": "string", "default": "origin"}
    assert "title" not in params["$defs"]["Point"]
    assert params["$defs"]["Colour"]["enum"] == ["red", "blue"]


def test_docstrings_in_numpy_and_sphinx_styles_describe_parameters() -> None:
    numpy = function_signature(numpy_style)
    assert numpy.description == "Add two numbers."
    assert numpy.parameters["properties"]["a"]["description"] == "The first."
    assert numpy.parameters["properties"]["b"] == {
        "type": "integer",
        "default": 2,
        "description": "The second.",
    }
    sphinx = function_signature(sphinx_style)
    assert sphinx.description == "Multiply."
    assert {k: v["description"] for k, v in sphinx.parameters["properties"].items()} == {
        "a": "The first.",
        "b": "The second.",
    }


def test_parse_docstring_keeps_a_multi_paragraph_summary_and_stops_at_sections() -> None:
    summary, params = parse_docstring("First line.\n\nMore detail.\n\nReturns:\n    nothing\n")
    assert summary == "First line.\n\nMore detail."
    assert params == {}


def test_arguments_are_checked_and_converted_before_the_call() -> None:
    [tool] = python_tools(ToolSource(function=f"{HERE}:everything"), field="tools[0]", default_timeout=5)
    kwargs = tool.bind({"city": "Oslo", "days": ["1", 2], "near": {"x": 1, "y": 2}})
    assert kwargs["days"] == [1, 2]
    assert kwargs["near"] == Point(x=1, y=2)
    with pytest.raises(
        ToolArgumentsError, match=r"invalid arguments for 'everything': unit: Input should be"
    ):
        tool.bind({"city": "Oslo", "unit": "kelvin"})
    with pytest.raises(ToolArgumentsError, match=r"city: Field required.*colur: Extra inputs"):
        tool.bind({"colur": "red"})


def test_var_keyword_parameters_accept_extra_arguments() -> None:
    [tool] = python_tools(ToolSource(function=f"{HERE}:with_kwargs"), field="tools[0]", default_timeout=5)
    assert tool.spec.parameters["additionalProperties"] is True
    assert tool.bind({"name": "a", "colour": "red"}) == {"name": "a", "colour": "red"}


async def test_a_class_offers_its_public_methods_on_one_instance_built_on_first_call() -> None:
    Counter.built = 0
    source = ToolSource(function=f"{HERE}:Counter", prefix="c_", timeout=3)
    tools = {t.spec.name: t for t in python_tools(source, field="tools[0]", default_timeout=5)}
    assert set(tools) == {"c_bump", "c_double"}
    assert tools["c_bump"].spec.parameters["properties"] == {
        "by": {"type": "integer", "default": 1}
    }  # no `self`
    assert tools["c_bump"].spec.description == "Add to the count."
    assert tools["c_bump"].timeout == 3
    assert Counter.built == 0  # not at validation
    assert await tools["c_bump"].call({}) == 1
    assert await tools["c_bump"].call({"by": 2}) == 3  # the same instance
    assert await tools["c_double"].call({"n": 4}) == 8
    assert Counter.built == 1


def test_a_module_offers_its_all_or_its_own_public_functions(tmp_path: Path) -> None:
    (tmp_path / "maths_tools.py").write_text(
        "from os.path import join\n\n"
        "def add(a: int, b: int) -> int:\n    'Add.'\n    return a + b\n\n"
        "def sub(a: int, b: int) -> int:\n    'Subtract.'\n    return a - b\n\n"
        "def _hidden() -> None: ...\n"
    )
    (tmp_path / "listed_tools.py").write_text(
        "__all__ = ['one']\n\ndef one() -> int:\n    return 1\n\ndef two() -> int:\n    return 2\n"
    )
    tools = python_tools(ToolSource(module="maths_tools"), field="t", default_timeout=1, base_dir=tmp_path)
    assert [t.spec.name for t in tools] == ["add", "sub"]  # not the imported `join`, nor `_hidden`
    only = python_tools(
        ToolSource(module="maths_tools", exclude=["add"]), field="t", default_timeout=1, base_dir=tmp_path
    )
    assert [t.spec.name for t in only] == ["sub"]
    listed = python_tools(ToolSource(module="listed_tools"), field="t", default_timeout=1, base_dir=tmp_path)
    assert [t.spec.name for t in listed] == ["one"]
    sys.modules.pop("maths_tools", None)
    sys.modules.pop("listed_tools", None)


# -- mistakes in `tools:` -------------------------------------------------------------------------


def _config(tools: list[dict[str, Any]], **column: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "models": [
                {"alias": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "x"}
            ],
            "columns": [
                {"name": "answer", "type": "llm-text", "model": "m", "prompt": "Hi", "tools": tools, **column}
            ],
        }
    )


@pytest.mark.parametrize(
    ("tools", "field", "message"),
    [
        (
            [{"function": f"{HERE}:everything"}, {"function": f"{HERE}:no_such_function"}],
            "tools[1].function",
            "has no attribute 'no_such_function'",
        ),
        ([{"function": "no_such_package.tools:search"}], "tools[0].function", "No module named"),
        ([{"function": f"{HERE}:NOT_CALLABLE"}], "tools[0].function", "is an int, not a callable"),
        ([{"module": "no_such_package.tools"}], "tools[0].module", "cannot import module"),
        ([{"function": f"{HERE}:NeedsArguments"}], "tools[0].function", "requires key"),
        ([{"function": f"{HERE}:Counter", "include": ["bmp"]}], "tools[0].include", "no tool named 'bmp'"),
        (
            [{"function": f"{HERE}:numpy_style"}, {"function": f"{HERE}:numpy_style"}],
            "tools[1]",
            "already offered by tools[0]",
        ),
        ([{"mcp": {"command": ["no-such-mcp-server-binary"]}}], "tools[0].mcp.command", "is not found"),
        (
            [{"mcp": {"command": [sys.executable], "env": {"KEY": "${SYNTHLOOM_TEST_UNSET_VARIABLE}"}}}],
            "tools[0].mcp.env.KEY",
            "'SYNTHLOOM_TEST_UNSET_VARIABLE', which is not set",
        ),
        (
            [
                {
                    "mcp": {
                        "url": "http://127.0.0.1:9/mcp",
                        "headers": {"X-Key": "${SYNTHLOOM_TEST_UNSET_VARIABLE}"},
                    }
                }
            ],
            "tools[0].mcp.headers.X-Key",
            "'SYNTHLOOM_TEST_UNSET_VARIABLE', which is not set",
        ),
        (
            [{"mcp": {"url": "http://127.0.0.1:9/mcp?key=${SYNTHLOOM_TEST_UNSET_VARIABLE}"}}],
            "tools[0].mcp.url",
            "'SYNTHLOOM_TEST_UNSET_VARIABLE', which is not set",
        ),
    ],
)
def test_a_wrong_tool_entry_is_a_config_error_naming_column_and_field(
    tools: list[dict[str, Any]], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        synthloom.validate(_config(tools))
    assert caught.value.column == "answer"
    assert caught.value.field == field
    assert message in str(caught.value)


def test_more_python_tools_than_max_tools_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        synthloom.validate(_config([{"function": f"{HERE}:Counter"}], max_tools=1))
    assert caught.value.field == "max_tools" and "more than max_tools (1)" in str(caught.value)


def test_native_tool_mode_on_a_provider_without_tools_is_a_config_error() -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [{"alias": "m", "provider": "local"}],
            "columns": [
                {
                    "name": "answer",
                    "type": "llm-text",
                    "model": "m",
                    "prompt": "Hi",
                    "tools": [{"function": f"{HERE}:numpy_style"}],
                    "tool_mode": "native",
                }
            ],
        }
    )
    with pytest.raises(ConfigError, match="provider 'local' of model 'm' has no native tool calls") as caught:
        synthloom.validate(config)
    assert caught.value.field == "tool_mode"


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"max_tool_calls": 3}, "'max_tool_calls' is only used with 'tools'"),
        ({"tools": [{"function": "a:b", "module": "c"}]}, "exactly one of 'function', 'module' or 'mcp'"),
        ({"tools": [{"mcp": {"command": ["x"], "url": "http://h/mcp"}}]}, "exactly one of 'command'"),
        ({"tools": [{"mcp": {"url": "ftp://h/mcp"}}]}, "must start with http"),
        ({"tools": [{"mcp": {"url": "http://h/mcp", "env": {"A": "b"}}}]}, "'env' is only for a server"),
        ({"tools": [{"function": "not a path"}]}, "is not an import path"),
        ({"tools": [{"function": "a:b"}], "trajectory": "value", "type": "llm-code"}, "only for llm-text"),
    ],
)
def test_tool_options_are_checked_when_the_config_loads(column: dict[str, Any], message: str) -> None:
    entry = {"name": "answer", "type": "llm-text", "model": "m", "prompt": "Hi", **column}
    with pytest.raises(ConfigError, match=message):
        synthloom.config.loader.parse_config(
            __import__("yaml").safe_dump(
                {"models": [{"alias": "m", "provider": "local"}], "columns": [entry]}
            )
        )


def test_validate_cli_exits_2_for_an_unknown_tool_import_path(tmp_path: Path) -> None:
    from synthloom.interface.cli import cli

    path = tmp_path / "config.yaml"
    path.write_text(
        "models: [{alias: m, provider: local}]\n"
        "columns:\n"
        "  - {name: answer, type: llm-text, model: m, prompt: Hi,\n"
        "     tools: [{function: 'nowhere_pkg:search'}]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "column 'answer'" in result.output and "tools[0].function" in result.output
    assert "Traceback" not in result.output


def test_a_trajectory_side_column_is_planned_with_tools() -> None:
    plan = synthloom.validate(_config([{"function": f"{HERE}:numpy_style"}]))
    assert plan.output_columns == ["answer", "answer__trajectory"]
    plan = synthloom.validate(_config([{"function": f"{HERE}:numpy_style"}], trajectory="value"))
    assert plan.output_columns == ["answer"]
