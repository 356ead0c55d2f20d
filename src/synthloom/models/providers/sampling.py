"""Per-request values of inference parameters that may be given as distributions."""

from __future__ import annotations

import random

from synthloom.config.model_config import Distribution

__all__ = ["sample"]


def sample(
    value: float | Distribution | None, rng: random.Random, *, low: float, high: float
) -> float | None:
    """A fixed value as is; a distribution drawn once for this request, clamped to [low, high]."""
    if value is None or isinstance(value, int | float):
        return value
    if value.distribution == "uniform":
        assert value.low is not None and value.high is not None
        drawn = rng.uniform(value.low, value.high)
    elif value.distribution == "gaussian":
        assert value.mean is not None and value.stddev is not None
        drawn = rng.gauss(value.mean, value.stddev)
    else:
        assert value.values
        drawn = rng.choice(value.values)
    return min(high, max(low, drawn))
