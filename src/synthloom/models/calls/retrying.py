"""`Retrying`: send again after a retryable failure, with backoff; a 429 goes back to the limiter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from synthloom.errors import ModelError, RateLimitError
from synthloom.models.calls.handler import Handler, Wrapper
from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.results import CallUsage
from synthloom.models.retry_policy import RetryPolicy

__all__ = ["Retrying"]


class Retrying(Wrapper):
    """Retries `inner` under `policy` (at most `max_retries` failures other than 429). The response's
    usage covers every attempt; an error that ends the call carries it as `error.usage`."""

    def __init__(
        self,
        inner: Handler,
        *,
        policy: RetryPolicy,
        max_retries: int,
        on_failed_attempt: Callable[[int | None, bool], None] | None = None,
    ) -> None:
        super().__init__(inner)
        self.policy = policy
        self.max_retries = max_retries
        #: Told of each failed attempt as it happens (its status, whether it is retried): the live display.
        self.on_failed_attempt = on_failed_attempt

    async def handle(self, request: ModelRequest) -> ModelResponse:
        spent = CallUsage()
        retries = rate_limited = 0
        while True:
            try:
                response = await self.inner.handle(request)
            except ModelError as exc:
                spent.attempts += 1
                spent.latency_s += exc.latency_s
                spent.status_codes.append(getattr(exc, "status_code", None))
                if isinstance(exc, RateLimitError):
                    rate_limited += 1
                else:
                    retries += 1
                again = self.policy.should_retry(
                    exc, retries=retries, rate_limited=rate_limited, max_retries=self.max_retries
                )
                if self.on_failed_attempt is not None:
                    self.on_failed_attempt(spent.status_codes[-1], again)
                if not again:
                    exc.usage = spent
                    raise
                delay = self.policy.delay(exc, retries=retries, rate_limited=rate_limited)
                if delay > 0:
                    await asyncio.sleep(delay)
                continue
            response.usage = spent.add(response.usage)
            return response
