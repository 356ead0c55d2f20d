"""The one seam every model request passes: a `Handler`, and wrappers around one.

    Accounting(usage, lineage)           counts every request once, cached or not
      └ [further wrappers: cache, budget, batch …]
          └ Retrying(policy)              backoff on 5xx, timeouts, dropped connections; 429 via the limiter
              └ Routing(endpoint set)     a replica, its limiter's slot, its session: one HTTP attempt

A handler takes a `ModelRequest` and returns a `ModelResponse` (or raises a `ModelError`). A concern
that is not sending — a cache, a spend budget, a batch API, a test double — is one small wrapper, never
an `if` inside the client. `FunctionHandler` replaces the network in tests, as a mock transport would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.results import CallUsage

__all__ = ["FunctionHandler", "Handler", "Wrapper"]


@runtime_checkable
class Handler(Protocol):
    """Answers one model request."""

    async def handle(self, request: ModelRequest) -> ModelResponse: ...


class Wrapper:
    """A handler that adds one concern around `inner`. Subclasses override `handle` and call
    `self.inner.handle(request)` where the request goes on."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner

    async def handle(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.handle(request)

    async def aclose(self) -> None:
        """Release what the wrapper holds (a store, a poller), then the inner handler's."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


class FunctionHandler:
    """A handler answering from `function(request) -> JSON body` (sync or async): the test double that
    replaces the network while the rest of the chain (parsing, accounting, lineage) runs for real."""

    def __init__(
        self, function: Callable[[ModelRequest], dict[str, object] | Awaitable[dict[str, object]]]
    ) -> None:
        self._function = function
        #: Every request answered, in order: what a test asserts was sent.
        self.requests: list[ModelRequest] = []

    async def handle(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        answer = self._function(request)
        body = dict(await answer if isinstance(answer, Awaitable) else answer)  # type: ignore[arg-type]
        parsed = request.parse(body)
        usage = CallUsage(
            input_tokens=parsed.input_tokens,
            output_tokens=parsed.output_tokens,
            attempts=1,
            status_codes=[200],
        )
        return ModelResponse(value=parsed.value, body=body, usage=usage)
