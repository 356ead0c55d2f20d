"""The `image` column family: its config and its generator."""
