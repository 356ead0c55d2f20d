"""Judge scores before and after filters: the kept rows' scores beside those of every row the judge
scored, the filtered ones included (filtered.jsonl keeps a removed row's judge scores), so a report
shows what a filter on a score took away rather than only what survived it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from synthloom.report.svg_charts import bar_chart, number
from synthloom.store.run_reader import RunData

__all__ = ["judge_scores_before_and_after"]


def _kept_scores(sample: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[tuple[str, str], list[float]]:
    found: dict[tuple[str, str], list[float]] = {}
    for _, row in sample:
        for column, value in row.items():
            if not isinstance(value, Mapping):
                continue
            for name, entry in value.items():
                score = entry.get("score") if isinstance(entry, Mapping) else None
                if isinstance(score, int | float) and not isinstance(score, bool):
                    found.setdefault((column, str(name)), []).append(float(score))
    return found


def _removed_scores(filtered: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[float]]:
    found: dict[tuple[str, str], list[float]] = {}
    for line in filtered:
        for column, scores in (line.get("scores") or {}).items():
            for name, score in scores.items():
                found.setdefault((str(column), str(name)), []).append(float(score))
    return found


def _label(value: float) -> str:
    return number(int(value)) if value.is_integer() else number(value)


def judge_scores_before_and_after(run: RunData, sample: Sequence[tuple[int, Mapping[str, Any]]]) -> str:
    """An HTML fragment: per judge score, how many rows got each value before filters and how many
    of them were kept (empty when no row carries a judge score)."""
    kept = _kept_scores(sample)
    removed = _removed_scores(run.filtered)
    if not kept and not removed:
        return ""
    rows = []
    charts = []
    for i, key in enumerate(sorted(set(kept) | set(removed))):
        kept_counts = Counter(kept.get(key, []))
        all_counts = kept_counts + Counter(removed.get(key, []))
        name = f"{key[0]}.{key[1]}"
        for value in sorted(all_counts):
            before, after = all_counts[value], kept_counts.get(value, 0)
            rows.append(
                f"<tr><td>{escape(name)}</td><td class='num'>{escape(_label(value))}</td>"
                f"<td class='num'>{before}</td><td class='num'>{after}</td>"
                f"<td class='num'>{(before - after) / before:.0%}</td></tr>"
            )
        bars = [(f"{_label(v)} before", float(all_counts[v])) for v in sorted(all_counts)]
        bars += [(f"{_label(v)} kept", float(kept_counts.get(v, 0))) for v in sorted(all_counts)]
        charts.append(bar_chart(bars, title=f"{name}: rows per score, before filters and kept", color=i))
    note = (
        '<p class="note">Before filters: every row the judge scored (kept, plus filtered rows, whose '
        "scores filtered.jsonl keeps); rows removed before the judge ran have no score."
        + (
            f" Kept rows: the first {len(sample)} committed."
            if len(sample) < int(run.metadata.get("committed_records", len(sample)))
            else ""
        )
        + "</p>"
    )
    table = (
        "<table class='judge-before-after'><tr><th>score</th><th>value</th><th>before filters</th>"
        f"<th>kept</th><th>removed</th></tr>{''.join(rows)}</table>"
    )
    heading = "<h3>Judge scores before and after filters</h3>"
    return f"{heading}{note}{table}<div class='grid'>{''.join(charts)}</div>"
