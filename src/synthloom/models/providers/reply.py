"""What every provider's reply parser returns, and the sampling of per-request parameters."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from synthloom.config.model_config import Distribution

__all__ = ["ParsedReply", "sample", "split_think_tags"]


@dataclass(frozen=True, slots=True)
class ParsedReply:
    text: str
    reasoning: str | None
    input_tokens: int
    output_tokens: int
    finish_reason: str | None


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


_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


def split_think_tags(text: str) -> tuple[str, str | None]:
    """Models served without a reasoning parser put their reasoning in `<think>` tags: move it out."""
    match = _THINK.match(text)
    if not match:
        return text, None
    return text[match.end() :], match.group(1).strip() or None
