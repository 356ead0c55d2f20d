"""`synthloom models check` and `synthloom mock-server`: the model layer's commands."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

__all__ = ["UserError", "mock_server_command", "models_group"]


class UserError(click.ClickException):
    """Something the user must fix (a `ConfigError`): one message, exit 2, like every command."""

    exit_code = 2


@click.group("models")
def models_group() -> None:
    """Inspect the models a dataset config declares."""


async def _check_one(config: Any) -> dict[str, Any]:
    from synthloom.config.model_config import InferenceParams
    from synthloom.errors import SynthloomError
    from synthloom.models import ModelPool, RetryPolicy

    row: dict[str, Any] = {
        "alias": config.alias,
        "provider": config.provider,
        "model": config.model or ("bundled SmolLM2-135M" if config.provider == "local" else None),
        "ok": False,
        "latency_ms": None,
        "error": None,
    }
    # Fail fast: a check is a probe, not a run.
    quick = config.model_copy(update={"max_retries": 0, "timeout": min(config.timeout, 60.0)})
    started = time.perf_counter()
    try:
        async with ModelPool([quick], retry_policy=RetryPolicy(max_rate_limited=0)) as pool:
            await pool.client(config.alias).generate_text(
                [{"role": "user", "content": "Reply with the word OK."}],
                inference=InferenceParams(max_tokens=8),
            )
        row["ok"] = True
        row["latency_ms"] = round(1000 * (time.perf_counter() - started), 1)
    except SynthloomError as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


async def _check_all(dataset: Any) -> list[dict[str, Any]]:
    """Check every model, served ones (`serve:`) on replicas started for the check and stopped after."""
    from synthloom.errors import ServingError
    from synthloom.models.serving import serve_models

    try:
        async with serve_models(dataset) as served:
            # One at a time: the embedded model needs the whole machine, and the output reads in order.
            return [await _check_one(config) for config in served.config.models]
    except ServingError as exc:
        return [
            {"alias": m.alias, "provider": m.provider, "model": m.model, "ok": False, "latency_ms": None}
            | {"error": f"{type(exc).__name__}: {exc}"}
            for m in dataset.models
        ]


@models_group.command("check")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check_command(config_path: str, as_json: bool) -> None:
    """Send one short request to every model in CONFIG and report latency or the error."""
    from synthloom.config.loader import load_config
    from synthloom.errors import ConfigError
    from synthloom.interface.api import check_model_configs

    try:
        dataset = load_config(config_path)
        check_model_configs(dataset)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {config_path}: {exc.strerror or exc}") from None
    try:
        rows = asyncio.run(_check_all(dataset))
    except ConfigError as exc:  # a served model that cannot start (engine, file, port, resources)
        raise UserError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            outcome = f"ok {row['latency_ms']:.0f} ms" if row["ok"] else f"error: {row['error']}"
            click.echo(f"{row['alias']}\t{row['provider']}\t{row['model'] or '-'}\t{outcome}")
    failed = [row["alias"] for row in rows if not row["ok"]]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(rows)} model(s) unreachable: {', '.join(failed)}")


@click.command("mock-server")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default)."
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option("--latency", default=0.2, show_default=True, type=click.FloatRange(min=0), help="Mean seconds.")
@click.option(
    "--jitter", default=0.3, show_default=True, type=click.FloatRange(0, 1), help="Fraction of latency."
)
@click.option("--capacity", default=None, type=click.IntRange(min=1), help="Concurrent requests served.")
@click.option("--retry-after", default=None, type=click.FloatRange(min=0), help="Retry-After sent with 429s.")
@click.option("--queueing", is_flag=True, help="Queue requests beyond capacity instead of answering 429.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share answered 503.")
@click.option("--hang-rate", default=0.0, type=click.FloatRange(0, 1), help="Share never answered.")
@click.option(
    "--drop-rate", default=0.0, type=click.FloatRange(0, 1), help="Share with the connection dropped."
)
@click.option(
    "--malformed-rate", default=0.0, type=click.FloatRange(0, 1), help="Share with a broken JSON body."
)
def mock_server_command(
    host: str,
    port: int,
    latency: float,
    jitter: float,
    capacity: int | None,
    retry_after: float | None,
    queueing: bool,
    error_rate: float,
    hang_rate: float,
    drop_rate: float,
    malformed_rate: float,
) -> None:
    """Serve a simulated OpenAI-compatible endpoint until Ctrl-C (a zero-cost dry run of a pipeline)."""
    from pydantic import ValidationError

    from synthloom.testing import SimulatedEndpointConfig, serve

    if queueing and capacity is None:
        raise click.ClickException("--queueing needs --capacity")
    try:
        config = SimulatedEndpointConfig(
            latency=latency,
            jitter=jitter,
            capacity=capacity,
            retry_after=retry_after,
            queueing=queueing,
            error_rate=error_rate,
            hang_rate=hang_rate,
            drop_rate=drop_rate,
            malformed_rate=malformed_rate,
        )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from None

    def ready(endpoint: Any) -> None:
        click.echo(f"Simulated endpoint at {endpoint.base_url} (Ctrl-C to stop)", err=True)

    try:
        serve(config, host=host, port=port, ready=ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
