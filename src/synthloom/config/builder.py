"""Where `DatasetBuilder` used to live; kept so `from synthloom.config.builder import DatasetBuilder`
goes on working.

The builder's typed methods name the column families' config classes, which this layer must not
import, so it moved to `synthloom.interface.builder`. This alias reaches it through the package root
(which joins the layers and is always imported before any of its submodules), never naming a layer
above this one.
"""

from __future__ import annotations

from synthloom import DatasetBuilder

__all__ = ["DatasetBuilder"]
