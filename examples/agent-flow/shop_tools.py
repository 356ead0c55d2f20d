"""Tools for the agent-flow example: a made-up order system, as plain Python functions.

synthloom reads each function's type hints and docstring into the JSON Schema the model sees, and
checks the model's arguments against them before the call. What a tool raises goes back to the model
as the call's result.
"""

from __future__ import annotations

import hashlib

__all__ = ["order_status", "refund_policy"]

_STATES = ["processing", "shipped", "out for delivery", "delivered", "delayed at the depot"]


def _stable(text: str, high: int) -> int:
    """A made-up but repeatable number, so the example needs no network."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % high


def order_status(order_id: str) -> str:
    """Where an order is and when it should arrive.

    Args:
        order_id: The order number, e.g. "A-1042".
    """
    if not order_id.strip():
        raise ValueError("order_id is empty")
    state = _STATES[_stable(order_id, len(_STATES))]
    days = 1 + _stable(order_id + ":eta", 6)
    return f"order {order_id}: {state}; expected in {days} day(s)"


def refund_policy(product_kind: str) -> str:
    """The refund rules for a kind of product.

    Args:
        product_kind: What was bought, e.g. "shoes", "headphones", "food".
    """
    if product_kind.strip().lower() in ("food", "flowers"):
        return f"{product_kind}: no refunds once delivered; a damaged delivery is replaced"
    return f"{product_kind}: refund within 30 days, unused and in its packaging"
