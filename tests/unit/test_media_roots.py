"""Hostile seed values naming local files: none is read outside `media_roots`, none is quoted.

Each case is an attack an audit ran against media values (a seed row is not trusted): the file it names
must neither be read nor appear in the error the row fails with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from synthloom.columns.media import MediaError, MediaRoots, check_media_roots, load_media
from synthloom.config.loader import parse_config
from synthloom.errors import ConfigError
from synthloom.testing.png import solid_png

PNG = solid_png(4, 4, (1, 2, 3))
SECRET = "root:x:0:0:SECRET-CONTENT"


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A config folder with `images/` (the media root) and, beside it, a secret the seed must not reach;
    a home folder holding another secret."""
    config_dir = tmp_path / "project"
    images = config_dir / "images"
    images.mkdir(parents=True)
    (images / "ok.png").write_bytes(PNG)
    (config_dir / "private.txt").write_text(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET)
    (outside / "real.png").write_bytes(PNG)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    return {"config": config_dir, "images": images, "outside": outside}


def _roots(layout: dict[str, Path], *names: str) -> MediaRoots:
    config_dir = layout["config"]
    return MediaRoots(config_dir, tuple((n, Path(os.path.realpath(config_dir / n))) for n in names))


def _refused(value: Any, roots: MediaRoots, match: str = "outside media_roots|none are") -> str:
    with pytest.raises(MediaError, match=match) as caught:
        load_media(value, "image", roots=roots, max_bytes=1 << 20)
    message = str(caught.value)
    assert "SECRET" not in message and "root:x" not in message
    return message


@pytest.mark.parametrize(
    "value",
    ["/etc/passwd", "/etc/shadow", "/proc/self/environ", "file:///etc/passwd", "~/.netrc", "private.txt"],
)
def test_with_no_media_roots_no_local_path_is_read(layout: dict[str, Path], value: str) -> None:
    message = _refused(value, MediaRoots(layout["config"]))
    assert "media_roots" in message


@pytest.mark.parametrize(
    "value",
    [
        "/etc/passwd",
        "/proc/self/environ",
        "../private.txt",
        "images/../private.txt",
        "images/../../outside/passwd",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "file:///etc/%70asswd",
        "~/.netrc",
        {"bytes": None, "path": "/etc/passwd"},
        {"path": "../private.txt"},
        ["images/ok.png", "/etc/passwd"],
        [{"path": "images/ok.png"}, [{"path": "~/.netrc"}]],
    ],
)
def test_a_path_leaving_the_media_roots_is_refused(layout: dict[str, Path], value: Any) -> None:
    _refused(value, _roots(layout, "images"))


def test_a_path_refused_outside_the_roots_says_nothing_about_whether_it_exists(
    layout: dict[str, Path],
) -> None:
    roots = _roots(layout, "images")
    present = _refused(str(layout["outside"] / "passwd"), roots)
    absent = _refused(str(layout["outside"] / "nothing-here"), roots)
    assert present.replace("passwd", "X") == absent.replace("nothing-here", "X")


def test_a_file_url_naming_another_host_is_refused(layout: dict[str, Path]) -> None:
    _refused("file://attacker.example/etc/passwd", _roots(layout, "images"), match="another host")


def test_other_url_schemes_are_refused(layout: dict[str, Path]) -> None:
    _refused("ftp://example.org/a.png", _roots(layout, "images"), match="not supported")


def test_a_link_inside_a_root_pointing_out_of_it_is_not_followed(layout: dict[str, Path]) -> None:
    images = layout["images"]
    (images / "passwd.png").symlink_to(layout["outside"] / "passwd")
    (images / "real.png").symlink_to(layout["outside"] / "real.png")  # even an image is refused
    (images / "escape").symlink_to(layout["outside"], target_is_directory=True)
    roots = _roots(layout, "images")
    for value in ("images/passwd.png", "images/real.png", "images/escape/passwd", "images/escape/real.png"):
        _refused(value, roots)


def test_a_link_that_stays_inside_the_root_is_read(layout: dict[str, Path]) -> None:
    (layout["images"] / "alias.png").symlink_to(layout["images"] / "ok.png")
    [item] = load_media("images/alias.png", "image", roots=_roots(layout, "images"), max_bytes=1 << 20)
    assert item.data == PNG


def test_a_media_root_that_is_itself_a_link_is_used_as_its_target(
    layout: dict[str, Path], tmp_path: Path
) -> None:
    (layout["config"] / "shared").symlink_to(layout["outside"], target_is_directory=True)
    roots = _roots(layout, "shared")
    [item] = load_media("shared/real.png", "image", roots=roots, max_bytes=1 << 20)
    assert item.data == PNG
    _refused("images/ok.png", roots)


def test_a_non_image_inside_a_root_fails_without_quoting_its_contents(layout: dict[str, Path]) -> None:
    (layout["images"] / "notes.png").write_text(SECRET)
    message = _refused("images/notes.png", _roots(layout, "images"), match="not a known image type")
    assert "images/notes.png" in message
    with pytest.raises(MediaError) as caught:
        load_media(SECRET.encode(), "image", roots=_roots(layout, "images"), max_bytes=1 << 20)
    assert "SECRET" not in str(caught.value) and "root:x" not in str(caught.value)


def test_a_fifo_inside_a_root_fails_at_once_instead_of_blocking(layout: dict[str, Path]) -> None:
    os.mkfifo(layout["images"] / "pipe.png")
    _refused("images/pipe.png", _roots(layout, "images"), match="not a file")


def test_reading_stops_at_the_size_limit(layout: dict[str, Path]) -> None:
    (layout["images"] / "big.png").write_bytes(PNG + b"\x00" * 5000)
    with pytest.raises(MediaError, match="over the limit of 1,000 bytes"):
        load_media("images/big.png", "image", roots=_roots(layout, "images"), max_bytes=1000)


def test_a_relative_path_inside_the_root_is_read_relative_to_the_config_folder(
    layout: dict[str, Path],
) -> None:
    roots = _roots(layout, "images")
    for value in ("images/ok.png", str(layout["images"] / "ok.png"), (layout["images"] / "ok.png").as_uri()):
        [item] = load_media(value, "image", roots=roots, max_bytes=1 << 20)
        assert item.data == PNG
    [item] = load_media({"bytes": None, "path": "images/ok.png"}, "image", roots=roots, max_bytes=1 << 20)
    assert item.data == PNG


def test_media_roots_are_read_from_the_config_relative_to_its_folder(layout: dict[str, Path]) -> None:
    text = "media_roots: [images]\ncolumns:\n  - {name: a, type: expression, expr: '1'}\n"
    config = parse_config(text, source="c.yaml", base_dir=layout["config"])
    config._base_dir = layout["config"]
    roots = MediaRoots.of(config)
    assert roots.folders == (("images", layout["images"].resolve()),)
    check_media_roots(config)


def test_a_media_root_that_is_not_a_folder_is_a_config_error(layout: dict[str, Path]) -> None:
    text = "media_roots:\n  - images\n  - photos\ncolumns:\n  - {name: a, type: expression, expr: '1'}\n"
    config = parse_config(text, source="c.yaml", base_dir=layout["config"])
    config._base_dir = layout["config"]
    expected = r"c\.yaml.*media_roots\[1\].*media root 'photos' is not a folder"
    with pytest.raises(ConfigError, match=expected) as caught:
        check_media_roots(config)
    assert caught.value.line == 3
