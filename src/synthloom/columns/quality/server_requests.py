"""Requests to a model server's own routes (llama.cpp's `/tokenize` and `/completion`, vLLM's
`/tokenize` and `/pooling`, a reward server), sent like every other request of the run: through the
alias's endpoints and limiter, accounted under the column, logged in the cell's lineage.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from synthloom.errors import ModelError
from synthloom.models.call_log import log_exchange, log_failure
from synthloom.models.results import CallUsage

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext

__all__ = ["post_to_server", "server_root"]


def server_root(base_url: str) -> str:
    """The server's root: its OpenAI base URL without the trailing `/v1`."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def post_to_server(
    ctx: CellContext,
    alias: str,
    path: str,
    payload: dict[str, Any],
    *,
    under_base_url: bool = False,
    input_tokens: int = 0,
) -> dict[str, Any]:
    """POST `payload` to `path` on `alias`'s server (its root, or its base URL when `under_base_url`)
    and return the JSON answered. Errors are the model layer's (`ModelError` and kin), so the cell's
    retries and the endpoint's health see them as for a chat request."""
    client = ctx.client(alias)
    usage = CallUsage()
    started = time.monotonic()
    tracker = ctx.models.usage if ctx.models is not None else None
    try:
        async with client.endpoints.slot() as lease:
            started = lease.started
            assert lease.session is not None
            url = (lease.base_url.rstrip("/") if under_base_url else server_root(lease.base_url)) + path
            usage.attempts = 1
            body = await lease.session.post_json(
                url, payload, headers=lease.headers, timeout=client.config.timeout
            )
    except ModelError as exc:
        usage.latency_s = time.monotonic() - started
        usage.status_codes.append(getattr(exc, "status_code", None))
        if tracker is not None:
            tracker.record(alias, ctx.tag, usage, ok=False)
        log_failure(alias, ctx.tag, exc)
        raise
    usage.latency_s = time.monotonic() - started
    usage.status_codes.append(200)
    usage.input_tokens = input_tokens
    if tracker is not None:
        tracker.record(alias, ctx.tag, usage, ok=True)
    log_exchange(
        alias,
        ctx.tag,
        {
            "request": {"path": path, **_shortened(payload)},
            "reply": _shortened(body),
            "input_tokens": input_tokens,
            "output_tokens": 0,
            "latency_s": round(usage.latency_s, 4),
            "http_attempts": 1,
        },
    )
    return body


def _shortened(value: Any, limit: int = 4000) -> Any:
    """`value` for the lineage, long lists and strings cut (a token list, log-probabilities)."""
    if isinstance(value, dict):
        return {k: _shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, limit) for v in value[:64]] + (
            [f"... {len(value) - 64} more"] if len(value) > 64 else []
        )
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} characters)"
    return value
