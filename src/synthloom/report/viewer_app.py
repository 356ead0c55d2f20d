"""`synthloom view RUN`: a local web viewer of a run's records, tags, removed rows and lineage.

An aiohttp app bound to 127.0.0.1 only, serving one page and a small JSON API; requests whose Host is
not the loopback address are refused (a web page elsewhere cannot reach it through DNS rebinding), and
nothing is ever uploaded.

    GET /                       the page (viewer_page.py)
    GET /api/summary            run name, counts, columns (and those shown by default: not side columns)
                                and the fields records can be filtered and sorted on
    GET /api/records            ?offset&limit&q=<text>&f=<field>:<op>:<value> (repeatable; ops eq ne
                                contains gt lt ge le)&sort=<field>&desc=1&review=good|bad|unreviewed
                                -> {total, rows: [{record, values, review}]}
    GET /api/record/{record}    one record: its values (images as data URIs), why it was removed, its
                                cells' lineage (each exchange labelled with its flow node and speaker)
                                and its review
    GET /api/removed            ?kind=failed|filtered&offset&limit -> failures.jsonl / filtered.jsonl lines
    POST /api/review            (review mode only) {record, verdict: good|bad, note} -> the review, appended
                                to RUN/reviews.jsonl

The one write, a review, is accepted only from the page this server served: the request must carry the
per-launch token written into that page (`X-Synthloom-Token`), and its `Origin` must be this server's
own loopback origin (a page on another site cannot read the token, and its requests carry its origin).
A record that is not a kept record of the run is refused with 400 and nothing is written.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from synthloom.report.viewer_page import PAGE, page_html
from synthloom.report.viewer_values import label_exchanges, list_preview, readable, sorted_rows
from synthloom.store.reviews import VERDICTS, ReviewLog
from synthloom.store.run_reader import RunData

__all__ = ["ViewerServer", "build_app"]

_OPS = ("eq", "ne", "contains", "gt", "lt", "ge", "le")
_NUMERIC_OPS = {"gt": float.__gt__, "lt": float.__lt__, "ge": float.__ge__, "le": float.__le__}


def _field(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _compare(value: Any, op: str, wanted: str) -> bool:
    if op == "contains":
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        return wanted.lower() in text.lower()
    if op in _NUMERIC_OPS:
        try:
            number, bound = float(value), float(wanted)
        except (TypeError, ValueError):
            return False
        return bool(_NUMERIC_OPS[op](number, bound))
    shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return (shown == wanted) == (op == "eq")


class _Records:
    """The committed records, loaded once (up to `max_rows`)."""

    def __init__(self, run: RunData, max_rows: int) -> None:
        self.run = run
        self.max_rows = max_rows

    @cached_property
    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        return list(self.run.rows(limit=self.max_rows))

    @cached_property
    def by_record(self) -> dict[int, dict[str, Any]]:
        return dict(self.rows)

    @cached_property
    def fields(self) -> list[str]:
        """Columns, and one level into mapping columns (tags, judge scores)."""
        out: list[str] = []
        for name, value in self.rows[0][1].items() if self.rows else []:
            out.append(name)
            if isinstance(value, Mapping):
                for key, inner in value.items():
                    out.append(f"{name}.{key}")
                    if isinstance(inner, Mapping) and "score" in inner:
                        out.append(f"{name}.{key}.score")
        return out


def build_app(
    run_dir: str | Path,
    *,
    max_rows: int = 200_000,
    review: bool = False,
    reviewer: str = "reviewer",
    token: str | None = None,
) -> web.Application:
    """The viewer's app for the run in `run_dir` (checked now: a bad path fails before serving). With
    `review`, people can record verdicts (as `reviewer`); `token` defaults to a fresh random one."""
    run = RunData(run_dir)
    records = _Records(run, max_rows)
    reviews = ReviewLog(run.root)
    secret = (token or secrets.token_urlsafe(32)) if review else ""
    html = page_html(review=review, token=secret, reviewer=reviewer) if review else PAGE

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    def verdict_of(record: int, latest: Mapping[int, Any]) -> str | None:
        found = latest.get(record)
        return None if found is None else str(found.verdict)

    async def summary(request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(lambda: records.rows)
        meta = run.metadata
        return _json(
            {
                "name": run.name,
                "status": meta.get("status"),
                "path": str(run.root),
                "kept": len(rows),
                "failed": len(run.failures),
                "filtered": len(run.filtered),
                "columns": list(rows[0][1]) if rows else [],
                "default_columns": _default_columns(list(rows[0][1]) if rows else []),
                "fields": records.fields,
                "ops": list(_OPS),
                "truncated": len(rows) >= max_rows,
            }
        )

    async def list_records(request: web.Request) -> web.Response:
        rows = await asyncio.to_thread(lambda: records.rows)
        query = request.query
        offset, limit = _page(query)
        filters = []
        for spec in query.getall("f", []):
            field, _, rest = spec.partition(":")
            op, _, value = rest.partition(":")
            if op not in _OPS or not field:
                raise web.HTTPBadRequest(text=f"bad filter {spec!r}: expected field:op:value, op in {_OPS}")
            filters.append((field, op, value))
        text = query.get("q", "").strip().lower()
        wanted_review = query.get("review", "")
        if wanted_review not in ("", "unreviewed", *VERDICTS):
            raise web.HTTPBadRequest(text="review must be good, bad or unreviewed")
        latest = await asyncio.to_thread(reviews.latest)
        matched = []
        for record, row in rows:
            if filters and not all(_compare(_field(row, f), op, v) for f, op, v in filters):
                continue
            if text and text not in orjson.dumps(row, default=str).decode().lower():
                continue
            if wanted_review and (verdict_of(record, latest) or "unreviewed") != wanted_review:
                continue
            matched.append((record, row))
        matched = _ordered(matched, query)
        page_rows = [
            {
                "record": record,
                "values": {k: list_preview(v) for k, v in row.items()},
                "review": verdict_of(record, latest),
            }
            for record, row in matched[offset : offset + limit]
        ]
        return _json({"total": len(matched), "offset": offset, "rows": page_rows})

    async def one_record(request: web.Request) -> web.Response:
        try:
            record = int(request.match_info["record"])
        except ValueError:
            raise web.HTTPBadRequest(text="record must be a number") from None
        await asyncio.to_thread(lambda: records.rows)
        lineage = await asyncio.to_thread(run.lineage, record)
        values = records.by_record.get(record)
        removal = run.removal(record)
        if values is None and removal is None and not lineage:
            raise web.HTTPNotFound(text=f"no record {record} in this run")
        found = (await asyncio.to_thread(reviews.latest)).get(record)
        return _json(
            {
                "record": record,
                "values": readable(values),
                "removal": removal,
                "lineage": label_exchanges(run.config, lineage),
                "review": None if found is None else found.to_json(),
            }
        )

    async def add_review(request: web.Request) -> web.Response:
        if not review:
            raise web.HTTPForbidden(text="this viewer was started without --review")
        origin = request.headers.get("Origin")
        if origin != f"http://{request.host}":
            raise web.HTTPForbidden(text="reviews are accepted from the viewer's own page only")
        given = request.headers.get("X-Synthloom-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise web.HTTPForbidden(text="missing or wrong viewer token")
        if request.content_type != "application/json":
            raise web.HTTPBadRequest(text="send the review as application/json")
        try:
            body = orjson.loads(await request.read())
            record = int(body["record"])
            verdict = str(body["verdict"])
            note = str(body.get("note") or "")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise web.HTTPBadRequest(text="expected {record, verdict, note}") from None
        await asyncio.to_thread(lambda: records.rows)
        if record not in records.by_record:
            raise web.HTTPBadRequest(text=f"record {record} is not a kept record of this run")
        try:
            saved = await asyncio.to_thread(reviews.add, record, verdict, note, who=reviewer)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json(saved.to_json())

    async def removed(request: web.Request) -> web.Response:
        kind = request.query.get("kind", "failed")
        if kind not in ("failed", "filtered"):
            raise web.HTTPBadRequest(text="kind must be failed or filtered")
        lines = run.failures if kind == "failed" else run.filtered
        offset, limit = _page(request.query)
        return _json({"total": len(lines), "offset": offset, "rows": lines[offset : offset + limit]})

    app = web.Application(middlewares=[_loopback_only])
    app.router.add_get("/", page)
    app.router.add_get("/api/summary", summary)
    app.router.add_get("/api/records", list_records)
    app.router.add_get("/api/record/{record}", one_record)
    app.router.add_get("/api/removed", removed)
    app.router.add_post("/api/review", add_review)
    return app


def _ordered(
    matched: list[tuple[int, dict[str, Any]]], query: Mapping[str, str]
) -> list[tuple[int, dict[str, Any]]]:
    """The matched records in the order asked for (`sort=<field>`, `desc=1`), else record order."""
    field = query.get("sort", "").strip()
    if not field:
        return matched
    values = [_field(row, field) for _, row in matched]
    return sorted_rows(matched, values, descending=query.get("desc") in ("1", "true"))


def _default_columns(columns: list[str]) -> list[str]:
    """The columns the record list shows until the user picks: the values, not the side columns
    (`<column>__trajectory`, `__prompt`, ...) that the record's own view shows."""
    return [c for c in columns if "__" not in c] or columns


def _page(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        offset = max(0, int(query.get("offset", 0)))
        limit = min(500, max(1, int(query.get("limit", 50))))
    except ValueError:
        raise web.HTTPBadRequest(text="offset and limit must be numbers") from None
    return offset, limit


def _json(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), content_type="application/json")


@web.middleware
async def _loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise web.HTTPForbidden(text="the viewer answers on the loopback address only")
    return await handler(request)  # type: ignore[no-any-return]


class ViewerServer:
    """`async with ViewerServer(run_dir, port=0) as server: server.url` (127.0.0.1 only)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        port: int = 0,
        max_rows: int = 200_000,
        review: bool = False,
        reviewer: str = "reviewer",
    ) -> None:
        self.app = build_app(run_dir, max_rows=max_rows, review=review, reviewer=reviewer)
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        sockets = self._runner.addresses
        if sockets:
            self.port = int(sockets[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ViewerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
