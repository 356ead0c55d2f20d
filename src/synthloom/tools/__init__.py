"""Tools for LLM columns: Python functions and MCP servers, and the loop that runs them in a cell.

| module | holds |
|---|---|
| `signature_schema.py` | a function's JSON Schema from its type hints and docstring |
| `python_tools.py` | `PythonTool`: functions, a class's methods, a module's functions |
| `mcp_servers.py` | `McpServer`, `McpTool`: stdio and streamable-HTTP servers through the `mcp` SDK |
| `toolset.py` | `Toolset`: one cell's tools; runs a turn's calls (errors, timeouts, size cap as results) |
| `react.py` | the prompt-based protocol for models without native tool calls |
| `tool_loop.py` | `ToolLoop`: call, run, send back, repeat; the trajectory in OpenAI messages form |
| `config.py` | `tools:` as a user writes it: Python functions, classes, modules, MCP servers |

The glue between an LLM column and this library (`ColumnTools`) is the column family's:
`synthloom.columns.llm.column_tools`. Nothing here imports the engine.
"""

from __future__ import annotations

from synthloom.tools.mcp_servers import McpServer, McpTool
from synthloom.tools.python_tools import PythonTool, ToolArgumentsError, python_tools
from synthloom.tools.react import ReactStep, parse_react, react_instructions
from synthloom.tools.signature_schema import FunctionSignature, function_signature
from synthloom.tools.tool_loop import Answer, ToolLoop, ToolLoopResult, text_answer
from synthloom.tools.toolset import DEFAULT_MAX_RESULT_BYTES, Tool, ToolOutcome, Toolset

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "Answer",
    "FunctionSignature",
    "McpServer",
    "McpTool",
    "PythonTool",
    "ReactStep",
    "Tool",
    "ToolArgumentsError",
    "ToolLoop",
    "ToolLoopResult",
    "ToolOutcome",
    "Toolset",
    "function_signature",
    "parse_react",
    "python_tools",
    "react_instructions",
    "text_answer",
]
