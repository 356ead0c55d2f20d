"""synthloom's own column types, published like any plugin.

`pyproject.toml` names this module in the `synthloom.columns` entry-point group, so the registry loads
the built-ins exactly as it loads a third-party column type. The engine layer is the one that can
name both halves of a column type: its config (from `synthloom.config`) and its generator.
"""

from __future__ import annotations

from synthloom.config.columns import (
    CustomColumn,
    EmbeddingColumn,
    ExpressionColumn,
    LLMCodeColumn,
    LLMJudgeColumn,
    LLMStructuredColumn,
    LLMTextColumn,
    SamplerColumn,
    ValidationColumn,
)
from synthloom.config.filter_column import FilterColumn
from synthloom.config.image_column import ImageColumn
from synthloom.config.registry import ColumnType, ColumnTypeRegistry
from synthloom.engine.flows import FLOW_COLUMN_TYPES
from synthloom.engine.generators.custom import CustomGenerator
from synthloom.engine.generators.expression import ExpressionGenerator
from synthloom.engine.generators.filter import FilterGenerator
from synthloom.engine.generators.image import ImageGenerator
from synthloom.engine.generators.llm import (
    EmbeddingGenerator,
    LLMCodeGenerator,
    LLMJudgeGenerator,
    LLMStructuredGenerator,
    LLMTextGenerator,
)
from synthloom.engine.generators.multi_model import MULTI_MODEL_COLUMN_TYPE
from synthloom.engine.generators.samplers import SamplerGenerator
from synthloom.engine.generators.validation import ValidationGenerator
from synthloom.engine.quality import QUALITY_COLUMN_TYPES

__all__ = ["BUILTIN_COLUMN_TYPES", "register"]

#: Every built-in column type, in the order they appear in the config's column union.
BUILTIN_COLUMN_TYPES: tuple[ColumnType, ...] = (
    ColumnType("sampler", SamplerColumn, SamplerGenerator),
    ColumnType("expression", ExpressionColumn, ExpressionGenerator),
    ColumnType("llm-text", LLMTextColumn, LLMTextGenerator),
    ColumnType("llm-code", LLMCodeColumn, LLMCodeGenerator),
    ColumnType("llm-structured", LLMStructuredColumn, LLMStructuredGenerator),
    ColumnType("llm-judge", LLMJudgeColumn, LLMJudgeGenerator),
    ColumnType("embedding", EmbeddingColumn, EmbeddingGenerator),
    ColumnType("image", ImageColumn, ImageGenerator),
    ColumnType("validation", ValidationColumn, ValidationGenerator),
    ColumnType("custom", CustomColumn, CustomGenerator),
    ColumnType("filter", FilterColumn, FilterGenerator),
    *FLOW_COLUMN_TYPES,
    MULTI_MODEL_COLUMN_TYPE,
    *QUALITY_COLUMN_TYPES,
)


def register(registry: ColumnTypeRegistry) -> None:
    """The `synthloom.columns` entry point: add the built-in column types to `registry`."""
    for column_type in BUILTIN_COLUMN_TYPES:
        registry.register(column_type)
