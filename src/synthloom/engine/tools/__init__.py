"""Tools for LLM columns: Python functions and MCP servers, and the loop that runs them in a cell.

| module | holds |
|---|---|
| `signature_schema.py` | a function's JSON Schema from its type hints and docstring |
| `python_tools.py` | `PythonTool`: functions, a class's methods, a module's functions |
| `mcp_servers.py` | `McpServer`, `McpTool`: stdio and streamable-HTTP servers through the `mcp` SDK |
| `toolset.py` | `Toolset`: one cell's tools; runs a turn's calls (errors, timeouts, size cap as results) |
| `react.py` | the prompt-based protocol for models without native tool calls |
| `tool_loop.py` | `ToolLoop`: call, run, send back, repeat; the trajectory in OpenAI messages form |
| `column_tools.py` | `ColumnTools`: a column's `tools:` built with its generator, run per cell |
"""

from __future__ import annotations

from synthloom.engine.tools.column_tools import ColumnTools
from synthloom.engine.tools.mcp_servers import McpServer, McpTool
from synthloom.engine.tools.python_tools import PythonTool, ToolArgumentsError, python_tools
from synthloom.engine.tools.react import ReactStep, parse_react, react_instructions
from synthloom.engine.tools.signature_schema import FunctionSignature, function_signature
from synthloom.engine.tools.tool_loop import Answer, ToolLoop, ToolLoopResult, text_answer
from synthloom.engine.tools.toolset import DEFAULT_MAX_RESULT_BYTES, Tool, ToolOutcome, Toolset

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "Answer",
    "ColumnTools",
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
