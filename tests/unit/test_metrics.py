"""Run metrics of a local run: the Prometheus endpoint, OpenTelemetry readers, OTLP over loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.engine.generation import generate_dataset
from synthloom.errors import ConfigError
from synthloom.executors.local import LocalExecutor
from synthloom.interface.api import _prepare
from synthloom.interface.cli import cli
from synthloom.observers.metrics import RunMetrics
from synthloom.store.run_directory import RunDirectory
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

RECORDS = 20


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.01)) as ep:
        yield ep


def _config(base_url: str) -> synthloom.DatasetConfig:
    return synthloom.DatasetConfig.model_validate(
        {
            "name": "measured",
            "models": [
                {
                    "alias": "m",
                    "provider": "openai",
                    "base_url": base_url,
                    "model": "sim",
                    "max_parallel_requests": 4,
                }
            ],
            "columns": [
                {"name": "topic", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
                {"name": "text", "type": "llm-text", "model": "m", "prompt": "About {{ topic }}"},
            ],
            "run": {"buffer_size": 10},
        }
    )


async def _run(config: synthloom.DatasetConfig, out: Path, metrics: RunMetrics) -> None:
    job = _prepare(config)
    directory = RunDirectory(out / config.name)
    with directory:
        await generate_dataset(
            job,
            directory=directory,
            num_records=RECORDS,
            resume="never",
            show_progress=False,
            executor=LocalExecutor(),
            metrics=metrics,
        )


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url) as reply:  # loopback only
        return str(reply.read().decode())


async def test_a_local_run_is_served_to_prometheus(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    metrics = RunMetrics()
    with metrics.serving(port=0) as url:
        await _run(_config(endpoint.base_url), tmp_path, metrics)
        text = await asyncio.to_thread(_scrape, url)
    name = f"sim@{endpoint.base_url}"
    assert 'synthloom_cells_total{column="text",status="done"} 20.0' in text
    assert 'synthloom_cells_total{column="topic",status="done"} 20.0' in text
    assert "synthloom_row_groups_committed_total 2.0" in text
    assert "synthloom_records_committed_total 20.0" in text
    assert 'synthloom_model_concurrency_ceiling{model="m"} 4.0' in text
    assert 'synthloom_model_in_flight{model="m"} 0.0' in text
    assert 'synthloom_model_requests_total{model="m"} 20.0' in text
    assert 'synthloom_model_rate_limited_total{model="m"} 0.0' in text
    assert 'synthloom_model_retries_total{model="m"} 0.0' in text
    assert f'synthloom_request_latency_seconds_count{{endpoint="{name}"}} 20.0' in text
    assert f'synthloom_request_latency_seconds_bucket{{endpoint="{name}",le="+Inf"}} 20.0' in text


async def test_a_local_run_is_read_by_an_opentelemetry_reader(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    metrics = RunMetrics()
    with metrics.exporting(reader=reader):
        await _run(_config(endpoint.base_url), tmp_path, metrics)
        data = reader.get_metrics_data()
    found = _points(data)
    assert found["synthloom.cells"][(("column", "text"), ("status", "done"))] == 20
    assert found["synthloom.row_groups.committed"][()] == 2
    assert found["synthloom.model.concurrency.ceiling"][(("model", "m"),)] == 4
    assert found["synthloom.model.requests"][(("model", "m"),)] == 20
    latency = found["synthloom.request.latency"]
    assert sum(latency.values()) == 20


def _points(data: Any) -> dict[str, dict[tuple[tuple[str, Any], ...], float]]:
    """Metric name -> attributes -> value (a histogram's count)."""
    out: dict[str, dict[tuple[tuple[str, Any], ...], float]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = tuple(sorted(point.attributes.items()))
                    value = getattr(point, "value", None)
                    out.setdefault(metric.name, {})[key] = point.count if value is None else value
    return out


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[str]:
    """An OTLP/HTTP collector on loopback that keeps what it is sent."""
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_local_run_is_exported_over_otlp_to_a_loopback_collector(
    endpoint: SimulatedEndpoint, tmp_path: Path, collector: str
) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    metrics = RunMetrics()
    with metrics.exporting(endpoint=collector, interval=60):
        await _run(_config(endpoint.base_url), tmp_path, metrics)
    assert _Collector.received, "nothing was exported when the run ended"
    path, content_type, body = _Collector.received[-1]
    assert (path, content_type) == ("/v1/metrics", "application/x-protobuf")
    request = ExportMetricsServiceRequest.FromString(body)
    names = {m.name for r in request.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert {"synthloom.cells", "synthloom.request.latency", "synthloom.model.in_flight"} <= names


def test_asking_for_prometheus_without_the_extra_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"synthloom\[metrics\]"), RunMetrics().serving(port=0):
        pass


async def test_create_serves_metrics_on_the_port_asked_for(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_config(endpoint.base_url).to_dict()))
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        [
            "create",
            str(config),
            "-n",
            "5",
            "-o",
            str(tmp_path / "out"),
            "--no-progress",
            "--metrics-port",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output


def test_a_ray_address_with_the_local_executor_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("columns: [{name: a, type: sampler, sampler: uuid}]\n")
    result = CliRunner().invoke(
        cli, ["create", str(config), "-n", "5", "--executor", "local", "--ray-address", "auto"]
    )
    assert result.exit_code == 2
    assert "--executor ray" in result.output
