"""A hostile documents folder: links leading out of it, dangling links, link loops and FIFOs are not
read (the text of a file outside the folder never becomes a record) and each is listed with its reason
in the seed report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds.reader import SeedReader

SECRET = "SECRET-HOSTNAME-OUTSIDE-THE-FOLDER"


def _read(base: Path, documents: str) -> SeedReader:
    return SeedReader(SeedConfig(documents=documents), base_dir=base, run_seed=0)


def _texts(reader: SeedReader) -> dict[str, str]:
    values = reader.rows_for(RowGroupSlice(index=0, start=0, size=len(reader), run_seed=0))
    return dict(zip(values["path"], values["text"], strict=True))


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """docs/ with one honest file and every kind of entry a hostile folder can hold."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hostname.txt").write_text(SECRET)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "readme.md").write_text("# Honest\n\nA real document.\n")
    (docs / "sub" / "inner.txt").write_text("inner text")
    (docs / "h.txt").symlink_to(outside / "hostname.txt")  # ln -s /etc/hostname docs/h.txt
    (docs / "etc").symlink_to(outside, target_is_directory=True)
    (docs / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (docs / "alias.txt").symlink_to(docs / "sub" / "inner.txt")  # stays inside: read
    (docs / "sub" / "loop").symlink_to(docs, target_is_directory=True)
    os.mkfifo(docs / "pipe.txt")
    (docs / ".env").write_text("API_KEY=" + SECRET)
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return tmp_path


def test_links_out_of_the_folder_and_special_files_are_skipped_and_reported(hostile: Path) -> None:
    reader = _read(hostile, "docs")
    texts = _texts(reader)
    assert sorted(texts) == ["alias.txt", "readme.md", "sub/inner.txt"]
    assert all(SECRET not in text for text in texts.values())
    report = reader.report.to_dict()
    assert {(s["path"], s["error"]) for s in report["skipped"]} == {
        ("etc", "a link leading out of the documents folder: not followed"),
        ("h.txt", "a link leading out of the documents folder: not followed"),
        ("gone.md", "a dangling link"),
        ("pipe.txt", "not a regular file (a FIFO)"),
        ("sub/loop", "a link loop: not followed again"),
    }
    assert {(s["path"], s["reason"]) for s in report["ignored"]} == {
        (".env", "hidden"),
        ("photo.png", "not a document type"),
    }
    assert report["files_read"] == 3 and report["files_skipped"] == 5


def test_a_glob_is_held_to_the_same_rules(hostile: Path) -> None:
    reader = _read(hostile, "docs/**/*.txt")
    texts = _texts(reader)
    assert sorted(texts) == ["alias.txt", "sub/inner.txt"]
    skipped = {s.path: s.error for s in reader.report.issues}
    assert skipped["h.txt"] == "a link leading out of the documents folder: not followed"
    assert skipped["pipe.txt"] == "not a regular file (a FIFO)"
    assert all(SECRET not in text for text in texts.values())


def test_a_folder_holding_only_links_out_is_a_seed_error_naming_them(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(SeedDataError, match=r"a\.txt: a link leading out of the documents folder") as caught:
        _read(tmp_path, "docs")
    assert SECRET not in str(caught.value)


def test_a_documents_folder_that_is_itself_a_link_is_walked_at_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("inside")
    (tmp_path / "docs").symlink_to(tmp_path / "real", target_is_directory=True)
    assert _texts(_read(tmp_path, "docs")) == {"a.txt": "inside"}
