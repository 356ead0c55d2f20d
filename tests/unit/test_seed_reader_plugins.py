"""Seed-reader plugins: the built-in `markdown-sections` reader (found through its entry point), a
file that makes a reader raise listed in `seed_report.json` while the run goes on, and bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.interface.cli import cli
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.markdown_sections import MarkdownSections
from synthloom.seeds.reader import SeedReader
from synthloom.seeds.reader_plugins import SeedReaderPlugin, SeedReaderRegistry, seed_readers

GUIDE = """Intro text before any heading.

# Guide

Welcome.

## Install

Run pip.

```bash
# not a heading
pip install x
```

### Details

Deep detail.

## Use

Call it.
"""


def reader(base: Path, **seed: Any) -> SeedReader:
    return SeedReader(SeedConfig.model_validate(seed), base_dir=base, run_seed=1)


def all_rows(r: SeedReader) -> list[dict[str, Any]]:
    values = r.rows_for(RowGroupSlice(index=0, start=0, size=len(r), run_seed=1))
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]


def test_the_builtin_reader_is_published_through_the_entry_point() -> None:
    [entry] = [e for e in entry_points(group="synthloom.seed_readers") if e.name == "markdown-sections"]
    assert entry.load() is MarkdownSections
    assert isinstance(seed_readers().get("markdown-sections"), MarkdownSections)


def test_markdown_sections_fans_a_file_out_into_sections(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(GUIDE)
    rows = all_rows(reader(tmp_path, reader="markdown-sections", files="docs/*.md", options={"level": 2}))
    assert [(r["title"], r["path"]) for r in rows] == [
        ("guide", "guide"),
        ("Guide", "Guide"),
        ("Install", "Guide > Install"),
        ("Use", "Guide > Use"),
    ]
    install = rows[2]["text"]
    assert "# not a heading" in install and "### Details" in install and "Deep detail." in install
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    deeper = all_rows(reader(tmp_path, reader="markdown-sections", files="docs/*.md", options={"level": 3}))
    assert [r["path"] for r in deeper][-2:] == ["Guide > Install > Details", "Guide > Use"]


class Fussy(SeedReaderPlugin):
    """Raises on files whose name says so."""

    name = "fussy"

    def read_file(self, path: Path, options: Any) -> Iterator[dict[str, Any]]:
        if "bad" in path.name:
            raise ValueError("cannot parse this one")
        yield {"name": path.stem}


def test_a_file_a_reader_raises_on_is_listed_in_the_seed_report_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = SeedReaderRegistry(discover=False)
    registry.register(Fussy)
    monkeypatch.setattr("synthloom.seeds.reader_plugins._default", registry)
    for name in ("a.txt", "bad.txt", "c.txt"):
        (tmp_path / name).write_text("x")
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: fussy\nseed: {reader: fussy, files: '*.txt'}\n"
        "columns:\n  - {name: echo, type: expression, expr: '{{ name }}'}\n"
    )
    out = CliRunner().invoke(
        cli, ["create", str(config), "-n", "4", "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads((tmp_path / "out" / "fussy" / "seed_report.json").read_text())
    assert report["files_read"] == 2 and report["files_skipped"] == 1
    assert report["skipped"][0]["path"].endswith("bad.txt")
    assert "cannot parse this one" in report["skipped"][0]["error"]


@pytest.mark.parametrize(
    ("seed", "field", "message"),
    [
        ({"reader": "markdown-section", "files": "*.md"}, "seed.reader", "did you mean 'markdown-sections'"),
        ({"reader": "markdown-sections", "files": "*.md", "options": {"levle": 2}}, "seed.options", "levle"),
        ({"reader": "markdown-sections"}, "seed.files", "give 'files'"),
        ({"reader": "markdown-sections", "files": "nothing/*.md"}, "seed.files", "no file matches"),
    ],
)
def test_bad_reader_entries_name_the_field(
    tmp_path: Path, seed: dict[str, Any], field: str, message: str
) -> None:
    (tmp_path / "a.md").write_text("# A\ntext\n")
    with pytest.raises(SeedDataError) as caught:
        reader(tmp_path, **seed)
    assert caught.value.field == field and message in str(caught.value)


def test_files_and_options_belong_to_a_reader_seed() -> None:
    with pytest.raises(ValueError, match="'files' applies only to a 'reader' seed"):
        SeedConfig.model_validate({"path": "x.jsonl", "files": "*.md"})


def test_a_reader_config_error_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "seed: {reader: markdown-sections, files: '*.md', options: {level: 9}}\n"
        "columns:\n  - {name: e, type: expression, expr: '{{ title }}'}\n"
    )
    (tmp_path / "a.md").write_text("# A\ntext\n")
    out = CliRunner().invoke(cli, ["validate", str(config)])
    assert out.exit_code == 2
    assert "seed.options" in out.output and "level" in out.output
