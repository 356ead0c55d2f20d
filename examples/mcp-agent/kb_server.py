"""A small MCP server for the mcp-agent example: a searchable knowledge base of a few articles.

Started by synthloom (stdio) once per run: `command: [python, kb_server.py]` in config.yaml.
Written with the official SDK's server side (`MCPServer` in mcp 2, `FastMCP` in mcp 1).
"""

from __future__ import annotations

import os

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

server = _Server("knowledge-base")

ARTICLES = {
    "tides": "Tides are the rise and fall of sea levels caused by the Moon's and the Sun's gravity. "
    "Most coasts see two high and two low tides a day; spring tides, near new and full moon, are largest.",
    "photosynthesis": "Plants turn light, water and carbon dioxide into sugar and oxygen. It happens in "
    "chloroplasts; chlorophyll absorbs red and blue light and reflects green.",
    "volcanoes": "A volcano is an opening in a planet's crust through which magma, gas and ash escape. "
    "Shield volcanoes erupt runny lava; stratovolcanoes build steep cones from sticky lava and ash.",
    "bees": "Honey bees communicate the direction and distance of flowers with the waggle dance. "
    "A colony has one queen, thousands of female workers and, in summer, a few hundred drones.",
}


@server.tool()
def search(query: str, limit: int = 3) -> list[str]:
    """Find articles about a topic.

    Args:
        query: Words to look for.
        limit: At most this many article slugs.
    """
    words = query.lower().split()
    scores = {
        slug: sum(text.lower().count(w) + slug.count(w) for w in words) for slug, text in ARTICLES.items()
    }
    scored = sorted(((score, slug) for slug, score in scores.items()), reverse=True)
    return [slug for score, slug in scored if score > 0][:limit]


@server.tool()
def get_article(slug: str) -> str:
    """The text of one article, by the slug `search` returned."""
    if slug not in ARTICLES:
        raise ValueError(f"no article '{slug}'; known: {', '.join(ARTICLES)}")
    prefix = os.environ.get("KB_SOURCE_NOTE", "")
    return f"{prefix}{ARTICLES[slug]}"


if __name__ == "__main__":
    server.run()
