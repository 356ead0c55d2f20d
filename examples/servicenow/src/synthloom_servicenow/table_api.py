"""A small client of the ServiceNow Table API (`/api/now/table/<table>`), on the standard library.

    api = TableApi.from_environment()
    for record in api.records("incident", query="active=true", fields=["number", "short_description"]):
        ...
    api.insert("u_synthetic_incident", {"short_description": "..."})

Pages are read with `sysparm_limit` / `sysparm_offset` until a short page. Errors name the table and
the HTTP status, never the credentials.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TableApi", "TableApiError"]


class TableApiError(Exception):
    """The Table API refused a request, or could not be reached."""


class TableApi:
    """One ServiceNow instance, with its credentials."""

    def __init__(self, instance_url: str, authorization: str, *, timeout: float = 30.0) -> None:
        self.instance_url = instance_url.rstrip("/")
        self._authorization = authorization
        self.timeout = timeout

    @classmethod
    def from_environment(cls) -> TableApi:
        """The instance from `SERVICENOW_INSTANCE_URL`, credentials from `SERVICENOW_TOKEN` or
        `SERVICENOW_USERNAME` + `SERVICENOW_PASSWORD`."""
        url = os.environ.get("SERVICENOW_INSTANCE_URL")
        if not url:
            raise TableApiError(
                "set SERVICENOW_INSTANCE_URL to the instance (https://<name>.service-now.com)"
            )
        token = os.environ.get("SERVICENOW_TOKEN")
        user, password = os.environ.get("SERVICENOW_USERNAME"), os.environ.get("SERVICENOW_PASSWORD")
        if token:
            authorization = f"Bearer {token}"
        elif user and password:
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        else:
            raise TableApiError("set SERVICENOW_TOKEN, or SERVICENOW_USERNAME and SERVICENOW_PASSWORD")
        return cls(url, authorization)

    def __repr__(self) -> str:  # never the credentials
        return f"TableApi({self.instance_url!r})"

    def records(
        self, table: str, *, query: str | None = None, fields: list[str] | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every record of `table` matching `query` (an encoded query), page by page."""
        offset = 0
        while True:
            params = {"sysparm_limit": str(page_size), "sysparm_offset": str(offset)}
            if query:
                params["sysparm_query"] = query
            if fields:
                params["sysparm_fields"] = ",".join(fields)
            page = self._send("GET", table, params=params)
            rows = page.get("result") or []
            yield from rows
            if len(rows) < page_size:
                return
            offset += len(rows)

    def insert(self, table: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Create one record; the instance's answer (with its `sys_id`)."""
        result: dict[str, Any] = self._send("POST", table, body=dict(record)).get("result") or {}
        return result

    def _send(
        self, method: str, table: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        url = f"{self.instance_url}/api/now/table/{urllib.parse.quote(table)}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise TableApiError(f"{method} table '{table}': HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TableApiError(
                f"{method} table '{table}': {self.instance_url} unreachable: {reason}"
            ) from None
