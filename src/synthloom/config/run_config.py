"""The `run:` block: how a run is executed (row groups, seeds, failure handling, when to stop)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from synthloom.config.base import StrictModel

__all__ = ["BudgetConfig", "CacheConfig", "CacheMode", "ExecutorChoice", "FilteredRetry", "RunConfig"]

logger = logging.getLogger(__name__)


class ExecutorChoice(StrictModel):
    """Which executor runs the row groups, and its own options.

    Written as a name (`executor: ray`) or as a mapping of one name to its options
    (`executor: {ray: {address: auto, workers: 4}}`). The options are checked against the chosen
    executor's own options model when the config is validated (`synthloom.executors`), so each
    executor declares its options and a new one adds no field here.
    """

    #: The executor: `local` or `ray`.
    name: str = "local"
    #: The executor's own options (for ray: `address`, `workers`).
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and len(value) == 1 and "name" not in value:
            ((name, options),) = value.items()
            return {"name": name, "options": {} if options is None else options}
        return value


#: `read_write`: answer from the cache, store what the servers answer; `read_only`: answer from it, never
#: write; `refresh`: always ask the servers and store their answers; `off`: no cache.
CacheMode = Literal["read_write", "read_only", "refresh", "off"]


class CacheConfig(StrictModel):
    """`run.cache`: the response cache every model request of the run passes (see README, "Iterating
    cheaply"). Written as a mapping, as a path, or as `false` (off)."""

    #: The SQLite file; None: `<output>/.cache/responses.sqlite3` (preview: `./output/...`), or the
    #: `SYNTHLOOM_CACHE` environment variable when set.
    path: str | None = None
    #: `read_write` (answer from the cache, store what servers answer), `read_only` (never write),
    #: `refresh` (always ask the servers, store their answers) or `off`.
    mode: CacheMode = "read_write"
    #: Bounded size: the least recently used answers are evicted beyond it.
    max_size_mb: Annotated[float, Field(gt=0)] = 2048.0

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if value is False or value is None:
            return {"mode": "off"}
        if value is True:
            return {}
        if isinstance(value, str):
            return {"path": value}
        return value


class BudgetConfig(StrictModel):
    """`run.budget`: what a run may spend, over all its sessions. The run stops cleanly (committed rows
    kept, exit code 3) once the spend, or its projection over the whole run, passes any limit."""

    #: Dollars, from each model's `pricing` (a model without pricing is a config error).
    usd: Annotated[float, Field(gt=0)] | None = None
    #: Input plus output tokens, every model.
    tokens: Annotated[int, Field(gt=0)] | None = None
    #: Requests sent to servers (cached answers are free and not counted).
    requests: Annotated[int, Field(gt=0)] | None = None

    def limits(self) -> dict[str, float]:
        """The limits set, by measure (`usd`, `tokens`, `requests`)."""
        return {
            k: float(v)
            for k, v in (("usd", self.usd), ("tokens", self.tokens), ("requests", self.requests))
            if v is not None
        }


class FilteredRetry(StrictModel):
    """`run.retry`: what replaces a row a filter rejects when the run counts kept rows (`target: kept`).
    Written as a mode (`retry: same_inputs`) or as a mapping (`retry: {mode: same_inputs,
    max_attempts: 5}`)."""

    #: `new_records`: a rejected row stays filtered and the run tries further records, so the kept rows
    #: lean toward the sampler values that pass easily. `same_inputs`: the rejected row is generated
    #: again with the same sampler and seed values and new cell seeds for everything else, so the kept
    #: rows keep the sampled distribution.
    mode: Literal["new_records", "same_inputs"] = "new_records"
    #: With `same_inputs`: how many times a row is generated in all (the first attempt included). A row
    #: still rejected after the last one is filtered, and the run tries a further record in its place.
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"mode": value}
        return value

    @property
    def row_attempts(self) -> int:
        """How many times a row is generated before a filter's verdict stands (1: no retry)."""
        return self.max_attempts if self.mode == "same_inputs" else 1


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
    #: How many finished cells `max_failure_rate` is measured over.
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
    #: Accept a run that commits fewer records than asked (failed or filtered rows): `synthloom create`
    #: then exits 0. Otherwise it exits 3 with the counts, so a CI job can tell a short dataset from a
    #: complete one (`--allow-partial` does the same for one command).
    allow_partial: bool = False
    #: With `target: kept`: what happens to a row a filter rejects. `new_records` (the default): it is
    #: filtered and further records are tried. `same_inputs`: it is generated again with the same
    #: sampler and seed values, up to `max_attempts` times (`retry: {mode: same_inputs, max_attempts: 5}`).
    retry: FilteredRetry = Field(default_factory=FilteredRetry)
    #: With `target: kept`, how many records beyond N the run may try (default: 9 x N, i.e. an accept
    #: rate down to 10 %).
    max_extra_records: Annotated[int, Field(ge=0)] | None = None
    #: Where row groups run: `local` (tasks on this process's event loop) or `ray` (tasks on a Ray
    #: cluster, one concurrency budget per endpoint across its workers; the `ray` extra), with the
    #: executor's own options nested under its name: `{ray: {address: auto, workers: 4}}`. Neither
    #: changes the data: a run can be resumed with the other.
    executor: ExecutorChoice = Field(default_factory=ExecutorChoice)
    #: Serve Prometheus metrics at http://`metrics_host`:`metrics_port`/metrics while the run lasts
    #: (0: any free port, logged); None: no endpoint.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    #: The interface the metrics endpoint listens on.
    metrics_host: str = "127.0.0.1"
    #: Export the same metrics over OTLP/HTTP to this collector (`http://127.0.0.1:4318`); needs the
    #: `metrics` extra (the OpenTelemetry SDK and exporter).
    otlp_endpoint: str | None = None
    #: The response cache: unchanged requests are answered from it at no cost.
    cache: CacheConfig = Field(default_factory=CacheConfig)
    #: A spend limit for the whole run (None: none).
    budget: BudgetConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_ray_fields(cls, value: Any) -> Any:
        """`ray_address` and `ray_workers` (0.2) become the ray executor's nested options."""
        if not isinstance(value, dict) or not ({"ray_address", "ray_workers"} & value.keys()):
            return value
        value = dict(value)
        options = {
            new: value.pop(old)
            for old, new in (("ray_address", "address"), ("ray_workers", "workers"))
            if old in value
        }
        logger.warning(
            "run.ray_address and run.ray_workers are deprecated: write run.executor: {ray: {%s}}",
            ", ".join(f"{k}: {v}" for k, v in options.items()),
        )
        chosen = value.get("executor", "ray")
        name = (
            chosen
            if isinstance(chosen, str)
            else next(iter(chosen), "ray")
            if isinstance(chosen, dict)
            else "ray"
        )
        nested = dict(chosen.get(name) or {}) if isinstance(chosen, dict) else {}
        value["executor"] = {name: {**options, **nested}}
        return value

    @field_validator("retry")
    @classmethod
    def _retry_needs_kept_target(cls, retry: FilteredRetry, info: ValidationInfo) -> FilteredRetry:
        target = info.data.get("target", "records")
        if retry.mode == "same_inputs" and target != "kept":
            raise ValueError(
                "same_inputs regenerates rejected rows until N rows are kept, so it needs "
                f"run.target: kept (target is {target!r})"
            )
        return retry

    def planned_records(self, num_records: int) -> int:
        """The records the run's row groups span for a target of `num_records`."""
        if self.target == "records":
            return num_records
        extra = self.max_extra_records if self.max_extra_records is not None else 9 * num_records
        return num_records + extra
