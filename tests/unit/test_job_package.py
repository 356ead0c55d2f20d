"""The folder shipped to a Ray cluster: no `.env`, no run directory, not Ray's own temp folder, and
never more than the size cap. The package is built with Ray's own packing code where Ray is installed,
so what is checked is what a cluster would receive."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

import synthloom
from synthloom.errors import ConfigError
from synthloom.executors.ray.job_package import worker_runtime_env

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra")


def _project(folder: Path) -> Path:
    """A config folder as people have them: a helper, secrets, an old run, Ray's temp folder inside."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text("columns: [{name: a, type: sampler, sampler: uuid}]\n")
    (folder / "helpers.py").write_text("def f(row):\n    return 1\n")
    (folder / "prompts").mkdir()
    (folder / "prompts" / "system.txt").write_text("be brief")
    (folder / ".env").write_text("OPENAI_API_KEY=sk-SECRET\n")
    (folder / ".env.local").write_text("ANTHROPIC_API_KEY=sk-ant-SECRET\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    old_run = folder / "runs" / "monday" / "dataset"
    (old_run / "data").mkdir(parents=True)
    (old_run / "metadata.json").write_text("{}")
    (old_run / "data" / "part-0.jsonl").write_text("generated\n" * 100)
    (folder / "out").mkdir()
    (folder / "ray" / "session_1" / "packages").mkdir(parents=True)
    (folder / "ray" / "session_1" / "packages" / "pkg.zip").write_bytes(b"\x00" * 4096)
    return folder / "config.yaml"


def _env(folder: Path, **options: object) -> dict[str, object]:
    config = synthloom.load_config(_project(folder))
    return worker_runtime_env(config, exclude=[folder / "out"], temp_dir=folder / "ray", **options)  # type: ignore[arg-type]


def test_secrets_runs_and_rays_temp_folder_are_excluded(tmp_path: Path) -> None:
    env = _env(tmp_path)
    excludes = env["excludes"]
    assert isinstance(excludes, list)
    assert {".env*", ".git", "/out", "/ray", "/runs/monday/dataset"} <= set(excludes)


@needs_ray
def test_the_package_ray_builds_holds_only_the_config_and_its_helpers(tmp_path: Path) -> None:
    from ray._private.runtime_env.packaging import create_package

    env = _env(tmp_path / "project")
    target = tmp_path / "package.zip"
    create_package(str(env["working_dir"]), target, include_gitignore=True, excludes=env["excludes"])
    with zipfile.ZipFile(target) as package:
        names = {n.rstrip("/") for n in package.namelist()}
        contents = b"".join(package.read(n) for n in package.namelist() if not n.endswith("/"))
    assert {"config.yaml", "helpers.py", "prompts/system.txt"} <= names
    assert not any(n.startswith((".env", ".git", "runs", "ray", "out")) for n in names), names
    assert b"SECRET" not in contents


def test_a_package_over_the_cap_is_a_clear_error_naming_the_largest_files(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.jsonl").write_bytes(b"x" * 300_000)
    with pytest.raises(ConfigError, match=r"would ship 0\.3 MiB .* over the limit of 0\.2 MiB") as caught:
        _env(tmp_path, max_bytes=200_000)
    assert "data/big.jsonl (0.3 MiB)" in str(caught.value)
    assert "runtime_env" in str(caught.value)


def test_what_is_excluded_does_not_count_toward_the_cap(tmp_path: Path) -> None:
    env = _env(tmp_path, max_bytes=64 * 1024)  # the run, Ray's temp folder and .env are not counted
    assert env["working_dir"] == str(tmp_path)


def test_a_link_to_a_large_folder_counts_toward_the_cap(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dump.bin").write_bytes(b"\x01" * 300_000)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match=r"linked/dump\.bin"):
        _env(tmp_path / "project", max_bytes=200_000)
