"""The `tools:` of an LLM column: Python functions by import path, modules of functions, MCP servers.

    tools:
      - function: my_tools:search          # a function; or a class: its public methods
        timeout: 10
      - module: my_tools.maths             # every public function of a module
        exclude: [slow_sum]
      - mcp:                               # an MCP server the run starts (stdio)
          command: [python, weather_server.py]
          env: {WEATHER_KEY: "${WEATHER_KEY}"}
        prefix: weather_
      - mcp: {url: "http://127.0.0.1:8931/mcp"}   # one already running (streamable HTTP)
      - function: my_tools:book_flight      # offered, the calls recorded, never run
        execute: false
      - mcp:
          url: "https://mcp.example.com/mcp?key=${SEARCH_KEY}"
          headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}

An MCP server's `env` values, an HTTP server's `headers` values and its `url` are literal text or
`${NAME}` references to this process's environment, read when the server starts: the config (and so
`config.yaml`, `metadata.json`) keeps the references, and the values read never reach an artifact, a
log, an error message or a tool result (a server that echoes one gets `***` in its place).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from synthloom.config.base import StrictModel

__all__ = [
    "ENV_REFERENCE",
    "McpServerConfig",
    "ToolMode",
    "ToolSource",
    "ToolsConfig",
    "TrajectoryPlace",
    "env_references",
]

#: `${NAME}` inside an MCP server's `env` value.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: An HTTP header name (RFC 9110 token characters).
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_][\w.]*$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

ToolMode = Literal["auto", "native", "react"]
TrajectoryPlace = Literal["side", "value"]


def _import_path(value: str) -> str:
    if not _IMPORT_PATH.fullmatch(value):
        raise ValueError(f"{value!r} is not an import path: expected 'package.module:name'")
    return value


def _module_name(value: str) -> str:
    if not _MODULE.fullmatch(value):
        raise ValueError(f"{value!r} is not a module name: expected 'package.module'")
    return value


def env_references(value: str) -> list[str]:
    """The environment variables `value` reads through `${NAME}`."""
    return ENV_REFERENCE.findall(value)


class McpServerConfig(StrictModel):
    """An MCP server: a stdio `command` the run starts once (and restarts if it dies), or the
    streamable-HTTP `url` of one already running."""

    #: The program and its arguments, e.g. `[npx, -y, "@modelcontextprotocol/server-everything"]`.
    #: `python` (or `python3`) is the interpreter running synthloom, whose environment has the `mcp`
    #: SDK, not whichever `python` comes first on PATH; write a path to use another one.
    command: Annotated[list[str], Field(min_length=1)] | None = None
    #: The streamable-HTTP endpoint; `${NAME}` parts are read from the environment at start.
    url: str | None = None
    #: HTTP headers sent to a `url` server (`Authorization: "Bearer ${TOKEN}"`), read at start.
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], str] = Field(default_factory=dict)
    #: Environment of a stdio server: literal values or `${NAME}` references, read at start.
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(default_factory=dict)
    #: Working directory of a stdio server; relative to the config file's folder (the default).
    cwd: str | None = None
    #: Seconds to start, handshake and list tools before the cells that need the server fail.
    startup_timeout: Annotated[float, Field(gt=0, le=600)] = 60.0

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "an MCP server needs exactly one of 'command' (stdio) or 'url' (streamable HTTP)"
            )
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("'url' must start with http:// or https://")
            for field in ("env", "cwd"):
                if field in self.model_fields_set:
                    raise ValueError(f"'{field}' is only for a server started by 'command'")
        elif "headers" in self.model_fields_set:
            raise ValueError("'headers' is only for a server at a 'url' (a stdio server takes 'env')")
        for where, text in self.secret_templates().items():
            if "${" in ENV_REFERENCE.sub("", text):
                raise ValueError(f"'{where}' has a '${{' that is not a reference: write ${{NAME}}")
        if self.command is not None and not self.command[0].strip():
            raise ValueError("'command' starts with an empty program name")
        return self

    def secret_templates(self) -> dict[str, str]:
        """Every value that may hold `${NAME}` references, by field (`env.KEY`, `headers.X-Key`, `url`)."""
        out = {f"env.{k}": v for k, v in self.env.items()}
        out.update({f"headers.{k}": v for k, v in self.headers.items()})
        if self.url is not None:
            out["url"] = self.url
        return out

    def label(self) -> str:
        """How errors name this server: its program or its URL, never its environment."""
        if self.command is not None:
            shown = " ".join(part.replace("\\", "/").rsplit("/", 1)[-1] for part in self.command[:2])
            return f"MCP server '{shown}'"
        # The URL as written (references unread), without its query: a key pasted there stays out.
        return f"MCP server at {(self.url or '').split('?', 1)[0]}"


class ToolSource(StrictModel):
    """One entry of `tools:`: exactly one of `function`, `module` or `mcp`."""

    #: `package.module:function`, or a class: the public methods of one instance (built with no
    #: arguments, once per run).
    function: Annotated[str, AfterValidator(_import_path)] | None = None
    #: `package.module`: its public functions (those listed in `__all__`, when it has one).
    module: Annotated[str, AfterValidator(_module_name)] | None = None
    #: An MCP server whose tools the model may call.
    mcp: McpServerConfig | None = None
    #: Offer only these tools of a class, module or server / all but these.
    include: list[str] | None = None
    #: Tools of the source left out.
    exclude: list[str] = Field(default_factory=list)
    #: Seconds one call may take; the column's `tool_timeout` when unset.
    timeout: Annotated[float, Field(gt=0)] | None = None
    #: Put before each tool name (`github_`): keeps two servers' `search` apart.
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{0,32}$")] | None = None
    #: `false`: the tools are offered and the model's calls to them recorded, never run; the
    #: trajectory ends at the assistant turn that calls them (tool-call training data).
    execute: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ToolSource:
        given = [k for k in ("function", "module", "mcp") if getattr(self, k) is not None]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"a tool entry needs exactly one of 'function', 'module' or 'mcp'{got}")
        if not self.execute and self.timeout is not None:
            raise ValueError("'timeout' has no use with 'execute: false' (the tools are never run)")
        return self

    @property
    def kind(self) -> Literal["function", "module", "mcp"]:
        if self.function is not None:
            return "function"
        return "module" if self.module is not None else "mcp"


#: The `tools:` list of an LLM column.
ToolsConfig = Annotated[list[ToolSource], Field(min_length=1)]
