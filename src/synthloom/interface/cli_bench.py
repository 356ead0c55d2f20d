"""`synthloom models bench CONFIG [--alias A]`: sweep a model server's concurrency, find the knee, and
recommend a ceiling per replica and the replicas a target needs; the sweep plotted in an HTML file."""

from __future__ import annotations

import asyncio
import json
from html import escape
from pathlib import Path
from typing import Any

import click

__all__ = ["bench_command"]

_DEFAULT_LEVELS = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def _levels(text: str | None, ceiling: int) -> list[int]:
    if text:
        try:
            levels = sorted({int(part) for part in text.split(",") if part.strip()})
        except ValueError:
            raise click.BadParameter(
                "a comma-separated list of whole numbers", param_hint="--levels"
            ) from None
        if not levels or levels[0] < 1:
            raise click.BadParameter("levels must be at least 1", param_hint="--levels")
        return levels
    # Up to twice the configured ceiling: far enough past a well-set one to see the knee.
    return [level for level in _DEFAULT_LEVELS if level <= max(2, 2 * ceiling)]


def _calls_per_record(dataset: Any, alias: str) -> int:
    return max(1, sum(1 for column in dataset.columns if getattr(column, "model", None) == alias))


def _html(alias: str, points: list[Any], plan: Any) -> str:
    from synthloom.report.svg_charts import bar_chart

    throughput = bar_chart([(f"{p.concurrency} in flight", p.throughput) for p in points], title="answered/s")
    latency = bar_chart(
        [(f"{p.concurrency} in flight", p.latency_p50) for p in points], title="median latency (s)", color=1
    )
    rows = "".join(
        f"<tr><td>{p.concurrency}</td><td>{p.throughput:.2f}</td><td>{p.tokens_per_second:.1f}</td>"
        f"<td>{p.latency_p50:.3f}</td><td>{p.latency_p95:.3f}</td><td>{p.errors}</td></tr>"
        for p in points
    )
    target = (
        f"<p>For {plan.records} records in {plan.minutes:g} min ({plan.calls_per_record:g} call(s) per "
        f"record): <b>{plan.replicas} replica(s)</b>.</p>"
        if plan.replicas is not None
        else ""
    )
    return (
        f"<!doctype html><meta charset='utf-8'><title>synthloom bench: {escape(alias)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}"
        "td,th{padding:2px 10px;text-align:right}</style>"
        f"<h1>Concurrency sweep: {escape(alias)}</h1>"
        f"<p>Recommended <code>max_parallel_requests</code> per replica: <b>{plan.ceiling}</b> "
        f"({plan.throughput:.2f} answered/s per replica).</p>{target}"
        f"{throughput}{latency}"
        "<table><tr><th>in flight</th><th>answered/s</th><th>tokens/s</th><th>p50 s</th><th>p95 s</th>"
        f"<th>errors</th></tr>{rows}</table>"
    )


async def _bench(
    dataset: Any, alias: str, levels: str | None, requests: int, max_tokens: int
) -> tuple[Any, list[Any]]:
    from synthloom.models import check_models
    from synthloom.models.serving import serve_models
    from synthloom.models.serving.capacity import BenchTarget, sweep

    async with serve_models(dataset, [alias]) as served:
        model = next(m for m in served.config.models if m.alias == alias)
        provider = check_models([model])[alias]
        replica = model.replicas()[0]  # one replica: the ceiling is per replica
        target = BenchTarget(
            base_url=provider.base_url(replica),
            model=provider.model_id(replica),
            headers=provider.headers(replica),
            max_tokens=max_tokens,
            timeout=model.timeout,
        )
        points = await sweep(
            target, levels=_levels(levels, model.max_parallel_requests), requests_per_level=requests
        )
        return model, points


@click.command("bench")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--alias", default=None, help="The model to measure (default: the first one).")
@click.option(
    "--levels", default=None, help="Concurrencies to try, e.g. 1,2,4,8,16 (default: up to 2x the ceiling)."
)
@click.option(
    "--requests",
    default=24,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests per level (at least 3 per slot).",
)
@click.option(
    "--max-tokens", default=32, show_default=True, type=click.IntRange(min=1), help="Tokens per reply."
)
@click.option("--records", default=None, type=click.IntRange(min=1), help="Target: records to generate...")
@click.option(
    "--minutes", default=None, type=click.FloatRange(min=0, min_open=True), help="...within this time."
)
@click.option(
    "--html",
    "html_path",
    default="bench.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The plot.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the sweep and the recommendation as JSON.")
def bench_command(
    config_path: str,
    alias: str | None,
    levels: str | None,
    requests: int,
    max_tokens: int,
    records: int | None,
    minutes: float | None,
    html_path: str,
    as_json: bool,
) -> None:
    """Sweep concurrency against a model's server (its `serve:` replicas are started for it), find the
    knee, and recommend a ceiling per replica and the replicas for a target."""
    from synthloom.config.loader import load_config
    from synthloom.errors import ConfigError, SynthloomError
    from synthloom.interface.api import check_model_configs
    from synthloom.interface.cli_models import UserError
    from synthloom.models.serving.capacity import recommend

    try:
        dataset = load_config(config_path)
        check_model_configs(dataset)
        aliases = [m.alias for m in dataset.models]
        if not aliases:
            raise ConfigError("the config declares no model", field="models")
        chosen = alias or aliases[0]
        if chosen not in aliases:
            raise ConfigError(
                f"unknown model alias '{chosen}' (declared: {', '.join(aliases)})", field="--alias"
            )
        if (records is None) != (minutes is None):
            raise ConfigError("give both --records and --minutes for a target, or neither", field="--records")
        model, points = asyncio.run(_bench(dataset, chosen, levels, requests, max_tokens))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {config_path}: {exc.strerror or exc}") from None
    except SynthloomError as exc:
        raise click.ClickException(str(exc)) from None
    plan = recommend(
        points, records=records, minutes=minutes, calls_per_record=_calls_per_record(dataset, chosen)
    )
    Path(html_path).write_text(_html(chosen, points, plan), encoding="utf-8")
    if as_json:
        click.echo(
            json.dumps(
                {"alias": chosen, "sweep": [p.as_dict() for p in points], "recommendation": plan.as_dict()},
                indent=2,
            )
        )
        return
    click.echo(f"{'in flight':>9}  {'answered/s':>10}  {'tokens/s':>8}  {'p50 s':>7}  {'p95 s':>7}  errors")
    for p in points:
        figures = f"{p.throughput:>10.2f}  {p.tokens_per_second:>8.1f}  {p.latency_p50:>7.3f}"
        click.echo(f"{p.concurrency:>9}  {figures}  {p.latency_p95:>7.3f}  {p.errors}")
    each = f"{plan.throughput:.2f} answered/s each; configured: {model.max_parallel_requests}"
    click.echo(f"recommended max_parallel_requests per replica: {plan.ceiling} ({each})")
    if plan.replicas is not None:
        click.echo(f"replicas for {records} records in {minutes:g} min: {plan.replicas}")
    click.echo(f"plot: {html_path}")
