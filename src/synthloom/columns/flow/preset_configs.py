"""Presets built on the flow machinery: `conversation` and `refine`. Each is a column config that builds
the `FlowColumn` it runs (`as_flow()`); the planner and the engine see that flow's nodes.

    - name: dialog
      type: conversation
      user: {model: sim, persona: "{{ persona }}", prompt: "Ask about {{ topic }}."}
      assistant: {model: bot, system_prompt: "You are a helpful assistant."}
      turns: {min: 2, max: 4}          # exchanges (user + assistant); or a number; sampled per record
      stop_when: "{{ 'thanks' in user_message | lower }}"   # optional, checked after each exchange
      judge: {model: grader, prompt: "...{{ assistant_message }}", scores: [...]}   # optional, per turn

The value is an OpenAI `messages` list from the assistant's side: its system prompt (when it has one),
then alternating `user` and `assistant` turns. Inside, the nodes are `user` and `assistant` (and
`judge`), writing `user_message`, `assistant_message` (and `judgement`); the shared history is `chat`
(`chat.count` turns so far); `max_turns` is the record's number of exchanges. Per-turn judgements go to
the side column `<name>__judgements`.

    - name: answer
      type: refine
      generate: {model: writer, prompt: "Explain {{ topic }}."}
      judge: {model: critic, prompt: "Rate this explanation: {{ draft }}", scores: [...]}
      until: "{{ judgement.clarity.score >= 4 }}"      # or: threshold: {score: clarity, min: 4}
      max_iterations: 3

Generate, judge, then revise with the critique until `until` holds or `max_iterations` drafts were
judged. The value is `{final, judgement, iterations}`; `<name>__trajectory` (on by default) keeps every
draft and judgement. Inside, the draft is `draft`, the last judgement `judgement`, the count
`iterations`; `revise_prompt` (a template over those and the columns) has a default that quotes the
task, the draft and the critique.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, model_validator

from synthloom.columns.flow.config import END, START, FlowColumn
from synthloom.columns.llm.config import JudgeScore
from synthloom.config.base import ColumnConfig, ImportPath, StrictModel
from synthloom.config.model_config import InferenceParams

__all__ = [
    "ChatRole",
    "ConversationColumn",
    "JudgeOptions",
    "PromptedRole",
    "RefineColumn",
    "ScoreThreshold",
    "SimulatedUser",
    "TurnRange",
]

#: The most exchanges of a conversation bounded only by `stop_when`.
DEFAULT_MAX_TURNS = 10


class ChatRole(StrictModel):
    """A model speaking in a preset, with its options."""

    #: The alias of the model speaking.
    model: str
    #: Its system message (a Jinja template over the record).
    system_prompt: str | None = None
    #: Sampling parameters for its requests.
    inference: InferenceParams | None = None


class PromptedRole(ChatRole):
    """A model with its prompt (a template)."""

    #: Its prompt: a Jinja template over the record.
    prompt: str


class SimulatedUser(ChatRole):
    """The simulated user of a conversation."""

    #: Who the user is (a template): added to the user's system prompt.
    persona: str | None = None
    #: The instruction for the user's first message (a template); later messages answer the assistant.
    prompt: str = "Write your first message to the assistant."


class JudgeOptions(ChatRole):
    """An `llm-judge` inside a preset."""

    #: The judge's prompt (a Jinja template); a default is used when omitted.
    prompt: str | None = None
    #: The judge's rubric: named scores with their options.
    scores: Annotated[list[JudgeScore], Field(min_length=1)]


class TurnRange(StrictModel):
    """A number of exchanges drawn per record, uniformly from `min` to `max`."""

    #: The fewest exchanges.
    min: Annotated[int, Field(ge=1)]
    #: The most exchanges.
    max: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _ordered(self) -> TurnRange:
        if self.min > self.max:
            raise ValueError("min is larger than max")
        return self


class _Preset(ColumnConfig):
    """A column that runs a flow it builds."""

    _flow: FlowColumn | None = PrivateAttr(default=None)

    def as_flow(self) -> FlowColumn:
        if self._flow is None:
            self._flow = self.build_flow()
        return self._flow

    def build_flow(self) -> FlowColumn:
        raise NotImplementedError

    @model_validator(mode="after")
    def _builds(self) -> _Preset:
        self._flow = self.build_flow()  # a preset that cannot build its flow is a validation error
        return self

    def nested_columns(self) -> dict[str, ColumnConfig]:
        return self.as_flow().nested_columns()

    def internal_names(self) -> set[str]:
        return self.as_flow().internal_names()

    def import_paths(self) -> dict[str, ImportPath]:
        return {}

    def check_structure(self) -> None:
        self.as_flow().check_structure()


def _judge_node(name: str, judge: JudgeOptions, default_prompt: str, writes: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "llm-judge",
        "model": judge.model,
        "prompt": judge.prompt or default_prompt,
        "system_prompt": judge.system_prompt,
        "inference": judge.inference,
        "scores": judge.scores,
        "writes": writes,
    }


class ConversationColumn(_Preset):
    """A simulated user and an assistant talking; the value is an OpenAI messages list."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "stop_when")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "chat",
        "type": "conversation",
        "user": {"model": "writer", "persona": "A student asking about {{ topic }}"},
        "assistant": {"model": "writer", "system_prompt": "You are a patient tutor."},
        "turns": 3,
    }

    type: Literal["conversation"] = "conversation"
    #: The simulated user: model, system prompt, persona and the prompt of its first message.
    user: SimulatedUser
    #: The assistant: model and system prompt.
    assistant: ChatRole
    #: How many user turns: a number or a `{min, max}` range.
    turns: Annotated[int, Field(ge=1)] | TurnRange | None = None
    #: A condition over the conversation that ends it early.
    stop_when: str | None = None
    #: An optional judge that scores the finished conversation.
    judge: JudgeOptions | None = None
    #: Also write `<name>__trajectory`: one entry per step.
    trajectory: bool = False

    def max_turns(self) -> int:
        if isinstance(self.turns, TurnRange):
            return self.turns.max
        return self.turns or DEFAULT_MAX_TURNS

    def build_flow(self) -> FlowColumn:
        if self.turns is None and self.stop_when is None:
            raise ValueError(
                f"give 'turns', 'stop_when' or both (stop_when alone: at most {DEFAULT_MAX_TURNS})"
            )
        state: dict[str, Any] = {}
        nodes: list[dict[str, Any]] = []
        first = "user"
        if isinstance(self.turns, TurnRange):
            nodes.append(
                {
                    "name": "max_turns",
                    "type": "expression",
                    "expr": f"{{{{ range({self.turns.min}, {self.turns.max + 1}) | random }}}}",
                    "dtype": "int",
                }
            )
            first = "max_turns"
        else:
            state["max_turns"] = self.max_turns()
        system = self.user.system_prompt or (
            "You are role-playing a user talking to an AI assistant. Write only the user's next "
            "message: no role labels, no quotation marks."
        )
        if self.user.persona:
            system += "\n\nYou are: " + self.user.persona
        nodes.append(
            {
                "name": "user",
                "type": "llm-text",
                "model": self.user.model,
                "system_prompt": system,
                "inference": self.user.inference,
                "prompt": "{% if chat.count == 0 %}" + self.user.prompt + "{% endif %}",
                "history": {"name": "chat", "speaker": "user"},
                "writes": "user_message",
            }
        )
        nodes.append(
            {
                "name": "assistant",
                "type": "llm-text",
                "model": self.assistant.model,
                "system_prompt": self.assistant.system_prompt,
                "inference": self.assistant.inference,
                "history": {"name": "chat", "speaker": "assistant"},
                "writes": "assistant_message",
            }
        )
        edges: list[dict[str, Any]] = [
            {"from": START, "to": first},
            {"from": "user", "to": "assistant"},
        ]
        if first != "user":
            edges.append({"from": first, "to": "user"})
        last = "assistant"
        if self.judge is not None:
            state["judgements"] = []
            nodes.append(
                _judge_node(
                    "judge",
                    self.judge,
                    "Judge the assistant's last reply.\n\nUser: {{ user_message }}\n\n"
                    "Assistant: {{ assistant_message }}",
                    "judgement",
                )
            )
            nodes.append(
                {
                    "name": "collect",
                    "type": "expression",
                    "expr": "{{ judgements + [judgement] }}",
                    "dtype": "json",
                    "writes": "judgements",
                }
            )
            edges += [{"from": "assistant", "to": "judge"}, {"from": "judge", "to": "collect"}]
            last = "collect"
        branches: list[dict[str, str]] = [{"if": "{{ chat.count >= 2 * max_turns }}", "to": END}]
        if self.stop_when is not None:
            branches.append({"if": self.stop_when, "to": END})
        branches.append({"else": "user"})
        edges.append({"from": last, "when": branches})
        per_turn = 4 if self.judge is not None else 2
        return FlowColumn.model_validate(
            {
                "name": self.name,
                "state": state,
                "histories": {"chat": {}},
                "nodes": nodes,
                "edges": edges,
                "max_steps": 1 + per_turn * self.max_turns(),
                "output": "chat",
                "trajectory": self.trajectory,
            }
        )

    def model_aliases(self) -> dict[str, str]:
        out = {"user.model": self.user.model, "assistant.model": self.assistant.model}
        if self.judge is not None:
            out["judge.model"] = self.judge.model
        return out

    def side_columns(self) -> list[str]:
        out = self.as_flow().side_columns()
        if self.judge is not None:
            out.append(f"{self.name}__judgements")
        return out


class ScoreThreshold(StrictModel):
    """Stop once the judge's `score` is at least `min`."""

    #: The name of the judge's score.
    score: str
    #: The lowest score that ends the loop.
    min: float


class RefineColumn(_Preset):
    """Generate, judge, revise with the critique until good enough; the value is
    `{final, judgement, iterations}`."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "until")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "essay",
        "type": "refine",
        "generate": {"model": "writer", "prompt": "Write a paragraph about {{ topic }}."},
        "judge": {
            "model": "judge",
            "scores": [
                {
                    "name": "quality",
                    "description": "How good is it?",
                    "options": {1: "poor", 2: "fair", 3: "good"},
                }
            ],
        },
        "threshold": {"score": "quality", "min": 3},
        "max_iterations": 3,
    }

    type: Literal["refine"] = "refine"
    #: The model and prompt of the first draft.
    generate: PromptedRole
    #: The judge: model, prompt and scores.
    judge: JudgeOptions
    #: The prompt asking for a revision with the critique (a default is used when unset).
    revise_prompt: str | None = None
    #: A condition over the judgement that ends the loop (or give `threshold`).
    until: str | None = None
    #: End when `score` reaches `min` (or give `until`).
    threshold: ScoreThreshold | None = None
    #: The most generate/judge rounds.
    max_iterations: Annotated[int, Field(ge=1, le=100)] = 3
    #: Also write `<name>__trajectory`: one entry per step.
    trajectory: bool = True

    def build_flow(self) -> FlowColumn:
        if (self.until is None) == (self.threshold is None):
            raise ValueError("give one of 'until' (a condition) or 'threshold' ({score, min})")
        if self.threshold is not None and self.threshold.score not in {s.name for s in self.judge.scores}:
            known = ", ".join(s.name for s in self.judge.scores)
            raise ValueError(
                f"threshold.score '{self.threshold.score}' is not one of the judge's scores ({known})"
            )
        task = self.generate.prompt
        until = self.until or (
            f"{{{{ judgement.{self.threshold.score}.score >= {self.threshold.min} }}}}"  # type: ignore[union-attr]
        )
        revise = self.revise_prompt or (
            task + "\n\nYour previous answer:\n{{ draft }}\n\nA reviewer judged it:\n"
            "{% for name, s in judgement.items() %}- {{ name }}: {{ s.score }} ({{ s.reasoning }})\n"
            "{% endfor %}\nWrite an improved answer. Reply with the answer only."
        )
        chat: dict[str, Any] = {
            "model": self.generate.model,
            "system_prompt": self.generate.system_prompt,
            "inference": self.generate.inference,
        }
        nodes = [
            {"name": "generate", "type": "llm-text", "prompt": task, "writes": "draft", **chat},
            _judge_node(
                "judge",
                self.judge,
                "Judge this response.\n\nTask: " + task + "\n\nResponse:\n{{ draft }}",
                "judgement",
            ),
            {
                "name": "count",
                "type": "expression",
                "expr": "{{ iterations + 1 }}",
                "dtype": "int",
                "writes": "iterations",
            },
            {"name": "revise", "type": "llm-text", "prompt": revise, "writes": "draft", **chat},
        ]
        edges = [
            {"from": START, "to": "generate"},
            {"from": "generate", "to": "judge"},
            {"from": "judge", "to": "count"},
            {
                "from": "count",
                "when": [
                    {"if": until, "to": END},
                    {"if": f"{{{{ iterations >= {self.max_iterations} }}}}", "to": END},
                    {"else": "revise"},
                ],
            },
            {"from": "revise", "to": "judge"},
        ]
        return FlowColumn.model_validate(
            {
                "name": self.name,
                "state": {"iterations": 0},
                "nodes": nodes,
                "edges": edges,
                "max_steps": 3 * self.max_iterations,
                "outputs": {"final": "draft", "judgement": "judgement", "iterations": "iterations"},
                "trajectory": self.trajectory,
            }
        )

    def model_aliases(self) -> dict[str, str]:
        return {"generate.model": self.generate.model, "judge.model": self.judge.model}

    def side_columns(self) -> list[str]:
        return self.as_flow().side_columns()
