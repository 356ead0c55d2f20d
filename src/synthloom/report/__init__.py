"""Reading a run for people: `write_report` (one self-contained HTML file with plots) and
`ViewerServer` (a local web viewer of records, tags, removed rows and each cell's lineage).

This layer reads run directories only (config, plan, store, outputs to its left); the interface
exposes it as `synthloom report RUN` and `synthloom view RUN`.
"""

from __future__ import annotations

from synthloom.report.html_report import build_report, write_report
from synthloom.report.viewer_app import ViewerServer, build_app
from synthloom.store.run_reader import RunData

__all__ = ["RunData", "ViewerServer", "build_app", "build_report", "write_report"]
