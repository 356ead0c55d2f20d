"""Run metrics for long runs, local or on Ray: a Prometheus endpoint and OpenTelemetry export.

    metrics = RunMetrics()
    with metrics.serving(port=9464), metrics.exporting(endpoint="http://127.0.0.1:4318"):
        await generate_dataset(job, ..., metrics=metrics)

The engine feeds a `RunMetrics` (cells from the run's events, commits from the committer's loop,
request latencies from the limiters) and it reads the executor's own figures once a second
(`refresh`); exporters read the last snapshot, from their own threads, without touching the run.

| Prometheus name | kind | labels | what |
|---|---|---|---|
| `synthloom_cells_total` | counter | column, status | cells finished: done, failed, skipped, filtered |
| `synthloom_row_groups_committed_total` | counter | | row groups committed |
| `synthloom_records_committed_total` | counter | | kept records committed |
| `synthloom_model_in_flight` | gauge | model | requests in flight (every worker) |
| `synthloom_model_concurrency_level` | gauge | model | the adaptive level |
| `synthloom_model_concurrency_ceiling` | gauge | model | `max_parallel_requests` |
| `synthloom_model_requests_total` | counter | model | model exchanges |
| `synthloom_model_cached_total` | counter | model | exchanges answered by the response cache (not sent) |
| `synthloom_model_rate_limited_total` | counter | model | 429s |
| `synthloom_model_retries_total` | counter | model | re-sent after 5xx, timeouts, dropped connections |
| `synthloom_request_latency_seconds` | histogram | endpoint | time a request held its slot (`model@url`) |

OpenTelemetry gets the same figures (dots for underscores, `synthloom.request.latency` for the
histogram) through an OTLP/HTTP exporter or any metric reader given. `prometheus-client` and the
OpenTelemetry SDK are optional (the `metrics` extra); asking for an exporter without them is a
`ConfigError`.

Latencies come from the limiters: in a local run the model pool's limiters are instrumented (through
`default_limiter_factory`); on Ray the budgets hear of every request and the executor hands their
reports on (`SampleSource`).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from synthloom.errors import ConfigError

__all__ = ["LATENCY_BOUNDS", "MetricsSnapshot", "RunMetrics", "SampleSource"]

logger = logging.getLogger(__name__)

#: Upper bounds (seconds) of the latency histogram's buckets: LLM calls span milliseconds to minutes.
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@runtime_checkable
class SampleSource(Protocol):
    """An executor whose requests are observed elsewhere (the Ray executor's budgets): it calls each
    sink with (endpoint, outcome, latency) for every request."""

    def add_sample_sink(self, sink: Callable[[str, str, float], None]) -> None: ...


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS) + 1)
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> tuple[list[int], float]:
        out, running = [], 0
        for count in self.counts:
            running += count
            out.append(running)
        return out, self.total


@dataclass(frozen=True)
class MetricsSnapshot:
    """The figures at one moment, for exporters (never changed once made)."""

    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    row_groups: int = 0
    records: int = 0
    #: Per model alias: in_flight, limit, ceiling, requests, rate_limited, retries.
    models: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Per endpoint: cumulative counts per bucket of `LATENCY_BOUNDS` (then +Inf), and the sum.
    latency: dict[str, tuple[list[int], float]] = field(default_factory=dict)


class RunMetrics:
    """The figures of one run (see the module doc)."""

    def __init__(self, *, refresh_every: float = 1.0) -> None:
        self.refresh_every = refresh_every
        self.snapshot = MetricsSnapshot()
        self._cells: dict[tuple[str, str], int] = {}
        self._row_groups = 0
        self._records = 0
        self._latency: dict[str, _Histogram] = {}
        self._source: Callable[[], dict[str, Any]] | None = None
        self._listeners: list[Callable[[str, str, float], None]] = []
        self._refreshed = float("-inf")
        self._lock = threading.Lock()

    # -- fed by the engine -------------------------------------------------------------------------

    def cells_finished(self, column: str, status: str, count: int = 1) -> None:
        key = (column, status)
        self._cells[key] = self._cells.get(key, 0) + count

    def group_committed(self, records: int) -> None:
        self._row_groups += 1
        self._records += records

    def request_finished(self, endpoint: str, outcome: str, latency: float) -> None:
        """One request ended after holding its slot for `latency` seconds."""
        with self._lock:
            histogram = self._latency.get(endpoint)
            if histogram is None:
                histogram = self._latency[endpoint] = _Histogram()
            histogram.add(latency)
        for listener in self._listeners:
            listener(endpoint, outcome, latency)

    def add_latency_listener(self, listener: Callable[[str, str, float], None]) -> None:
        """Also tell `listener` of every request (an OpenTelemetry histogram records as it goes)."""
        self._listeners.append(listener)

    @contextlib.contextmanager
    def watch(self, executor: Any) -> Iterator[None]:
        """Read `executor`'s figures while the run lasts, and observe its requests (every executor is a
        `SampleSource`: the local one hears them at its model-call chains, Ray's at its budgets)."""
        self._source = executor.usage_summary
        if isinstance(executor, SampleSource):
            executor.add_sample_sink(self.request_finished)
        try:
            yield
        finally:
            self.refresh(force=True)
            self._source = None

    def refresh(self, *, force: bool = False) -> None:
        """Take a new snapshot (at most once per `refresh_every` unless forced)."""
        now = time.monotonic()
        if not force and now - self._refreshed < self.refresh_every:
            return
        self._refreshed = now
        models: dict[str, dict[str, int]] = dict(self.snapshot.models)
        if self._source is not None:
            models = _model_figures(self._source())
        with self._lock:
            latency = {name: h.cumulative() for name, h in self._latency.items()}
        self.snapshot = MetricsSnapshot(
            cells=dict(self._cells),
            row_groups=self._row_groups,
            records=self._records,
            models=models,
            latency=latency,
        )

    # -- exporters ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serving(self, *, port: int, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve `/metrics` for Prometheus while the block runs; yields its URL."""
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError:
            raise ConfigError(
                "run.metrics_port needs prometheus-client: pip install 'synthloom[metrics]'",
                field="run.metrics_port",
            ) from None
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_PrometheusCollector(self))  # type: ignore[arg-type]
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {exc}", field="run.metrics_port"
            ) from None
        url = f"http://{host}:{server.server_port}/metrics"
        logger.info("metrics at %s", url)
        try:
            yield url
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    @contextlib.contextmanager
    def exporting(
        self, *, endpoint: str | None = None, reader: Any = None, interval: float = 10.0
    ) -> Iterator[Any]:
        """Export through OpenTelemetry while the block runs: over OTLP/HTTP to `endpoint` (a
        collector's base URL), or into `reader` (any metric reader, such as an in-memory one). Yields
        the meter provider; leaving the block flushes it."""
        provider = _otel_provider(endpoint=endpoint, reader=reader, interval=interval)
        meter = provider.get_meter("synthloom")
        _register_otel_instruments(self, meter)
        try:
            yield provider
        finally:
            self.refresh(force=True)
            provider.shutdown()


def _model_figures(usage: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per alias, from an executor's usage summary: its limiter figures and its request counts."""
    out: dict[str, dict[str, int]] = {}
    limiters = usage.get("limiters", {})
    models = usage.get("models", {})
    for alias in sorted(set(limiters) | set(models)):
        lim = limiters.get(alias, {})
        use = models.get(alias, {})
        out[alias] = {
            "in_flight": int(lim.get("in_flight", 0)),
            "limit": int(lim.get("limit", 0)),
            "ceiling": int(lim.get("ceiling", 0)),
            "requests": int(use.get("requests", 0)),
            "cached": int(use.get("cached", 0)),
            "batched": int(use.get("batched", 0)),
            "rate_limited": int(use.get("rate_limited", lim.get("rate_limited", 0))),
            "retries": int(use.get("retries", 0)),
        }
    return out


# -- Prometheus ------------------------------------------------------------------------------------


class _PrometheusCollector:
    def __init__(self, metrics: RunMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        snap = self._metrics.snapshot
        cells = CounterMetricFamily("synthloom_cells", "Cells finished", labels=["column", "status"])
        for (column, status), count in sorted(snap.cells.items()):
            cells.add_metric([column, status], count)
        yield cells
        yield CounterMetricFamily(
            "synthloom_row_groups_committed", "Row groups committed", value=snap.row_groups
        )
        yield CounterMetricFamily("synthloom_records_committed", "Kept records committed", value=snap.records)
        gauges = {
            "in_flight": GaugeMetricFamily(
                "synthloom_model_in_flight", "Requests in flight", labels=["model"]
            ),
            "limit": GaugeMetricFamily(
                "synthloom_model_concurrency_level", "Adaptive concurrency level", labels=["model"]
            ),
            "ceiling": GaugeMetricFamily(
                "synthloom_model_concurrency_ceiling", "Configured max_parallel_requests", labels=["model"]
            ),
        }
        counters = {
            "requests": CounterMetricFamily("synthloom_model_requests", "Model exchanges", labels=["model"]),
            "cached": CounterMetricFamily(
                "synthloom_model_cached", "Exchanges answered by the response cache", labels=["model"]
            ),
            "batched": CounterMetricFamily(
                "synthloom_model_batched", "Exchanges sent through a provider batch API", labels=["model"]
            ),
            "rate_limited": CounterMetricFamily(
                "synthloom_model_rate_limited", "Responses 429 (rate limited)", labels=["model"]
            ),
            "retries": CounterMetricFamily(
                "synthloom_model_retries", "Attempts re-sent after a retryable failure", labels=["model"]
            ),
        }
        for alias, figures in sorted(snap.models.items()):
            for name, gauge in gauges.items():
                gauge.add_metric([alias], figures.get(name, 0))
            for name, counter in counters.items():
                counter.add_metric([alias], figures.get(name, 0))
        yield from gauges.values()
        yield from counters.values()
        histogram = HistogramMetricFamily(
            "synthloom_request_latency_seconds", "Time a request held its slot", labels=["endpoint"]
        )
        for endpoint, (cumulative, total) in sorted(snap.latency.items()):
            bounds = [*(repr(float(b)) for b in LATENCY_BOUNDS), "+Inf"]
            histogram.add_metric([endpoint], list(zip(bounds, cumulative, strict=True)), sum_value=total)
        yield histogram


# -- OpenTelemetry ---------------------------------------------------------------------------------


def _otel_provider(*, endpoint: str | None, reader: Any, interval: float) -> Any:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        raise ConfigError(
            "run.otlp_endpoint needs the OpenTelemetry SDK: pip install 'synthloom[metrics]'",
            field="run.otlp_endpoint",
        ) from None
    if reader is None:
        if endpoint is None:
            raise ValueError("give an OTLP endpoint or a metric reader")
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        except ImportError:
            raise ConfigError(
                "run.otlp_endpoint needs the OTLP exporter: pip install 'synthloom[metrics]'",
                field="run.otlp_endpoint",
            ) from None
        exporter = OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics")
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval * 1000)
    resource = Resource.create({"service.name": "synthloom"})
    return MeterProvider(metric_readers=[reader], resource=resource)


def _register_otel_instruments(metrics: RunMetrics, meter: Any) -> None:
    from opentelemetry.metrics import CallbackOptions, Observation

    def cells(options: CallbackOptions) -> Iterable[Observation]:
        for (column, status), count in metrics.snapshot.cells.items():
            yield Observation(count, {"column": column, "status": status})

    def per_model(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for alias, figures in metrics.snapshot.models.items():
                yield Observation(figures.get(name, 0), {"model": alias})

        return observe

    meter.create_observable_counter("synthloom.cells", callbacks=[cells], unit="{cell}")
    meter.create_observable_counter(
        "synthloom.row_groups.committed",
        callbacks=[lambda options: [Observation(metrics.snapshot.row_groups)]],
        unit="{row_group}",
    )
    meter.create_observable_counter(
        "synthloom.records.committed",
        callbacks=[lambda options: [Observation(metrics.snapshot.records)]],
        unit="{record}",
    )
    meter.create_observable_gauge("synthloom.model.in_flight", callbacks=[per_model("in_flight")])
    meter.create_observable_gauge("synthloom.model.concurrency.level", callbacks=[per_model("limit")])
    meter.create_observable_gauge("synthloom.model.concurrency.ceiling", callbacks=[per_model("ceiling")])
    meter.create_observable_counter("synthloom.model.requests", callbacks=[per_model("requests")])
    meter.create_observable_counter("synthloom.model.cached", callbacks=[per_model("cached")])
    meter.create_observable_counter("synthloom.model.batched", callbacks=[per_model("batched")])
    meter.create_observable_counter("synthloom.model.rate_limited", callbacks=[per_model("rate_limited")])
    meter.create_observable_counter("synthloom.model.retries", callbacks=[per_model("retries")])
    latency = meter.create_histogram(
        "synthloom.request.latency",
        unit="s",
        description="Time a request held its slot",
        explicit_bucket_boundaries_advisory=list(LATENCY_BOUNDS),
    )
    metrics.add_latency_listener(
        lambda endpoint, outcome, seconds: latency.record(seconds, {"endpoint": endpoint, "outcome": outcome})
    )
