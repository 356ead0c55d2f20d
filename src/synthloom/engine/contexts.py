"""What a generator sees: `GeneratorSetup` when it is built, `CellContext` for each cell it computes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthloom.errors import GenerationError

if TYPE_CHECKING:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.models import ModelClient, ModelPool

__all__ = ["CellContext", "GeneratorSetup"]


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

    `client(alias)` is the run's client for a model alias: requests go through that endpoint's adaptive
    limiter and retry policy and are accounted under this column (`tag`). `seed` is fixed by the run
    seed, the column and the record, so a generator that draws from it is reproducible. `trace` collects
    what the generator wants kept about how the cell was made (lineage for reports and viewers).
    """

    column: str
    record: int
    attempt: int
    seed: int
    models: ModelPool | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tag(self) -> str:
        """The usage tag requests of this cell are accounted under: the column name."""
        return self.column

    def client(self, alias: str) -> ModelClient:
        if self.models is None:
            raise GenerationError(
                f"column '{self.column}' asked for model '{alias}', but the run opened no models: "
                "declare the aliases a custom column calls in its `models` list"
            )
        return self.models.client(alias)
