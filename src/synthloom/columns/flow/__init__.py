"""Flows: per-record graphs of nodes inside one cell (`flow`), and the presets built on them
(`conversation`, `refine`).

| module | holds |
|---|---|
| `flow_generator.py` | `FlowGenerator`: one record's walk from START to END; the value, side columns |
| `graph.py` | `FlowGraph`: the compiled edges (plain, conditions, routers): the next node from the state |
| `nodes.py` | `FlowNodes`: the nodes as a small plan, each run by a `RowRunner` over the state |
| `agent.py` | `AgentGenerator`: an `agent` node's step, the tool loop; `own_turn`: what the step added |
| `history.py` | `ChatHistory`: a shared chat history, labelled from each speaker's side |
| `presets.py` | `ConversationGenerator`, `RefineGenerator` |

The configs are in `synthloom.columns.flow.config` and `synthloom.columns.flow.preset_configs`.
"""

from synthloom.columns.flow.config import FlowColumn
from synthloom.columns.flow.generator import FlowGenerator
from synthloom.columns.flow.preset_configs import ConversationColumn, RefineColumn
from synthloom.columns.flow.presets import ConversationGenerator, RefineGenerator
from synthloom.config.registry import ColumnType

__all__ = [
    "FLOW_COLUMN_TYPES",
    "ConversationColumn",
    "ConversationGenerator",
    "FlowColumn",
    "FlowGenerator",
    "RefineColumn",
    "RefineGenerator",
]

#: The column types of this package, registered with the built-ins.
FLOW_COLUMN_TYPES: tuple[ColumnType, ...] = (
    ColumnType("flow", FlowColumn, FlowGenerator),
    ColumnType("conversation", ConversationColumn, ConversationGenerator),
    ColumnType("refine", RefineColumn, RefineGenerator),
)
