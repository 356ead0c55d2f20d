"""What a model call returns: the reply, the parsed value, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synthloom.models.messages import Message, ToolCall, to_openai_messages
from synthloom.models.reply import Reply

__all__ = ["CallUsage", "ChatResult", "CodeResult", "EmbeddingResult", "StructuredResult"]


@dataclass(slots=True)
class CallUsage:
    """Accounting for one model exchange, retries included.

    `status_codes` has one entry per HTTP attempt (None when no status arrived: timeout, dropped
    connection), so `attempts == len(status_codes)`.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 0
    status_codes: list[int | None] = field(default_factory=list)

    @property
    def rate_limited(self) -> int:
        return sum(1 for code in self.status_codes if code == 429)

    @property
    def server_errors(self) -> int:
        """Attempts answered with a 5xx status."""
        return sum(1 for code in self.status_codes if code is not None and code >= 500)

    @property
    def retries(self) -> int:
        """Attempts re-sent after a retryable failure other than 429."""
        return max(0, self.attempts - 1 - self.rate_limited)

    def add(self, other: CallUsage) -> CallUsage:
        """The sum of two exchanges (a correction turn adds to the first reply's cost)."""
        return CallUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            latency_s=self.latency_s + other.latency_s,
            attempts=self.attempts + other.attempts,
            status_codes=self.status_codes + other.status_codes,
        )


@dataclass(slots=True)
class ChatResult:
    """One chat exchange: the parsed `reply`, the messages `sent`, and what the exchange cost.

    `messages` is the whole conversation in OpenAI's messages form, the assistant turn last with its
    tool calls (the form traces are stored in); it is built when asked for, not per request.
    """

    reply: Reply
    sent: list[Message]
    usage: CallUsage

    @property
    def conversation(self) -> list[Message]:
        """The messages sent, then the assistant's turn."""
        return [*self.sent, self.reply.to_message()]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return to_openai_messages(self.conversation)

    @property
    def text(self) -> str:
        return self.reply.text

    @property
    def reasoning(self) -> str | None:
        return self.reply.reasoning

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.reply.tool_calls

    @property
    def finish_reason(self) -> str | None:
        return self.reply.finish_reason


@dataclass(slots=True)
class StructuredResult:
    """A JSON value that validated against the requested schema, and the reply it came from.

    `usage` sums every exchange spent getting it (correction turns and restarts included).
    """

    value: Any
    chat: ChatResult
    usage: CallUsage
    attempts: int = 1


@dataclass(slots=True)
class CodeResult:
    """Source code extracted from a reply, in the requested language."""

    code: str
    language: str
    chat: ChatResult
    usage: CallUsage
    attempts: int = 1


@dataclass(slots=True)
class EmbeddingResult:
    """One vector per input text, in input order."""

    vectors: list[list[float]]
    usage: CallUsage
