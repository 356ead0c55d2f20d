"""Documents as seeds: text, markdown, HTML and PDF files into records, per file or per chunk."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
from pathlib import Path

import pytest

from synthloom.config.seed_config import ChunkConfig, SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.chunking import chunk_text, count_tokens
from synthloom.seeds.html_text import html_to_text
from synthloom.seeds.reader import SeedReader

needs_pypdf = pytest.mark.skipif(importlib.util.find_spec("pypdf") is None, reason="the pdf extra (pypdf)")


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF: one block of Helvetica text per page, optionally a /Title."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        shown = " ".join(f"({esc(line)}) Tj T*" for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = ""
    if title:
        objects.append(f"<< /Title ({esc(title)}) >>".encode())
        info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def read(base: Path, documents: str, **kwargs: object) -> SeedReader:
    return SeedReader(SeedConfig(documents=documents, **kwargs), base_dir=base, run_seed=0)


def all_rows(reader: SeedReader) -> list[dict]:
    values = reader.rows_for(RowGroupSlice(index=0, start=0, size=len(reader), run_seed=0))
    return [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]


MARKDOWN = """---
title: "Front Matter Title"
tags: [a]
---
# Heading Title

Intro paragraph.
"""


# -- one record per file ----------------------------------------------------------------------------


@needs_pypdf
def test_folder_of_documents_gives_one_record_per_file_with_metadata(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide" / "intro.md").write_text("# Getting started\n\nInstall it.\n")
    (docs / "notes.txt").write_text("plain notes\n")
    (docs / "page.html").write_text("<html><head><title>The Page</title></head><body><p>Hi</p></body></html>")
    (docs / "paper.pdf").write_bytes(make_pdf(["Abstract text", "Results text"], title="A Paper"))
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # not a document type: not picked up
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "secret.md").write_text("# no")
    reader = read(tmp_path, "docs")
    assert reader.column_names == ["text", "path", "title", "page", "chunk_index", "chunk_count"]
    rows = all_rows(reader)
    assert [r["path"] for r in rows] == ["guide/intro.md", "notes.txt", "page.html", "paper.pdf"]
    assert [r["title"] for r in rows] == ["Getting started", "notes", "The Page", "A Paper"]
    assert rows[0]["text"] == "# Getting started\n\nInstall it."
    assert rows[2]["text"] == "Hi"
    assert rows[3]["text"] == "Abstract text\n\nResults text"
    assert [r["page"] for r in rows] == [None, None, None, 1]
    assert {(r["chunk_index"], r["chunk_count"]) for r in rows} == {(0, 1)}
    assert reader.report.files_read == 4
    assert reader.report.issues == []


def test_markdown_title_prefers_front_matter_and_strips_it(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(MARKDOWN)
    (row,) = all_rows(read(tmp_path, "a.md"))
    assert row["title"] == "Front Matter Title"
    assert row["text"] == "# Heading Title\n\nIntro paragraph."


def test_glob_paths_are_relative_to_the_fixed_part_of_the_pattern(tmp_path: Path) -> None:
    (tmp_path / "kb" / "a").mkdir(parents=True)
    (tmp_path / "kb" / "a" / "one.md").write_text("one")
    (tmp_path / "kb" / "two.md").write_text("two")
    (tmp_path / "kb" / "skip.txt").write_text("not matched")
    rows = all_rows(read(tmp_path, "kb/**/*.md"))
    assert [(r["path"], r["text"]) for r in rows] == [("a/one.md", "one"), ("two.md", "two")]


# -- chunks -----------------------------------------------------------------------------------------


def test_chunks_respect_size_and_overlap_in_characters(tmp_path: Path) -> None:
    words = " ".join(f"word{i:03d}" for i in range(300))  # 2399 characters, no paragraph breaks
    (tmp_path / "long.txt").write_text(words)
    rows = all_rows(read(tmp_path, "long.txt", chunk={"size": 500, "overlap": 100}))
    texts = [r["text"] for r in rows]
    assert all(len(t) <= 500 for t in texts)
    assert len(texts) == 6
    assert [r["chunk_index"] for r in rows] == list(range(6))
    assert {r["chunk_count"] for r in rows} == {6}
    for before, after in itertools.pairwise(texts):
        first_word = after.split()[0]
        assert first_word in before  # each chunk starts inside the previous one's last 100 characters
        assert len(before) - before.index(first_word) <= 100
    # Nothing lost: every word is in some chunk, and chunks cut at word boundaries.
    assert set(" ".join(texts).split()) == set(words.split())


def test_chunks_cut_at_headings_and_never_overlap_across_them(tmp_path: Path) -> None:
    section = "Sentence about things. " * 8
    text = f"# One\n\n{section}\n\n# Two\n\n{section}\n\n# Three\n\n{section}\n"
    (tmp_path / "doc.md").write_text(text)
    rows = all_rows(read(tmp_path, "doc.md", chunk={"size": 260, "overlap": 40}))
    starts = [r["text"].split("\n")[0] for r in rows]
    assert starts == ["# One", "# Two", "# Three"]
    assert all(r["title"] == "One" for r in rows)


def test_token_chunks_count_words_and_punctuation(tmp_path: Path) -> None:
    sentence = "Alpha beta, gamma delta. "  # 6 tokens: 4 words, a comma, a full stop
    (tmp_path / "t.txt").write_text(sentence * 50)
    rows = all_rows(read(tmp_path, "t.txt", chunk={"size": 60, "overlap": 12, "unit": "tokens"}))
    counts = [count_tokens(r["text"]) for r in rows]
    assert all(c <= 60 for c in counts)
    assert counts[0] == 60  # sentences end every 6 tokens: the first chunk is full
    assert sum(counts) == pytest.approx(300 + 12 * (len(rows) - 1), abs=len(rows) * 6)


@needs_pypdf
def test_pdf_chunks_know_their_page(tmp_path: Path) -> None:
    pages = ["\n".join(f"Page {p} sentence {i} is here." for i in range(12)) for p in (1, 2, 3)]
    (tmp_path / "book.pdf").write_bytes(make_pdf(pages))
    rows = all_rows(read(tmp_path, "book.pdf", chunk={"size": 200, "overlap": 0}))
    assert [r["page"] for r in rows] == sorted(r["page"] for r in rows)
    assert {r["page"] for r in rows} == {1, 2, 3}
    for row in rows:
        assert f"Page {row['page']} sentence" in row["text"].split("\n")[0]
    assert rows[0]["title"] == "book"  # no /Title: the file name


def test_chunk_text_keeps_offsets_of_the_original() -> None:
    text = "First para.\n\nSecond para is here.\n\nThird one."
    chunks = chunk_text(text, size=25)
    assert [c.text for c in chunks] == ["First para.", "Second para is here.", "Third one."]
    assert [text[c.start : c.start + len(c.text)] for c in chunks] == [c.text for c in chunks]


def test_chunk_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match=r"overlap \(10\) must be smaller than the size \(10\)"):
        ChunkConfig(size=10, overlap=10)


# -- HTML -------------------------------------------------------------------------------------------


def test_html_to_text_keeps_structure_and_drops_scripts() -> None:
    html = """<html><head><title> Docs  Home </title><style>p {color: red}</style></head>
    <body><nav>Menu</nav><h1>Welcome</h1><p>First   para<br>next line</p>
    <script>alert('x')</script><ul><li>one</li><li>two &amp; three</li></ul>
    <pre>  code
    indented</pre><h2>More</h2><p>End.</p></body></html>"""
    text, title = html_to_text(html)
    assert title == "Docs Home"
    assert text == (
        "Menu\n\n# Welcome\n\nFirst para\nnext line\n\n- one\n\n- two & three\n\n  code\n    indented"
        "\n\n## More\n\nEnd."
    )


def test_html_without_title_uses_first_h1() -> None:
    assert html_to_text("<h1>Only <b>Heading</b></h1><p>x</p>")[1] == "Only Heading"


# -- bad files --------------------------------------------------------------------------------------


@needs_pypdf
def test_corrupt_pdf_and_binary_file_are_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    good = make_pdf(["Good text"])
    (docs / "good.pdf").write_bytes(good)
    (docs / "broken.pdf").write_bytes(good[:150])
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (docs / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "empty.md").write_text("   \n")
    with caplog.at_level(logging.WARNING, logger="synthloom.seeds"):
        reader = read(tmp_path, "docs")
    assert [r["path"] for r in all_rows(reader)] == ["good.pdf"]
    issues = {i.path: i.error for i in reader.report.issues}
    assert set(issues) == {"broken.pdf", "blob.txt", "latin.txt", "empty.md"}
    assert issues["broken.pdf"].startswith("not a readable PDF")
    assert issues["blob.txt"] == "a binary file, not text"
    assert issues["latin.txt"] == "not UTF-8 text (byte 3)"
    assert issues["empty.md"] == "no text in it"
    report = reader.report.to_dict()
    assert report["files_read"] == 1 and report["files_skipped"] == 4 and report["records"] == 1
    assert "skipped broken.pdf" in caplog.text


@needs_pypdf
def test_all_documents_unreadable_is_a_seed_error(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "docs" / "b.txt").write_bytes(b"\x00\x00")
    with pytest.raises(SeedDataError, match=r"no document could be read: a\.pdf: not a readable PDF.*b\.txt"):
        read(tmp_path, "docs")


def test_folder_without_documents_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeedDataError, match=r"empty: the folder holds no documents"):
        read(tmp_path, "empty")


def test_missing_documents_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeedDataError, match=r"nowhere: no such file or directory"):
        read(tmp_path, "nowhere")


def test_documents_seed_with_a_transform(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nalpha")
    (tmp_path / "b.md").write_text("# B\n\nbeta")
    reader = read(
        tmp_path,
        "*.md",
        transforms=[
            {"filter": "{{ 'beta' in text }}"},
            {"rename": {"text": "passage"}},
            {"select": ["passage"]},
        ],
    )
    assert reader.column_names == ["passage"]
    assert all_rows(reader) == [{"passage": "# B\n\nbeta"}]


def test_pdf_without_the_pdf_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.pdf").write_bytes(make_pdf(["text"]))
    monkeypatch.setitem(sys.modules, "pypdf", None)  # `import pypdf` raises ImportError
    with pytest.raises(
        SeedDataError, match=r"a\.pdf: reading PDF documents needs pypdf: pip install 'synthloom\[pdf\]'"
    ):
        read(tmp_path, "a.pdf")
