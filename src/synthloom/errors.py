"""Every exception synthloom raises, in one place.

    SynthloomError
    ├── ConfigError                 the user's declaration is wrong (names file, column, node and field)
    │   ├── PlanError               the columns do not form a valid plan (cycle, unknown reference, ...)
    │   └── SeedDataError           seed data is missing, unreadable or empty
    ├── ModelError                  talking to a model failed at run time
    │   ├── ModelHTTPError          the server answered with an error status (status, headers, body kept)
    │   │   ├── RateLimitError      429: handled by the adaptive limiter, not by retries
    │   │   ├── ServerError         5xx: retried with backoff
    │   │   └── RequestRejectedError  other 4xx (bad request, authentication): not retried
    │   ├── ModelTimeoutError       no complete answer within the timeout: retried
    │   ├── ModelConnectionError    refused, reset or dropped connection: retried
    │   ├── MalformedResponseError  the server's body is not the JSON its protocol promises: retried
    │   ├── ParseError              the model's reply could not be turned into the column's value
    │   ├── LocalModelError         the embedded llama.cpp model could not be started
    │   ├── ServingError            a `serve:` replica exited or never became healthy when started
    │   └── BatchRequestError       a provider batch did not answer a request within its attempts
    ├── GenerationError             the engine could not produce the dataset
    │   ├── CellFailedError         one cell failed for good (its row is dropped and recorded)
    │   ├── EarlyShutdownError      the failure rate over a window passed the configured threshold
    │   ├── BudgetExceededError     the spend, or its projection over the run, passed run.budget (exit 3)
    │   ├── ValidatorError          a validator gave no verdict (unreachable, garbage answer): fails its cell
    │   ├── MediaError              an image or audio value cannot be sent (unreadable, too big): row fails
    │   └── ToolError               a tool's machinery failed (an MCP server that will not start or died
    │                               mid-call): fails its cell; a tool's own errors go back to the model
    ├── RunStateError               an output directory cannot be used as asked (resume refused, ...)
    └── OutputError                 the dataset could not be written (unwritable directory, disk full)

`ConfigError` and its subclasses are the user's to fix: the CLI prints their message and exits 2, with
no traceback. `ModelError` is only for model endpoints (the engine waits out an unreachable one);
anything else that talks HTTP (a remote validator) translates its failures into its own error.
Messages never contain secrets: API keys are only ever read from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BatchRequestError",
    "BudgetExceededError",
    "CellFailedError",
    "ConfigError",
    "EarlyShutdownError",
    "GenerationError",
    "LocalModelError",
    "MalformedResponseError",
    "MediaError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelTimeoutError",
    "OutputError",
    "ParseError",
    "PlanError",
    "RateLimitError",
    "RequestRejectedError",
    "RunStateError",
    "SeedDataError",
    "ServerError",
    "ServingError",
    "SynthloomError",
    "ToolError",
    "ValidatorError",
]


class SynthloomError(Exception):
    """Base of every synthloom error."""


class ConfigError(SynthloomError):
    """Something the user declared is wrong.

    The message is built from where the problem is (`source` file, `column`, `node` of a flow, `field`)
    and what it is, so that it reads: ``config.yaml: column 'answer', field 'prompt': unknown column
    'qestion'`` (or ``..., column 'solution', node 'draft', field 'prompt': ...`` inside a flow).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        field: str | None = None,
        line: int | None = None,
        model: str | None = None,
        node: str | None = None,
        col: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.model = model
        self.column = column
        self.node = node
        self.field = field
        self.line = line
        #: The character column (1-based) on `line` where the problem starts, when known.
        self.col = col
        #: A suggested fix, when the code that found the problem knows one.
        self.fix = fix
        #: The other problems found in the same pass (`validate --json` lists them all).
        self.also: list[ConfigError] = []
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.source:
            where.append(f"{self.source}:{self.line}" if self.line else self.source)
        if self.model:
            where.append(f"model '{self.model}'")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.node:
            where.append(f"node '{self.node}'")
        if self.field:
            where.append(f"field '{self.field}'")
        text = f"{', '.join(where)}: {self.reason}" if where else self.reason
        also = getattr(self, "also", [])
        if also:
            text += "".join(f"\n  also: {other}" for other in also[:5])
            if len(also) > 5:
                text += f"\n  ... and {len(also) - 5} more"
        return text

    def with_source(self, source: str) -> ConfigError:
        """Return the same error attributed to `source` (the config file it came from)."""
        if self.source is None:
            self.source = source
        self.args = (self._render(),)
        return self


class PlanError(ConfigError):
    """The columns cannot be planned: a cycle, an unknown reference or model, a bad template."""


class SeedDataError(ConfigError):
    """Seed data is missing, unreadable, empty, or of an unsupported format."""


class ModelError(SynthloomError):
    """A model call failed at run time."""

    #: Whether the engine may retry the call with backoff.
    retryable: bool = False
    #: Seconds the failed attempt spent at the server (set where the request was sent).
    latency_s: float = 0.0
    #: What the whole call cost before it gave up (a `CallUsage`, set by the retry handler).
    usage: Any = None


class ModelHTTPError(ModelError):
    """The server answered with an error status. Keeps the status, headers and (truncated) body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        body: str = "",
    ) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        super().__init__(message)


class RateLimitError(ModelHTTPError):
    """HTTP 429. `retry_after` holds the server's Retry-After in seconds, when it sent one."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ModelHTTPError):
    """HTTP 5xx."""

    retryable = True


class RequestRejectedError(ModelHTTPError):
    """HTTP 4xx other than 429: the request itself is wrong; retrying will not help."""


class ModelTimeoutError(ModelError):
    """The model did not answer completely within the configured timeout."""

    retryable = True


class ModelConnectionError(ModelError):
    """The connection was refused, reset or dropped."""

    retryable = True


class MalformedResponseError(ModelError):
    """The server's response body is not what its protocol promises (e.g. invalid JSON)."""

    retryable = True


class ParseError(ModelError):
    """The model's reply could not be turned into the column's value (invalid JSON, schema mismatch,
    no code block), even after the configured correction turns and restarts."""

    def __init__(self, message: str, *, reply: str | None = None, attempts: int = 1) -> None:
        self.reply = reply
        self.attempts = attempts
        super().__init__(message)


class LocalModelError(ModelError):
    """The embedded llama.cpp model could not be found or started."""


class ServingError(ModelError):
    """A server synthloom starts for a model (`serve:`) did not start or become healthy."""


class BatchRequestError(ModelError):
    """A request sent through a provider's batch API (`batch:`) was not answered in any of the batches
    it was sent in (errors, an expired or failed batch), or a batch could not be submitted."""


class GenerationError(SynthloomError):
    """The engine could not produce the dataset."""


class CellFailedError(GenerationError):
    """One cell failed for good; its row is removed from the output and recorded in failures.jsonl."""

    def __init__(self, message: str, *, column: str, row: int, attempts: int = 1) -> None:
        self.column = column
        self.row = row
        self.attempts = attempts
        super().__init__(message)


class EarlyShutdownError(GenerationError):
    """Too many cells failed within the configured window; the committed row groups are kept."""

    def __init__(self, message: str, *, failure_rate: float, window: int) -> None:
        self.failure_rate = failure_rate
        self.window = window
        super().__init__(message)


class BudgetExceededError(GenerationError):
    """The run's spend, or its projection over the whole run from the committed row groups, passed
    `run.budget`; the run stopped with its committed row groups kept (the CLI exits 3). `spent` and
    `projected` are by measure (`usd`, `tokens`, `requests`)."""

    def __init__(self, message: str, *, spent: dict[str, float], projected: dict[str, float]) -> None:
        self.spent = spent
        self.projected = projected
        super().__init__(message)


class ValidatorError(GenerationError):
    """A validation column could not reach a verdict: its remote validator is unreachable, timed out or
    answered something that is not a verdict, or its callable returned neither a bool nor a dict with
    `is_valid`. The cell fails at once (it is not a model endpoint: no waiting out an outage)."""


class MediaError(GenerationError):
    """An image or audio value of one record cannot be sent (unreadable, unsupported, too large): its row
    fails with this reason."""


class ToolError(GenerationError):
    """A tool could not be run at all: its MCP server cannot be started, or died during the call (it is
    restarted for later cells). The cell fails at once. What a tool itself gets wrong (it raises, times
    out, is given bad arguments) is not an error: it goes back to the model as the call's result."""


class RunStateError(SynthloomError):
    """The output directory cannot be used as asked: resume refused, config changed, run locked."""


class OutputError(SynthloomError):
    """The dataset could not be written: unwritable directory, disk full."""
