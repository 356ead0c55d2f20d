"""The `run:` block: how a run is executed (row groups, seeds, failure handling, when to stop)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from synthloom.config.base import StrictModel

__all__ = ["RunConfig"]


class RunConfig(StrictModel):
    """How the run is executed."""

    #: Records per row group: the unit of checkpointing and of vectorised model-free work.
    buffer_size: Annotated[int, Field(gt=0, le=1_000_000)] = 1000
    #: Row groups generated at the same time, so later models work while earlier ones still produce.
    max_row_groups_in_flight: Annotated[int, Field(gt=0, le=64)] = 4
    #: The run seed: every sampler draw is fixed by it (per row group), so resume reproduces them.
    seed: int = 0
    #: Stop when more than this share of cells failed over the last `failure_window` finished cells.
    #: Filtered rows (a filter or quality gate said no) never count as failures.
    max_failure_rate: Annotated[float, Field(ge=0, le=1)] = 0.5
    failure_window: Annotated[int, Field(gt=0)] = 200
    #: A cell that failed transiently is retried this many more times later in the run.
    cell_retries: Annotated[int, Field(ge=0)] = 2
    #: Stop with an error if a model endpoint stays unreachable for this long (seconds).
    endpoint_deadline: Annotated[float, Field(gt=0)] = 300.0
    #: What `--num-records N` counts. `records`: generate N records (filtered and failed rows are
    #: removed from them). `kept`: generate until N rows pass every filter, in record order, trying at
    #: most N + `max_extra_records` records.
    target: Literal["records", "kept"] = "records"
    #: Keep each model-backed cell's lineage (the messages sent, the reply, reasoning, attempts, tokens,
    #: latency) in `lineage/part-NNNNN.parquet` next to the data, for `synthloom view`.
    lineage: bool = True
    #: With `target: kept`, how many records beyond N the run may try (default: 9 x N, i.e. an accept
    #: rate down to 10 %).
    max_extra_records: Annotated[int, Field(ge=0)] | None = None

    def planned_records(self, num_records: int) -> int:
        """The records the run's row groups span for a target of `num_records`."""
        if self.target == "records":
            return num_records
        extra = self.max_extra_records if self.max_extra_records is not None else 9 * num_records
        return num_records + extra
