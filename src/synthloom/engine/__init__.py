"""The engine layer: running a plan into a dataset, row group by row group."""
