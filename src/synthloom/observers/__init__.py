"""Observers of a run: the live progress display and the metrics exporters."""
