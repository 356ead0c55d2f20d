"""Hostile text on the console: escape sequences and rich markup in seed values, in a failing cell's
error and in log lines are printed as data. Nothing reaches the terminal as a command (window title,
OSC 52 clipboard write, clear screen, hyperlink), and a stray `[/x]` does not crash `preview`."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from synthloom.interface.cli import _configure_logging, cli
from synthloom.terminal_text import plain, printable

TITLE = "\x1b]0;pwned\x07"
CLIPBOARD = "\x1b]52;c;ZWNobyBoYWNrZWQ=\x07"
CLEAR = "\x1b[2J\x1b[H"
LINK = "[link=https://attacker.example]click me[/link]"
CLOSE = "[/x]"
BIDI = "safe\u202etxt.exe"
HOSTILE = [TITLE + "title", CLIPBOARD + "clip", CLEAR + "clear", LINK, CLOSE, BIDI, "carriage\rreturn"]

#: What a terminal would act on: ESC, BEL, CR, C1 controls, bidi overrides, or an OSC 8 hyperlink.
_ACTIVE = re.compile("[\x1b\x07\r\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def _project(folder: Path, *, failing: bool = False) -> Path:
    (folder / "seed.jsonl").write_text("".join(json.dumps({"text": v}) + "\n" for v in HOSTILE))
    (folder / "hostile_helpers.py").write_text(
        "def boom(row):\n    raise ValueError('upstream said: ' + row['text'] + ' [red]bold[/red]')\n"
    )
    columns: list[dict[str, object]] = [{"name": "echo", "type": "expression", "expr": "{{ text }}"}]
    if failing:
        columns.append(
            {"name": "boom", "type": "custom", "function": "hostile_helpers:boom", "inputs": ["text"]}
        )
    config = {
        "name": "hostile",
        "seed": {"path": "seed.jsonl", "sampling": "ordered"},
        "columns": columns,
        "run": {"buffer_size": len(HOSTILE), "max_failure_rate": 0.5},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _invoke(*args: str) -> tuple[int, str, str]:
    # FORCE_COLOR makes rich render as to a terminal (styles, hyperlinks), as a user would see it.
    result = CliRunner().invoke(cli, list(args), env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_preview_prints_hostile_seed_values_as_data(tmp_path: Path) -> None:
    code, out, err = _invoke("preview", str(_project(tmp_path)), "-n", str(len(HOSTILE)))
    assert code == 0, err
    plain_out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # rich's own colour codes are fine
    assert not _ACTIVE.search(plain_out), repr(plain_out[:2000])
    assert "\x1b]8;" not in out  # no hyperlink was made
    for shown in ("\\x1b]0;pwned\\x07title", "\\x1b]52;c;ZWNobyBoYWNrZWQ=\\x07clip", "\\x1b[2J", LINK, CLOSE):
        assert shown in plain_out
    assert "safe\\u202etxt.exe" in plain_out and "carriage\\x0dreturn" in plain_out


def test_a_failing_cells_error_is_printed_as_data_by_preview_and_create(tmp_path: Path) -> None:
    config = str(_project(tmp_path, failing=True))
    code, _, err = _invoke("preview", config, "-n", "3")
    assert "record(s) failed" in err and "upstream said: \\x1b]0;pwned\\x07title [red]bold[/red]" in err
    assert not _ACTIVE.search(err), repr(err)
    code, _, err = _invoke(
        "create", config, "-n", str(len(HOSTILE)), "-o", str(tmp_path / "out"), "--no-progress"
    )
    assert code == 1 and err.startswith("Error: ")
    assert "upstream said:" in err
    assert not _ACTIVE.search(err), repr(err)


def test_log_lines_escape_what_they_quote(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    _configure_logging(verbose=False)
    try:
        logging.getLogger("synthloom.seeds").warning(
            "seed docs: skipped %s: a dangling link", TITLE + "h.txt"
        )
    finally:
        for handler in root.handlers:
            handler.close()
    err = capsys.readouterr().err
    assert "skipped \\x1b]0;pwned\\x07h.txt: a dangling link" in err
    assert not _ACTIVE.search(err)


def test_printable_keeps_text_newlines_and_tabs_and_plain_is_never_markup() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("\x00\x1b\x7f\x9b\u2066") == "\\x00\\x1b\\x7f\\x9b\\u2066"
    text = plain(LINK + CLOSE)
    assert text.plain == LINK + CLOSE and not text.spans
