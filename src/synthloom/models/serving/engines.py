"""The command line each `serve:` engine runs for one replica, and the checks made before any starts.

    launch = replica_launch(config, port=8001, index=0, base_dir=Path("."))
    launch.argv        # ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--host", "127.0.0.1", ...]

`check_serve` turns what would otherwise fail late or hang — an engine that is not installed, a model
file that does not exist, a port already taken, more GPUs or CPUs than the machine has — into a
`ConfigError` naming the model and the field, before any process starts.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from synthloom.config.model_config import ModelConfig, ServeConfig
from synthloom.errors import ConfigError
from synthloom.models.local_server import find_bundled_model

__all__ = [
    "HOST",
    "Launch",
    "check_machine",
    "check_serve",
    "local_gpus",
    "port_free",
    "replica_launch",
    "served_model_id",
]

#: Served replicas listen on loopback only.
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Launch:
    """One replica's process: its command line and the environment variables it adds."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _serve(config: ModelConfig) -> ServeConfig:
    assert config.serve is not None
    return config.serve


def served_model_id(config: ModelConfig) -> str:
    """The model id requests name: the config's `model`, else what the engine serves."""
    serve = _serve(config)
    return config.model or serve.model or config.alias


def _model_file(config: ModelConfig, base_dir: Path | None) -> Path:
    serve = _serve(config)
    if serve.model is None:
        return find_bundled_model()
    path = Path(serve.model).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def local_gpus() -> int:
    """GPUs this machine has (NVIDIA's driver lists one folder per GPU; 0 without it)."""
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def check_serve(config: ModelConfig, *, base_dir: Path | None, machine: bool = True) -> None:
    """Raise `ConfigError(model=alias, field='serve.…')` for what would keep a replica from starting.
    `machine=False`: `serve.resources` are not checked against this machine (a Ray cluster gives them,
    and is checked by the Ray executor)."""
    serve = _serve(config)
    alias = config.alias

    def fail(message: str, where: str) -> ConfigError:
        return ConfigError(message, model=alias, field=f"serve.{where}")

    if serve.engine == "llama.cpp":
        if importlib.util.find_spec("xllamacpp") is None:
            raise fail("engine 'llama.cpp' needs xllamacpp: pip install 'synthloom[local]'", "engine")
        try:
            path = _model_file(config, base_dir)
        except Exception as exc:  # the bundled weights are not installed
            raise fail(str(exc), "model") from None
        if not path.is_file():
            raise fail(f"model file not found: {path}", "model")
    elif serve.engine == "vllm" and shutil.which("vllm") is None:
        raise fail("engine 'vllm' is not installed (no 'vllm' command on PATH): pip install vllm", "engine")
    elif serve.engine == "sglang" and importlib.util.find_spec("sglang") is None:
        raise fail("engine 'sglang' is not installed: pip install 'sglang[all]'", "engine")
    elif serve.engine == "command":
        program = serve.args[0]
        if shutil.which(program) is None and not Path(program).is_file():
            raise fail(f"program not found: {program}", "args")
    if machine:
        check_machine(config)
    if serve.port is not None:
        for port in range(serve.port, serve.port + serve.replicas):
            if not port_free(port):
                raise fail(f"port {port} is already in use on {HOST}", "port")


def check_machine(config: ModelConfig) -> None:
    """`ConfigError(model, 'serve.resources')` when this machine lacks what the replicas ask."""
    serve = _serve(config)

    def fail(message: str, where: str) -> ConfigError:
        return ConfigError(message, model=config.alias, field=f"serve.{where}")

    gpus = serve.resources.get("num_gpus", 0)
    if gpus and gpus * serve.replicas > local_gpus():
        raise fail(
            f"{serve.replicas} replica(s) x {gpus:g} GPU(s) asked, this machine has {local_gpus()}",
            "resources",
        )
    cpus = serve.resources.get("num_cpus", 0)
    if cpus > (os.cpu_count() or 1):
        raise fail(f"{cpus:g} CPUs asked per replica, this machine has {os.cpu_count()}", "resources")


def replica_launch(config: ModelConfig, *, port: int, index: int, base_dir: Path | None) -> Launch:
    """The command line of replica `index` listening on `port`."""
    serve = _serve(config)
    env: dict[str, str] = {}
    gpus = int(serve.resources.get("num_gpus", 0))
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(index * gpus + i) for i in range(gpus))
    if serve.engine == "llama.cpp":
        argv = [
            sys.executable,
            "-m",
            "synthloom.models.serving.llamacpp_main",
            "--model",
            str(_model_file(config, base_dir)),
            "--host",
            HOST,
            "--port",
            str(port),
            "--parallel",
            str(config.max_parallel_requests),
        ]
        if serve.resources.get("num_cpus"):
            argv += ["--threads", str(int(serve.resources["num_cpus"]))]
        return Launch([*argv, *serve.args], env)
    if serve.engine == "vllm":
        # vLLM's OpenAI-compatible server: `vllm serve MODEL --host --port`.
        argv = ["vllm", "serve", str(serve.model), "--host", HOST, "--port", str(port)]
        if config.model:
            argv += ["--served-model-name", config.model]
        return Launch([*argv, *serve.args], env)
    if serve.engine == "sglang":
        argv = [sys.executable, "-m", "sglang.launch_server", "--model-path", str(serve.model)]
        argv += ["--host", HOST, "--port", str(port)]
        if config.model:
            argv += ["--served-model-name", config.model]
        return Launch([*argv, *serve.args], env)
    values = {"{port}": str(port), "{host}": HOST, "{model}": serve.model or ""}
    argv = list(serve.args)
    for placeholder, value in values.items():  # plain replacement: other braces (JSON) stay as they are
        argv = [arg.replace(placeholder, value) for arg in argv]
    return Launch(argv, env)
