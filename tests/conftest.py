"""Every test gets a response cache of its own: a preview or a run never answers from another test's
replies (the default would be `./output/.cache/` in the working directory, shared by all)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_response_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLOOM_CACHE", str(tmp_path / "response-cache.sqlite3"))
