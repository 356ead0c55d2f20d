"""People's verdicts on a run's records: `reviews.jsonl` in the run directory.

Each line is one review, appended and never rewritten:

    {"record": 12, "verdict": "good", "note": "clear", "who": "ana", "when": "2026-12-04T16:30:00Z"}

A record's verdict is its latest line, so changing one's mind is another line. Records are numbered as
everywhere in a run (`record` in failures.jsonl and lineage), which a resume never renumbers, so reviews
stay attached to their records across resumes and exports; no engine code writes or removes the file.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["REVIEWS_FILE", "VERDICTS", "Review", "ReviewLog", "Verdict"]

REVIEWS_FILE = "reviews.jsonl"
Verdict = Literal["good", "bad"]
VERDICTS: tuple[str, ...] = ("good", "bad")
#: A note longer than this is refused rather than cut.
MAX_NOTE_CHARS = 4000


@dataclass(frozen=True)
class Review:
    """One person's verdict on one record."""

    record: int
    verdict: str
    note: str
    who: str
    when: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ReviewLog:
    """The reviews of the run at `root`: `add` appends a line, `latest` gives each record's verdict."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / REVIEWS_FILE

    def add(self, record: int, verdict: str, note: str = "", *, who: str) -> Review:
        """Append a review. The caller checks that `record` is in the run; this checks the rest."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"a note is at most {MAX_NOTE_CHARS} characters")
        when = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        review = Review(record=int(record), verdict=verdict, note=note, who=who, when=when)
        line = orjson.dumps(review.to_json()) + b"\n"
        # One write of one line in append mode: concurrent appenders never interleave inside a line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return review

    def all(self) -> list[Review]:
        """Every review in the order written; unreadable lines (a torn last line) are skipped."""
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_bytes().splitlines():
            try:
                data = orjson.loads(raw)
                out.append(
                    Review(
                        record=int(data["record"]),
                        verdict=str(data["verdict"]),
                        note=str(data.get("note") or ""),
                        who=str(data.get("who") or ""),
                        when=str(data.get("when") or ""),
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return out

    def latest(self) -> dict[int, Review]:
        """Each reviewed record's latest review."""
        return {review.record: review for review in self.all() if review.verdict in VERDICTS}

    def records_with(self, verdict: str, among: Iterable[int]) -> list[int]:
        """Of the records `among`, those whose latest verdict is `verdict` (`unreviewed`: none)."""
        latest = self.latest()
        if verdict == "unreviewed":
            return [r for r in among if r not in latest]
        return [r for r in among if r in latest and latest[r].verdict == verdict]
