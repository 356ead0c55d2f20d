"""How a model's chain is assembled, once per model pool and alias.

`build_chain` puts the handlers in their order; `extra` wrappers (a cache, a budget, a batch API, a
test double's spy) go between accounting and retries, so that what they answer is still accounted and
what they pass on is still retried. A replacement for the network (`FunctionHandler`) goes in as
`transport`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthloom.config.model_config import ModelConfig
from synthloom.models.calls.accounting import Accounting
from synthloom.models.calls.handler import Handler
from synthloom.models.calls.retrying import Retrying
from synthloom.models.retry_policy import RetryPolicy
from synthloom.models.usage import UsageTracker

__all__ = ["HandlerWrapper", "build_chain"]

#: Wraps a handler with one more concern, knowing the model it serves: `(inner, config) -> handler`.
HandlerWrapper = Callable[[Handler, ModelConfig], Handler]


def build_chain(
    config: ModelConfig,
    transport: Handler,
    *,
    usage: UsageTracker,
    retry_policy: RetryPolicy,
    extra: Sequence[HandlerWrapper] = (),
) -> Handler:
    """Accounting → extra wrappers (first given is outermost) → retries → `transport`."""
    alias = config.alias

    def failed(status: int | None, retried: bool) -> None:
        usage.attempt_failed(alias, status, retried=retried)

    handler: Handler = Retrying(
        transport, policy=retry_policy, max_retries=config.max_retries, on_failed_attempt=failed
    )
    for wrap in reversed(extra):
        handler = wrap(handler, config)
    return Accounting(handler, usage=usage)
