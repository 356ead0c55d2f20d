"""The `multi-model` column family: its config and its generator."""
