"""synthloom: declarative synthetic datasets with LLMs.

import synthloom
config = synthloom.load_config("examples/quickstart.yaml")
synthloom.preview(config, num_records=3)
result = synthloom.create(config, num_records=100, output="output")
result.to_pandas()
"""

from synthloom._version import __version__
from synthloom.columns.custom.config import CustomColumn
from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.filter.config import FilterColumn
from synthloom.columns.flow.config import (
    AgentNode,
    Branch,
    FlowColumn,
    FlowEdge,
    HistoryConfig,
    Injection,
    NodeHistory,
)
from synthloom.columns.flow.preset_configs import (
    ChatRole,
    ConversationColumn,
    JudgeOptions,
    PromptedRole,
    RefineColumn,
    ScoreThreshold,
    SimulatedUser,
    TurnRange,
)
from synthloom.columns.image.config import ImageColumn
from synthloom.columns.llm.config import (
    EmbeddingColumn,
    JudgeScore,
    LLMCodeColumn,
    LLMJudgeColumn,
    LLMStructuredColumn,
    LLMTextColumn,
)
from synthloom.columns.multi_model.config import MultiModelColumn, MultiModelJudge
from synthloom.columns.quality.config import (
    DedupColumn,
    PerplexityColumn,
    QualityRubricColumn,
    QualityTagsColumn,
    RewardColumn,
    TagBounds,
    TokenCountColumn,
)
from synthloom.columns.sampler.config import SamplerColumn
from synthloom.columns.validation.config import ValidationColumn
from synthloom.config import ColumnConfig, DatasetConfig, InferenceParams, ModelConfig, RunConfig, SeedConfig
from synthloom.config import registry as _registry
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
    BudgetExceededError,
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
from synthloom.interface.api import (
    acreate,
    apreview,
    create,
    load_config,
    open_run,
    preview,
    projection,
    validate,
)
from synthloom.interface.builder import DatasetBuilder
from synthloom.interface.dataset_result import DatasetResult
from synthloom.tools.config import McpServerConfig, ToolSource

__all__ = [
    "AgentNode",
    "BatchGenerator",
    "Branch",
    "BudgetExceededError",
    "CellContext",
    "CellFailure",
    "CellFiltered",
    "CellGenerator",
    "CellOutput",
    "ChatRole",
    "ColumnConfig",
    "ColumnType",
    "ConfigError",
    "ConversationColumn",
    "CustomColumn",
    "DatasetBuilder",
    "DatasetConfig",
    "DatasetResult",
    "DedupColumn",
    "EarlyShutdownError",
    "EmbeddingColumn",
    "ExpressionColumn",
    "FilterColumn",
    "FlowColumn",
    "FlowEdge",
    "GenerationError",
    "HistoryConfig",
    "ImageColumn",
    "InferenceParams",
    "Injection",
    "JudgeOptions",
    "JudgeScore",
    "LLMCodeColumn",
    "LLMJudgeColumn",
    "LLMStructuredColumn",
    "LLMTextColumn",
    "McpServerConfig",
    "ModelConfig",
    "ModelError",
    "MultiModelColumn",
    "MultiModelJudge",
    "NodeHistory",
    "OutputError",
    "PerplexityColumn",
    "PlanError",
    "PromptedRole",
    "QualityRubricColumn",
    "QualityTagsColumn",
    "RefineColumn",
    "RewardColumn",
    "RowGroupSlice",
    "RowResult",
    "RowRunner",
    "RunConfig",
    "RunStateError",
    "SamplerColumn",
    "ScoreThreshold",
    "SeedConfig",
    "SeedDataError",
    "SimulatedUser",
    "SynthloomError",
    "TagBounds",
    "TokenCountColumn",
    "ToolSource",
    "TurnRange",
    "ValidationColumn",
    "__version__",
    "acreate",
    "apreview",
    "create",
    "load_config",
    "open_run",
    "preview",
    "projection",
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


def __getattr__(name: str) -> object:
    # 0.2's names, kept working for code written against them (not part of `__all__`).
    if name == "RowExecutor":
        return RowRunner
    raise AttributeError(f"module 'synthloom' has no attribute {name!r}")
