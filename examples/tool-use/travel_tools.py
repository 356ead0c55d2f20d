"""Tools for the tool-use example: plain Python functions, and a class whose public methods are tools.

synthloom reads each function's type hints and docstring into the JSON Schema the model sees, and
checks the model's arguments against them before the call (a bad argument goes back to the model as
an error result, not into your function).
"""

from __future__ import annotations

import hashlib
from typing import Literal

_CITIES = {
    "Lisbon": (38.72, -9.14),
    "Oslo": (59.91, 10.75),
    "Kyoto": (35.01, 135.77),
    "Nairobi": (-1.29, 36.82),
    "Quito": (-0.18, -78.47),
}


def _stable(text: str, low: int, high: int) -> int:
    """A made-up but repeatable number, so the example needs no network."""
    digest = hashlib.sha256(text.encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def weather(city: str, month: int = 6) -> str:
    """Typical weather in a city for a month.

    Args:
        city: The city's name, e.g. "Lisbon".
        month: The month, 1 to 12.
    """
    if not 1 <= month <= 12:
        raise ValueError("month must be between 1 and 12")
    high = _stable(f"{city}:{month}", 2, 33)
    rain = _stable(f"{city}:{month}:rain", 0, 20)
    return f"{city} in month {month}: highs around {high} C, rain on about {rain} days"


def distance_km(from_city: str, to_city: str) -> float:
    """Great-circle distance between two cities, in kilometres.

    Args:
        from_city: Where the trip starts.
        to_city: Where it ends.
    """
    from math import asin, cos, radians, sin, sqrt

    try:
        (lat1, lon1), (lat2, lon2) = _CITIES[from_city], _CITIES[to_city]
    except KeyError as missing:
        raise ValueError(f"unknown city {missing}; known: {', '.join(_CITIES)}") from None
    dlat, dlon = radians(lat2 - lat1), radians(lon2 - lon1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) ** 2
    return round(2 * 6371 * asin(sqrt(a)), 1)


class Phrasebook:
    """Each public method is a tool; one instance is built per run (with no arguments)."""

    _PHRASES = {
        ("hello", "pt"): "olá",
        ("hello", "no"): "hei",
        ("hello", "ja"): "konnichiwa",
        ("thank you", "pt"): "obrigado",
        ("thank you", "no"): "takk",
        ("thank you", "ja"): "arigatō",
    }

    def translate(self, phrase: Literal["hello", "thank you"], language: Literal["pt", "no", "ja"]) -> str:
        """Translate a common travel phrase.

        Args:
            phrase: The phrase in English.
            language: ISO 639-1 code of the target language.
        """
        return self._PHRASES[(phrase, language)]
