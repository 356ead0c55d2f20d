"""The job package: what of the config's folder is shipped to a Ray cluster, the one place it is decided.

Workers need the config's folder (helper modules, files the config names), and Ray ships it as the
job's `working_dir`. The folder also holds what must never leave this machine or cannot be shipped:

- secrets: `.env`, `.env.local`, ... (`.env*`), version control (`.git`, `.hg`);
- runs: the output folder of this run, and any earlier run directory found in the folder (a folder
  with a `metadata.json` beside a `data/` folder), which may be large and hold generated data;
- Ray's own temp folder, when it lies inside (with a config in `/tmp`, `/tmp/ray` would be packed
  into the package that Ray writes under `/tmp/ray`: it grows without bound);
- environments, caches and columnar data (`.venv`, `__pycache__`, `*.parquet`, ...).

These are excluded, and the rest is measured before Ray is started: a package over `max_bytes`
(`DEFAULT_MAX_PACKAGE_BYTES` unless the executor is given another) is a `ConfigError` naming its size
and largest files, instead of a slow upload or a full disk. A caller's own `runtime_env` with a
`working_dir` is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from synthloom.config.dataset import DatasetConfig
from synthloom.errors import ConfigError

__all__ = ["ALWAYS_EXCLUDED", "DEFAULT_MAX_PACKAGE_BYTES", "ray_temp_dir", "worker_runtime_env"]

#: Never shipped to workers: secrets, version control, environments, caches, columnar data.
ALWAYS_EXCLUDED = (
    ".env*",
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    "*.parquet",
    "*.arrow",
)

#: The largest package shipped by default; Ray's own limit for a `working_dir` is larger, but a
#: config's folder past this size almost always holds data the run does not need.
DEFAULT_MAX_PACKAGE_BYTES = 100 * 2**20


def ray_temp_dir(init_options: dict[str, Any] | None = None) -> Path:
    """Where Ray keeps its session files: `_temp_dir` if given, else `RAY_TMPDIR`, else `<tmp>/ray`."""
    given = (init_options or {}).get("_temp_dir") or os.environ.get("RAY_TMPDIR")
    return Path(given) if given else Path(tempfile.gettempdir()) / "ray"


def worker_runtime_env(
    config: DatasetConfig,
    *,
    exclude: Sequence[str | Path] = (),
    extra: dict[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_PACKAGE_BYTES,
    temp_dir: Path | None = None,
) -> dict[str, Any]:
    """The run's runtime environment (Ray's, for the driver's job): the config's folder as the
    workers' working directory, without what the module doc lists and `exclude` (such as the output
    folder), merged under `extra` (which wins). Raises `ConfigError` when the package would be over
    `max_bytes`."""
    env = dict(extra or {})
    folder = config.source_dir
    if folder is None or "working_dir" in env:
        return env
    root = Path(folder).resolve()
    inside = (_inside(root, Path(p)) for p in (*exclude, temp_dir or ray_temp_dir()))
    anchored = {a for a in inside if a and a != "."}
    names = [*ALWAYS_EXCLUDED, *(e for e in env.get("excludes", []) if "/" not in e)]
    runs: set[str] = set()
    shipped = [(nbytes, relative) for relative, nbytes in _files(root, names, anchored, runs)]
    size = sum(nbytes for nbytes, _ in shipped)
    if size > max_bytes:
        top = ", ".join(f"{rel} ({_mib(n)})" for n, rel in sorted(shipped, reverse=True)[:3])
        raise ConfigError(
            f"the config's folder {root} would ship {_mib(size)} to the Ray cluster, over the limit of "
            f"{_mib(max_bytes)} (largest: {top}). Move what the run does not need out of the folder, "
            "or give the executor a runtime_env with a working_dir of your own",
            field="run.executor",
        )
    patterns = [*ALWAYS_EXCLUDED, *(f"/{a}" for a in sorted(anchored | runs))]
    env["working_dir"] = str(folder)
    env["excludes"] = [*env.get("excludes", []), *patterns]
    return env


def _inside(root: Path, path: Path) -> str | None:
    with contextlib.suppress(ValueError, OSError):
        return path.resolve().relative_to(root).as_posix()
    return None


def _files(root: Path, names: Sequence[str], anchored: set[str], runs: set[str]) -> Iterator[tuple[str, int]]:
    """(relative path, size) of every file that would be shipped; run directories found on the
    way are added to `runs` and not entered. Links are followed (Ray packs what they point to), each
    real folder once."""
    seen: set[Path] = set()
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, relative = stack.pop()
        real = folder.resolve()
        if real in seen:
            continue
        seen.add(real)
        if relative and (folder / "metadata.json").is_file() and (folder / "data").is_dir():
            runs.add(relative)
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = f"{relative}/{entry.name}" if relative else entry.name
            if rel in anchored or any(fnmatchcase(entry.name, n) for n in names):
                continue
            try:
                if entry.is_dir():
                    stack.append((Path(entry.path), rel))
                elif entry.is_file():
                    yield rel, entry.stat().st_size
            except OSError:
                continue


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
