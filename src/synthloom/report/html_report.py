"""`synthloom report RUN`: one self-contained HTML file about a run, plots as inline SVG.

Sections: the outcome of every record (kept, filtered, failed), each column's distribution, quality
(dedup and filters), diversity (distinct-n, embedding spread, category coverage), tokens, cost and
latency per model and column, why rows were removed, and sample records. Distributions are computed
on the first `max_rows` committed rows (said so in the report); counts come from the run's metadata.
No script, no stylesheet, no font is fetched: the file opens the same offline.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import orjson

from synthloom.report.column_profiles import profile_column
from synthloom.report.diversity import category_coverage, distinct_n, embedding_spread
from synthloom.report.judge_scores import judge_scores_before_and_after
from synthloom.report.record_cards import records_html
from synthloom.report.review_summary import review_summary
from synthloom.report.svg_charts import bar_chart, elide, number
from synthloom.store.reviews import ReviewLog
from synthloom.store.run_reader import RunData

__all__ = ["build_report", "report_reviews", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cbd5e1}main{padding:8px 28px 40px;max-width:1180px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:6px 0 10px}h3{font-size:15px;margin:14px 0 6px}
h3 small{color:#6b7280;font-weight:400}
.grid{display:flex;flex-wrap:wrap;gap:10px 24px}.stats{color:#374151;font-size:13px;margin:4px 0}
.empty{color:#9ca3af;font-style:italic}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e5e7eb;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #e5e7eb;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f4f6}td.num{text-align:right}
td.cell{max-width:360px;overflow-wrap:anywhere;white-space:pre-wrap}
td.cell div{max-height:5.4em;overflow:hidden}.note{color:#6b7280;font-size:12px}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p class="empty">none</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="num">{escape(number(value))}</td>')
            else:
                cells.append(f"<td>{escape(elide(str(value)))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _paid_cards(meta: Mapping[str, Any]) -> list[str]:
    """The run's two accounts over every session: paid (answered requests, killed sessions too) and
    paid for the rows kept."""
    paid, for_rows = meta.get("usage_paid"), meta.get("usage_committed")
    if not isinstance(paid, Mapping) or not paid:
        return []

    def cost(usage: Any) -> str:
        total = sum(float(u.get("cost") or 0) for u in (usage or {}).values() if isinstance(u, Mapping))
        return f"{total:.4f}" if total else "—"

    def requests(usage: Any) -> int:
        return sum(int(u.get("requests") or 0) for u in (usage or {}).values() if isinstance(u, Mapping))

    return [
        _card(f"{requests(paid):,} req · {cost(paid)}", "paid, all sessions"),
        _card(f"{requests(for_rows):,} req · {cost(for_rows)}", "paid for the rows kept"),
    ]


def _card(value: Any, label: str) -> str:
    shown = number(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    return f'<div class="card"><b>{escape(shown)}</b><span>{escape(label)}</span></div>'


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _reason_kind(reason: str) -> str:
    """A reason with its record numbers and measured values taken out, so alike reasons group."""
    text = re.sub(r"record \d+", "record N", reason)
    text = re.sub(r"(?<![A-Za-z])-?\d+(?:\.\d+)?(?:e-?\d+)?", "#", text)
    return text[:160]


def _one_per_reason(filtered: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first filtered row of each kind of reason (each gate's example), up to `limit`."""
    seen: set[str] = set()
    out = []
    for f in filtered:
        kind = f"{f.get('column')}: {_reason_kind(str(f.get('reason', '')))}"
        if kind not in seen:
            seen.add(kind)
            out.append(f)
            if len(out) == limit:
                break
    return out


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Report:
    def __init__(self, run: RunData, max_rows: int, samples: int) -> None:
        self.run = run
        self.sample: list[tuple[int, dict[str, Any]]] = list(run.rows(limit=max_rows))
        self.max_rows = max_rows
        self.samples = samples
        self.columns: list[str] = list(self.sample[0][1]) if self.sample else []

    def values(self, column: str) -> list[Any]:
        return [row.get(column) for _, row in self.sample]

    # ---- sections -----------------------------------------------------------------------------
    def summary(self) -> str:
        meta = self.run.metadata
        models = self.run.usage.get("models", {})
        tokens = sum(int(m.get("input_tokens", 0)) + int(m.get("output_tokens", 0)) for m in models.values())
        cost = sum(float(m.get("cost") or 0) for m in models.values())
        kept = int(meta.get("committed_records", 0))
        failed = int(meta.get("failed_records", len(self.run.failures)))
        filtered = int(meta.get("filtered_records", len(self.run.filtered)))
        cards = [
            _card(kept, "records kept"),
            _card(meta.get("target_records", "?"), "records asked for"),
            _card(filtered, "filtered"),
            _card(failed, "failed"),
            _card(tokens, "tokens"),
            _card(f"{cost:.4f}" if cost else "—", "cost, last session"),
            *_paid_cards(meta),
            _card(f"{float(self.run.usage.get('elapsed_seconds') or 0):.1f} s", "last session"),
        ]
        outcome = bar_chart(
            [("kept", kept), ("filtered", filtered), ("failed", failed)], title="outcome of records"
        )
        return f'<section><h2>Summary</h2><div class="cards">{"".join(cards)}</div>{outcome}</section>'

    def column_section(self) -> str:
        if not self.sample:
            return '<section><h2>Columns</h2><p class="empty">no committed rows</p></section>'
        note = (
            f'<p class="note">Distributions of the first {len(self.sample)} committed rows'
            + (
                f" (of {self.run.metadata.get('committed_records')})"
                if len(self.sample) >= self.max_rows
                else ""
            )
            + ".</p>"
        )
        types = self.run.column_types
        parts = [profile_column(c, types.get(c), self.values(c)) for c in self.columns]
        return f"<section><h2>Columns</h2>{note}{''.join(parts)}</section>"

    def quality_section(self) -> str:
        by_column = Counter(str(f.get("column")) for f in self.run.filtered)
        parts = []
        dedups = self.run.columns_of_type("dedup")
        if dedups:
            rows = []
            for c in dedups:
                method = c.get("method", "exact")
                threshold = c.get("threshold")
                rows.append(
                    [
                        c["name"],
                        method,
                        threshold if threshold is not None else "default",
                        by_column.get(c["name"], 0),
                    ]
                )
            parts.append(
                "<h3>Dedup</h3>" + _table(["column", "method", "threshold", "duplicates removed"], rows)
            )
        gates = [
            c
            for c in self.run.config.get("columns", [])
            if isinstance(c, dict) and c.get("filter") is not None and c.get("type") != "dedup"
        ]
        gates += self.run.columns_of_type("filter")
        if gates:
            seen: set[str] = set()
            rows = []
            for c in gates:
                if c["name"] in seen:
                    continue
                seen.add(c["name"])
                rows.append([c["name"], c.get("type"), by_column.get(c["name"], 0)])
            parts.append("<h3>Quality gates</h3>" + _table(["column", "type", "rows filtered"], rows))
        judged = judge_scores_before_and_after(self.run, self.sample)
        if judged:
            parts.append(judged)
        if not parts:
            parts.append('<p class="empty">no dedup or quality gate in this run</p>')
        return f"<section><h2>Quality</h2>{''.join(parts)}</section>"

    def diversity_section(self) -> str:
        rows = []
        for column in self.columns:
            values = [v for v in self.values(column) if isinstance(v, str)]
            if len(values) >= 2 and len(set(values)) > min(30, len(values) // 2):
                rows.append(
                    [
                        column,
                        len(values),
                        distinct_n(values, 1) or 0,
                        distinct_n(values, 2) or 0,
                        distinct_n(values, 3) or 0,
                    ]
                )
        parts = [
            "<h3>Distinct n-grams</h3>"
            + _table(["text column", "values", "distinct-1", "distinct-2", "distinct-3"], rows)
        ]
        spreads: list[list[Any]] = []
        for column in self.columns:
            values = self.values(column)
            if self.run.column_types.get(column) == "embedding":
                spread = embedding_spread([v for v in values if isinstance(v, list)])
                if spread:
                    spreads.append(
                        [
                            column,
                            spread["vectors"],
                            spread["mean_cosine_distance"],
                            spread["top_direction_share"],
                        ]
                    )
        if spreads:
            parts.append(
                "<h3>Embedding spread</h3>"
                + _table(
                    ["embedding column", "vectors", "mean cosine distance", "first direction share"], spreads
                )
            )
        coverage = []
        for column, declared, values in self._categorical():
            cov = category_coverage(values, declared)
            missing = ", ".join(cov.get("missing", [])[:8]) or "—"
            coverage.append([column, cov["categories"], cov.get("declared", "—"), cov["evenness"], missing])
        if coverage:
            parts.append(
                "<h3>Category coverage</h3>"
                + _table(["categories of", "used", "declared", "evenness", "never used"], coverage)
            )
        return f"<section><h2>Diversity</h2>{''.join(parts)}</section>"

    def _categorical(self) -> list[tuple[str, list[Any] | None, list[Any]]]:
        out: list[tuple[str, list[Any] | None, list[Any]]] = []
        for c in self.run.config.get("columns", []):
            if not isinstance(c, dict) or c.get("name") not in self.columns:
                continue
            name = c["name"]
            values = self.values(name)
            if c.get("type") == "sampler" and c.get("sampler") in ("category", "subcategory"):
                declared = (c.get("params") or {}).get("values")
                out.append((name, declared if isinstance(declared, list) else None, values))
            elif c.get("type") == "quality-tags":
                out.append(
                    (f"{name}.category", None, [v.get("category") for v in values if isinstance(v, Mapping)])
                )
                out.append(
                    (f"{name}.language", None, [v.get("language") for v in values if isinstance(v, Mapping)])
                )
            elif c.get("type") == "quality-rubric":
                categories = c.get("categories")
                out.append(
                    (
                        f"{name}.category",
                        categories,
                        [v.get("category") for v in values if isinstance(v, Mapping)],
                    )
                )
        return out

    def usage_section(self) -> str:
        usage = self.run.usage
        models: Mapping[str, Any] = usage.get("models", {})
        columns: Mapping[str, Any] = {k: v for k, v in usage.get("columns", {}).items() if v.get("requests")}
        if not models and not columns:
            return (
                '<section><h2>Tokens, cost and latency</h2><p class="empty">no model requests</p></section>'
            )

        def rows(entries: Mapping[str, Any]) -> list[list[Any]]:
            return [
                [
                    name,
                    int(u.get("requests", 0)),
                    int(u.get("cached", 0)),
                    int(u.get("batched", 0)),
                    int(u.get("input_tokens", 0)),
                    int(u.get("output_tokens", 0)),
                    f"{float(u.get('cost') or 0):.4f}",
                    f"{float(u.get('latency_p50') or 0):.3f}",
                    f"{float(u.get('latency_p95') or 0):.3f}",
                    f"{float(u.get('latency_p99') or 0):.3f}",
                    int(u.get("rate_limited", 0)),
                    int(u.get("retries", 0)),
                ]
                for name, u in entries.items()
            ]

        headers = [
            "",
            "requests",
            "from cache",
            "batched",
            "tokens in",
            "tokens out",
            "cost",
            "p50 s",
            "p95 s",
            "p99 s",
            "429s",
            "retries",
        ]
        charts = [
            bar_chart(
                [
                    (n, float(u.get("input_tokens", 0)) + float(u.get("output_tokens", 0)))
                    for n, u in models.items()
                ],
                title="tokens per model",
            ),
            bar_chart(
                [
                    (n, float(u.get("input_tokens", 0)) + float(u.get("output_tokens", 0)))
                    for n, u in columns.items()
                ],
                title="tokens per column",
                color=1,
            ),
        ]
        if any(u.get("cost") for u in columns.values()):
            charts.append(
                bar_chart(
                    [(n, float(u.get("cost") or 0)) for n, u in columns.items()],
                    title="cost per column",
                    color=2,
                )
            )
        charts.append(
            bar_chart(
                [(n, float(u.get("latency_p95") or 0)) for n, u in columns.items()],
                title="p95 latency per column (s)",
                color=3,
            )
        )
        return (
            "<section><h2>Tokens, cost and latency</h2>"
            f"<h3>Per model</h3>{_table(['model', *headers[1:]], rows(models))}"
            f"<h3>Per column</h3>{_table(['column', *headers[1:]], rows(columns))}"
            f'<div class="grid">{"".join(charts)}</div></section>'
        )

    def removed_section(self) -> str:
        failures = Counter(f"{f.get('column')}: {f.get('error_type')}" for f in self.run.failures)
        filtered = Counter(
            f"{f.get('column')}: {_reason_kind(str(f.get('reason', '')))}" for f in self.run.filtered
        )
        charts = [
            bar_chart(
                [(k, float(n)) for k, n in failures.most_common()],
                title="failed rows by column and error",
                color=3,
            ),
            bar_chart(
                [(k, float(n)) for k, n in filtered.most_common()],
                title="filtered rows by column and reason",
                color=4,
            ),
        ]
        examples = [
            [f.get("record"), f.get("column"), _short(f.get("error", ""), 160)] for f in self.run.failures[:5]
        ] + [
            [f.get("record"), f.get("column"), _short(f.get("reason", ""), 160)]
            for f in _one_per_reason(self.run.filtered, 12)
        ]
        return (
            "<section><h2>Failed and filtered rows</h2>"
            f'<div class="grid">{"".join(charts)}</div>'
            f"<h3>Examples</h3>{_table(['record', 'column', 'why'], examples)}</section>"
        )

    def reviews(self) -> dict[str, Any]:
        """The reviews summary over the rows read (see `review_summary`)."""
        latest = ReviewLog(self.run.root).latest()
        return review_summary(self.sample, latest, self.run.columns_of_type("llm-judge"))

    def reviews_section(self) -> str:
        summary = self.reviews()
        if not summary["reviewed"]:
            hint = "no record reviewed yet (review in <code>synthloom view RUN --review</code>)"
            return f'<section><h2>Reviews</h2><p class="empty">{hint}</p></section>'
        cards = [
            _card(summary["reviewed"], "records reviewed"),
            _card(f"{100 * summary['share_reviewed']:.1f}%", "of kept records"),
            _card(summary["good"], "good"),
            _card(summary["bad"], "bad"),
        ]
        rows = [
            [
                name,
                j["compared"],
                j["agree"],
                "—" if j["agreement"] is None else f"{100 * j['agreement']:.1f}%",
            ]
            for name, j in summary["judges"].items()
        ]
        table = (
            _table(["judge column", "reviewed records scored", "agree", "agreement"], rows) if rows else ""
        )
        note = (
            '<p class="note">A judge passes a record when its mean score, each on its options\' scale '
            "(first 0, last 1), is at least one half.</p>"
            if rows
            else ""
        )
        return f'<section><h2>Reviews</h2><div class="cards">{"".join(cards)}</div>{table}{note}</section>'

    def samples_section(self) -> str:
        rows = self.sample[: self.samples]
        if not rows:
            return ""
        cards = records_html(((f"record {record}", row) for record, row in rows), limit=400)
        return f"<section><h2>Sample records</h2>{cards}</section>"

    def html(self) -> str:
        meta = self.run.metadata
        title = f"synthloom report · {self.run.name}"
        sub = f"{escape(str(self.run.root))} · status {escape(str(meta.get('status', '?')))}"
        body = "".join(
            [
                self.summary(),
                self.column_section(),
                self.quality_section(),
                self.diversity_section(),
                self.usage_section(),
                self.removed_section(),
                self.reviews_section(),
                self.samples_section(),
            ]
        )
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{sub}</p></header><main>{body}</main></body></html>"
        )


def report_reviews(run_dir: str | Path, *, max_rows: int = 20_000) -> dict[str, Any]:
    """The reviews summary of the run in `run_dir` (what the report's Reviews section shows)."""
    return _Report(RunData(run_dir), max_rows, 0).reviews()


def build_report(run_dir: str | Path, *, max_rows: int = 20_000, samples: int = 10) -> str:
    """The report of the run in `run_dir` as one HTML document."""
    return _Report(RunData(run_dir), max_rows, samples).html()


def write_report(run_dir: str | Path, output: str | Path | None = None, **options: Any) -> Path:
    """Write the report (default: `<run>/report.html`); returns its path."""
    path = Path(output) if output is not None else Path(run_dir) / "report.html"
    path.write_text(build_report(run_dir, **options), encoding="utf-8")
    return path
