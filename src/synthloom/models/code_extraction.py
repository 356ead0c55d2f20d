"""Finding source code of a named language in a reply."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CodeExtraction", "code_instruction", "extract_code", "normalise_language"]

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)

_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "node": "javascript",
    "ts": "typescript",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "c++": "cpp",
    "cxx": "cpp",
    "postgresql": "sql",
    "postgres": "sql",
    "sqlite": "sql",
    "mysql": "sql",
    "golang": "go",
    "rs": "rust",
    "yml": "yaml",
}

_SQL_START = re.compile(r"^\s*(select|with|insert|update|delete|create|alter|drop|explain)\b", re.IGNORECASE)
_CODE_LINE = re.compile(r"[;{}()\[\]=:]\s*$|^\s{2,}\S|^\s*(#|//|--|/\*)")


def code_instruction(language: str) -> str:
    """Appended to an `llm-code` prompt: the form the reply must take, said the same way every time
    (a small model follows it more often, and a simulated endpoint recognises a code request by it)."""
    return f"\n\nReply with the {language} code in one fenced block (```{language} ... ```)."


def normalise_language(name: str) -> str:
    name = name.strip().lower()
    return _ALIASES.get(name, name)


@dataclass(frozen=True, slots=True)
class CodeExtraction:
    ok: bool
    code: str = ""
    error: str = ""


def extract_code(text: str, language: str) -> CodeExtraction:
    """A fenced block of `language`; else any fenced block; else the whole reply if it looks like
    code. An unterminated fence (the reply ran out of tokens) counts as a block."""
    wanted = normalise_language(language)
    blocks = [(normalise_language(m.group(1)), m.group(2).strip("\n")) for m in _FENCE.finditer(text)]
    for lang, code in blocks:
        if lang == wanted and code.strip():
            return CodeExtraction(ok=True, code=code)
    for _, code in blocks:
        if code.strip():
            return CodeExtraction(ok=True, code=code)
    stripped = text.strip()
    if stripped and _looks_like_code(stripped, wanted):
        return CodeExtraction(ok=True, code=stripped)
    return CodeExtraction(ok=False, error=f"no {language} code block found in the reply")


def _looks_like_code(text: str, language: str) -> bool:
    if language == "python":
        try:
            compile(text, "<reply>", "exec")
        except (SyntaxError, ValueError):
            return False
        # Plain prose rarely compiles; a bare name or number does, but is not worth keeping.
        return "\n" in text or "(" in text or "=" in text
    if language == "sql":
        return bool(_SQL_START.match(text))
    lines = [line for line in text.splitlines() if line.strip()]
    code_like = sum(1 for line in lines if _CODE_LINE.search(line))
    return bool(lines) and code_like / len(lines) >= 0.5
