"""The browser tier: headless Chromium (Debian's `chromium` package) driving the report and the viewer.
Marked `browser`; run serially (`pytest tests/browser -m browser -p no:randomly`)."""

from __future__ import annotations

import pytest

from tests.browser.cdp import chromium_path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (Debian's chromium); run serially")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chromium_path() is not None:
        return
    skip = pytest.mark.skip(reason="chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
