"""What a generator sees: `GeneratorSetup` when it is built, `CellContext` for each cell it computes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from synthloom.errors import GenerationError
from synthloom.models.calls import CallScope
from synthloom.models.scoped_client import ScopedClient

if TYPE_CHECKING:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.models import ModelPool

__all__ = ["CellContext", "GeneratorSetup", "RunResources", "current_resources"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RunResources:
    """What a run opens once and closes at its end (the MCP servers of its tools), created by the first
    cell that asks. `get(key, create)` returns the resource under `key`, creating it once; leaving the
    `async with` closes, most recent first and each within its own deadline, every resource that has an
    `aclose()`. An executor opens one per run and sets `current_resources` for the tasks it runs."""

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}

    def get(self, key: Hashable, create: Callable[[], T]) -> T:
        if key not in self._items:
            self._items[key] = create()
        return self._items[key]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        items, self._items = list(self._items.values()), {}
        for item in reversed(items):
            close = getattr(item, "aclose", None)
            if close is None:
                continue
            try:
                await asyncio.wait_for(close(), 30.0)
            except Exception:  # closing must not turn a finished run into a failed one
                logger.warning("could not close %r", item, exc_info=True)

    async def __aenter__(self) -> RunResources:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


#: The resources of the run the current task belongs to (None outside a run: a cell then opens its own).
current_resources: ContextVar[RunResources | None] = ContextVar("current_resources", default=None)


@dataclass
class GeneratorSetup:
    """Fixed for a whole run: the dataset config, the run seed, and a cache generators may share
    (compiled templates, imported functions)."""

    config: DatasetConfig
    run_seed: int
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CellContext:
    """One cell being computed.

    `client(alias)` is the run's client for a model alias, bound to this cell's `scope`: its requests go
    through that model's handler chain (limiter, retries, accounting) and are accounted under this column
    (`tag`) and row group, ordered at the limiter by record, and logged in `lineage` when the run keeps
    it. `seed` is fixed by the run seed, the column and the record, so a generator that draws from it is
    reproducible.

    Inside a flow the cell is a node's: `tag_prefix` is `"<column>."` (so usage is accounted per node as
    `<column>.<node>`) and `history` holds the chat turns a node sharing a history sees, already labelled
    from its point of view, to send between its system prompt and its own prompt.
    """

    column: str
    record: int
    attempt: int
    seed: int
    models: ModelPool | None = None
    history: list[dict[str, Any]] | None = None
    tag_prefix: str = ""
    #: The row group the cell belongs to (its spend is committed with the group); None in a preview.
    row_group: int | None = None
    #: The cell's log of model exchanges (lineage), or None when the run keeps none.
    lineage: list[bytes] | None = None
    #: Inside a flow, the step (node run) of the record's walk this cell is; 0 outside a flow.
    step: int = 0
    #: The run's resources (MCP servers, started once per run); None outside a run.
    resources: RunResources | None = field(default_factory=current_resources.get)

    @property
    def tag(self) -> str:
        """The usage tag requests of this cell are accounted under: the column name (`<column>.<node>`
        for a flow's node)."""
        return self.tag_prefix + self.column

    @property
    def scope(self) -> CallScope:
        """What every request of this cell carries through the model-call chain."""
        return CallScope(
            tag=self.tag,
            record=self.record,
            row_group=self.row_group,
            seed=self.seed,
            attempt=self.attempt,
            step=self.step,
            lineage=self.lineage,
        )

    def client(self, alias: str) -> ScopedClient:
        if self.models is None:
            raise GenerationError(
                f"column '{self.column}' asked for model '{alias}', but the run opened no models: "
                "declare the aliases a custom column calls in its `models` list"
            )
        return ScopedClient(self.models.client(alias), self.scope)
