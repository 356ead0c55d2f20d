"""The `flow` column: a graph of nodes run per record, over a state the nodes read and write.

    - name: solution
      type: flow
      state: {attempts: 0}            # initial per-record state (plain values)
      max_steps: 8                    # required when the graph has a cycle
      on_max_steps: fail              # fail: the row fails | keep: kept, `solution__exhausted` is true
      nodes:                          # column configs of a built-in kind, plus `writes`
        - {name: draft, type: llm-code, model: writer, prompt: "Solve {{ problem }} {{ critique }}"}
        - {name: critique, type: llm-judge, model: judge, prompt: "Review: {{ draft }}", scores: [...]}
        - {name: count, type: expression, expr: "{{ attempts + 1 }}", dtype: int, writes: attempts}
      edges:
        - {from: START, to: draft}
        - {from: draft, to: critique}
        - from: critique
          when: [{if: "{{ critique.correct.score == 1 }}", to: END}, {else: count}]
        - {from: count, to: draft}
        # or: {from: critique, router: "mymod:route", paths: {accept: END, revise: count}}
      outputs: {code: draft, verdict: critique}   # or `output: draft` for a single value
      trajectory: true                # side column `solution__trajectory`: one entry per step,
                                      # {step, node, inputs (the state keys it read), output, next}

**State.** A record's state starts as the flow's inputs (the columns and seed fields its templates read)
plus `state`, every node's state key (null until it runs) and every history's view. A node writes its
value to the key `writes` (default: its name), and its side columns (`draft__trace`) under their own
names. Templates of nodes and edge conditions read the state like columns: `{{ draft }}`,
`{{ critique.correct.score }}`. Downstream columns read the flow's value: `{{ solution.code }}`. The
value is `outputs` (a mapping of state keys), `output` (one state key), or else every state key the
flow writes (initial state and node outputs).

**Edges.** `START` and `END` are implicit. Each node (and START) has one outgoing edge: plain (`to`),
conditional (`when`: the first `if` that renders true, else `else`; with no `else` and no true `if` the
flow ends), or a router (`router`: a Python callable given the state, returning a key of `paths`; list
the columns it reads that no template names in the flow's `inputs`).
Without `edges`, the nodes run in the order written. Cycles are allowed; a graph with a cycle needs
`max_steps` (the most node runs per record: every node counts, expression, custom and filter nodes
included; a nested flow is one step), and every cycle needs a conditional way out.

**Chat histories.** `histories: {debate: {window: 6}}` declares a history; an LLM node with
`history: {name: debate, speaker: alice}` sends its system prompt, then the last `window` turns of the
history (turns spoken by `alice` as `assistant`, all others as `user`), then its prompt as a user turn
(none when the prompt renders empty), and appends its reply as a turn spoken by `alice`. `inject: [{at_turn:
4, role: system, content: "Wrap up."}]` puts a message (a template over the state) into the history just
before turn 4 is spoken (`to: [alice]`: only alice sees it). In the state, a history is
`{turns: [{speaker, content}], last, speaker, count}`: an edge ends a debate with
`{% if 'FINAL ANSWER' in debate.last %}`.

**Agents.** An `agent` node is a model with `tools:` (the same entries as an LLM column's: Python
functions, classes and modules, MCP servers) that runs the tool loop inside its step and writes its
final answer; its trajectory (OpenAI messages, tool calls and results included) goes to
`<node>__trajectory`, a state key `outputs` may name. Bounds per step: `max_tool_calls` (tool calls)
and `max_turns` (model requests; the last one must answer). In a history the agent keeps its own
tool calls and results: it sees them again on its next turn, while the other speakers see only its
answers, so its trajectory is the whole multi-turn tool-use conversation from its side.

    - {name: support, type: agent, model: bot, system_prompt: "Use the tools.",
       tools: [{function: shop_tools:order_status}], history: {name: chat, speaker: support},
       max_tool_calls: 4, max_turns: 4}

Everything about the graph that can be checked before a run is checked by `check_structure` (the
planner calls it) and reported naming the node and the field.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, create_model, field_validator, model_validator
from pydantic_core import CoreSchema

from synthloom.columns.flow.graph_checks import END, START, check_flow_graph
from synthloom.columns.llm.config import LLMColumn
from synthloom.config.base import COLUMN_NAME_PATTERN, ColumnConfig, ImportPath, ImportPathText, StrictModel
from synthloom.config.registry import ColumnTypeRegistry, default_registry
from synthloom.errors import PlanError

__all__ = [
    "END",
    "START",
    "AgentNode",
    "Branch",
    "FlowColumn",
    "FlowEdge",
    "FlowNodeConfig",
    "HistoryConfig",
    "Injection",
    "NodeHistory",
]

Identifier = Annotated[str, Field(pattern=COLUMN_NAME_PATTERN, max_length=128)]


# ---- nodes ---------------------------------------------------------------------------------------------
class NodeHistory(StrictModel):
    """The chat history an LLM node shares, and who it speaks as."""

    #: The history (one of the flow's `histories`).
    name: Identifier
    #: Who this node speaks as: its turns are the assistant's, the others' the user's.
    speaker: Annotated[str, Field(min_length=1, max_length=128)]


class _NodeFields(StrictModel):
    """What every node adds to its column config."""

    #: The state key the node's value is written to (default: the node's name).
    writes: Identifier | None = None


class _ChatNodeFields(_NodeFields):
    #: The chat history this node shares with other nodes (`histories`), and who it speaks as.
    history: NodeHistory | None = None
    #: A node that speaks in a history may leave its prompt empty: the history is the conversation.
    prompt: str = ""


class AgentNode(_ChatNodeFields, LLMColumn):
    """An `agent` node: a model that calls `tools` until it answers (see the module docstring)."""

    type: Literal["agent"]  # no default: written out with the config, it selects the kind back
    #: Checked with the graph (`check_structure`), so that a missing model is reported naming the node.
    model: str = ""
    #: The most model requests in one step of the agent: the last is asked to answer without tools.
    max_turns: Annotated[int, Field(ge=1, le=1000)] | None = None

    @model_validator(mode="after")
    def _check_tool_options(self) -> AgentNode:
        # Replaces the LLM column's check: tools are required here, and reported by `check_structure`
        # (naming the node) even when bounds are given without them.
        if self.trajectory == "value":
            raise ValueError(
                f"an agent's value is its final answer; its trajectory is always '{self.name}__trajectory'"
            )
        return self

    def side_columns(self) -> list[str]:
        out = super().side_columns()
        trajectory = f"{self.name}__trajectory"
        return out if trajectory in out else [*out, trajectory]  # even before `tools` is checked

    def check_structure(self) -> None:
        if not self.model.strip():
            raise PlanError("an agent needs a model: the alias of one of the config's models", field="model")
        if self.tools is None:
            raise PlanError(
                "an agent needs 'tools' (functions, modules or MCP servers); a node without tools is an "
                "llm-text node",
                field="tools",
            )
        if self.history is None and not self.prompt.strip():
            raise PlanError("required unless the agent speaks in a history", field="prompt")


# ---- edges ---------------------------------------------------------------------------------------------
class Branch(StrictModel):
    """One entry of a conditional edge: `{if: "{{ ... }}", to: node}`, or `{else: node}` last."""

    #: A Jinja condition over the record and the flow's state.
    condition: str | None = Field(default=None, alias="if")
    #: The node to go to when the condition holds.
    to: str | None = None
    #: The node to go to when no condition held (the last branch).
    otherwise: str | None = Field(default=None, alias="else")

    @model_validator(mode="after")
    def _one_shape(self) -> Branch:
        if self.otherwise is not None:
            if self.condition is not None or self.to is not None:
                raise ValueError("an 'else' branch has no 'if' and no 'to'")
        elif self.condition is None or self.to is None:
            raise ValueError("a branch is {if: <condition>, to: <node>} or {else: <node>}")
        return self

    @property
    def target(self) -> str:
        return self.otherwise if self.otherwise is not None else self.to or ""


class FlowEdge(StrictModel):
    """The way out of one node (or START): `to`, `when` (conditions) or `router` with `paths`."""

    #: The node this edge leaves (or START).
    source: str = Field(alias="from")
    #: The next node (or END).
    to: str | None = None
    #: Conditional branches, tried in order: `{if: ..., to: ...}`, then `{else: ...}`.
    when: Annotated[list[Branch], Field(min_length=1)] | None = None
    #: `package.module:function` returning the key of `paths` to follow.
    router: ImportPathText | None = None
    #: The router's answers -> next node.
    paths: Annotated[dict[str, str], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FlowEdge:
        kinds = [k for k in ("to", "when", "router") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "an edge has exactly one of 'to', 'when' (conditions) or 'router' (with 'paths')"
            )
        if (self.router is None) != (self.paths is None):
            raise ValueError("'router' and 'paths' go together: paths maps what the router returns to nodes")
        if self.when is not None:
            for branch in self.when[:-1]:
                if branch.otherwise is not None:
                    raise ValueError("'else' must be the last branch of 'when'")
        return self

    def targets(self) -> list[tuple[str, str]]:
        """(field, target) for every place this edge may lead; END when no condition holds."""
        if self.to is not None:
            return [("to", self.to)]
        if self.when is not None:
            out = [
                (f"when.{i}.{'else' if b.otherwise is not None else 'to'}", b.target)
                for i, b in enumerate(self.when)
            ]
            if self.when[-1].otherwise is None:
                out.append(("when", END))
            return out
        return [(f"paths.{key}", target) for key, target in (self.paths or {}).items()]


# ---- histories -----------------------------------------------------------------------------------------
class Injection(StrictModel):
    """A message put into a history just before turn `at_turn` (1 = the first) is spoken."""

    #: The turn (1 = the first) before which the message is put in.
    at_turn: Annotated[int, Field(ge=1)]
    #: Who the injected message is from.
    role: Literal["system", "user"] = "system"
    #: A template over the state.
    content: str
    #: The speakers who see it (all when unset): a `user` nudge for one speaker is not a second `user`
    #: turn in a row for the others.
    to: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _one_speaker(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class HistoryConfig(StrictModel):
    """A chat history shared by the nodes that name it."""

    #: How many of the latest spoken turns a node sees (all when unset).
    window: Annotated[int, Field(gt=0)] | None = None
    #: Messages put into the history before given turns.
    inject: list[Injection] = Field(default_factory=list)


# ---- the flow ------------------------------------------------------------------------------------------
class FlowColumn(ColumnConfig):
    """A per-record graph of nodes (see the module docstring)."""

    # Built on first use, not on import: its nodes may be of any registered column type.
    model_config = ConfigDict(defer_build=True)

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "solution",
        "type": "flow",
        "nodes": [
            {"name": "draft", "type": "llm-text", "model": "writer", "prompt": "Answer: {{ question }}"},
            {
                "name": "check",
                "type": "llm-judge",
                "model": "judge",
                "prompt": "Check: {{ draft }}",
                "scores": [
                    {
                        "name": "correct",
                        "description": "Is the answer correct?",
                        "options": {0: "no", 1: "yes"},
                    }
                ],
            },
        ],
        "outputs": {"answer": "draft", "verdict": "check"},
    }

    type: Literal["flow"] = "flow"
    #: Per-record state keys and their starting values; nodes read them in templates and write them.
    state: dict[str, Any] = Field(default_factory=dict)
    #: Chat histories shared by the nodes that name them, by name.
    histories: dict[str, HistoryConfig] = Field(default_factory=dict)
    #: The nodes of the graph: any column type, run per record.
    nodes: Annotated[list[FlowNodeConfig], Field(min_length=1)]
    #: How the walk moves from node to node (plain, conditional or routed); START names the entry.
    edges: list[FlowEdge] = Field(default_factory=list)
    #: The most node runs per record (required when the graph has a cycle).
    max_steps: Annotated[int, Field(gt=0)] | None = None
    #: When `max_steps` is reached: `fail` the row, or `keep` it (flagged in `<name>__exhausted`).
    on_max_steps: Literal["fail", "keep"] = "fail"
    #: The node or state key whose value is the column's value.
    output: str | None = None
    #: Several values as the column's value: output key -> node or state key.
    outputs: Annotated[dict[str, str], Field(min_length=1)] | None = None
    #: Also write `<name>__trajectory`: every node run, in order.
    trajectory: bool = False
    #: Columns (or, in a nested flow, outer state keys) the flow reads besides those its templates name:
    #: what a router or a custom node needs from outside.
    inputs: list[str] = Field(default_factory=list)

    @field_validator("state", "histories")
    @classmethod
    def _identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.match(COLUMN_NAME_PATTERN, key) or key in (START, END):
                raise ValueError(f"'{key}' is not a usable state key (letters, digits, _; not START/END)")
        return value

    @model_validator(mode="after")
    def _one_output_form(self) -> FlowColumn:
        if self.output is not None and self.outputs is not None:
            raise ValueError("give 'output' (one state key) or 'outputs' (a mapping), not both")
        return self

    # ---- what the flow is made of ----------------------------------------------------------------
    def node(self, name: str) -> FlowNodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def state_key(self, node: FlowNodeConfig) -> str:
        writes: str | None = getattr(node, "writes", None)
        return writes or node.name

    def written_keys(self) -> list[str]:
        """The state keys the flow writes: its initial state, then its nodes' keys, in order."""
        keys = list(self.state)
        for node in self.nodes:
            key = self.state_key(node)
            if key not in keys:
                keys.append(key)
        return keys

    def state_keys(self) -> set[str]:
        """Every name bound in the state: initial keys, node keys and side columns, histories."""
        keys = set(self.written_keys()) | set(self.histories)
        for node in self.nodes:
            keys.update(node.side_columns())
        return keys

    def resolved_edges(self) -> list[FlowEdge]:
        """The edges as declared, or (none declared) the nodes in the order written."""
        if self.edges:
            return list(self.edges)
        names = [START, *(n.name for n in self.nodes), END]
        return [FlowEdge.model_validate({"from": a, "to": b}) for a, b in itertools.pairwise(names)]

    # ---- planner hooks ---------------------------------------------------------------------------
    def templates(self) -> dict[str, str]:
        out = super().templates()
        for i, edge in enumerate(self.edges):
            for j, branch in enumerate(edge.when or []):
                if branch.condition is not None:
                    out[f"edges.{i}.when.{j}.if"] = branch.condition
        for name, history in self.histories.items():
            for i, injection in enumerate(history.inject):
                out[f"histories.{name}.inject.{i}.content"] = injection.content
        return out

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs)} if self.inputs else {}

    def nested_columns(self) -> dict[str, ColumnConfig]:
        return {node.name: node for node in self.nodes}

    def internal_names(self) -> set[str]:
        return self.state_keys()

    def model_aliases(self) -> dict[str, str]:
        return {
            f"nodes.{node.name}.{field}": alias
            for node in self.nodes
            for field, alias in node.model_aliases().items()
        }

    def import_paths(self) -> dict[str, ImportPath]:
        return {
            f"edges.{i}.router": ImportPath(edge.router, "callable")
            for i, edge in enumerate(self.edges)
            if edge.router is not None
        }

    def side_columns(self) -> list[str]:
        out = []
        if self.trajectory:
            out.append(f"{self.name}__trajectory")
        if self.on_max_steps == "keep":
            out.append(f"{self.name}__exhausted")
        return out

    def check_structure(self) -> None:
        check_flow_graph(self)


class RegisteredNodeTypes:
    """Pydantic metadata for one entry of a flow's `nodes`: a node of any column type registered in
    `registry` — built-in or plugin — told apart by `type`, plus the node-only `agent`.

    A node is its column type's config with what a node adds (`writes`; for chat columns, `history`
    and an optional `prompt`), made once per type and kept, so a plugin's column type is a flow node
    with nothing written for it. Built when a flow is first validated, as the column union is."""

    def __init__(self, registry: ColumnTypeRegistry) -> None:
        self.registry = registry
        self._classes: dict[type[ColumnConfig], type[ColumnConfig]] = {}
        registry.on_change(self._classes.clear)

    def node_classes(self) -> list[type[ColumnConfig]]:
        out: list[type[ColumnConfig]] = []
        for name, column_type in self.registry.types().items():
            if name == "agent":
                continue
            config = column_type.config
            node = self._classes.get(config)
            if node is None:
                node = self._classes[config] = _node_class(name, config)
            out.append(node)
        return [*out, AgentNode]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union: Any = Annotated[Union[tuple(self.node_classes())], Field(discriminator="type")]  # noqa: UP007
        return handler.generate_schema(union)


def _node_class(name: str, config: type[ColumnConfig]) -> type[ColumnConfig]:
    """`config` as a flow node: a subclass adding the node's fields, whose `type` has no default
    (written out with the config, it selects the kind back)."""
    extra = _ChatNodeFields if issubclass(config, LLMColumn) else _NodeFields
    summary = (config.__doc__ or "").strip().splitlines()[:1]
    bases: Any = (extra, config)
    kind: Any = Literal[name]  # type: ignore[valid-type]
    node: type[ColumnConfig] = create_model(
        f"{config.__name__.removesuffix('Column')}Node",
        __base__=bases,
        __module__=__name__,
        __doc__=f"A `{name}` node" + (f": {summary[0]}" if summary else "."),
        type=(kind, ...),
    )
    return node


#: A node of a flow: a column config of any registered kind (or an agent), chosen by `type`.
FlowNodeConfig = Annotated[ColumnConfig, RegisteredNodeTypes(default_registry)]


def _rebuild_flows() -> None:
    # A column type registered after a flow was validated may be a node too.
    if FlowColumn.__pydantic_complete__:
        FlowColumn.model_rebuild(force=True)


default_registry.on_change(_rebuild_flows)
