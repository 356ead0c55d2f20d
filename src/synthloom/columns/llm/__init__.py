"""The `llm` column family: its config and its generator."""
