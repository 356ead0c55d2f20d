"""`seed: {reader: servicenow, options: {table: incident, query: "active=true"}}`: a table's records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from synthloom.config.base import StrictModel
from synthloom.seeds.reader_plugins import SeedReaderPlugin
from synthloom_servicenow.table_api import TableApi

__all__ = ["ServiceNowReader"]


class ServiceNowReader(SeedReaderPlugin):
    """The records of one ServiceNow table (Table API), read once when the seed opens."""

    name: ClassVar[str] = "servicenow"

    class Options(StrictModel):
        #: The table: `incident`, `kb_knowledge`, `sc_req_item`, ...
        table: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
        #: An encoded query (`active=true^priority=1`).
        query: str | None = None
        #: Only these fields (all by default).
        fields: list[str] | None = None
        #: Records per request.
        page_size: Annotated[int, Field(ge=1, le=10_000)] = 100
        #: Stop after this many records.
        max_records: Annotated[int, Field(ge=1)] | None = None

    def read(self, options: Any, base_dir: Path) -> Iterator[dict[str, Any]]:
        api = TableApi.from_environment()
        records = api.records(
            options.table, query=options.query, fields=options.fields, page_size=options.page_size
        )
        for count, record in enumerate(records):
            if options.max_records is not None and count >= options.max_records:
                return
            yield record
