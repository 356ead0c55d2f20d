"""The tool loop: ask the model, run the tools it calls, send the results back, until it answers.

    loop = ToolLoop(client, toolset, mode="native", max_tool_calls=8, tag="answer")
    result = await loop.run(messages, finish=text_answer)
    result.value        # what `finish` made of the final answer
    result.trajectory   # the conversation, tool calls and results included (OpenAI messages form)

Every request goes through `client.chat`, so the limiter, retries and usage accounting apply to each
turn. `native` offers the tools in the request (OpenAI `tools`, Anthropic `tool_use`); `react`
describes them in the system prompt and reads `Action:` / `Final Answer:` from the text (`react.py`).
Either way the trajectory is kept in the native form: assistant turns with `tool_calls`, then one
`tool` turn per call. It holds the user's own system prompt, not the ReAct instructions, and leaves
out correction turns, so it reads as a clean tool-use example.

Bounds: at most `max_tool_calls` calls run per cell (calls past it are answered "not run"); after
that the model is asked to answer without tools (`tool_choice: none`, or a ReAct observation saying
so). With `max_turns`, at most that many requests are made: the last is asked the same way to
answer (a ReAct model is told so with the observation before it). A final answer `finish` rejects
gets up to `corrections` correction turns, within `max_turns`. A model that keeps calling tools, or
never gives a usable answer, fails the cell with a `ParseError`.

Record-only tools (`execute: false`): a turn that calls one ends the loop there. Nothing in that turn
runs; the trajectory ends with the assistant turn and its calls, and the value is the calls
(`[{name, arguments}]`): the model's calls are the target. With `response_format` (a JSON-schema
answer, on a provider that takes it together with tools) every request carries it, so no schema
instructions need to be in the conversation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from synthloom.config.model_config import InferenceParams
from synthloom.errors import ParseError
from synthloom.models.messages import Message, ToolCall, to_openai_messages
from synthloom.models.results import CallUsage, ChatResult
from synthloom.tools.react import REACT_STOP, observation, parse_react, react_instructions
from synthloom.tools.toolset import ToolOutcome, Toolset

if TYPE_CHECKING:
    from synthloom.models import ScopedClient

__all__ = ["Answer", "Finish", "ToolLoop", "ToolLoopResult", "text_answer"]

LoopMode = Literal["native", "react"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What `finish` made of a final answer: the value, or why it cannot be used."""

    ok: bool
    value: Any = None
    error: str = ""


#: Turns a final answer's text into the cell's value (or says why it cannot).
Finish = Callable[[str], Answer]


def text_answer(text: str) -> Answer:
    """The answer's text, stripped (any non-empty text will do)."""
    stripped = text.strip()
    return Answer(True, stripped) if stripped else Answer(False, error="the answer is empty")


@dataclass
class ToolLoopResult:
    value: Any
    #: The final answer's text.
    text: str
    #: The conversation in the native form (see the module docstring).
    trajectory: list[Message]
    #: The last exchange, as sent (its `messages` are the `__trace`).
    last: ChatResult
    usage: CallUsage
    model_calls: int
    outcomes: list[ToolOutcome] = field(default_factory=list)
    #: The loop ended at calls to record-only tools (the value is those calls).
    ended_at_calls: bool = False

    @property
    def trajectory_messages(self) -> list[dict[str, Any]]:
        return to_openai_messages(self.trajectory)


class ToolLoop:
    """Runs one cell's tool loop against one model client and one toolset."""

    def __init__(
        self,
        client: ScopedClient,
        toolset: Toolset,
        *,
        mode: LoopMode,
        max_tool_calls: int,
        inference: InferenceParams | None = None,
        tag: str | None = None,
        corrections: int = 2,
        what: str = "your final answer",
        max_turns: int | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.response_format = response_format
        self.toolset = toolset
        self.mode = mode
        self.max_tool_calls = max_tool_calls
        self.max_turns = max_turns
        self.inference = inference
        self.tag = tag
        self.corrections = corrections
        self.what = what

    async def run(self, messages: list[Message], finish: Finish = text_answer) -> ToolLoopResult:
        if self.mode == "react":
            return await _ReactRun(self, messages, finish).run()
        return await _NativeRun(self, messages, finish).run()


class _Run:
    """The state of one loop: the conversation sent, the trajectory kept, the counts."""

    def __init__(self, loop: ToolLoop, messages: list[Message], finish: Finish) -> None:
        self.loop = loop
        self.finish = finish
        self.conversation = list(messages)
        self.trajectory = list(messages)
        self.usage = CallUsage()
        self.model_calls = 0
        self.calls_made = 0
        self.corrections = 0
        self.outcomes: list[ToolOutcome] = []
        # Ids already in the conversation (an agent's earlier turns in a shared history) are taken too.
        self._ids: set[str] = {call.id for message in messages for call in message.tool_calls}

    @property
    def budget(self) -> int:
        return self.loop.max_tool_calls - self.calls_made

    @property
    def turns_left(self) -> int | None:
        """The requests `max_turns` still allows (None: no such bound)."""
        turns = self.loop.max_turns
        return None if turns is None else turns - self.model_calls

    @property
    def must_answer(self) -> bool:
        """The next request may not call tools: the call budget is spent, or it is the last turn."""
        left = self.turns_left
        return self.budget <= 0 or (left is not None and left <= 1)

    async def chat(self, **options: Any) -> ChatResult:
        loop = self.loop
        if self.turns_left == 0:
            raise ParseError(
                f"model '{loop.client.alias}': no usable answer within max_turns={loop.max_turns} "
                f"requests ({self.calls_made} tool calls)",
                attempts=self.model_calls,
            )
        if loop.response_format is not None:
            options["response_format"] = loop.response_format
        result = await loop.client.chat(self.conversation, tag=loop.tag, **options)
        self.usage = self.usage.add(result.usage)
        self.model_calls += 1
        return result

    def unique_ids(self, calls: list[ToolCall]) -> list[ToolCall]:
        """The calls with ids unique within the conversation (servers reuse `call_0` turn after turn)."""
        out = []
        for index, call in enumerate(calls):
            if not call.id or call.id in self._ids:
                fresh = f"call_{self.model_calls}_{index}"
                while fresh in self._ids:
                    fresh += "_"
                call = dataclasses.replace(call, id=fresh)
            self._ids.add(call.id)
            out.append(call)
        return out

    async def run_calls(self, calls: list[ToolCall]) -> list[ToolOutcome]:
        runnable, refused = calls[: max(self.budget, 0)], calls[max(self.budget, 0) :]
        outcomes = await self.loop.toolset.run(runnable) if runnable else []
        limit = self.loop.max_tool_calls
        outcomes += [
            ToolOutcome(c, f"Error: not run: the limit of {limit} tool calls is reached; answer now", "limit")
            for c in refused
        ]
        self.calls_made += len(calls)
        self.outcomes.extend(outcomes)
        return outcomes

    def accepted(self, text: str, answer: Answer, last: ChatResult) -> ToolLoopResult:
        self.trajectory.append(Message("assistant", text))
        return ToolLoopResult(
            value=answer.value,
            text=text,
            trajectory=self.trajectory,
            last=last,
            usage=self.usage,
            model_calls=self.model_calls,
            outcomes=self.outcomes,
        )

    def ended_at(self, turn: Message, last: ChatResult) -> ToolLoopResult:
        """The loop's end at a turn calling record-only tools: kept, nothing run."""
        self.trajectory.append(turn)
        calls = [{"name": call.name, "arguments": dict(call.arguments)} for call in turn.tool_calls]
        return ToolLoopResult(
            value=calls,
            text=turn.text,
            trajectory=self.trajectory,
            last=last,
            usage=self.usage,
            model_calls=self.model_calls,
            outcomes=self.outcomes,
            ended_at_calls=True,
        )

    def correction(self, answer: Answer, reply_text: str, suffix: str = "") -> Message:
        """The correction turn for a rejected answer; raises when the corrections are used up."""
        if self.corrections >= self.loop.corrections:
            raise ParseError(
                f"model '{self.loop.client.alias}': no usable answer after {self.model_calls} requests "
                f"and {self.calls_made} tool calls: {answer.error}",
                reply=reply_text,
                attempts=self.model_calls,
            )
        self.corrections += 1
        from synthloom.models.structured_output import correction_message

        return Message("user", correction_message(answer.error, self.loop.what) + suffix)

    def stuck(self, reply_text: str) -> ParseError:
        loop = self.loop
        bound = f"max_tool_calls={loop.max_tool_calls}"
        if self.budget > 0 and loop.max_turns is not None:
            bound = f"max_turns={loop.max_turns}"
        return ParseError(
            f"model '{loop.client.alias}': still calling tools after {bound}, with no answer",
            reply=reply_text,
            attempts=self.model_calls,
        )


class _NativeRun(_Run):
    async def run(self) -> ToolLoopResult:
        specs = self.loop.toolset.specs
        inference = self.loop.inference
        while True:
            may_call = not self.must_answer
            chat = await self.chat(tools=specs, tool_choice=None if may_call else "none", inference=inference)
            reply = chat.reply
            if reply.tool_calls and may_call:
                calls = self.unique_ids(reply.tool_calls)
                turn = Message("assistant", reply.text, tool_calls=calls)
                if self.loop.toolset.records_only(calls):
                    return self.ended_at(turn, chat)
                outcomes = await self.run_calls(calls)
                results = [outcome.to_message() for outcome in outcomes]
                self.conversation += [turn, *results]
                self.trajectory += [turn, *results]
                continue
            if reply.tool_calls and not reply.text.strip():
                raise self.stuck(reply.text)
            answer = self.finish(reply.text)
            if answer.ok:
                return self.accepted(reply.text, answer, chat)
            correction = self.correction(answer, reply.text)
            self.conversation += [Message("assistant", reply.text), correction]


class _ReactRun(_Run):
    def __init__(self, loop: ToolLoop, messages: list[Message], finish: Finish) -> None:
        super().__init__(loop, messages, finish)
        self.conversation = _with_system(messages, react_instructions(loop.toolset.specs))

    async def run(self) -> ToolLoopResult:
        inference = self._inference()
        told_to_stop = False
        while True:
            chat = await self.chat(inference=inference)
            step = parse_react(chat.text, call_id=f"call_{self.model_calls}")
            if step.action is not None:
                if self.budget <= 0 or self.turns_left == 0:
                    if told_to_stop or self.turns_left == 0:
                        raise self.stuck(chat.text)
                    told_to_stop = True
                    limit = self.loop.max_tool_calls
                    note = (
                        f"Error: no more tool calls (the limit is {limit}). Reply with your Final Answer now."
                    )
                    self.conversation += [Message("assistant", step.text), Message("user", observation(note))]
                    continue
                [call] = self.unique_ids([step.action])
                if self.loop.toolset.records_only([call]):
                    return self.ended_at(Message("assistant", step.thought, tool_calls=[call]), chat)
                [outcome] = await self.run_calls([call])
                seen = observation(outcome.content)
                if self.turns_left == 1:  # no tools can be withdrawn from a prompt: say it instead
                    seen += "\nThat was your last tool call: reply with your Final Answer now."
                self.conversation += [Message("assistant", step.text), Message("user", seen)]
                self.trajectory += [
                    Message("assistant", step.thought, tool_calls=[call]),
                    outcome.to_message(),
                ]
                continue
            final = step.final or ""
            answer = self.finish(final)
            if answer.ok:
                return self.accepted(final, answer, chat)
            correction = self.correction(answer, chat.text, ' Reply in the form "Final Answer: ...".')
            self.conversation += [Message("assistant", step.text), correction]

    def _inference(self) -> InferenceParams:
        """The column's parameters, with the ReAct stop sequence added to the model's own."""
        loop = self.loop
        merged = loop.client.config.inference.merged(loop.inference)
        stops = list(merged.stop or [])
        if REACT_STOP not in stops:
            stops.append(REACT_STOP)
        return (loop.inference or InferenceParams()).merged(InferenceParams(stop=stops))


def _with_system(messages: list[Message], text: str) -> list[Message]:
    """`messages` with `text` added to the first system turn (or as a new one, first)."""
    for index, message in enumerate(messages):
        if message.role == "system":
            joined = f"{message.text}\n\n{text}" if message.text.strip() else text
            return [*messages[:index], Message("system", joined), *messages[index + 1 :]]
    return [Message("system", text), *messages]
