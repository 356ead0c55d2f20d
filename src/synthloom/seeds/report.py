"""What reading the seed left out: files that could not be read, with the reason.

A corrupt PDF or a binary file among a thousand documents is not a reason to stop a run: it is
skipped, logged, and listed here; so is an entry of a documents folder that is not followed (a link
leading out of it, a dangling link, a FIFO). Entries left out by rule (hidden ones, files of other
types) are listed apart as `ignored`, without a warning. `SeedReader.report` holds one for the whole
seed; the run writes it next to its data (`seed_report.json`) so that nothing is left out silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SeedIssue", "SeedReport"]

logger = logging.getLogger("synthloom.seeds")


@dataclass(frozen=True)
class SeedIssue:
    """One file left out of the seed, and why."""

    source: str
    path: str
    error: str


@dataclass
class SeedReport:
    """Files read and left out while loading a seed."""

    files_read: int = 0
    records: int = 0
    issues: list[SeedIssue] = field(default_factory=list)
    #: Entries left out by rule, not by a problem: hidden entries, files that are not documents.
    ignored: list[SeedIssue] = field(default_factory=list)

    def skip(self, source: str, path: str, error: str) -> None:
        """Record (and log) that `path` was left out."""
        self.issues.append(SeedIssue(source, path, error))
        logger.warning("seed %s: skipped %s: %s", source, path, error)

    def ignore(self, source: str, path: str, reason: str) -> None:
        """Record that `path` was left out by rule (see the module doc)."""
        self.ignored.append(SeedIssue(source, path, reason))
        logger.debug("seed %s: ignored %s: %s", source, path, reason)

    def merge(self, other: SeedReport) -> None:
        self.files_read += other.files_read
        self.records += other.records
        self.issues.extend(other.issues)
        self.ignored.extend(other.ignored)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_read": self.files_read,
            "files_skipped": len(self.issues),
            "records": self.records,
            "skipped": [{"source": i.source, "path": i.path, "error": i.error} for i in self.issues],
            "ignored": [{"source": i.source, "path": i.path, "reason": i.error} for i in self.ignored],
        }
