"""The typed builder as a type checker sees it (mypy over a user's script: tens of seconds, so not in
the unit tier)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_type_checker_catches_a_misspelt_keyword(tmp_path: Path) -> None:
    """The typed methods are what mypy sees: a good call checks, a typo in a keyword or a sampler kind
    is an error (it used to pass as `**fields: Any`)."""
    # Module names of their own: the project's mypy cache is keyed by module, and a cached `bad` of an
    # earlier run would be replayed with that run's path.
    suffix = uuid.uuid4().hex[:12]
    good = tmp_path / f"good_{suffix}.py"
    good.write_text(
        textwrap.dedent(
            """
            import synthloom
            synthloom.DatasetBuilder("x").sampler("s", "category", values=[1]).llm_text(
                "t", model="w", prompt="p", system_prompt="s"
            ).build()
            """
        )
    )
    bad = tmp_path / f"bad_{suffix}.py"
    bad.write_text(
        textwrap.dedent(
            """
            import synthloom
            synthloom.DatasetBuilder("x").llm_text("t", model="w", promt="p")
            synthloom.DatasetBuilder("x").sampler("s", "categroy")
            """
        )
    )

    # One run over both files, sharing the project's mypy cache (warm after `mypy src/synthloom`).
    command = [sys.executable, "-m", "mypy", str(good), str(bad)]
    found = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    errors = [line for line in found.stdout.splitlines() if ": error:" in line]
    assert all(line.startswith(str(bad)) for line in errors), found.stdout
    assert any(f"{bad}:3:" in e and 'Unexpected keyword argument "promt"' in e for e in errors), errors
    assert any(f"{bad}:4:" in e and "categroy" in e for e in errors), errors
    assert len(errors) == 2
