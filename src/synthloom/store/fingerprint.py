"""A config's fingerprint: what decides the data, so that a resume can refuse a changed config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from synthloom.config.dataset import DatasetConfig

__all__ = ["config_fingerprint", "describe_changes", "fingerprint_view"]


def fingerprint_view(config: DatasetConfig) -> dict[str, Any]:
    """The parts of a config that decide what is generated. Concurrency, timeouts, pricing and the
    record count are left out: changing them must not refuse a resume. So are a model's `endpoints`
    (replicas of one model): a run can be resumed with servers added or removed. (Switching a model
    between `base_url` and `endpoints` does count as a change: its `base_url` is part of the view.)"""
    data = config.model_dump(mode="json", by_alias=True)
    models = []
    for m in data.get("models", []):
        models.append(
            {
                k: m.get(k)
                for k in (
                    "alias",
                    "provider",
                    "base_url",
                    "model",
                    "inference",
                    "model_path",
                    "structured_output",
                )
            }
        )
    run = data.get("run", {})
    view: dict[str, Any] = {
        "models": models,
        "seed": _seed_view(config),
        "columns": data.get("columns"),
        "run": {"seed": run.get("seed"), "buffer_size": run.get("buffer_size")},
    }
    retry = run.get("retry") or {}
    if retry.get("mode") == "same_inputs":
        # Which rows are kept depends on it; left out otherwise, so runs made before it keep their print.
        view["run"]["retry"] = retry
    output = data.get("output")
    if output:
        # The record mapping decides the data; the dataset card (license, description) does not.
        view["output"] = {k: v for k, v in output.items() if k != "card"}
    return view


def config_fingerprint(config: DatasetConfig) -> str:
    blob = json.dumps(fingerprint_view(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """Human-readable paths where two fingerprint views differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub} added")
            elif key not in new:
                out.append(f"{sub} removed")
            else:
                out.extend(describe_changes(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if path.endswith("columns") or path.endswith("models"):
            key = "name" if path.endswith("columns") else "alias"
            old_by = {o.get(key): o for o in old if isinstance(o, Mapping)}
            new_by = {n.get(key): n for n in new if isinstance(n, Mapping)}
            if len(old_by) == len(old) and len(new_by) == len(new):
                return describe_changes(old_by, new_by, path)
        if len(old) != len(new):
            return [f"{path} changed"]
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(describe_changes(a, b, f"{path}[{i}]"))
        return out
    return [] if old == new else [f"{path} changed ({_short(old)} -> {_short(new)})"]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: The seed fields round-1 configs had: always in the view, so their runs keep their fingerprints.
_SEED_FIELDS_ALWAYS_SHOWN = ("path", "sampling", "columns", "format")


def _seed_view(config: DatasetConfig) -> dict[str, Any] | None:
    """The seed as it decides the data: every field set away from its default (and the original four),
    so that adding a seed option to synthloom does not change the fingerprint of existing runs."""
    if config.seed is None:
        return None
    full = config.seed.model_dump(mode="json", by_alias=True)
    explicit = config.seed.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return {k: v for k, v in full.items() if k in _SEED_FIELDS_ALWAYS_SHOWN or k in explicit}
