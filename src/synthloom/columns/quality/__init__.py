"""Quality and curation as column types: heuristic tags, model scores, the rubric preset and dedup.

    quality-tags    language, lengths, TTR/MTLD, repetition, data characteristics, conversation shape
    token-count     tokens through the model's chat template and tokenizer (or a tokenizer file)
    perplexity      from the embedded model, or any server returning prompt log-probabilities
    reward          a reward model's score from an endpoint
    quality-rubric  category, then five 1-5 dimensions with explanations (an LLM judge preset)
    dedup           exact, MinHash or embedding duplicates across the whole run, resume-safe

`QUALITY_COLUMN_TYPES` is what `builtin_types` registers.
"""

from __future__ import annotations

from synthloom.columns.quality.config import (
    DedupColumn,
    PerplexityColumn,
    QualityRubricColumn,
    QualityTagsColumn,
    RewardColumn,
    TokenCountColumn,
)
from synthloom.columns.quality.dedup import DedupGenerator, DedupPass
from synthloom.columns.quality.heuristic_tags import HeuristicTagger, QualityTagsGenerator
from synthloom.columns.quality.model_scores import PerplexityGenerator, RewardGenerator, TokenCountGenerator
from synthloom.columns.quality.rubric import QualityRubricGenerator
from synthloom.config.registry import ColumnType

__all__ = [
    "QUALITY_COLUMN_TYPES",
    "DedupGenerator",
    "DedupPass",
    "HeuristicTagger",
    "PerplexityGenerator",
    "QualityRubricGenerator",
    "QualityTagsGenerator",
    "RewardGenerator",
    "TokenCountGenerator",
]

QUALITY_COLUMN_TYPES: tuple[ColumnType, ...] = (
    ColumnType("quality-tags", QualityTagsColumn, QualityTagsGenerator),
    ColumnType("token-count", TokenCountColumn, TokenCountGenerator),
    ColumnType("perplexity", PerplexityColumn, PerplexityGenerator),
    ColumnType("reward", RewardColumn, RewardGenerator),
    ColumnType("quality-rubric", QualityRubricColumn, QualityRubricGenerator),
    ColumnType("dedup", DedupColumn, DedupGenerator),
)
