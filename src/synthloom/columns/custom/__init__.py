"""The `custom` column family: its config and its generator."""
