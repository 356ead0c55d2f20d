"""The config layer: what a user declares, validated."""

from synthloom.config.base import ColumnConfig
from synthloom.config.dataset import DatasetConfig, RunConfig, SeedConfig
from synthloom.config.model_config import InferenceParams, ModelConfig

__all__ = ["ColumnConfig", "DatasetConfig", "InferenceParams", "ModelConfig", "RunConfig", "SeedConfig"]
