"""Loading images and audio for prompts: every input form, limits, and clear per-row errors."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import pytest

from synthloom.columns.media import MediaError, MediaRoots, PromptMedia, load_media, sniff_media_type
from synthloom.models.messages import AudioPart, ImagePart
from synthloom.testing.png import solid_png

PNG = solid_png(4, 4, (10, 20, 30))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 16
BMP = b"BM" + b"\x00" * 40
MP3 = b"ID3\x04\x00" + b"\x00" * 32


def _wav(frames: int = 80) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * frames)
    return buffer.getvalue()


WAV = _wav()
LIMIT = 1 << 20


def roots(base_dir: Path) -> MediaRoots:
    """`media_roots: [.]` for a config in `base_dir`."""
    return MediaRoots(base_dir, ((".", base_dir.resolve()),))


def load(value: Any, kind: str = "image", base_dir: Path | None = None, max_bytes: int = LIMIT) -> list[Any]:
    where = roots(base_dir) if base_dir is not None else MediaRoots(Path("/nonexistent"))
    return load_media(value, kind, roots=where, max_bytes=max_bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (WAV, "audio/wav"),
        (MP3, "audio/mpeg"),
        (b"\xff\xfb\x90\x00" + b"\x00" * 8, "audio/mpeg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"OggS\x00\x02", "audio/ogg"),
        (BMP, "image/bmp"),
        (b"plain text, not media", None),
    ],
)
def test_media_type_is_read_from_the_bytes(data: bytes, media_type: str | None) -> None:
    assert sniff_media_type(data) == media_type


def test_bytes_become_a_base64_image_part() -> None:
    [item] = load(PNG)
    assert item.media_type == "image/png"
    assert item.part(detail="low") == ImagePart(
        data=base64.b64encode(PNG).decode(), media_type="image/png", detail="low"
    )


def test_a_relative_path_is_read_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(PNG)
    [relative] = load("photos/cat.png", base_dir=tmp_path)
    [absolute] = load(str(tmp_path / "photos" / "cat.png"), base_dir=tmp_path)
    [file_url] = load((tmp_path / "photos" / "cat.png").as_uri(), base_dir=tmp_path)
    assert relative.data == absolute.data == file_url.data == PNG


def test_an_image_url_is_passed_through_for_the_server_to_fetch() -> None:
    [item] = load("https://example.org/cat.jpg")
    assert item.data is None
    assert item.part() == ImagePart(url="https://example.org/cat.jpg")


def test_audio_by_url_is_a_clear_error() -> None:
    with pytest.raises(MediaError, match="audio by URL is not supported"):
        load("https://example.org/clip.wav", "audio")


def test_a_data_uri_is_decoded_and_its_type_checked() -> None:
    [item] = load("data:image/png;base64," + base64.b64encode(PNG).decode())
    assert item.data == PNG
    with pytest.raises(MediaError, match="not valid base64"):
        load("data:image/png;base64,@@@not-base64@@@")


def test_a_hugging_face_image_feature_is_read_from_its_bytes_or_its_path(tmp_path: Path) -> None:
    (tmp_path / "dog.png").write_bytes(PNG)
    [from_bytes] = load({"bytes": PNG, "path": "anything.png"})
    [from_path] = load({"bytes": None, "path": "dog.png"}, base_dir=tmp_path)
    assert from_bytes.data == from_path.data == PNG
    with pytest.raises(MediaError, match="needs 'bytes' or 'path'"):
        load({"width": 3})


def test_decoded_hugging_face_audio_is_encoded_as_wav() -> None:
    [item] = load({"array": [0.0, 0.5, -0.5, 1.5], "sampling_rate": 16000, "path": None}, "audio")
    assert item.media_type == "audio/wav"
    with wave.open(io.BytesIO(item.data)) as clip:
        assert (clip.getframerate(), clip.getnframes(), clip.getsampwidth()) == (16000, 4, 2)
    part = item.part()
    assert isinstance(part, AudioPart) and part.format == "wav"


def test_audio_bytes_become_an_input_audio_part() -> None:
    [wav] = load(WAV, "audio")
    [mp3] = load(MP3, "audio")
    assert wav.part() == AudioPart(data=base64.b64encode(WAV).decode(), format="wav")
    assert mp3.part() == AudioPart(data=base64.b64encode(MP3).decode(), format="mp3")


def test_an_object_that_saves_itself_is_sent_as_png() -> None:
    class FakeImage:
        def save(self, file: io.BytesIO, format: str) -> None:
            assert format == "PNG"
            file.write(PNG)

    [item] = load(FakeImage())
    assert item.data == PNG


def test_a_list_holds_several_media_and_null_holds_none(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    items = load(["a.png", PNG, None, ["https://example.org/b.png"]], base_dir=tmp_path)
    assert [item.url or item.media_type for item in items] == [
        "image/png",
        "image/png",
        "https://example.org/b.png",
    ]
    assert load(None) == []


def test_a_missing_file_names_the_path_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"image file not found: nope\.png \(looked for .*nope\.png\)"):
        load("nope.png", base_dir=tmp_path)


def test_a_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not a file"):
        load(str(tmp_path), base_dir=tmp_path)


def test_a_file_over_the_size_limit_fails_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(PNG + b"\x00" * 2000)
    with pytest.raises(MediaError, match="over the limit of 1,000 bytes"):
        load("big.png", base_dir=tmp_path, max_bytes=1000)
    with pytest.raises(MediaError, match="over the image limit"):
        load(PNG + b"\x00" * 2000, max_bytes=1000)
    with pytest.raises(MediaError, match="data URI holds over"):
        load("data:image/png;base64," + base64.b64encode(PNG + b"\x00" * 2000).decode(), max_bytes=1000)


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (BMP, "image", "image/bmp, which is not a supported image type"),
        (b"\x00\x01\x02\x03 just bytes", "image", "not a known image type"),
        (WAV, "image", "audio/wav, which is not a supported image type"),
        (PNG, "audio", "image/png, which is not a supported audio type"),
        (b"", "image", "empty"),
        ("   ", "image", "empty"),
        (42, "image", "cannot read an image from a int"),
    ],
)
def test_unsupported_values_are_clear_errors(value: Any, kind: str, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        load(value, kind)


def test_prompt_media_evaluates_a_lone_expression_to_its_value(tmp_path: Path) -> None:
    (tmp_path / "p7.png").write_bytes(PNG)
    media = PromptMedia(
        ["{{ photo }}", "{{ item.image }}", "p{{ n }}.png"], ["{{ clip }}"], roots=roots(tmp_path)
    )
    parts = media.parts({"photo": PNG, "item": {"image": {"bytes": PNG, "path": None}}, "n": 7, "clip": WAV})
    assert [type(part).__name__ for part in parts] == ["ImagePart", "ImagePart", "ImagePart", "AudioPart"]


def test_prompt_media_errors_name_the_entry(tmp_path: Path) -> None:
    media = PromptMedia(["{{ a }}", "{{ b }}"], [], roots=roots(tmp_path))
    with pytest.raises(MediaError, match=r"^images\[1\]: image file not found: gone\.png"):
        media.parts({"a": PNG, "b": "gone.png"})
    assert not PromptMedia([], [], roots=roots(tmp_path))
