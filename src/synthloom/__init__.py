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
from synthloom.engine.generators.base import (
    BatchGenerator,
    CellFailure,
    CellGenerator,
    CellOutput,
    RowGroupSlice,
)
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
    "CellFailure",
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

# Plugins last: a plugin may import anything above from `synthloom` itself.
_registry.load_plugins()
