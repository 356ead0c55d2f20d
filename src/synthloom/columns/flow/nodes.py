"""A flow's nodes as a small plan, each run by a `RowRunner` with the record's state as its inputs.

Every node is a column config of a built-in kind, so its generator comes from the column type registry
(`make_generators`) — an `agent` node's, a kind only flows have, from `agent.py` — and its cell runs
exactly as a column's would: `when`, retries of transient model errors, the endpoint deadline,
filtering and failure as values. A node's `ColumnPlan` lists every name
its templates read under `reads_seed`, so `ColumnInputs` hands exactly those over from the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from synthloom.columns.flow.agent import AgentGenerator
from synthloom.columns.flow.config import AgentNode, FlowColumn
from synthloom.config.base import ColumnConfig
from synthloom.engine.conditions import ColumnInputs
from synthloom.engine.row_runner import CellPolicy, RowResult, RowRunner
from synthloom.errors import ConfigError
from synthloom.plan.planner import ColumnPlan, Plan
from synthloom.plan.templates import template_references
from synthloom.row_groups import RowGroupSlice

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup
    from synthloom.engine.generator import ColumnGenerator
    from synthloom.models import ModelPool

__all__ = ["FlowNodes", "NodeCall", "column_reads"]


def column_reads(col: ColumnConfig) -> set[str]:
    """Every name `col` reads from outside itself: its templates' and references' names, its nested
    columns' included, less the names bound inside it."""
    names: set[str] = set()
    for field_name, source in col.templates().items():
        names |= template_references(source, column=col.name, field=field_name)
    for targets in col.referenced_columns().values():
        names.update(targets)
    for nested in col.nested_columns().values():
        names |= column_reads(nested)
    return names - col.internal_names()


@dataclass(frozen=True)
class NodeCall:
    """What one step hands a node: the chat turns it sees (if it speaks in a history), and where its
    usage is accounted (`"<column>."`)."""

    history: list[dict[str, Any]] | None
    tag_prefix: str
    #: The step of the record's walk (1 for the first node run).
    step: int = 0


class FlowNodes:
    """The nodes of one flow config, built once and shared by every record."""

    def __init__(self, flow: FlowColumn, setup: GeneratorSetup, policy: CellPolicy) -> None:
        # Imported here: `generation` reaches the registry, whose built-in types include the flow.
        from synthloom.engine.generation import make_generators

        self.reads = {node.name: frozenset(column_reads(node)) for node in flow.nodes}
        plan = Plan(
            columns=tuple(
                ColumnPlan(config=node, depends_on=frozenset(), reads_seed=self.reads[node.name])
                for node in flow.nodes
            ),
            seed_columns=(),
        )
        try:
            generators = make_generators(
                replace(plan, columns=tuple(c for c in plan.columns if not _is_agent(c))), setup
            )
            generators.update(_agent_generators(plan, setup))
        except ConfigError as exc:
            # `make_generators` names the node as the column: name the flow, and the node (path) in it.
            node = exc.column
            exc.node = f"{exc.column}.{exc.node}" if exc.node else exc.column
            exc.column = flow.name
            if exc.line is None:
                index = next((i for i, n in enumerate(flow.nodes) if n.name == node), None)
                exc.line = setup.config.line_of(flow.name, f"nodes.{index}" if index is not None else None)
            raise exc.with_source(setup.config.source) from None
        inputs = ColumnInputs(plan)
        self.sides = {node.name: node.side_columns() for node in flow.nodes}
        self._executors = {
            node.name: RowRunner(plan, [node.name], generators, inputs, policy=policy) for node in flow.nodes
        }

    async def run(
        self,
        node: str,
        state: Mapping[str, Any],
        call: NodeCall,
        *,
        record: int,
        group: RowGroupSlice,
        models: ModelPool | None,
        spend_group: int | None,
    ) -> RowResult:
        """Run `node` once over the state; its value (and side columns) are in `result.values`; its
        requests count toward the flow cell's row group (`spend_group`)."""
        history = {node: call.history} if call.history is not None else None
        return await self._executors[node].run(
            state,
            record=record,
            group=group,
            models=models,
            history=history,
            tag_prefix=call.tag_prefix,
            spend_group=spend_group,
            step=call.step,
        )


def _is_agent(column: ColumnPlan) -> bool:
    return isinstance(column.config, AgentNode)


def _agent_generators(plan: Plan, setup: GeneratorSetup) -> dict[str, ColumnGenerator[Any]]:
    """The generators of the agent nodes, which the registry does not know (a node-only kind); a
    `ConfigError` names the node as the column, as `make_generators` does."""
    out: dict[str, ColumnGenerator[Any]] = {}
    for column in plan.columns:
        if not isinstance(column.config, AgentNode):
            continue
        try:
            out[column.name] = AgentGenerator(column.config, setup)
        except ConfigError as exc:
            if exc.column is None:
                exc.column = column.name
            raise
    return out
