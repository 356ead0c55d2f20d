"""Per-column plots: what a column's values look like, chosen from the column's type and its values.

Numbers get a histogram, labels a bar chart of counts, free text a histogram of lengths, judge and
rubric columns a histogram per score, tag columns their languages, categories and numeric tags,
embeddings their spread, structured values (structured replies, persons, flow outputs) one chart per
field. Each profile is a small HTML fragment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from synthloom.report.diversity import distinct_n, embedding_spread
from synthloom.report.svg_charts import bar_chart, histogram

__all__ = ["profile_column"]

_NUMERIC_TAGS = (
    "chars",
    "words",
    "ttr",
    "mtld",
    "repeated_ngram_ratio",
    "loop_score",
    "compression_ratio",
    "repeated_sentence_ratio",
)
_FLAG_TAGS = ("has_code", "has_math", "has_citation", "has_table", "has_list")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _counts(values: Sequence[Any]) -> list[tuple[str, float]]:
    return [(label, float(n)) for label, n in Counter(str(v) for v in values if v is not None).most_common()]


def _judge_scores(values: Sequence[Any]) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    for value in values:
        if not isinstance(value, Mapping):
            continue
        for name, entry in value.items():
            if isinstance(entry, Mapping) and _is_number(entry.get("score")):
                scores.setdefault(str(name), []).append(float(entry["score"]))
    return scores


def _stats(numbers: Sequence[float]) -> str:
    ordered = sorted(numbers)
    n = len(ordered)
    mean = sum(ordered) / n
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return (
        f'<p class="stats">n={n} · min {ordered[0]:.4g} · median {median:.4g} · mean {mean:.4g} · '
        f"max {ordered[-1]:.4g}</p>"
    )


def profile_column(name: str, column_type: str | None, values: Sequence[Any]) -> str:
    """An HTML fragment describing `values` (a sample of column `name`)."""
    present = [v for v in values if v is not None]
    header = f"<h3>{escape(name)} <small>{escape(column_type or '')} · {len(present)} values</small></h3>"
    if not present:
        return header + '<p class="empty">all null</p>'
    if column_type == "quality-tags" or (isinstance(present[0], Mapping) and "language" in present[0]):
        return header + _tags(present)
    if column_type == "quality-rubric":
        return header + _rubric(present)
    scores = _judge_scores(present)
    if scores:
        charts = [
            histogram(v, title=f"{score} score", color=i) for i, (score, v) in enumerate(scores.items())
        ]
        return header + '<div class="grid">' + "".join(charts) + "</div>"
    if all(isinstance(v, list) and v and all(_is_number(x) for x in v[:8]) for v in present[:50]):
        spread = embedding_spread(present)
        if spread is None:
            return header + '<p class="empty">vectors of different lengths</p>'
        return header + (
            f'<p class="stats">{len(present[0])} dimensions · mean cosine distance '
            f"{spread['mean_cosine_distance']} · first principal direction "
            f"{spread['top_direction_share']:.1%} of the variance (over {spread['vectors']} vectors)</p>"
        )
    if all(isinstance(v, bool) for v in present):
        return header + bar_chart(_counts(present))
    if all(_is_number(v) for v in present):
        numbers = [float(v) for v in present]
        return header + _stats(numbers) + histogram(numbers)
    if all(isinstance(v, str) for v in present):
        distinct = len(set(present))
        if distinct <= 30 and distinct <= max(2, len(present) // 2):
            return header + bar_chart(_counts(present))
        lengths = [float(len(v)) for v in present]
        d1, d2 = distinct_n(present, 1), distinct_n(present, 2)
        return (
            header
            + f'<p class="stats">{distinct} distinct of {len(present)} · distinct-1 {d1} · '
            + f"distinct-2 {d2}</p>"
            + histogram(lengths, title="length (characters)")
        )
    if all(isinstance(v, list) for v in present):
        return header + histogram([float(len(v)) for v in present], title="items per value")
    if all(isinstance(v, Mapping) for v in present):
        return header + _fields(present)
    return header + bar_chart(_counts(present))


#: The most fields of a structured value profiled one by one (the rest are counted as present).
_MAX_FIELDS = 16
#: Field charts are narrower than a column's, so three sit side by side.
_FIELD_WIDTH = 360


def _fields(values: Sequence[Mapping[str, Any]]) -> str:
    """A structured value (a structured reply, a person, a flow's outputs) profiled field by field:
    each field gets the chart its own values call for."""
    keys = Counter(k for v in values for k in v)
    charts = []
    for i, (key, n) in enumerate(keys.most_common(_MAX_FIELDS)):
        charts.append(_field_chart(f"{key} ({n} of {len(values)})", [v.get(key) for v in values], i))
    if len(keys) > _MAX_FIELDS:
        rest = [(k, float(n)) for k, n in keys.most_common()[_MAX_FIELDS:]]
        charts.append(bar_chart(rest, title="other fields present"))
    return '<div class="grid fields">' + "".join(charts) + "</div>"


def _field_chart(title: str, values: Sequence[Any], color: int) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return f'<p class="empty">{escape(title)}: all null</p>'
    if all(_is_number(v) for v in present):
        return histogram([float(v) for v in present], title=title, color=color, width=_FIELD_WIDTH)
    if all(isinstance(v, str) for v in present):
        distinct = len(set(present))
        if distinct <= 30 and distinct <= max(2, len(present) // 2):
            return bar_chart(_counts(present), title=title, color=color, width=_FIELD_WIDTH)
        lengths = [float(len(v)) for v in present]
        return histogram(
            lengths, title=f"{title}: length, {distinct} distinct", color=color, width=_FIELD_WIDTH
        )
    if all(isinstance(v, list) for v in present):
        return histogram(
            [float(len(v)) for v in present], title=f"{title}: items", color=color, width=_FIELD_WIDTH
        )
    if all(isinstance(v, Mapping) for v in present):
        keys = Counter(k for v in present for k in v)
        top = [(k, float(n)) for k, n in keys.most_common(12)]
        return bar_chart(top, title=f"{title}: keys", color=color, width=_FIELD_WIDTH)
    return bar_chart(_counts(present)[:12], title=title, color=color, width=_FIELD_WIDTH)


#: The defect tags whose value is a label (null: none found).
_LABEL_TAGS = ("boilerplate", "encoding", "markup")


def _tags(values: Sequence[Mapping[str, Any]]) -> str:
    charts = []
    languages = [v.get("language") for v in values if "language" in v]
    if languages:
        charts.append(bar_chart(_counts(languages), title="language"))
    categories = [v.get("category") for v in values if "category" in v]
    if categories:
        charts.append(bar_chart(_counts(categories), title="category (data characteristics)", color=1))
    for i, label in enumerate(_LABEL_TAGS):
        found = [v.get(label) or "none" for v in values if label in v]
        if found:
            charts.append(bar_chart(_counts(found), title=label, color=4 + i))
    flags = [(flag, float(sum(1 for v in values if v.get(flag)))) for flag in _FLAG_TAGS if flag in values[0]]
    if flags:
        charts.append(bar_chart(flags, title="rows with …", color=2))
    for i, key in enumerate(_NUMERIC_TAGS):
        numbers = [float(v[key]) for v in values if _is_number(v.get(key))]
        if numbers:
            charts.append(histogram(numbers, title=key, color=3 + i))
    turns = [float(v["turns"]) for v in values if _is_number(v.get("turns"))]
    if turns:
        charts.append(histogram(turns, title="turns"))
    return '<div class="grid">' + "".join(charts) + "</div>"


def _rubric(values: Sequence[Mapping[str, Any]]) -> str:
    charts = [bar_chart(_counts([v.get("category") for v in values]), title="category")]
    sources = _counts([v.get("category_source") for v in values])
    charts.append(bar_chart(sources, title="category decided by", color=1))
    overall = [float(v["overall"]) for v in values if _is_number(v.get("overall"))]
    if overall:
        charts.append(histogram(overall, title="overall (mean of the five)", color=2))
    for i, (score, numbers) in enumerate(_judge_scores(values).items()):
        charts.append(histogram(numbers, title=score, color=3 + i))
    return '<div class="grid">' + "".join(charts) + "</div>"
