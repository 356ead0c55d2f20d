"""The `filter` column family: its config and its generator."""
