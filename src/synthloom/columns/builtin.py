"""synthloom's own column types, published like any plugin.

`pyproject.toml` names this module in the `synthloom.columns` entry-point group, so the registry loads
the built-ins exactly as it loads a third-party column type. The engine layer is the one that can
name both halves of a column type: its config (from `synthloom.config`) and its generator.
"""

from __future__ import annotations

from synthloom.columns.custom.config import CustomColumn
from synthloom.columns.custom.generator import CustomGenerator
from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.expression.generator import ExpressionGenerator
from synthloom.columns.filter.config import FilterColumn
from synthloom.columns.filter.generator import FilterGenerator
from synthloom.columns.flow import FLOW_COLUMN_TYPES
from synthloom.columns.image.config import ImageColumn
from synthloom.columns.image.generator import ImageGenerator
from synthloom.columns.llm.config import (
    EmbeddingColumn,
    LLMCodeColumn,
    LLMJudgeColumn,
    LLMStructuredColumn,
    LLMTextColumn,
)
from synthloom.columns.llm.generator import (
    EmbeddingGenerator,
    LLMCodeGenerator,
    LLMJudgeGenerator,
    LLMStructuredGenerator,
    LLMTextGenerator,
)
from synthloom.columns.multi_model.generator import MULTI_MODEL_COLUMN_TYPE
from synthloom.columns.quality import QUALITY_COLUMN_TYPES
from synthloom.columns.sampler.config import SamplerColumn
from synthloom.columns.sampler.generator import SamplerGenerator
from synthloom.columns.validation.config import ValidationColumn
from synthloom.columns.validation.generator import ValidationGenerator
from synthloom.config.registry import ColumnType, ColumnTypeRegistry

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
