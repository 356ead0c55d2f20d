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


#: What `mock-server` uses when neither a flag nor `--config` sets it (a believable remote server).
_MOCK_DEFAULTS = {"latency": 0.2, "jitter": 0.3}

_RATE = click.FloatRange(0, 1)


@click.command("mock-server")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default)."
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True),
    help="A YAML file of any of the settings below (by their field names: tool_turns, accept_rate, ...) "
    "and `script:`, a list of scripted replies ({text, status, delay, finish_reason, body, drop}). "
    "Flags override it.",
)
@click.option("--latency", default=None, type=click.FloatRange(min=0), help="Mean seconds (default 0.2).")
@click.option(
    "--jitter", default=None, type=click.FloatRange(0, 1), help="Fraction of latency (default 0.3)."
)
@click.option("--capacity", default=None, type=click.IntRange(min=1), help="Concurrent requests served.")
@click.option("--retry-after", default=None, type=click.FloatRange(min=0), help="Retry-After sent with 429s.")
@click.option("--queueing", is_flag=True, default=None, help="Queue requests beyond capacity instead of 429.")
@click.option("--error-rate", default=None, type=_RATE, help="Share answered 503.")
@click.option("--hang-rate", default=None, type=_RATE, help="Share never answered.")
@click.option("--drop-rate", default=None, type=_RATE, help="Share with the connection dropped.")
@click.option("--malformed-rate", default=None, type=_RATE, help="Share with a broken JSON body.")
@click.option(
    "--accept-rate",
    default=None,
    type=_RATE,
    help="How often a structured reply picks the last option of every enum (a judge's 'accept').",
)
@click.option("--final-answer-rate", default=None, type=_RATE, help="Text replies ending 'FINAL ANSWER'.")
@click.option(
    "--tool-turns",
    default=None,
    type=click.IntRange(min=0),
    help="Assistant turns that call tools before the answer, when a request offers tools (default 1).",
)
@click.option("--tool-calls-per-turn", default=None, type=click.IntRange(min=1), help="Tool calls per turn.")
@click.option("--tool-malformed-rate", default=None, type=_RATE, help="Tool calls with broken arguments.")
@click.option("--tool-unknown-rate", default=None, type=_RATE, help="Tool calls naming no such tool.")
@click.option("--embedding-dim", default=None, type=click.IntRange(min=1), help="Embedding size.")
@click.option(
    "--batch-delay",
    default=None,
    type=click.FloatRange(min=0),
    help="Seconds from a batch's submission to its end (OpenAI /v1/batches, Anthropic Message Batches).",
)
@click.option(
    "--batch-error-rate",
    default=None,
    type=_RATE,
    help="Share of a batch's requests answered with an error (on their first submission).",
)
@click.option(
    "--batch-expire-next",
    default=None,
    type=click.IntRange(min=0),
    help="The next N batches expire with only half their requests answered.",
)
@click.option("--seed", default=None, type=int, help="Seed of every simulated draw.")
@click.option(
    "--reply",
    "replies",
    multiple=True,
    help="A scripted reply for the next request (repeat for several, in order); then it simulates again.",
)
def mock_server_command(
    host: str, port: int, config_file: str | None, replies: tuple[str, ...], **settings: Any
) -> None:
    """Serve a simulated OpenAI-compatible endpoint until Ctrl-C (a zero-cost dry run of a pipeline).

    It answers chat (structured replies valid against the schema asked for, a fenced code block in the
    language an llm-code column asks for, tool calls when tools are offered), embeddings, images
    (real PNGs) and both batch APIs (OpenAI's files and batches, Anthropic's Message Batches), with
    the latency, limits and faults you set."""
    from pydantic import ValidationError

    from synthloom.testing import ScriptedResponse, SimulatedEndpointConfig, serve

    data, script = _mock_file(config_file)
    data.update({key: value for key, value in settings.items() if value is not None})
    for key, value in _MOCK_DEFAULTS.items():
        data.setdefault(key, value)
    if data.get("queueing") and data.get("capacity") is None:
        raise UserError("--queueing needs --capacity")
    try:
        config = SimulatedEndpointConfig.model_validate(data)
        steps = [ScriptedResponse.model_validate(step) for step in script]
    except ValidationError as exc:
        raise UserError(f"mock-server settings: {exc}") from None
    steps += [ScriptedResponse(text=text) for text in replies]

    def ready(endpoint: Any) -> None:
        endpoint.script(*steps)
        click.echo(f"Simulated endpoint at {endpoint.base_url} (Ctrl-C to stop)", err=True)

    try:
        serve(config, host=host, port=port, ready=ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _mock_file(path: str | None) -> tuple[dict[str, Any], list[Any]]:
    """The settings and the scripted replies of a `--config` file."""
    if path is None:
        return {}, []
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of settings")
    script = data.pop("script", None) or []
    if not isinstance(script, list):
        raise UserError(f"{path}: 'script' must be a list of replies")
    return dict(data), [{"text": step} if isinstance(step, str) else step for step in script]
