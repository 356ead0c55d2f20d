"""`Reply`: what a provider reads out of one chat response, whatever its wire protocol."""

from __future__ import annotations

from dataclasses import dataclass, field

from synthloom.models.messages import Message, ToolCall

__all__ = ["Reply"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The assistant's turn: text, the reasoning the model sent (if any), the tools it calls, why it
    stopped, and the tokens the server counted. The exchange's full accounting (attempts, latency,
    statuses) is the `CallUsage` beside it in `ChatResult`."""

    text: str
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    def to_message(self) -> Message:
        """The assistant turn to continue the conversation with (reasoning is not sent back)."""
        return Message("assistant", self.text, tool_calls=self.tool_calls)
