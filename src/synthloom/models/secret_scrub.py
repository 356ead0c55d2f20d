"""Secrets out of text: the one scrubber for everything synthloom keeps of a server's words.

An endpoint or an MCP server may echo what it was sent (a request's headers, its environment) into an
error body or its stderr, which synthloom keeps in an exception, a log line or failures.jsonl. Each
secret synthloom handed out (API keys, MCP servers' environment values) is replaced by `***` there,
not only as written but in the encodings an echo commonly uses: base64 (standard and URL-safe, at
any alignment, so also inside `Basic` credentials or a larger encoded blob) and URL-encoding.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "scrub_secrets", "secret_forms"]

MASK = "***"

#: Shorter encoded fragments are not scrubbed: they would match by chance.
_MIN_FRAGMENT = 8


def secret_forms(secret: str) -> set[str]:
    """The secret as written, URL-encoded, and the base64 characters that encode it at each of the
    three byte alignments (those that depend on neighbouring bytes left out)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret, safe="").lower()}
    raw = secret.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-8 * offset // 6)  # the first character made only of the secret's bits
        end = 8 * (offset + len(raw)) // 6
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_FRAGMENT:
            forms.add(fragment)
            forms.add(fragment.replace("+", "-").replace("/", "_"))
    return {f for f in forms if f}


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form (`secret_forms`) of every secret replaced by `***`, longest first."""
    forms = {form for secret in secrets if secret for form in secret_forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
