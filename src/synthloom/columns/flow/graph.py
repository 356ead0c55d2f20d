"""A flow's edges, compiled: from a node and the state, the next node.

    graph = FlowGraph(flow_config)
    nxt = await graph.next_node("critique", state)   # a node's name, or END

Plain edges go where they say. A conditional edge renders its `if` templates in the sandbox, in order,
and takes the first that reads true (`is_truthy`), else its `else`, else END. A router is called with
the state (a plain dict; it may be `async`) and must return a key of its `paths`. A condition the
sandbox refuses raises `SecurityError` (the row fails, as for any template); one that cannot be
evaluated, or a router that fails or answers outside its paths, raises `GenerationError` naming the
edge. The graph's shape was checked by the planner; nothing here re-checks it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from synthloom.columns.flow.config import END, START, FlowColumn, FlowEdge
from synthloom.errors import ConfigError, GenerationError
from synthloom.plan.planner import import_object
from synthloom.plan.templates import compile_template, is_truthy

__all__ = ["END", "START", "FlowGraph"]


@dataclass(frozen=True)
class _Way:
    """The compiled way out of one node."""

    to: str | None = None
    branches: tuple[tuple[jinja2.Template | None, str], ...] = ()
    router: Callable[..., Any] | None = None
    router_path: str = ""
    paths: Mapping[str, str] | None = None


class FlowGraph:
    """The edges of one flow config, shared by every record."""

    def __init__(self, flow: FlowColumn) -> None:
        self.ways: dict[str, _Way] = {}
        for i, edge in enumerate(flow.resolved_edges()):
            self.ways[edge.source] = self._compile(edge, i, flow.name)

    @staticmethod
    def _compile(edge: FlowEdge, index: int, column: str) -> _Way:
        if edge.to is not None:
            return _Way(to=edge.to)
        if edge.when is not None:
            return _Way(
                branches=tuple(
                    (compile_template(b.condition) if b.condition is not None else None, b.target)
                    for b in edge.when
                )
            )
        router = _import_router(edge.router or "", column=column, field=f"edges.{index}.router")
        return _Way(router=router, router_path=edge.router or "", paths=edge.paths)

    async def next_node(self, node: str, state: Mapping[str, Any]) -> str:
        """Where the flow goes after `node` (or START), given the state."""
        way = self.ways[node]
        if way.to is not None:
            return way.to
        if way.router is None:
            for i, (condition, target) in enumerate(way.branches):
                if condition is None or _holds(condition, state, node, i):
                    return target
            return END
        try:
            key = way.router(dict(state))
            if inspect.isawaitable(key):
                key = await key
        except Exception as exc:
            raise GenerationError(
                f"router {way.router_path} (edge from '{node}') failed: {type(exc).__name__}: {exc}"
            ) from exc
        paths = way.paths or {}
        if not isinstance(key, str) or key not in paths:
            raise GenerationError(
                f"router {way.router_path} (edge from '{node}') returned {key!r}, not one of its paths "
                f"({', '.join(paths)})"
            )
        return paths[key]


def _holds(condition: jinja2.Template, state: Mapping[str, Any], node: str, index: int) -> bool:
    try:
        return is_truthy(condition.render(state))
    except SecurityError as exc:
        raise SecurityError(f"edge from '{node}', when.{index}.if: {exc}") from None
    except Exception as exc:
        raise GenerationError(
            f"edge from '{node}': condition when.{index}.if failed: {type(exc).__name__}: {exc}"
        ) from exc


def _import_router(path: str, *, column: str, field: str) -> Callable[..., Any]:
    try:
        router = import_object(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import '{path}': {exc}", column=column, field=field) from None
    if not callable(router):
        raise ConfigError(f"'{path}' is not callable", column=column, field=field)
    return router
