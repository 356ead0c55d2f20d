"""`synthloom export RUN -f servicenow -o <table>`: every record inserted into a ServiceNow table.

An exporter is `(source, path, *, license) -> records written`; here the path's name is the table.
Values that are not text (numbers, lists, objects) are sent as JSON text, as the Table API's string
fields expect. The first record the instance refuses stops the export with an `OutputError` saying how
many were written before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthloom.errors import OutputError
from synthloom.outputs.export_source import ExportSource
from synthloom_servicenow.table_api import TableApi, TableApiError

__all__ = ["write_records"]


def write_records(source: ExportSource, path: Path, *, license: str | None = None) -> int:
    table = Path(path).name
    try:
        api = TableApi.from_environment()
    except TableApiError as exc:
        raise OutputError(f"servicenow export: {exc}") from None
    written = 0
    for rows in source.rows():
        for row in rows:
            record = {key: _field(value) for key, value in row.items() if value is not None}
            try:
                api.insert(table, record)
            except TableApiError as exc:
                raise OutputError(f"servicenow export: {written} records written, then: {exc}") from None
            written += 1
    return written


def _field(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, default=str)
