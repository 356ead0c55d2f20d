"""A hostile seed through a whole run: rows naming local files outside `media_roots` fail, and no byte
of those files reaches the model endpoint, failures.jsonl or the error text."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import synthloom
from synthloom.testing import SimulatedEndpoint
from synthloom.testing.png import solid_png

from .conftest import model

SECRET = b"root:x:0:0:SECRET-ON-THIS-MACHINE\n"


def _hostile_project(tmp_path: Path, media_roots: list[str] | None, column: str) -> Path:
    """A project whose seed has one honest row and seven hostile ones, each naming `secret.txt` (beside
    the project) another way; `column` is the column that reads them."""
    project = tmp_path / "project"
    (project / "images").mkdir(parents=True)
    (project / "images" / "cat.png").write_bytes(solid_png(8, 8, (9, 9, 9)))
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    (project / "images" / "link.png").symlink_to(secret)
    paths = [str(secret), secret.as_uri(), "../secret.txt", "images/../../secret.txt", "images/link.png"]
    rows: list[dict[str, Any]] = [{"picture": "images/cat.png"}, *({"picture": p} for p in paths)]
    if column == "caption":  # the prompt media also take Hugging Face features and lists
        rows += [{"feature": {"bytes": None, "path": str(secret)}}, {"many": ["images/cat.png", str(secret)]}]
    else:
        rows += [{"picture": "~/../../" + str(secret)}, {"picture": "images/./link.png"}]
    (project / "seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = {
        "caption": {
            "name": "caption",
            "type": "llm-text",
            "model": "vision",
            "prompt": "Caption.",
            "images": ["{{ picture }}", "{{ feature }}", "{{ many }}"],
        },
        "edited": {
            "name": "edited",
            "type": "image",
            "model": "vision",
            "mode": "edit",
            "source": "picture",
            "prompt": "Edit it.",
        },
    }
    config: dict[str, Any] = {
        "name": "hostile",
        "models": [model("vision", "http://placeholder/v1")],
        "seed": {"path": "seed.jsonl", "sampling": "ordered"},
        "columns": [columns[column]],
        "run": {"buffer_size": 8, "max_failure_rate": 1.0},
    }
    if media_roots is not None:
        config["media_roots"] = media_roots
    path = project / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def _run(endpoint: SimulatedEndpoint, path: Path, tmp_path: Path) -> tuple[list[Any], str, str]:
    """The kept rows, everything the endpoint was sent, and failures.jsonl."""
    path.write_text(path.read_text().replace("http://placeholder/v1", endpoint.base_url))
    result = await synthloom.acreate(synthloom.load_config(path), 8, tmp_path / "out")
    sent = json.dumps([[r.path, r.json_body] for r in endpoint.requests], default=str)
    return list(result), sent, (tmp_path / "out" / "hostile" / "failures.jsonl").read_text()


def _assert_secret_absent(text: str) -> None:
    for form in (SECRET.decode(), base64.b64encode(SECRET).decode(), "SECRET-ON-THIS-MACHINE", "root:x"):
        assert form not in text


@pytest.mark.parametrize("column", ["caption", "edited"])
async def test_hostile_seed_rows_cannot_send_or_quote_files_outside_the_media_roots(
    endpoint: SimulatedEndpoint, tmp_path: Path, column: str
) -> None:
    rows, sent, failures = await _run(endpoint, _hostile_project(tmp_path, ["images"], column), tmp_path)
    assert [row["picture"] for row in rows] == ["images/cat.png"]  # only the honest row is kept
    assert len(endpoint.requests) == 1
    _assert_secret_absent(sent)
    _assert_secret_absent(failures)
    reasons = [json.loads(line)["error"] for line in failures.splitlines()]
    assert len(reasons) == 7 and all("outside media_roots (images)" in r for r in reasons)


async def test_without_media_roots_no_seed_value_reads_a_local_file(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    rows, _, failures = await _run(endpoint, _hostile_project(tmp_path, None, "caption"), tmp_path)
    assert rows == [] and not endpoint.requests
    _assert_secret_absent(failures)
    assert failures.count("local files are read only under the folders listed in `media_roots:`") == 8
