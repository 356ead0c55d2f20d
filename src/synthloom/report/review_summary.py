"""What people's reviews say about a run: how much was reviewed, and how often each judge agrees.

A judge column (`llm-judge`) *passes* a record when the mean of its scores, each placed on its options'
scale (first option 0, last option 1, in the order the config lists them), is at least one half. Its
agreement with the reviewers is the share of reviewed records where it passes the good ones and fails
the bad ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthloom.store.reviews import Review

__all__ = ["judge_passes", "review_summary"]


def review_summary(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    reviews: Mapping[int, Review],
    judges: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """`{kept, reviewed, share_reviewed, good, bad, judges: {column: {compared, agree, agreement}}}`
    over the kept `rows` (record, values), the latest `reviews` and the run's judge column configs."""
    kept = {record: values for record, values in rows}
    reviewed = {record: review for record, review in reviews.items() if record in kept}
    good = sum(1 for r in reviewed.values() if r.verdict == "good")
    out: dict[str, Any] = {
        "kept": len(kept),
        "reviewed": len(reviewed),
        "share_reviewed": round(len(reviewed) / len(kept), 4) if kept else 0.0,
        "good": good,
        "bad": len(reviewed) - good,
        "judges": {},
    }
    for judge in judges:
        name = str(judge.get("name"))
        compared = agree = 0
        for record, review in reviewed.items():
            passed = judge_passes(kept[record].get(name), judge)
            if passed is None:
                continue
            compared += 1
            agree += passed == (review.verdict == "good")
        out["judges"][name] = {
            "compared": compared,
            "agree": agree,
            "agreement": round(agree / compared, 4) if compared else None,
        }
    return out


def judge_passes(value: Any, judge: Mapping[str, Any]) -> bool | None:
    """Whether a judge's value passes (see the module docstring); None when it cannot be read."""
    if not isinstance(value, Mapping):
        return None
    positions = []
    for score in judge.get("scores") or []:
        options = [str(k) for k in (score.get("options") or {})]
        given = value.get(score.get("name"))
        chosen = given.get("score") if isinstance(given, Mapping) else None
        if len(options) < 2 or str(chosen) not in options:
            continue
        positions.append(options.index(str(chosen)) / (len(options) - 1))
    if not positions:
        return None
    return sum(positions) / len(positions) >= 0.5
