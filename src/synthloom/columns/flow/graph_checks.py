"""The checks of a flow's graph that field validation cannot make: every node reachable and with a way
out, every edge naming real nodes, cycles bounded by `max_steps` and each with a conditional way out,
outputs naming state keys. Each problem is a `PlanError` naming the node (when there is one) and the
field; the planner adds the file, line and column.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from synthloom.errors import PlanError

if TYPE_CHECKING:
    from synthloom.columns.flow.config import FlowColumn, FlowEdge

__all__ = ["END", "START", "check_flow_graph"]

START = "START"
END = "END"


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
    speakers: dict[str, set[str]] = {}
    for node in flow.nodes:
        history = getattr(node, "history", None)
        if history is not None:
            speakers.setdefault(history.name, set()).add(history.speaker)
    for name, history_config in flow.histories.items():
        for i, injection in enumerate(history_config.inject):
            unknown = sorted(set(injection.to or ()) - speakers.get(name, set()))
            if unknown:
                raise PlanError(
                    f"'to' names {', '.join(repr(u) for u in unknown)}, not a speaker of history '{name}' "
                    f"(speakers: {', '.join(sorted(speakers.get(name, set()))) or 'none'})",
                    field=f"histories.{name}.inject[{i}].to",
                )
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
