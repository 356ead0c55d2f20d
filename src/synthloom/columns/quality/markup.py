"""Leftover markup: HTML, XML wrappers, markdown fences around prose, and chat special tokens.

    special_tokens  a chat template's or tokenizer's control token left in the text (`<|im_end|>`,
                    `</s>`, `[/INST]`, `<end_of_turn>`, ...): the template leaked into the data
    html            an HTML element by its name (`<p>`, `<br/>`, `<b>…</b>`)
    xml             the reply wrapped in a tag (`<answer>…</answer>`), or a tag models are told to
                    use (`<think>`, `<response>`, ...) left in it
    fenced_prose    a markdown code fence whose content is prose, not code

Angle brackets alone are not markup: documentation is full of placeholders (`<file>`, `<n>`), so HTML
is recognised by element names and XML by a matched pair around the text or a known wrapper name.
"""

from __future__ import annotations

import re

__all__ = ["MARKUP_LABELS", "markup_label"]

MARKUP_LABELS = ("special_tokens", "html", "xml", "fenced_prose")

_SPECIAL = re.compile(
    r"<\|[a-z_]{2,30}(?:\|>|>)|<\|?(?:end_of_turn|start_of_turn|eos|bos|pad|unk)\|?>"
    r"|</?s>|\[/?INST\]|<</?SYS>>|\[/?SYS\]|<\|(?:im_start|im_end|im_sep)\|",
    re.IGNORECASE,
)
_HTML_NAMES = (
    "a|abbr|b|blockquote|body|br|center|code|del|div|em|font|h[1-6]|head|hr|html|i|img|ins|kbd|li|mark|"
    "ol|p|pre|s|small|span|strike|strong|sub|sup|table|tbody|td|th|thead|tr|tt|u|ul"
)
#: An opening tag (name, attributes, self-closing slash), or an entity.
_HTML = re.compile(
    rf"<({_HTML_NAMES})((?:\s+[a-z-]+(?:=(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s<>]+))?)*)\s*(/?)>"
    r"|&(?:nbsp|amp|lt|gt|quot|#\d{2,5});",
    re.IGNORECASE,
)
#: Elements that have no closing tag: these alone are markup.
_VOID = {"br", "hr", "img"}
_WRAPPER_NAMES = (
    "answer|response|output|result|assistant|user|system|reply|solution|final_answer|final|think|thinking|"
    "reasoning|scratchpad|context|question|instruction|text"
)
_WRAPPER = re.compile(rf"<({_WRAPPER_NAMES})>", re.IGNORECASE)
_WRAPPED = re.compile(r"^\s*<([A-Za-z_][\w.-]{0,40})(?:\s[^<>]*)?>.*</\1>\s*$", re.DOTALL)
_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PROSE_FENCES = {"", "text", "txt", "plaintext", "markdown", "md", "plain"}
#: Characters that are frequent in code and rare in prose (parentheses are common in both).
_CODE_CHARS = re.compile(r"[{};=<>$#@\\|]")
_SENTENCE_END = re.compile(r"[.!?。\uff01\uff1f]\s*$")


def _fenced_prose(text: str) -> bool:
    for match in _FENCE.finditer(text):
        language, body = match.group(1).lower(), match.group(2)
        if language not in _PROSE_FENCES or not body.strip():
            continue
        lines = [line for line in body.splitlines() if line.strip()]
        words = len(body.split())
        code_share = len(_CODE_CHARS.findall(body)) / max(1, len(body))
        # Prose: sentences ending in punctuation, long lines, next to no code symbols.
        if (
            code_share < 0.02
            and words >= 8
            and words / len(lines) >= 6
            and _SENTENCE_END.search(body.rstrip()) is not None
        ):
            return True
    return False


def _html(text: str) -> bool:
    # A documentation placeholder such as `<head>` or `<b>` alone is not markup: an element counts when
    # it is void, has attributes or a self-closing slash, or is closed somewhere in the text.
    lowered: str | None = None
    for match in _HTML.finditer(text):
        name = match.group(1)
        if name is None:
            return True  # an entity
        name = name.lower()
        if name in _VOID or match.group(2) or match.group(3):
            return True
        lowered = lowered if lowered is not None else text.lower()
        if f"</{name}>" in lowered:
            return True
    return False


def _wrapper(text: str) -> bool:
    lowered = text.lower()
    if any(f"</{m.group(1).lower()}>" in lowered for m in _WRAPPER.finditer(text)):
        return True
    return _WRAPPED.match(text) is not None


def markup_label(text: str) -> str | None:
    """The kind of leftover markup in `text` (see the module docstring), or None."""
    if ("<" in text or "[" in text) and _SPECIAL.search(text) is not None:
        return "special_tokens"
    if ("<" in text or "&" in text) and _html(text):
        return "html"
    if "<" in text and _wrapper(text):
        return "xml"
    if "```" in text and _fenced_prose(text):
        return "fenced_prose"
    return None
