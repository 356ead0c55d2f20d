"""Runs the example plugin's own tests (examples/plugin-shout/tests) as part of the main suite.

This installs nothing: with the plugin not installed, the tests skip with the command that installs it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

PLUGIN_TESTS = Path(__file__).resolve().parents[2] / "examples" / "plugin-shout" / "tests" / "test_shout.py"

try:
    importlib.metadata.distribution("synthloom-shout")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("pip install -e examples/plugin-shout", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("synthloom_shout_example_tests", PLUGIN_TESTS)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

# pytest collects every `test_*` function in this module's namespace: re-export the plugin's tests.
globals().update({name: value for name, value in vars(_module).items() if name.startswith("test_")})


def test_the_plugin_tests_were_found() -> None:
    assert sum(name.startswith("test_") for name in vars(_module)) >= 5
