"""What the Ray executor sets up before it starts anything, checked without Ray: one budget per endpoint,
the folder shipped to workers, the executor chosen from the config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import synthloom
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError
from synthloom.executors.local import LocalExecutor
from synthloom.executors.ray.executor import RayExecutor, limiter_ceilings, worker_runtime_env
from synthloom.interface.api import _executor


def test_aliases_on_one_endpoint_share_one_budget_with_the_lowest_ceiling() -> None:
    models = [
        ModelConfig(alias="a", base_url="http://127.0.0.1:1/v1", model="m", max_parallel_requests=40),
        ModelConfig(alias="b", base_url="http://127.0.0.1:1/v1/", model="m", max_parallel_requests=16),
        ModelConfig(alias="c", base_url="http://127.0.0.1:2/v1", model="m", max_parallel_requests=64),
    ]
    ceilings = limiter_ceilings(models)
    assert len(ceilings) == 2
    assert sorted(ceilings.values()) == [16, 64]


def _loaded(tmp_path: Path, run: str = "") -> synthloom.DatasetConfig:
    path = tmp_path / "config.yaml"
    path.write_text(f"columns: [{{name: a, type: sampler, sampler: uuid}}]\n{run}")
    return synthloom.load_config(path)


def test_the_config_folder_is_shipped_without_the_output_and_columnar_data(tmp_path: Path) -> None:
    env = worker_runtime_env(_loaded(tmp_path), exclude=[tmp_path / "out" / "dataset", Path("/elsewhere")])
    assert env["working_dir"] == str(tmp_path.resolve())
    assert "/out/dataset" in env["excludes"]
    assert {".git", "__pycache__", "*.parquet"} <= set(env["excludes"])
    assert not any("elsewhere" in e for e in env["excludes"])


def test_a_working_dir_given_by_the_caller_wins(tmp_path: Path) -> None:
    env = worker_runtime_env(_loaded(tmp_path), extra={"working_dir": "s3://bucket/code.zip", "pip": ["x"]})
    assert env == {"working_dir": "s3://bucket/code.zip", "pip": ["x"]}


def test_a_config_built_in_python_ships_no_folder() -> None:
    config = synthloom.DatasetConfig.model_validate(
        {"columns": [{"name": "a", "type": "sampler", "sampler": "uuid"}]}
    )
    assert worker_runtime_env(config) == {}


def test_the_executor_comes_from_run_executor_unless_the_caller_names_one(tmp_path: Path) -> None:
    config = _loaded(tmp_path, "run: {executor: {ray: {address: auto, workers: 3}}}\n")
    chosen = _executor(config, None, None, tmp_path / "out")
    assert isinstance(chosen, RayExecutor)
    assert (chosen.address, chosen.workers, chosen.exclude) == ("auto", 3, [tmp_path / "out"])
    assert chosen.start_on_driver
    assert isinstance(_executor(config, "local", None, tmp_path), LocalExecutor)
    override = _executor(config, "ray", "ray://head:10001", tmp_path)
    assert isinstance(override, RayExecutor) and override.address == "ray://head:10001"
    assert override.workers == 3  # the config's other ray options still apply
    assert isinstance(_executor(_loaded(tmp_path), None, None, tmp_path), LocalExecutor)


def test_the_old_flat_ray_fields_still_work_with_a_deprecation_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _loaded(tmp_path, "run: {executor: ray, ray_address: 'auto', ray_workers: 3}\n")
    assert (config.run.executor.name, config.run.executor.options) == (
        "ray",
        {"address": "auto", "workers": 3},
    )
    assert "deprecated" in caplog.text and "executor: {ray: {address: auto, workers: 3}}" in caplog.text


def test_the_driver_can_be_kept_from_running_the_opening_groups(tmp_path: Path) -> None:
    config = _loaded(tmp_path, "run: {executor: {ray: {start_on_driver: false}}}\n")
    chosen = _executor(config, None, None, tmp_path / "out")
    assert isinstance(chosen, RayExecutor) and not chosen.start_on_driver


def test_an_unknown_executor_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown executor 'dask' \\(known: local, ray\\)"):
        _executor(_loaded(tmp_path), "dask", None, tmp_path)


def test_a_mistyped_executor_option_names_its_field(tmp_path: Path) -> None:
    config = _loaded(tmp_path, "run: {executor: {ray: {wrokers: 3}}}\n")
    with pytest.raises(ConfigError) as caught:
        _executor(config, None, None, tmp_path)
    assert caught.value.field == "run.executor.ray.wrokers"


class _FakeRay:
    """Ray's module surface `_connect` uses, recording `init`; `mode_after` is what Ray's own start-up
    leaves in RAY_AUTH_MODE."""

    __version__ = "2.0.0"

    def __init__(self, monkeypatch: pytest.MonkeyPatch, mode_after: str | None) -> None:
        self.options: dict[str, object] = {}
        self.shut_down = False
        self._monkeypatch = monkeypatch
        self._mode_after = mode_after

    def is_initialized(self) -> bool:
        return False

    def init(self, **options: object) -> None:
        self.options = options
        if self._mode_after is not None:
            self._monkeypatch.setenv("RAY_AUTH_MODE", self._mode_after)

    def shutdown(self) -> None:
        self.shut_down = True


def _job(tmp_path: Path) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(config=_loaded(tmp_path))


def test_a_cluster_the_executor_starts_binds_loopback_without_a_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    ray = _FakeRay(monkeypatch, mode_after="token")
    assert RayExecutor()._connect(ray, _job(tmp_path))  # type: ignore[arg-type]
    assert ray.options["_node_ip_address"] == "127.0.0.1"
    assert ray.options["include_dashboard"] is False
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"  # Ray keeps 127.0.0.1 as the node address
    joined = _FakeRay(monkeypatch, mode_after=None)
    RayExecutor(address="ray://head:10001")._connect(joined, _job(tmp_path))  # type: ignore[arg-type]
    assert "_node_ip_address" not in joined.options  # a standing cluster is its operator's


def test_a_local_cluster_without_token_authentication_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray = _FakeRay(monkeypatch, mode_after=None)
    with pytest.raises(ConfigError, match="RAY_AUTH_MODE=disabled is set"):
        RayExecutor()._connect(ray, _job(tmp_path))  # type: ignore[arg-type]
    assert ray.options == {}  # refused before anything started
    monkeypatch.delenv("RAY_AUTH_MODE")
    old = _FakeRay(monkeypatch, mode_after=None)  # a Ray that starts without authentication
    with pytest.raises(ConfigError, match="started without token authentication"):
        RayExecutor()._connect(old, _job(tmp_path))  # type: ignore[arg-type]
    assert old.shut_down
