"""Real paragraphs in many languages from text that ships with the system and with Python.

Sources, in this order of preference (each one is used when present):

- manual pages under `/usr/share/man` (English `man1`-`man8`, translations under `<lang>/`), shipped by
  Debian's `man-db`, `manpages`, `dpkg`, `apt`, `passwd`/`login` and other packages; the troff source is
  read directly (macros and font escapes stripped, example blocks and tables left out);
- Python's own documentation text (`pydoc_data.topics`, the language reference behind `help()`);
- the license texts of `/usr/share/common-licenses` (Debian's `base-files`).

On a machine without manual pages, `apt-get install man-db manpages dpkg` brings the English pages and
man-db's and dpkg's translations (German, French, Spanish, Italian, Dutch, Polish, Portuguese, Russian,
Swedish, Japanese, Chinese, ...). A paragraph is kept when it is prose: it ends a sentence and has at least
20 words (60 characters for Chinese and Japanese), and no troff left in it. Exact repeats (pages that
share a paragraph) are kept once; paragraphs already broken in the shipped file (mojibake, U+FFFD) are
left out.
"""

from __future__ import annotations

import gzip
import random
import re
from collections import defaultdict
from pathlib import Path

__all__ = ["LANGUAGE_DIRS", "load_paragraphs"]

MAN = Path("/usr/share/man")
LICENSES = Path("/usr/share/common-licenses")
#: Manual-page translation folders -> language code.
LANGUAGE_DIRS = {
    "cs": "cs",
    "da": "da",
    "de": "de",
    "es": "es",
    "fr": "fr",
    "it": "it",
    "ja": "ja",
    "ko": "ko",
    "nl": "nl",
    "pl": "pl",
    "pt": "pt",
    "pt_BR": "pt",
    "ro": "ro",
    "ru": "ru",
    "sv": "sv",
    "tr": "tr",
    "uk": "uk",
    "zh_CN": "zh",
    "zh_TW": "zh",
}
_CJK = {"ja", "zh"}
_BREAK = re.compile(r"^\.(?:SH|SS|PP|LP|P|TP|IP|HP|sp|br|RS|RE|in|ti|bp|ne|TQ|UR|UE|MT|ME|SY|YS|OP)\b")
_TEXT_MACRO = re.compile(r"^\.(?:B|I|BI|BR|IB|IR|RB|RI|SM|SB)\s+(.*)$")
_SKIP_START = re.compile(r"^\.(?:nf|EX|TS|de|ig)\b")
_SKIP_END = {".nf": ".fi", ".EX": ".EE", ".TS": ".TE", ".de": "..", ".ig": ".."}
_ESCAPES = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\s[-+]?\d"), ""),
    (re.compile(r"\\\(aq|\\\[aq\]"), "'"),
    (re.compile(r"\\\(dq|\\\[dq\]"), '"'),
    (re.compile(r"\\\(em|\\\[em\]"), "—"),
    (re.compile(r"\\\(en|\\\[en\]"), "\u2013"),
    (re.compile(r"\\\(lq|\\\[lq\]"), "“"),
    (re.compile(r"\\\(rq|\\\[rq\]"), "”"),
    (re.compile(r"\\\(Fo"), "«"),
    (re.compile(r"\\\(Fc"), "»"),
    (re.compile(r"\\\(bu"), "•"),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\[&%]"), ""),
    (re.compile(r"\\[ ~]"), " "),
    (re.compile(r"\\e"), "\\\\"),
]
#: Text that is already broken in the shipped file (a few translations are mojibake themselves): left
#: out, so that a clean record is clean. A plain rule, not the encoding tag under test.
_BROKEN = re.compile("[\ufffd\x80-\x9f]|Ã[\x80-\xbf¡-ÿ]|â€")
_SENTENCE_END = ("。", "\uff01", "\uff1f", ".", "!", "?")


def _macro_text(arguments: str) -> str:
    return " ".join(part.strip('"') for part in re.findall(r'"[^"]*"|\S+', arguments))


def _unescape(line: str) -> str:
    for pattern, replacement in _ESCAPES:
        line = pattern.sub(replacement, line)
    return line


def troff_paragraphs(source: str) -> list[str]:
    """The prose paragraphs of a manual page's troff source."""
    paragraphs: list[list[str]] = [[]]
    skipping: str | None = None
    for raw in source.splitlines():
        line = raw.rstrip()
        if skipping is not None:
            if line.startswith(skipping):
                skipping = None
            continue
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        start = _SKIP_START.match(line)
        if start:
            skipping = _SKIP_END[start.group(0)]
            paragraphs.append([])
            continue
        if not line.strip() or _BREAK.match(line):
            paragraphs.append([])
            continue
        text = _TEXT_MACRO.match(line)
        if text:
            paragraphs[-1].append(_macro_text(text.group(1)))
        elif line.startswith((".", "'")):
            paragraphs.append([])
        else:
            paragraphs[-1].append(line)
    out = []
    for lines in paragraphs:
        text = " ".join(_unescape(x) for x in lines).strip()
        text = re.sub(r"\s+", " ", text)
        if text:
            out.append(text)
    return out


def _is_prose(text: str, language: str) -> bool:
    if "\\" in text or not text.endswith(_SENTENCE_END) or _BROKEN.search(text):
        return False
    if language in _CJK:
        return len(text) >= 60
    return len(text.split()) >= 20


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def _man_pages(language: str | None) -> list[Path]:
    if language is None:
        return sorted(p for d in sorted(MAN.glob("man[1-8]")) for p in d.iterdir() if p.is_file())
    return sorted(p for p in (MAN / language).rglob("*") if p.is_file())


def load_paragraphs(
    *, seed: int = 0, english_pages: int = 4000, min_per_language: int = 40
) -> dict[str, list[str]]:
    """Language code -> its prose paragraphs (deduplicated, shuffled with `seed`). Languages with fewer
    than `min_per_language` paragraphs are left out."""
    rng = random.Random(seed)
    found: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()

    def keep(language: str, text: str) -> None:
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if key not in seen and _is_prose(text, language):
            seen.add(key)
            found[language].append(text)

    if MAN.is_dir():
        english = _man_pages(None)
        rng.shuffle(english)
        for path in english[:english_pages]:
            for paragraph in troff_paragraphs(_read(path)):
                keep("en", paragraph)
        for folder, language in sorted(LANGUAGE_DIRS.items()):
            if (MAN / folder).is_dir():
                for path in _man_pages(folder):
                    for paragraph in troff_paragraphs(_read(path)):
                        keep(language, paragraph)
    try:
        from pydoc_data.topics import topics

        for body in topics.values():
            for paragraph in re.split(r"\n\s*\n", body):
                if not paragraph.startswith((" ", "\t")):  # indented: code or grammar
                    keep("en", re.sub(r"\s+", " ", paragraph).strip())
    except ImportError:
        pass
    if LICENSES.is_dir():
        for path in sorted(LICENSES.iterdir()):
            if path.is_file():
                for paragraph in re.split(r"\n\s*\n", _read(path)):
                    keep("en", re.sub(r"\s+", " ", paragraph).strip())
    out = {}
    for language, paragraphs in sorted(found.items()):
        if len(paragraphs) >= min_per_language:
            rng.shuffle(paragraphs)
            out[language] = paragraphs
    return out
