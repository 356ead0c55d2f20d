"""The interface layer: the Python API and the CLI."""
