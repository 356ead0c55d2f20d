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
      trajectory: true                # side column `solution__trajectory`: one entry per step

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
`max_steps` (the most node runs per record), and every cycle needs a conditional way out.

**Chat histories.** `histories: {debate: {window: 6}}` declares a history; an LLM node with
`history: {name: debate, speaker: alice}` sends its system prompt, then the last `window` turns of the
history (turns spoken by `alice` as `assistant`, all others as `user`), then its prompt as a user turn
(none when the prompt renders empty), and appends its reply as a turn spoken by `alice`. `inject: [{at_turn:
4, role: system, content: "Wrap up."}]` puts a message (a template over the state) into the history just
before turn 4 is spoken. In the state, a history is `{turns: [{speaker, content}], last, speaker,
count}`: an edge ends a debate with `{% if 'FINAL ANSWER' in debate.last %}`.

Everything about the graph that can be checked before a run is checked by `check_structure` (the
planner calls it) and reported naming the node and the field.
"""

from __future__ import annotations

import difflib
import itertools
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from synthloom.config.base import COLUMN_NAME_PATTERN, ColumnConfig, ImportPath, StrictModel
from synthloom.config.columns import (
    IMPORT_PATH_PATTERN,
    CustomColumn,
    ExpressionColumn,
    LLMCodeColumn,
    LLMJudgeColumn,
    LLMStructuredColumn,
    LLMTextColumn,
)
from synthloom.config.filter_column import FilterColumn
from synthloom.errors import PlanError

__all__ = [
    "END",
    "START",
    "Branch",
    "FlowColumn",
    "FlowEdge",
    "FlowNodeConfig",
    "HistoryConfig",
    "Injection",
    "NodeHistory",
]

START = "START"
END = "END"

Identifier = Annotated[str, Field(pattern=COLUMN_NAME_PATTERN, max_length=128)]


# ---- nodes ---------------------------------------------------------------------------------------------
class NodeHistory(StrictModel):
    """The chat history an LLM node shares, and who it speaks as."""

    name: Identifier
    speaker: Annotated[str, Field(min_length=1, max_length=128)]


class _NodeFields(StrictModel):
    """What every node adds to its column config."""

    #: The state key the node's value is written to (default: the node's name).
    writes: Identifier | None = None


class _ChatNodeFields(_NodeFields):
    history: NodeHistory | None = None
    #: A node that speaks in a history may leave its prompt empty: the history is the conversation.
    prompt: str = ""


class LLMTextNode(_ChatNodeFields, LLMTextColumn):
    """An `llm-text` node."""


class LLMCodeNode(_ChatNodeFields, LLMCodeColumn):
    """An `llm-code` node."""


class LLMStructuredNode(_ChatNodeFields, LLMStructuredColumn):
    """An `llm-structured` node."""


class LLMJudgeNode(_ChatNodeFields, LLMJudgeColumn):
    """An `llm-judge` node."""


class ExpressionNode(_NodeFields, ExpressionColumn):
    """An `expression` node (counters, bookkeeping)."""


class CustomNode(_NodeFields, CustomColumn):
    """A `custom` node: a Python function given the state keys in `inputs`."""


class FilterNode(_NodeFields, FilterColumn):
    """A `filter` node: when its test fails, the whole row is filtered."""


# ---- edges ---------------------------------------------------------------------------------------------
class Branch(StrictModel):
    """One entry of a conditional edge: `{if: "{{ ... }}", to: node}`, or `{else: node}` last."""

    condition: str | None = Field(default=None, alias="if")
    to: str | None = None
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

    source: str = Field(alias="from")
    to: str | None = None
    when: Annotated[list[Branch], Field(min_length=1)] | None = None
    router: Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)] | None = None
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

    at_turn: Annotated[int, Field(ge=1)]
    role: Literal["system", "user"] = "system"
    #: A template over the state.
    content: str


class HistoryConfig(StrictModel):
    """A chat history shared by the nodes that name it."""

    #: How many of the latest spoken turns a node sees (all when unset).
    window: Annotated[int, Field(gt=0)] | None = None
    inject: list[Injection] = Field(default_factory=list)


# ---- the flow ------------------------------------------------------------------------------------------
class FlowColumn(ColumnConfig):
    """A per-record graph of nodes (see the module docstring)."""

    type: Literal["flow"] = "flow"
    state: dict[str, Any] = Field(default_factory=dict)
    histories: dict[str, HistoryConfig] = Field(default_factory=dict)
    nodes: Annotated[list[FlowNodeConfig], Field(min_length=1)]
    edges: list[FlowEdge] = Field(default_factory=list)
    max_steps: Annotated[int, Field(gt=0)] | None = None
    on_max_steps: Literal["fail", "keep"] = "fail"
    output: str | None = None
    outputs: Annotated[dict[str, str], Field(min_length=1)] | None = None
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
        return node.writes or node.name

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


# ---- the graph checks ------------------------------------------------------------------------------------
def _unknown_node(name: str, nodes: list[str]) -> str:
    close = difflib.get_close_matches(name, nodes, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (nodes: {', '.join(nodes)}, END)"
    return f"unknown node '{name}'{hint}"


def check_flow_graph(flow: FlowColumn) -> None:
    """Raise `PlanError` (with `node` and `field`) for the first thing wrong with the graph."""
    names = [n.name for n in flow.nodes]
    seen: set[str] = set()
    for node in flow.nodes:
        if node.name in (START, END):
            raise PlanError("START and END are reserved; rename the node", node=node.name, field="name")
        if node.name in seen:
            raise PlanError("two nodes have this name", node=node.name, field="name")
        seen.add(node.name)
        history = getattr(node, "history", None)
        if history is not None and history.name not in flow.histories:
            raise PlanError(
                f"unknown history '{history.name}'"
                + (f" (declared: {', '.join(flow.histories)})" if flow.histories else "")
                + f"; declare it under the flow's 'histories' ({history.name}: {{window: ...}})",
                node=node.name,
                field="history.name",
            )
        if history is None and node.type.startswith("llm-") and not getattr(node, "prompt", "").strip():
            raise PlanError("required unless the node speaks in a history", node=node.name, field="prompt")
    clashes = set(flow.histories) & (set(flow.written_keys()))
    if clashes:
        raise PlanError(
            f"'{sorted(clashes)[0]}' names both a history and a state key; rename one", field="histories"
        )

    edges = flow.resolved_edges()
    out_of: dict[str, FlowEdge] = {}
    for i, edge in enumerate(edges):
        if edge.source != START and edge.source not in seen:
            what = "END has no way out" if edge.source == END else _unknown_node(edge.source, names)
            raise PlanError(what, field=f"edges.{i}.from")
        if edge.source in out_of:
            raise PlanError(
                f"a second edge from '{edge.source}': a node has one way out (use 'when' for several)",
                field=f"edges.{i}.from",
            )
        out_of[edge.source] = edge
        for field, target in edge.targets():
            if target != END and target not in seen:
                what = "START cannot be a target" if target == START else _unknown_node(target, names)
                raise PlanError(what, field=f"edges.{i}.{field}")
    if START not in out_of:
        raise PlanError("no edge from START: add {from: START, to: <first node>}", field="edges")

    successors = {src: [t for _, t in edge.targets()] for src, edge in out_of.items()}
    reached = _reachable(START, successors)
    for name in names:
        if name not in reached:
            raise PlanError(
                "no edge reaches this node from START (it would never run)", node=name, field="edges"
            )
        if name not in out_of:
            raise PlanError(
                "this node has no outgoing edge: add one ({from: " + name + ", to: END} to end the flow)",
                node=name,
                field="edges",
            )

    cycles = _cycles(names, successors)
    if cycles and flow.max_steps is None:
        raise PlanError(
            f"the flow has a cycle ({' -> '.join([*cycles[0], cycles[0][0]])}): set max_steps, "
            "the most node runs per record",
            field="max_steps",
        )
    for component in cycles:
        members = set(component)
        if not any(t not in members for n in component for t in successors.get(n, [])):
            raise PlanError(
                f"the cycle {' -> '.join([*component, component[0]])} has no way out: give one of its "
                "edges a condition ('when') or router path that leads out of it",
                node=component[0],
                field="edges",
            )

    keys = flow.state_keys()
    wanted = {"output": flow.output} if flow.output is not None else {}
    wanted.update({f"outputs.{k}": v for k, v in (flow.outputs or {}).items()})
    for field, key in wanted.items():
        if key not in keys:
            close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (state keys: {', '.join(sorted(keys))})"
            raise PlanError(f"unknown state key '{key}'{hint}", field=field)


def _reachable(start: str, successors: dict[str, list[str]]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in successors.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _cycles(names: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components that hold a cycle (Tarjan's algorithm), each in walk order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in successors.get(node, []):
            if nxt in (START, END):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in successors.get(node, []):
                found.append(sorted(component, key=names.index))
        return None

    for name in names:
        if name not in index:
            visit(name)
    return found


class FlowNode(_NodeFields, FlowColumn):
    """A nested `flow` node: its own nodes and state; its inputs are the outer flow's state."""


#: A node of a flow: a column config of a built-in kind, chosen by `type`.
FlowNodeConfig = Annotated[
    Union[  # noqa: UP007 - a discriminated union pydantic reads at run time
        LLMTextNode,
        LLMCodeNode,
        LLMStructuredNode,
        LLMJudgeNode,
        ExpressionNode,
        CustomNode,
        FilterNode,
        FlowNode,
    ],
    Field(discriminator="type"),
]

FlowColumn.model_rebuild()
FlowNode.model_rebuild()
