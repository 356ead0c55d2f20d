"""Documents as seed records: text, markdown, HTML and PDF files, one record per file or per chunk.

    seed:
      documents: docs/                       a folder (every .txt .md .html .pdf under it) or a glob
      chunk: {size: 2000, overlap: 200, unit: chars}

Each record has `text`, `path` (relative to the folder, or to the glob's fixed part), `title`,
`page` (PDF: the page the text starts on, from 1; otherwise null), `chunk_index` (from 0) and
`chunk_count` (chunks of that file). Titles come from markdown front matter or the first heading,
HTML's `<title>` or first `<h1>`, a PDF's metadata, else the file name.

Which files are read is decided by `document_files.py` (links are not followed out of the folder,
only regular files are read). A file that cannot be read (a corrupt or encrypted PDF, a binary file,
text that is not UTF-8, no text at all) is skipped and listed in the seed report; only when no file
yields a record is it a `SeedDataError`. PDF text is extracted with `pypdf` (the `pdf` extra); HTML
with the standard library (`html_text.py`).
"""

from __future__ import annotations

import bisect
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from synthloom.config.seed_config import ChunkConfig
from synthloom.errors import SeedDataError
from synthloom.seeds.chunking import chunk_text
from synthloom.seeds.document_files import DocumentFile, find_documents, read_document_bytes
from synthloom.seeds.html_text import html_to_text
from synthloom.seeds.report import SeedReport

__all__ = ["DOCUMENT_SCHEMA", "read_documents"]

_MARKDOWN = frozenset({".md", ".markdown", ".mdx"})
_HTML = frozenset({".html", ".htm", ".xhtml"})
_TEXT = frozenset({".txt", ".text", ".rst"})
_SUPPORTED = _MARKDOWN | _HTML | _TEXT | {".pdf"}
_SNIFF = 8192
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)
_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SETEXT = re.compile(r"^(\S[^\n]*)\n=+[ \t]*$", re.MULTILINE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("text", pa.string()),
        pa.field("path", pa.string()),
        pa.field("title", pa.string()),
        pa.field("page", pa.int32()),
        pa.field("chunk_index", pa.int32()),
        pa.field("chunk_count", pa.int32()),
    ]
)


class DocumentError(Exception):
    """One file cannot be turned into text; it is skipped and reported."""


@dataclass
class _Document:
    text: str
    title: str | None
    #: Offset in `text` where each page starts (PDF only).
    page_starts: list[int] | None = None


def read_documents(
    pattern: str, *, base_dir: Path, chunk: ChunkConfig | None, report: SeedReport, source: str
) -> pa.Table:
    """Every document `pattern` names, as records. Unreadable files go to `report`."""
    root, files = find_documents(
        pattern, base_dir=base_dir, suffixes=_SUPPORTED, report=report, source=source
    )
    columns: dict[str, list[Any]] = {name: [] for name in DOCUMENT_SCHEMA.names}
    for file in files:
        relative = file.relative
        try:
            document = _extract(file)
        except DocumentError as exc:
            report.skip(source, relative, str(exc))
            continue
        report.files_read += 1
        for part in _records(document, chunk):
            columns["path"].append(relative)
            columns["title"].append(document.title or file.real.stem)
            for key, value in part.items():
                columns[key].append(value)
    table = pa.table(columns, schema=DOCUMENT_SCHEMA)
    report.records += table.num_rows
    if table.num_rows == 0:
        skipped = [i for i in report.issues if i.source == source]
        detail = "; ".join(f"{i.path}: {i.error}" for i in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        raise SeedDataError(f"no document could be read: {detail}{more}", source=str(root))
    return table


def _records(document: _Document, chunk: ChunkConfig | None) -> list[dict[str, Any]]:
    starts = document.page_starts
    if chunk is None:
        pieces = [(document.text.strip(), 0)]
    else:
        found = chunk_text(
            document.text, size=chunk.size, overlap=chunk.overlap, unit=chunk.unit, breaks=starts or ()
        )
        pieces = [(c.text, c.start) for c in found]
    out = []
    for index, (text, offset) in enumerate(pieces):
        page = None
        if starts is not None:
            page = max(bisect.bisect_right(starts, offset), 1)
        out.append({"text": text, "page": page, "chunk_index": index, "chunk_count": len(pieces)})
    return out


# -- extraction ---------------------------------------------------------------------------------------


def _extract(file: DocumentFile) -> _Document:
    suffix = Path(file.relative).suffix.lower()
    try:
        data = read_document_bytes(file)
        if suffix == ".pdf":
            document = _pdf(data, file.relative)
        else:
            if b"\x00" in data[:_SNIFF]:
                raise DocumentError("a binary file, not text")
            if suffix in _HTML:
                text, title = html_to_text(_decode(data, html=True))
                document = _Document(text, title)
            elif suffix in _MARKDOWN:
                document = _markdown(_decode(data))
            else:
                document = _Document(_decode(data), None)
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}") from None
    if not document.text.strip():
        hint = " (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""
        raise DocumentError(f"no text in it{hint}")
    return document


def _decode(data: bytes, *, html: bool = False) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        declared = _META_CHARSET.search(data[:_SNIFF]) if html else None
        if declared is not None:
            try:
                return data.decode(declared.group(1).decode("ascii"))
            except (LookupError, UnicodeDecodeError):
                pass
        raise DocumentError(f"not UTF-8 text (byte {exc.start})") from None


def _markdown(text: str) -> _Document:
    title = None
    front = _FRONT_MATTER.match(text)
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("\"'")
        text = text[front.end() :]
    if title is None:
        headings = _ATX.findall(text)
        best = min(headings, key=lambda h: len(h[0]), default=None)
        setext = _SETEXT.search(text)
        if best is not None and len(best[0]) == 1:
            title = best[1]
        elif setext is not None:
            title = setext.group(1).strip()
        elif best is not None:
            title = best[1]
    return _Document(text, title)


def _pdf(data: bytes, name: str) -> _Document:
    try:
        import pypdf
    except ImportError:
        raise SeedDataError(
            "reading PDF documents needs pypdf: pip install 'synthloom[pdf]'", source=name
        ) from None
    pages: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about every oddity of a damaged file
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentError("an encrypted PDF (needs a password)")
            for page in reader.pages:
                pages.append(page.extract_text() or "")
            meta = reader.metadata
            title = meta.title if meta is not None else None
    except DocumentError:
        raise
    except Exception as exc:  # a damaged PDF can fail anywhere in the parser: skip the file, never the run
        reason = str(exc) or type(exc).__name__
        raise DocumentError(f"not a readable PDF: {reason}") from None
    starts, parts, offset = [], [], 0
    for number, page_text in enumerate(pages):
        offset += 2 if number else 0  # the "\n\n" between pages
        starts.append(offset)
        parts.append(page_text.strip())
        offset += len(parts[-1])
    title = title.strip() if isinstance(title, str) else None
    return _Document("\n\n".join(parts), title or None, starts)
