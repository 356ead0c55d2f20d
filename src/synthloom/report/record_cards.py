"""Records as readable HTML cards: one card per record, one labelled entry per column, each value shown
as what it is — a chat as speech bubbles (tool calls and results included), an image as an image, a
person or a structured reply as a list of fields, judge scores as scores with their reasons, long text
folded. Used by the HTML report's sample records and by a result's display in Jupyter.

Everything is escaped; images are inlined as data URIs, so a card needs nothing from elsewhere.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import orjson

__all__ = ["CARD_CSS", "record_card", "records_html", "value_html"]

#: Styles of the cards, scoped under `.sl-records` so they can sit in any page (a notebook's included).
CARD_CSS = """
.sl-records{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;color:#1f2937}
.sl-records .sl-card{border:1px solid #e5e7eb;border-radius:8px;margin:10px 0;padding:8px 12px;
  background:#fff}
.sl-records .sl-card>h4{margin:0 0 6px;font-size:14px}
.sl-records dl{display:grid;grid-template-columns:minmax(90px,max-content) 1fr;gap:4px 12px;margin:0}
.sl-records dt{font-weight:600;color:#374151;overflow-wrap:anywhere}
.sl-records dd{margin:0;min-width:0;white-space:pre-wrap;overflow-wrap:anywhere}
.sl-records .sl-null{color:#9ca3af}
.sl-records .sl-fields{grid-template-columns:max-content 1fr;font-size:12px}
.sl-records .sl-fields dt{font-weight:500;color:#6b7280}
.sl-records .sl-chat{display:flex;flex-direction:column;gap:4px}
.sl-records .sl-msg{border-radius:8px;padding:4px 8px;max-width:92%;white-space:pre-wrap}
.sl-records .sl-msg b{display:block;font-size:11px;color:#6b7280;font-weight:600}
.sl-records .sl-user{background:#eff6ff;align-self:flex-start}
.sl-records .sl-assistant{background:#f0fdf4;align-self:flex-end}
.sl-records .sl-system{background:#f3f4f6;font-style:italic}
.sl-records .sl-tool{background:#fefce8;font-family:ui-monospace,monospace;font-size:12px}
.sl-records .sl-call{font-family:ui-monospace,monospace;font-size:12px;color:#92400e}
.sl-records .sl-score{display:inline-block;background:#e0e7ff;border-radius:10px;padding:1px 8px;
  margin-right:6px}
.sl-records img{max-width:240px;max-height:240px;border:1px solid #e5e7eb;border-radius:4px}
.sl-records details summary{cursor:pointer;color:#2563eb}
"""

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)
_ROLE_CLASS = {"user": "sl-user", "assistant": "sl-assistant", "system": "sl-system", "tool": "sl-tool"}


def image_type(data: bytes) -> str | None:
    """The media type of image bytes (PNG, JPEG, GIF, WebP), or None."""
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic) and (media_type != "image/webp" or data[8:12] == b"WEBP"):
            return media_type
    return None


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and "role" in value and ("content" in value or "tool_calls" in value)


def _is_turn(value: Any) -> bool:
    return isinstance(value, Mapping) and "speaker" in value and "content" in value


#: The most characters of one value a card ever holds: a page of cards stays small whatever the data
#: (a 5 MB value once made a 20 MB report); the viewer shows whole values.
MAX_CARD_CHARS = 20_000


def _text(value: str, limit: int) -> str:
    if len(value) <= limit:
        return escape(value)
    rest = value[limit:MAX_CARD_CHARS]
    cut = (
        f"… ({len(value):,} characters; the viewer shows the whole value)"
        if len(value) > MAX_CARD_CHARS
        else ""
    )
    return (
        f"{escape(value[:limit])}<details><summary>{len(value) - limit} more characters</summary>"
        f"{escape(rest)}{cut}</details>"
    )


def _content(content: Any, limit: int) -> str:
    if isinstance(content, list):  # content parts: text, images (described in lineage), audio
        parts = [
            p.get("text") if isinstance(p, Mapping) and "text" in p else f"[{_json(p)}]" for p in content
        ]
        return _text("\n".join(str(p) for p in parts), limit)
    return _text("" if content is None else str(content), limit)


def _chat(messages: Sequence[Mapping[str, Any]], limit: int) -> str:
    """OpenAI-style messages (or history turns) as bubbles labelled with their speaker; tool calls and
    tool results shown where they happen."""
    out = []
    for m in messages:
        role = str(m.get("role") or m.get("speaker") or "")
        speaker = m.get("name") or m.get("speaker") or role
        label = escape(str(speaker)) + (f" ({escape(role)})" if role and speaker != role else "")
        if m.get("tool_call_id"):
            label += f" · result of {escape(str(m['tool_call_id']))}"
        calls = "".join(
            f'<div class="sl-call">→ {escape(str(fn.get("name")))}({escape(str(fn.get("arguments")))})</div>'
            for call in m.get("tool_calls") or []
            if isinstance(fn := call.get("function"), Mapping)
        )
        body = _content(m.get("content"), limit) if m.get("content") is not None else ""
        css = _ROLE_CLASS.get(role, "sl-user")
        out.append(f'<div class="sl-msg {css}"><b>{label}</b>{body}{calls}</div>')
    return f'<div class="sl-chat">{"".join(out)}</div>'


def _is_step(value: Any) -> bool:
    return isinstance(value, Mapping) and "step" in value and "node" in value


def _steps(steps: Sequence[Mapping[str, Any]], limit: int) -> str:
    """A flow's trajectory: each step labelled with its node, what it wrote, and where it went next."""
    out = []
    for s in steps:
        nxt = f" → {escape(str(s['next']))}" if s.get("next") else ""
        label = f"step {escape(str(s.get('step')))} · node {escape(str(s.get('node')))}{nxt}"
        output = value_html(s.get("output"), limit=limit, depth=1)
        out.append(f'<div class="sl-msg sl-system"><b>{label}</b>{output}</div>')
    return f'<div class="sl-chat">{"".join(out)}</div>'


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def value_html(value: Any, *, limit: int = 600, depth: int = 0) -> str:
    """One value as HTML, shown as what it is."""
    if value is None:
        return '<span class="sl-null">null</span>'
    if isinstance(value, bytes | bytearray):
        media_type = image_type(bytes(value))
        if media_type is None:
            return f'<span class="sl-null">{len(value)} bytes</span>'
        data = base64.b64encode(bytes(value)).decode()
        return f'<img alt="image, {len(value)} bytes" src="data:{media_type};base64,{data}">'
    if isinstance(value, str):
        return _text(value, limit)
    if isinstance(value, bool | int | float):
        return escape(str(value))
    if isinstance(value, list) and value and all(_is_message(m) or _is_turn(m) for m in value):
        return _chat(value, limit)
    if isinstance(value, list) and value and all(_is_step(s) for s in value):
        return _steps(value, limit)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(x, int | float) for x in value)
        and len(value) > 8
    ):
        return f'<span class="sl-null">vector of {len(value)} numbers</span>'
    if isinstance(value, Mapping):
        if value and all(isinstance(e, Mapping) and "score" in e for e in value.values()):
            return "".join(
                f'<div><span class="sl-score">{escape(str(k))}: {escape(str(e.get("score")))}</span>'
                f"{_text(str(e.get('reasoning') or e.get('reason') or ''), limit)}</div>"
                for k, e in value.items()
            )
        if depth < 2:
            items = "".join(
                f"<dt>{escape(str(k))}</dt><dd>{value_html(v, limit=limit, depth=depth + 1)}</dd>"
                for k, v in value.items()
            )
            return f'<dl class="sl-fields">{items}</dl>'
    if isinstance(value, list) and depth < 2 and all(not isinstance(x, Mapping | list) for x in value):
        return escape(", ".join(str(x) for x in value))
    return _text(_json(value), limit)


def record_card(title: str, row: Mapping[str, Any], *, limit: int = 600) -> str:
    """One record as a card: every column, labelled, its value shown as what it is."""
    entries = "".join(f"<dt>{escape(k)}</dt><dd>{value_html(v, limit=limit)}</dd>" for k, v in row.items())
    return f'<div class="sl-card"><h4>{escape(title)}</h4><dl>{entries}</dl></div>'


def records_html(
    records: Iterable[tuple[str, Mapping[str, Any]]], *, heading: str = "", limit: int = 600
) -> str:
    """Cards for `(title, row)` pairs, with their styles, in one self-contained fragment."""
    cards = "".join(record_card(title, row, limit=limit) for title, row in records)
    head = f"<p><b>{escape(heading)}</b></p>" if heading else ""
    return f'<div class="sl-records"><style>{CARD_CSS}</style>{head}{cards}</div>'
