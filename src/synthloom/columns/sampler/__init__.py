"""The `sampler` column family: its config and its generator."""
