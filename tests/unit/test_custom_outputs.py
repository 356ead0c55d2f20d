"""A custom function writing several columns at once (`outputs: [a, b, c]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.interface.cli import cli

HERE = "tests.unit.test_custom_outputs"


def split_name(row: dict[str, Any]) -> dict[str, Any]:
    first, last = str(row["full"]).split(" ", 1)
    return {"first": first, "last": last, "initials": first[0] + last[0]}


def half(row: dict[str, Any]) -> dict[str, Any]:
    return {"first": "only"}


def config(function: str, **column: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "columns": [
                {
                    "name": "full",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["Ada Lovelace"]},
                },
                {
                    "name": "parts",
                    "type": "custom",
                    "function": f"{HERE}:{function}",
                    "inputs": ["full"],
                    **column,
                },
                {"name": "greeting", "type": "expression", "expr": "Dear {{ first }} ({{ initials }})"},
            ]
        }
    )


def test_each_named_key_becomes_a_column_later_columns_can_read() -> None:
    result = synthloom.preview(config("split_name", outputs=["first", "last", "initials"], drop=True), 2)
    rows = list(result)
    assert rows[0] == {
        "full": "Ada Lovelace",
        "first": "Ada",
        "last": "Lovelace",
        "initials": "AL",
        "greeting": "Dear Ada (AL)",
    }


def test_a_missing_key_fails_the_row_naming_it() -> None:
    result = synthloom.preview(config("half", outputs=["first", "initials"]), 1)
    assert len(result) == 0
    assert "has no 'initials'" in result.failures[0]["error"]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"outputs": ["a", "a"]}, "names a twice"),
        ({"outputs": ["parts"]}, "cannot name the column itself"),
        ({"outputs": ["a"], "mode": "batch"}, "is for 'mode: cell'"),
    ],
)
def test_bad_outputs_exit_2(tmp_path: Path, column: dict[str, Any], message: str) -> None:
    import yaml

    data = config("split_name").to_dict()
    data["columns"][1].update(column)
    data["columns"] = data["columns"][:2]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 2 and message in out.output, out.output
