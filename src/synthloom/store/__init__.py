"""The run directory on disk: committed row groups, metadata, failures, usage, and resuming."""
