"""`serve: {engine: llama.cpp}`: real replicas of the embedded model (SmolLM2-135M) as processes that
synthloom starts, routes to and stops. Run serially: llama.cpp needs both cores."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom

pytestmark = pytest.mark.llama

pytest.importorskip("xllamacpp")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_two_llamacpp_replicas_serve_a_run_and_are_gone_after_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "served-llama",
                "models": [
                    {
                        "alias": "smol",
                        "max_parallel_requests": 2,
                        "inference": {"temperature": 0.0, "max_tokens": 16},
                        # One thread each: two replicas share the machine's two cores.
                        "serve": {"engine": "llama.cpp", "replicas": 2, "resources": {"num_cpus": 1}},
                    }
                ],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "text", "type": "llm-text", "model": "smol", "prompt": "Greet {{ id }}."},
                ],
                "run": {"buffer_size": 8},
            }
        )
    )
    result = synthloom.create(config, 24, tmp_path / "out", resume="never")
    rows = pq.read_table(tmp_path / "out" / "served-llama" / "data").to_pylist()
    assert len(rows) == 24 and all(r["text"].strip() for r in rows)
    replicas = result.usage["endpoints"]["smol"]
    assert len(replicas) == 2
    assert all(r["answered"] > 0 for r in replicas.values())  # both replicas served
    ports = [int(url.rsplit(":", 1)[1].split("/")[0]) for url in replicas]
    assert not any(_listening(port) for port in ports)
    for port in ports:
        pattern = f"serving.llamacpp_main .*--port {port}"
        leftover = subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False)
        assert leftover.stdout == b"", f"a replica on port {port} is still running"
