"""The layers of DESIGN.md: each imports only those to its left.

    config -> plan -> models / store / seeds -> tools -> engine -> columns -> executors -> interface
                      store -> outputs -> engine, interface
                      store, outputs -> report -> interface
                      observers -> engine, executors, interface

`engine` is the scheduler and the generator contract; `observers` what watches a run (progress, metrics:
they import no other layer); `columns` the column families (each a config
and a generator, shaped like a plugin); `tools` the tool library (no engine code); `executors` where row
groups run (local, ray).

`errors`, `_version`, `row_groups` and `terminal_text` are shared by all; `testing` (the simulated
endpoint) may use the model layer.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "synthloom"

ALLOWED: dict[str, set[str]] = {
    "config": {"config"},
    "plan": {"config", "plan"},
    "models": {"config", "models"},
    "store": {"config", "store"},
    "seeds": {"config", "plan", "store", "seeds"},
    "outputs": {"config", "plan", "store", "outputs"},
    "report": {"config", "plan", "store", "outputs", "report"},
    "tools": {"config", "plan", "models", "tools"},
    "observers": {"observers"},
    "engine": {"config", "plan", "models", "store", "seeds", "outputs", "observers", "engine"},
    "columns": {"config", "plan", "models", "store", "seeds", "outputs", "tools", "engine", "columns"},
    "executors": {
        "config",
        "plan",
        "models",
        "store",
        "seeds",
        "outputs",
        "observers",
        "engine",
        "executors",
    },
    "testing": {"config", "models", "testing"},
    "interface": {
        "config",
        "plan",
        "models",
        "store",
        "seeds",
        "outputs",
        "tools",
        "observers",
        "engine",
        "columns",
        "executors",
        "report",
        "interface",
        "testing",
    },
}
SHARED = {"errors", "_version", "row_groups", "terminal_text"}


def _imports(path: Path) -> set[str]:
    """The synthloom layers a module imports (at any depth in the file, type-checking imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "synthloom" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_to_its_left(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = _imports(path) - ALLOWED[layer] - SHARED
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


#: Entry-point group names: strings that look like module paths but name a plugin group (the built-in
#: column types' package is named like their group on purpose).
ENTRY_POINT_GROUPS = {
    "synthloom.columns",
    "synthloom.providers",
    "synthloom.recipes",
    "synthloom.seed_readers",
}


def _module_paths_named(path: Path) -> set[str]:
    """Every string constant in a module that is a synthloom module path (`synthloom.x.y` or
    `synthloom.x.y:Name`): an import by name that the import statements above would not show."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        value = node.value if isinstance(node, ast.Constant) else None
        if (
            isinstance(value, str)
            and value not in ENTRY_POINT_GROUPS
            and re.fullmatch(r"synthloom(\.\w+)+(:[\w.]+)?", value)
        ):
            found.add(value.split(".")[1].split(":")[0])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_layer_names_a_layer_to_its_right_even_as_a_string(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = (_module_paths_named(path) & set(ALLOWED)) - ALLOWED[layer]
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)} names {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_importing_the_config_layer_imports_no_engine_module() -> None:
    code = (
        "import sys\n"
        "import synthloom.config.loader, synthloom.config.builder, synthloom.config.registry\n"
        "from synthloom.config.loader import parse_config\n"
        "parse_config('columns: [{name: a, type: sampler, sampler: uuid}]')\n"
        "import synthloom\n"
        "assert 'synthloom.columns.builtin' in sys.modules  # loaded on first need\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


#: Optional dependencies and the only modules that may import them (lazily: the core runs without them).
OPTIONAL_IMPORTS = {
    "ray": ("executors/ray/",),
    "prometheus_client": ("observers/metrics.py",),
    "opentelemetry": ("observers/metrics.py",),
}


def _third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_optional_dependencies_are_imported_only_where_they_are_used() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for module in _third_party_imports(path) & set(OPTIONAL_IMPORTS):
            if not relative.startswith(OPTIONAL_IMPORTS[module]):
                offenders.append(f"{relative} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_importing_synthloom_and_its_engine_imports_neither_ray_nor_metrics_libraries() -> None:
    code = (
        "import sys\n"
        "import synthloom, synthloom.engine.generation, synthloom.executors.ray\n"
        "import synthloom.executors.ray.executor, synthloom.interface.cli\n"
        "loaded = {'ray', 'prometheus_client', 'opentelemetry'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
