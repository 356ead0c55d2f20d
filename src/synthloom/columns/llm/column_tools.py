"""`ColumnTools`: the `tools:` of one LLM column, built once with its generator, run in each cell.

Built when the job is built (so `validate` reports it): Python tools are imported and described, MCP
entries are checked (SDK installed, command found, referenced environment variables set). Each
`ConfigError` names the entry (`tools[1].function`). MCP servers start on first use, once per run,
in the run's `RunResources` (a cell run outside an executor opens and closes its own).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from synthloom.columns.llm.config import LLMColumn
from synthloom.engine.contexts import CellContext, RunResources
from synthloom.errors import ConfigError, ToolError
from synthloom.models.messages import Message, ToolSpec, as_messages
from synthloom.tools.config import ToolSource
from synthloom.tools.mcp_servers import McpServer, McpTool, check_mcp_server
from synthloom.tools.python_tools import PythonTool, python_tools
from synthloom.tools.tool_loop import Finish, LoopMode, ToolLoop, ToolLoopResult, text_answer
from synthloom.tools.toolset import Tool, Toolset

if TYPE_CHECKING:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.models import ScopedClient

__all__ = ["ColumnTools"]


class ColumnTools:
    """The tools one column offers, and the loop that runs them in its cells."""

    def __init__(self, config: LLMColumn, dataset: DatasetConfig) -> None:
        if not config.tools:
            raise ValueError("ColumnTools needs a column with tools")
        self.config = config
        self._base_dir: Path | None = dataset.source_dir
        self._python: list[PythonTool] = []
        self._mcp: list[ToolSource] = []
        #: Names of the Python tools offered but never run (`execute: false`).
        self._record_only: set[str] = set()
        seen: dict[str, int] = {}
        for index, source in enumerate(config.tools):
            field = f"tools[{index}]"
            if source.mcp is not None:
                check_mcp_server(source.mcp, field=f"{field}.mcp", base_dir=self._base_dir)
                self._mcp.append(source)
                continue
            for tool in python_tools(
                source, field=field, default_timeout=config.tool_timeout, base_dir=self._base_dir
            ):
                name = tool.spec.name
                if name in seen:
                    raise ConfigError(
                        f"a tool named '{name}' is already offered by tools[{seen[name]}]: give one a "
                        "'prefix' or 'exclude' it",
                        field=field,
                    )
                seen[name] = index
                self._python.append(tool)
                if not source.execute:
                    self._record_only.add(name)
        if len(self._python) > config.max_tools:
            raise ConfigError(
                f"offers {len(self._python)} Python tools, more than max_tools ({config.max_tools}): choose "
                "with 'include' / 'exclude' or raise 'max_tools'",
                field="max_tools",
            )
        self._check_mode(dataset)

    def _check_mode(self, dataset: DatasetConfig) -> None:
        if self.config.tool_mode != "native":
            return
        from synthloom.models.providers.registry import resolve_provider

        try:
            model = dataset.model(self.config.model)
            provider = resolve_provider(model.provider, model=model.alias)
        except (KeyError, ConfigError):  # reported by the plan and the model checks
            return
        if not provider.capabilities.tools:
            raise ConfigError(
                f"provider '{provider.name}' of model '{model.alias}' has no native tool calls: "
                "use tool_mode 'react' (or 'auto')",
                field="tool_mode",
            )

    def mode_for(self, client: ScopedClient) -> LoopMode:
        mode = self.config.tool_mode
        if mode == "auto":
            return "native" if client.provider.capabilities.tools else "react"
        return mode

    async def run(
        self,
        ctx: CellContext,
        messages: list[dict[str, Any]] | list[Message],
        *,
        finish: Finish = text_answer,
        what: str = "your final answer",
        max_turns: int | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ToolLoopResult:
        """The tool loop for one cell, through the run's client for the column's model (at most
        `max_turns` requests, when given: an agent node's bound)."""
        client = ctx.client(self.config.model)
        async with _resources(ctx) as resources:
            toolset = await self.toolset(resources)
            loop = ToolLoop(
                client,
                toolset,
                mode=self.mode_for(client),
                max_tool_calls=self.config.max_tool_calls,
                inference=self.config.inference,
                tag=ctx.tag,
                corrections=client.config.structured_output.correction_turns,
                what=what,
                max_turns=max_turns,
                response_format=response_format,
            )
            result = await loop.run(as_messages(messages), finish)
        if ctx.lineage is not None:
            # The cell's lineage says which tools ran, beside the model exchanges the chain logged.
            summary: dict[str, Any] = {
                "tag": ctx.tag,
                "tool_mode": loop.mode,
                "model_calls": result.model_calls,
                "tool_calls": [outcome.summary() for outcome in result.outcomes],
            }
            if result.ended_at_calls:  # record-only tools: the calls kept, none run
                summary["recorded_calls"] = [call["name"] for call in result.value]
            ctx.lineage.append(orjson.dumps(summary))
        return result

    def sends_response_format(self, client: ScopedClient) -> bool:
        """Whether a JSON-schema answer can go as `response_format` next to native tools: the provider
        takes both, and the model's structured-output policy does not ask for prompt instructions."""
        caps = client.provider.capabilities
        policy = client.config.structured_output.mode
        return self.mode_for(client) == "native" and caps.tools and caps.json_schema and policy != "prompt"

    async def toolset(self, resources: RunResources) -> Toolset:
        """Python tools, and the tools of each MCP server (started on first use in `resources`)."""
        tools: list[Tool] = list(self._python)
        record_only = set(self._record_only)
        per_server: list[str] = []
        for source in self._mcp:
            assert source.mcp is not None
            offered = await self._mcp_tools(source, resources)
            tools.extend(offered)
            per_server.append(f"{source.mcp.label()} offers {len(offered):,}")
            if not source.execute:
                record_only.update(tool.spec.name for tool in offered)
        limit = self.config.max_tools
        if len(tools) > limit:
            servers = f" ({'; '.join(per_server)})" if per_server else ""
            raise ToolError(
                f"column '{self.config.name}' would offer {len(tools):,} tools in every request, more than "
                f"max_tools ({limit}){servers}: choose the ones the model needs with 'include' or "
                "'exclude', or raise 'max_tools'"
            )
        return Toolset(tools, record_only=record_only)

    async def _mcp_tools(self, source: ToolSource, resources: RunResources) -> list[McpTool]:
        config = source.mcp
        assert config is not None
        key = ("mcp", config.model_dump_json(), str(self._base_dir))
        server = resources.get(key, lambda: McpServer(config, base_dir=self._base_dir))
        listed = await server.tools()
        names = [name for name, _ in listed]
        unknown = [n for n in (source.include or []) + source.exclude if n not in names]
        if unknown:
            raise ToolError(
                f"{server.label} has no tool named {', '.join(repr(n) for n in unknown)} "
                f"(it has: {', '.join(names[:30])}{', ...' if len(names) > 30 else ''})"
            )
        prefix = source.prefix or ""
        timeout = source.timeout or self.config.tool_timeout
        return [
            McpTool(
                server,
                name,
                ToolSpec(_wire_name(prefix + name), spec.description, spec.parameters),
                timeout=timeout,
            )
            for name, spec in listed
            if (source.include is None or name in source.include) and name not in source.exclude
        ]


def _wire_name(name: str) -> str:
    """A tool name OpenAI and Anthropic accept (letters, digits, `_`, `-`; at most 64): MCP servers may
    use dots or slashes. The server is still called by its own name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "tool"


@contextlib.asynccontextmanager
async def _resources(ctx: CellContext) -> AsyncIterator[RunResources]:
    if ctx.resources is not None:
        yield ctx.resources
        return
    async with RunResources() as own:  # a cell run on its own: its servers live as long as the cell
        yield own
