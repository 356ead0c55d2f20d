"""synthloom: declarative synthetic datasets with LLMs.

import synthloom
config = synthloom.load_config("examples/quickstart.yaml")
synthloom.preview(config, num_records=3)
result = synthloom.create(config, num_records=100, output="output")
result.to_pandas()
"""

from synthloom._version import __version__
from synthloom.config import ColumnConfig, DatasetConfig, InferenceParams, ModelConfig, RunConfig, SeedConfig
from synthloom.config import registry as _registry
from synthloom.config.builder import DatasetBuilder
from synthloom.config.registry import ColumnType, register_column_type
from synthloom.engine.contexts import CellContext
from synthloom.engine.generator import (
    BatchGenerator,
    CellFailure,
    CellFiltered,
    CellGenerator,
    CellOutput,
    RowGroupSlice,
)
from synthloom.engine.row_runner import RowResult, RowRunner
from synthloom.errors import (
    ConfigError,
    EarlyShutdownError,
    GenerationError,
    ModelError,
    OutputError,
    PlanError,
    RunStateError,
    SeedDataError,
    SynthloomError,
)
from synthloom.interface.api import acreate, apreview, create, load_config, open_run, preview, validate
from synthloom.interface.dataset_result import DatasetResult

__all__ = [
    "BatchGenerator",
    "CellContext",
    "CellFailure",
    "CellFiltered",
    "CellGenerator",
    "CellOutput",
    "ColumnConfig",
    "ColumnType",
    "ConfigError",
    "DatasetBuilder",
    "DatasetConfig",
    "DatasetResult",
    "EarlyShutdownError",
    "GenerationError",
    "InferenceParams",
    "ModelConfig",
    "ModelError",
    "OutputError",
    "PlanError",
    "RowGroupSlice",
    "RowResult",
    "RowRunner",
    "RunConfig",
    "RunStateError",
    "SeedConfig",
    "SeedDataError",
    "SynthloomError",
    "__version__",
    "acreate",
    "apreview",
    "create",
    "load_config",
    "open_run",
    "preview",
    "register_column_type",
    "validate",
]


def _builtin_column_types(registry: _registry.ColumnTypeRegistry) -> None:
    # Imported when the registry first loads, not with the package: it pulls in every generator.
    from synthloom.columns.builtin import register

    register(registry)


# Plugins (and built-ins) load when a config is first validated, not here. This only tells the default
# registry where the built-ins are when the installed metadata lacks their `builtin` entry point; the
# package root is the one module that joins the layers, so the config layer never names the engine.
_registry.default_registry.add_fallback("builtin", _builtin_column_types)
