"""A new user's first minutes: a fresh clone, the README's quick start command exactly as written.

Needs network access to PyPI for the fresh virtualenv and takes minutes: skipped unless
SYNTHLOOM_SLOW_TESTS=1.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def quick_start_commands(readme: str) -> list[str]:
    """The command lines of the first ```bash block under '## Quick start', comments stripped."""
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "no bash block under '## Quick start'"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_quick_start_commands_are_the_demo_then_the_tests() -> None:
    commands = quick_start_commands((REPO / "README.md").read_text())
    assert len(commands) == 2 and "demo" in commands[0] and "test" in commands[1]


@pytest.mark.slow
@pytest.mark.llama
@pytest.mark.skipif(os.environ.get("SYNTHLOOM_SLOW_TESTS") != "1", reason="set SYNTHLOOM_SLOW_TESTS=1")
def test_fresh_clone_runs_the_quick_start_demo(tmp_path: Path) -> None:
    clone = tmp_path / "synthloom"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    commands = quick_start_commands((clone / "README.md").read_text())
    demo = commands[0]  # the second runs the test suite itself: not recursed into
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["RECORDS"] = "3"
    result = subprocess.run(
        shlex.split(demo), cwd=clone, env=env, capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = clone / "output" / "quickstart"
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "completed", meta
    assert meta["target_records"] == 3
    assert list((run / "data").glob("part-*.parquet"))
    assert (run / "usage.json").exists() and (run / "config.yaml").exists()
