"""The "diamond" workload written for the peer (NeMo Data Designer), run by `bench_peer.py`.

This script runs in the peer's own virtualenv (not synthloom's), so it imports only the peer:

    /tmp/ddvenv/bin/python benchmarks/peer_diamond.py BASE_URL RECORDS BUFFER_SIZE MAX_PARALLEL

    topic    = category sampler (5 values)
    summary  = llm-text from topic
    trivia   = llm-text from topic
    analysis = llm-text from summary

The model provider is the loopback simulated endpoint given as BASE_URL, and nothing else may be
contacted: the peer's usage telemetry (on by default, to a hosted service) is switched off, so is its
metrics port, the model health check (an extra request) is skipped, and an audit hook refuses any
connection or name lookup beyond loopback. What is timed is the peer's dataset build (the generation
pipeline and its parquet writes), the part of `DataDesigner.create` before its post-run profiler:
that profiler counts tokens with a tokenizer it downloads from the internet.
It prints one JSON line on stdout: records made, wall seconds and process CPU seconds of the build.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

# Before the peer is imported: its telemetry module reads these once.
os.environ["NEMO_TELEMETRY_ENABLED"] = "false"
os.environ["NEMO_TELEMETRY_ENDPOINT"] = "http://127.0.0.1:9/disabled"

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    # Why a hook rather than trust: the benchmark must not reach the network, whatever the peer does.
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOOPBACK:
        raise ConnectionRefusedError(f"bench_peer: blocked a connection to {args[1]!r}")
    if event == "socket.getaddrinfo" and args[0] not in LOOPBACK:
        raise ConnectionRefusedError(f"bench_peer: blocked a name lookup of {args[0]!r}")


sys.addaudithook(_loopback_only)

import data_designer.config as dd  # noqa: E402
from data_designer.config.run_config import ResumeMode  # noqa: E402
from data_designer.interface import DataDesigner  # noqa: E402

VALUES = ["history", "science", "art", "sport", "music"]


def builder(max_parallel: int) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(
        alias="m",
        model="sim",
        provider="loopback",
        skip_health_check=True,
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=max_parallel, timeout=30),
    )
    config = dd.DataDesignerConfigBuilder(model_configs=[model])
    config.add_column(
        dd.SamplerColumnConfig(
            name="topic", sampler_type="category", params=dd.CategorySamplerParams(values=VALUES)
        )
    )
    prompts = {
        "summary": "Summarise {{ topic }}.",
        "trivia": "Trivia about {{ topic }}.",
        "analysis": "Analyse: {{ summary }}",
    }
    for name, prompt in prompts.items():
        config.add_column(dd.LLMTextColumnConfig(name=name, model_alias="m", prompt=prompt))
    return config


def main() -> None:
    base_url, records, buffer_size, max_parallel = sys.argv[1], *map(int, sys.argv[2:5])
    # The peer logs progress at INFO every few seconds; keep the benchmark's output to the figures.
    logging.basicConfig(level=logging.WARNING)
    provider = dd.ModelProvider(name="loopback", endpoint=base_url, provider_type="openai", api_key="unused")
    designer = DataDesigner(
        artifact_path=tempfile.mkdtemp(prefix="bench-peer-"),
        model_providers=[provider],
        auto_configure_logging=False,
    )
    designer.set_run_config(dd.RunConfig(buffer_size=buffer_size, otel_metrics_port=None))
    config = builder(max_parallel)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    # `create` without its profiler (see the module docstring): the same two steps it starts with.
    resources = designer._create_resource_provider(
        "diamond", config, resume=ResumeMode.NEVER, artifact_path=designer.artifact_path
    )
    build = designer._create_dataset_builder(config.build(), resources)
    build.build(num_records=records, resume=ResumeMode.NEVER)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    frame = build.artifact_storage.load_dataset()
    filled = int(frame[["summary", "trivia", "analysis"]].notna().all(axis=1).sum())
    version = importlib.metadata.version("data-designer")
    figures = {"version": version, "records": len(frame), "complete_records": filled}
    print(json.dumps({**figures, "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
