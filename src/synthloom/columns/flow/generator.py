"""The `flow` column's generator: one cell walks the graph for one record.

    walk = await generator.walk(row, ctx)     # FlowWalk: the final state, the trajectory, exhaustion
    output = await generator.generate(row, ctx)

The walk starts at START with the state (the cell's inputs, the flow's `state`, null for every node's
key, a view of every history) and runs one node per step through `FlowNodes`, then follows the node's
edge. It ends at END, or after `max_steps` node runs (the number of nodes when the graph has no cycle):
then the cell fails, or with `on_max_steps: keep` the row is kept with `<name>__exhausted` true.

An `agent` node speaks in its history with its tool use (`own_turn`), which only it sees again; with
`trajectory`, its steps also list the messages it added (`messages`: tool calls, results, answer).

A node that fails (after its own retries) fails the flow's cell with the node named, and the cell is
not retried: a retried or resumed cell reruns the whole flow anyway, reproducibly. Each step draws its
seeds from the cell's seed and the step number, so templates using `random` and sampled values repeat
on a rerun. A filter node that removes the row removes it as the flow's cell (`CellFiltered`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthloom.columns.flow.agent import own_turn
from synthloom.columns.flow.config import END, START, AgentNode, FlowColumn, FlowNodeConfig
from synthloom.columns.flow.graph import FlowGraph
from synthloom.columns.flow.history import ChatHistory, turn_text
from synthloom.columns.flow.nodes import FlowNodes, NodeCall
from synthloom.engine.generator import CellFiltered, CellGenerator, CellOutput
from synthloom.engine.row_runner import CellPolicy
from synthloom.errors import CellFailedError, GenerationError
from synthloom.plan.templates import template_seed
from synthloom.row_groups import RowGroupSlice, stable_hash

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = ["FlowGenerator", "FlowWalk"]


@dataclass
class FlowWalk:
    """One record's walk through the graph."""

    state: dict[str, Any]
    histories: dict[str, ChatHistory]
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    exhausted: bool = False
    #: Why a filter node removed the row (the walk stopped there).
    filtered: str | None = None


class FlowGenerator(CellGenerator[FlowColumn]):
    """Runs a `FlowColumn` (or a nested flow node) per record."""

    def __init__(self, config: FlowColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        run = setup.config.run
        policy = CellPolicy(cell_retries=run.cell_retries, endpoint_deadline=run.endpoint_deadline)
        self.graph = FlowGraph(config)
        self.nodes = FlowNodes(config, setup, policy)
        self._by_name: dict[str, FlowNodeConfig] = {n.name: n for n in config.nodes}
        self._keys = {n.name: config.state_key(n) for n in config.nodes}
        self._state_keys = frozenset(config.state_keys())
        self._written = config.written_keys()
        self._bound = config.max_steps or len(config.nodes)

    # ---- the walk --------------------------------------------------------------------------------
    def initial_state(self, row: Mapping[str, Any]) -> FlowWalk:
        histories = {name: ChatHistory(h) for name, h in self.config.histories.items()}
        state: dict[str, Any] = dict(row)
        state.update(self.config.state)
        for node in self.config.nodes:
            state[self._keys[node.name]] = self.config.state.get(self._keys[node.name])
            for side in self.nodes.sides[node.name]:
                state[side] = None
        for name, history in histories.items():
            state[name] = history.view()
        return FlowWalk(state, histories)

    async def walk(self, row: Mapping[str, Any], ctx: CellContext) -> FlowWalk:
        walk = self.initial_state(row)
        state = walk.state
        call_prefix = ctx.tag + "."
        with template_seed(_step_seed(ctx.seed, 0)):
            current = await self.graph.next_node(START, state)
        while current != END:
            if walk.steps >= self._bound:
                walk.exhausted = True
                return walk
            walk.steps += 1
            step = walk.steps
            seed = _step_seed(ctx.seed, step)
            node = self._by_name[current]
            history = self._history_of(node, walk)
            inputs = self._inputs_of(current, state) if self.config.trajectory else None
            result = await self.nodes.run(
                current,
                state,
                NodeCall(history, call_prefix, step),
                record=ctx.record,
                # A one-record slice whose seed is this step's: node cells draw per record and step.
                group=RowGroupSlice(index=ctx.record, start=ctx.record, size=1, run_seed=seed),
                models=ctx.models,
                spend_group=ctx.row_group,
            )
            _pass_on_lineage(result.lineage, ctx.lineage)
            if result.failure is not None:
                failure = result.failure
                raise CellFailedError(
                    f"node '{current}' (step {step}) failed: {failure.error_type}: {failure.error}",
                    column=ctx.column,
                    row=ctx.record,
                    attempts=failure.attempts,
                )
            if result.filtered is not None:
                walk.filtered = f"node '{current}': {result.filtered.reason}"
                return walk
            value = result.values.get(current)
            state[self._keys[current]] = value
            for side in self.nodes.sides[current]:
                state[side] = result.values.get(side)
            own = None
            if isinstance(node, AgentNode) and value is not None:
                own = own_turn(result.values.get(f"{current}__trajectory"))
            spoken = getattr(node, "history", None)
            if spoken is not None and value is not None:  # a node skipped by its `when` says nothing
                chat = walk.histories[spoken.name]
                # A step that ended at record-only calls has no answers to them: the history keeps the
                # calls as the agent's text, never an assistant turn whose calls go unanswered.
                unanswered = bool(own) and bool(own[-1].get("tool_calls"))  # type: ignore[index]
                chat.append(spoken.speaker, turn_text(value), None if unanswered else own)
                state[spoken.name] = chat.view()
            with template_seed(seed):
                following = await self.graph.next_node(current, state)
            if self.config.trajectory:
                entry = {"step": step, "node": current, "inputs": inputs, "output": value, "next": following}
                if own is not None:
                    entry["messages"] = own
                walk.trajectory.append(entry)
            current = following
        return walk

    def _inputs_of(self, node: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """The state keys (not the flow's own inputs) a node reads, as it reads them."""
        return {k: state[k] for k in sorted(self.nodes.reads[node] & self._state_keys)}

    def _history_of(self, node: FlowNodeConfig, walk: FlowWalk) -> list[dict[str, Any]] | None:
        spoken = getattr(node, "history", None)
        if spoken is None:
            return None
        chat = walk.histories[spoken.name]
        if chat.inject_due(walk.state):
            walk.state[spoken.name] = chat.view()
        return chat.messages_for(spoken.speaker)

    # ---- the cell --------------------------------------------------------------------------------
    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        walk = await self.walk(row, ctx)
        if walk.filtered is not None:
            return CellFiltered(walk.filtered)
        if walk.exhausted and self.config.on_max_steps == "fail":
            raise GenerationError(
                f"the flow did not reach END within max_steps={self._bound}; raise max_steps, or set "
                "on_max_steps: keep to keep such rows flagged"
            )
        return CellOutput(self.value_of(walk), self.side_of(walk))

    def value_of(self, walk: FlowWalk) -> Any:
        """The column's value: its declared outputs (or every state key it writes)."""
        state = walk.state
        if self.config.output is not None:
            return state.get(self.config.output)
        if self.config.outputs is not None:
            return {name: state.get(key) for name, key in self.config.outputs.items()}
        return {key: state.get(key) for key in self._written}

    def side_of(self, walk: FlowWalk) -> dict[str, Any]:
        side: dict[str, Any] = {}
        if self.config.trajectory:
            side[f"{self.config.name}__trajectory"] = walk.trajectory
        if self.config.on_max_steps == "keep":
            side[f"{self.config.name}__exhausted"] = walk.exhausted
        return side


def _pass_on_lineage(lineage: list[dict[str, Any]], log: list[bytes] | None) -> None:
    """Hand a node's model exchanges (tagged `<column>.<node>`) to the flow cell's own log: the node's
    cell logged them apart, and the flow's lineage is the sum of its nodes'."""
    if log is not None:
        for cell in lineage:
            log.extend(cell["calls"])


def _step_seed(cell_seed: int, step: int) -> int:
    """The seed of one step of a flow cell: fixed by the cell's seed (run, column, record) and the step."""
    return stable_hash(f"{cell_seed}:flow-step:{step}") & (2**63 - 1)
