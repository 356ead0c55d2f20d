"""Which files a `documents:` seed reads: the one place a documents folder is walked and opened.

A documents folder is not trusted (a checkout, a download, a shared drive): a link in it may point
anywhere on the machine, and whatever is read becomes prompt text sent to a model endpoint. So:

- a link, to a file or a folder, is followed only when its target lies inside the folder (real paths
  compared); a link leading out of it, a dangling link and a link loop are skipped;
- only regular files are read: a FIFO (which would block the run), a socket or a device is skipped;
- hidden entries (a name starting with `.`, such as `.git` or `.env`) and files that are not a document
  type are ignored, a hidden folder without being entered;
- a file is opened by its real path without following a final link (one swapped in after the walk).

Every skipped entry goes to the seed report with its reason (`seed_report.json` → `skipped`), every
ignored one to its `ignored` list, so nothing is left out silently. A glob is held to the same rules,
its root being the pattern's fixed part; a single file the config names is read as it is (the config is
trusted), but must still be a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from synthloom.errors import SeedDataError
from synthloom.seeds.report import SeedReport

__all__ = ["DocumentFile", "find_documents", "read_document_bytes"]

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True, slots=True)
class DocumentFile:
    """One file to read: its real path, and the path records show (relative to the folder)."""

    real: Path
    relative: str


def find_documents(
    pattern: str, *, base_dir: Path, suffixes: frozenset[str], report: SeedReport, source: str
) -> tuple[Path, list[DocumentFile]]:
    """The folder (or glob root) `pattern` names and the document files in it, in path order."""
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if any(ch in pattern for ch in "*?["):
        parts = path.parts
        fixed = next(i for i, p in enumerate(parts) if any(ch in p for ch in "*?["))
        root = Path(*parts[:fixed]) if fixed else Path(path.anchor)
        # Walked by the same rules as a folder (Python's glob follows links), matched segment by segment.
        walk = _Walk(root, suffixes, report, source, pattern=parts[fixed:])
        if root.is_dir():
            walk.folder(root, "")
        if not walk.found and not walk.skipped:
            raise SeedDataError("the pattern matches no files", source=str(path))
        return root, walk.found
    if path.is_file():
        real = Path(os.path.realpath(path))
        return path.parent, [DocumentFile(real, path.name)]
    if not path.is_dir():
        raise SeedDataError("no such file or directory", source=str(path))
    walk = _Walk(path, suffixes, report, source)
    walk.folder(path, "")
    if not walk.found and not walk.skipped:
        raise SeedDataError(
            f"the folder holds no documents ({', '.join(sorted(suffixes))})", source=str(path)
        )
    return path, walk.found


class _Walk:
    """One walk of a documents root, collecting files and reporting what it leaves out. With a glob
    `pattern` (its segments below the root), only entries it can match are looked at or reported."""

    def __init__(
        self,
        root: Path,
        suffixes: frozenset[str],
        report: SeedReport,
        source: str,
        pattern: tuple[str, ...] | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.suffixes = suffixes
        self.report = report
        self.source = source
        self.pattern = pattern
        self.found: list[DocumentFile] = []
        self.skipped = 0
        self._folders_seen: set[Path] = {self.root}

    def _skip(self, relative: str, reason: str) -> None:
        self.skipped += 1
        self.report.skip(self.source, relative, reason)

    def folder(self, folder: Path, relative: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self._skip(relative or ".", f"cannot list the folder: {exc.strerror or exc}")
            return
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            parts = tuple(name.split("/"))
            if self.pattern is not None and not _could_match(self.pattern, parts):
                continue
            if entry.name.startswith("."):
                self.report.ignore(self.source, name, "hidden")
                continue
            self._consider(Path(entry.path), name, parts)

    def _consider(self, path: Path, relative: str, parts: tuple[str, ...]) -> None:
        """Take `path` (a file, a folder or a link) into the walk, or report why not."""
        if path.is_symlink() and not path.exists():
            self._skip(relative, "a link loop: not followed" if _loops(path) else "a dangling link")
            return
        real = Path(os.path.realpath(path))
        # Lexically inside the root, so only a link (this entry or a folder above it) leads out.
        if not (real == self.root or real.is_relative_to(self.root)):
            self._skip(relative, "a link leading out of the documents folder: not followed")
            return
        try:
            info = os.stat(real)
        except OSError as exc:
            self._skip(relative, f"cannot read: {exc.strerror or exc}")
            return
        if stat.S_ISDIR(info.st_mode):
            if real in self._folders_seen:
                self._skip(relative, "a link loop: not followed again")
                return
            self._folders_seen.add(real)
            self.folder(path, relative)
            return
        if self.pattern is not None and not _matches(self.pattern, parts):
            return
        if not stat.S_ISREG(info.st_mode):
            self._skip(relative, f"not a regular file ({_KINDS.get(stat.S_IFMT(info.st_mode), 'special')})")
        elif self.pattern is None and path.suffix.lower() not in self.suffixes:
            self.report.ignore(self.source, relative, "not a document type")
        else:
            self.found.append(DocumentFile(real, relative))


def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether a path (its segments) matches a glob (its segments; `**` is any number of them)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _matches(pattern[1:], parts[1:])


def _could_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether the path, or something below it, can match the glob."""
    if not parts:
        return True
    if not pattern:
        return False
    if pattern[0] == "**":
        return True
    return fnmatchcase(parts[0], pattern[0]) and _could_match(pattern[1:], parts[1:])


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def read_document_bytes(file: DocumentFile) -> bytes:
    """The bytes of a file the walk found. Raises `OSError` if it is no longer a regular file or its
    last component has become a link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(file.real, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{file.relative} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)
