"""A chat history shared by the nodes of one flow run, seen by each speaker from its own side.

    chat = ChatHistory(HistoryConfig(window=6))
    chat.messages_for("alice")           # turns by alice as `assistant`, every other turn as `user`
    chat.append("alice", "I think ...")
    chat.view()                          # what templates read: {turns, last, speaker, count}

Injected messages (`inject: [{at_turn: 4, ...}]`) enter the history just before turn 4 is spoken and
keep their role for every speaker they are meant for (`to`: those speakers only; everyone by
default). The window counts spoken turns; an injection stays in view while the turn after it does.

An agent's turn is spoken with the messages it is made of (`append("support", answer, own=[...])`:
assistant turns with tool calls, tool results, the answer): the agent sees them all again, every
other speaker sees only the answer, as `user`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from synthloom.columns.flow.config import HistoryConfig
from synthloom.plan.templates import compile_template

__all__ = ["ChatHistory", "turn_text"]


def turn_text(value: Any) -> str:
    """A node's value as the text of its turn (structured values as JSON)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value, default=str).decode()


@dataclass
class _Entry:
    content: str
    speaker: str | None = None  # None: an injected message
    role: str = "user"
    #: The speaker's own view of its turn, when it is more than its text (an agent's tool use).
    own: list[dict[str, Any]] | None = None
    #: An injected message: the speakers who see it (None: every speaker).
    to: frozenset[str] | None = None


@dataclass
class ChatHistory:
    """One history of one flow run (a record): private to that run."""

    config: HistoryConfig
    entries: list[_Entry] = field(default_factory=list)
    spoken: int = 0
    _injected: set[int] = field(default_factory=set)

    def inject_due(self, state: Mapping[str, Any]) -> bool:
        """Put in the messages due before the next turn, rendered over `state`; True if any was."""
        upcoming = self.spoken + 1
        added = False
        for i, injection in enumerate(self.config.inject):
            if injection.at_turn == upcoming and i not in self._injected:
                self._injected.add(i)
                content = compile_template(injection.content).render(state)
                to = frozenset(injection.to) if injection.to is not None else None
                self.entries.append(_Entry(content, None, injection.role, to=to))
                added = True
        return added

    def messages_for(self, speaker: str) -> list[dict[str, Any]]:
        """The window of the history as `speaker` sees it: its own turns are `assistant`."""
        entries = self.entries
        window = self.config.window
        if window is not None and self.spoken > window:
            # Start at the first turn in the window; injections before it fall out with it.
            seen = 0
            start = len(entries)
            for i in range(len(entries) - 1, -1, -1):
                if entries[i].speaker is not None:
                    seen += 1
                    if seen == window:
                        start = i
                        break
            entries = entries[start:]
        out: list[dict[str, Any]] = []
        for entry in entries:
            if entry.speaker is None:
                if entry.to is None or speaker in entry.to:
                    out.append({"role": entry.role, "content": entry.content})
            elif entry.speaker != speaker:
                out.append({"role": "user", "content": entry.content})
            elif entry.own:
                out.extend(dict(message) for message in entry.own)
            else:
                out.append({"role": "assistant", "content": entry.content})
        return out

    def append(self, speaker: str, content: str, own: list[dict[str, Any]] | None = None) -> None:
        """Add a spoken turn; `own` is how its speaker sees it, when that is more than `content`."""
        self.entries.append(_Entry(content, speaker, own=own))
        self.spoken += 1

    def turns(self) -> list[dict[str, str]]:
        """The spoken turns, oldest first."""
        return [{"speaker": e.speaker, "content": e.content} for e in self.entries if e.speaker is not None]

    def view(self) -> dict[str, Any]:
        """The history as templates read it."""
        turns = self.turns()
        last = turns[-1] if turns else None
        return {
            "turns": turns,
            "last": last["content"] if last else "",
            "speaker": last["speaker"] if last else None,
            "count": len(turns),
        }
