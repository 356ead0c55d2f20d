"""Every example config in examples/ passes `synthloom.validate` (plan, templates, seed files)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import synthloom
from synthloom.config.pipeline import is_pipeline
from synthloom.interface.pipeline_run import validate_pipeline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A run directory shipped with an example (a stage-1 run that stage 2 reads) holds its resolved
# config.yaml: that is an output, not an example config.
CONFIGS = sorted(p for p in EXAMPLES.rglob("*.yaml") if not (p.parent / "metadata.json").exists())
PLUGIN_EXAMPLE = EXAMPLES / "plugin-shout" / "example.yaml"
#: Reads a ServiceNow instance: validated against a loopback Table API in test_servicenow_plugin.py.
SERVICE_EXAMPLE = EXAMPLES / "servicenow" / "example.yaml"


def _plugin_installed() -> bool:
    try:
        importlib.metadata.distribution("synthloom-shout")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_the_examples_are_found() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in CONFIGS}
    assert {
        "quickstart.yaml",
        "grounded-qa/config.yaml",
        "code-with-tests/config.yaml",
        "product-reviews/config.yaml",
        "plugin-shout/example.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_validates(path: Path) -> None:
    if path == PLUGIN_EXAMPLE and not _plugin_installed():
        pytest.skip("uses `type: shout`: pip install -e examples/plugin-shout")
    if path == SERVICE_EXAMPLE:
        pytest.skip("reads a ServiceNow instance: see test_servicenow_plugin.py (a loopback Table API)")
    if is_pipeline(path):
        stages = validate_pipeline(path)
        assert len(stages) > 1 and all(plan.output_columns for _, plan in stages)
        return
    config = synthloom.load_config(path)
    plan = synthloom.validate(config)
    assert plan.output_columns
    # Every column the config declares is planned.
    assert {c.name for c in plan.columns} == {c.name for c in config.columns}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_runs_with_no_endpoint(path: Path) -> None:
    """The examples promise to run with no real server: every model is the embedded one, or (for what
    the embedded model cannot do, such as vision) the example says it runs against the simulated
    endpoint and every model points at it on the loopback interface."""
    text = path.read_text()
    data = yaml.safe_load(text)
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    models = data.get("models", []) + [m for stage in data.get("stages", []) for m in stage.get("models", [])]
    if "simulated endpoint" in header:
        urls = [m.get("base_url") or "" for m in models] + [
            e["url"] for m in models for e in m.get("endpoints") or []
        ]
        assert all(url.startswith("http://127.0.0.1:") for url in urls if url), path
    else:
        assert all(m.get("provider") == "local" for m in models), path
    assert text.startswith("#"), f"{path}: needs a header comment saying what it shows"


def test_python_api_example_builds_a_valid_config() -> None:
    module = _load_python_api_example()
    config = module.build_config()
    assert {c.name for c in synthloom.validate(config).columns} == {
        "product",
        "stars",
        "review",
        "sentiment",
        "short",
    }


def _load_python_api_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthloom_python_api_example", EXAMPLES / "python-api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
