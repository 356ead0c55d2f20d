"""What every generator of a run can reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.models import ModelPool

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """The dataset config, the run seed, and the model pool (None when no column calls a model)."""

    config: DatasetConfig
    run_seed: int
    models: ModelPool | None = None
    #: Per-run caches generators may share (compiled templates, imported functions, ...).
    cache: dict[str, Any] = field(default_factory=dict)
