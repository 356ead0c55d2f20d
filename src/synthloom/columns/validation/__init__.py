"""The `validation` column family: its config and its generator."""
