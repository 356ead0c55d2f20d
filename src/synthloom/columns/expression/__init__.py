"""The `expression` column family: its config and its generator."""
