"""How long to wait before sending a failed request again, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from synthloom.errors import ModelError, RateLimitError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    5xx, timeouts, dropped connections and malformed bodies are retried up to the model's
    `max_retries`. A 429 is not a retry: the request goes back to the adaptive limiter (which honours
    Retry-After) after a short jittered wait, at most `max_rate_limited` times per call so that a
    permanent 429 still ends in an error.
    """

    base_delay: float = 0.5
    max_delay: float = 30.0
    rate_limit_base_delay: float = 0.05
    rate_limit_max_delay: float = 2.0
    max_rate_limited: int = 50
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def should_retry(self, error: ModelError, *, retries: int, rate_limited: int, max_retries: int) -> bool:
        """Whether to send again after `error`; `retries`/`rate_limited` count failures so far."""
        if isinstance(error, RateLimitError):
            return rate_limited <= self.max_rate_limited
        return error.retryable and retries <= max_retries

    def delay(self, error: ModelError, *, retries: int, rate_limited: int) -> float:
        """Seconds to sleep before the next attempt (the n-th failure of its kind)."""
        if isinstance(error, RateLimitError):
            # The limiter already pauses for Retry-After; this only spreads the re-queued requests.
            cap = min(self.rate_limit_max_delay, self.rate_limit_base_delay * 2 ** (rate_limited - 1))
            return self.rng.uniform(0, cap)
        cap = min(self.max_delay, self.base_delay * 2 ** (retries - 1))
        return self.rng.uniform(0, cap)
