"""Plots as inline SVG: horizontal bars for counts by label, columns for histograms. No plotting
library and nothing fetched: the report stays one self-contained file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["MAX_SHOWN_CHARS", "bar_chart", "elide", "histogram", "number"]

#: The most characters of one value the report shows (in a label, a tooltip or a table cell). A value
#: may be megabytes (a document, a seed field, a reply); the report stays small and the viewer
#: (`synthloom view`) shows whole values.
MAX_SHOWN_CHARS = 500


def elide(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text`, or its first `limit` characters and how long it is."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters; the viewer shows the whole value)"


_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"'


def number(value: float) -> str:
    """A short label for a number: 1234567 -> 1.23M, 0.000123 -> 0.000123."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g}B"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "",
    width: int = 520,
    max_items: int = 20,
    color: int = 0,
) -> str:
    """Horizontal bars, one per (label, value), largest first as given; the rest summed as "other"."""
    items = list(items)
    if len(items) > max_items:
        rest = sum(v for _, v in items[max_items - 1 :])
        items = [*items[: max_items - 1], (f"other ({len(items) - max_items + 1})", rest)]
    if not items:
        return '<p class="empty">no data</p>'
    label_width = min(200, 16 + 7 * max(len(str(label)) for label, _ in items))
    bar_height, gap, top = 18, 4, 24 if title else 6
    height = top + len(items) * (bar_height + gap) + 6
    peak = max((v for _, v in items), default=0) or 1
    room = width - label_width - 70
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" {_FONT} font-weight="600">{escape(title)}</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        w = max(1.0, room * value / peak) if value > 0 else 0
        text = elide(str(label))
        shown = text if len(text) <= 28 else text[:27] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" {_FONT}>'
            f"<title>{escape(text)}</title>{escape(shown)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
            f'fill="{_PALETTE[color % len(_PALETTE)]}" rx="2">'
            f"<title>{escape(text)}: {number(value)}</title></rect>"
            f'<text x="{label_width + w + 4:.1f}" y="{y + 13}" {_FONT}>{number(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float], *, title: str = "", bins: int = 20, width: int = 520, color: int = 0
) -> str:
    """Counts of `values` in equal-width bins, with the range and the count on the axes. Integer data
    with few distinct values gets one bin per value."""
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not data:
        return '<p class="empty">no data</p>'
    low, high = min(data), max(data)
    distinct = sorted(set(data))
    if all(v.is_integer() for v in distinct) and len(distinct) <= 30 and high - low <= 60:
        edges = [low + i - 0.5 for i in range(int(high - low) + 2)]
        labels = [number(low + i) for i in range(int(high - low) + 1)]
    else:
        if high == low:
            high = low + 1
        step = (high - low) / bins
        edges = [low + i * step for i in range(bins + 1)]
        labels = []
    counts = [0] * (len(edges) - 1)
    span = edges[-1] - edges[0]
    for v in data:
        k = int((v - edges[0]) / span * (len(edges) - 1)) if span else 0
        counts[min(max(k, 0), len(counts) - 1)] += 1
    top = 24 if title else 6
    plot_h, left, bottom = 110, 36, 22
    height = top + plot_h + bottom
    room = width - left - 10
    bar_w = room / len(counts)
    peak = max(counts) or 1
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" {_FONT} font-weight="600">{escape(title)}</text>')
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" {_FONT}>{peak}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {_FONT}>0</text>'
    )
    fill = _PALETTE[color % len(_PALETTE)]
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        x = left + i * bar_w
        where = labels[i] if labels else f"{number(edges[i])} to {number(edges[i + 1])}"
        tip = f"{where}: {count}"
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{fill}"><title>{escape(tip)}</title></rect>'
        )
        if labels and (len(labels) <= 12 or i % max(1, len(labels) // 10) == 0):
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 15}" text-anchor="middle" {_FONT}>'
                f"{escape(labels[i])}</text>"
            )
    if not labels:
        parts.append(
            f'<text x="{left}" y="{top + plot_h + 15}" {_FONT}>{number(edges[0])}</text>'
            f'<text x="{width - 10}" y="{top + plot_h + 15}" text-anchor="end" {_FONT}>'
            f"{number(edges[-1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
