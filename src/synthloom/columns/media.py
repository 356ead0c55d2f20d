"""Images and audio for prompts: from the values a record holds to content parts a model is sent.

A media value may be
- `bytes` (a seed's binary column, an `image` column's PNG);
- an `http(s)://` URL (images only: passed through for the server to fetch);
- a data URI (`data:image/png;base64,...`);
- a Hugging Face Image/Audio feature dict: `{"bytes": ..., "path": ...}`, or a decoded Audio
  feature `{"array": [...], "sampling_rate": 16000}` (encoded as 16-bit WAV);
- an object with a `save(file, format=...)` method (a PIL image), saved as PNG;
- a list of any of these (several media from one value), or null (nothing is sent);
- a local file path (relative to the config file's folder, absolute, `~/...` or `file://...`, also as a
  feature's `path`), read only when it lies inside one of the folders the config lists in
  `media_roots:`.

Local files are the one dangerous form: seed rows are not trusted, and a seed value naming
`/etc/passwd` would otherwise be read and uploaded to whoever runs the model endpoint. So this module is
the one place a media value becomes a file read (`MediaRoots.read`): with no `media_roots` nothing
local is read; a path is resolved with every link followed (`os.path.realpath`) and must then lie inside
a root, so neither `..` nor a link leaving the root gets out; the file is opened without following a
final link (a link swapped in after the check) and must be a regular file (not a FIFO or a device). No
error quotes a file's contents.

The type is read from the bytes themselves (file names and declared types are not trusted): images
PNG, JPEG, GIF or WebP; audio WAV, MP3, FLAC or Ogg. Each item may be at most `max_bytes` (the
column's `max_media_bytes`). A value that cannot be read, is too large, or is of another type raises
`MediaError`: its row fails with the reason, the run goes on.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
import wave
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from synthloom.engine.contexts import GeneratorSetup
from synthloom.errors import ConfigError, MediaError
from synthloom.models.messages import AudioPart, ContentPart, ImagePart
from synthloom.plan.templates import template_environment

__all__ = [
    "DEFAULT_MAX_MEDIA_BYTES",
    "Media",
    "MediaError",
    "MediaKind",
    "MediaRoots",
    "PromptMedia",
    "check_media_roots",
    "load_media",
    "prompt_media",
    "sniff_media_type",
]

MediaKind = Literal["image", "audio"]

#: The default size limit of one image or audio item: OpenAI's own per-image limit.
DEFAULT_MAX_MEDIA_BYTES = 20 * 1024 * 1024

#: Media types a prompt may carry, and the `format` name OpenAI's `input_audio` uses for audio.
SUPPORTED: dict[MediaKind, dict[str, str]] = {
    "image": {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"},
    "audio": {"audio/wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac", "audio/ogg": "ogg"},
}


@dataclass(frozen=True, slots=True)
class Media:
    """One image or audio item: its bytes and sniffed media type, or (images only) a URL."""

    kind: MediaKind
    media_type: str | None = None
    data: bytes | None = None
    url: str | None = None

    def part(self, *, detail: str | None = None) -> ContentPart:
        """The content part sent for it (base64 data, or the URL)."""
        if self.kind == "image":
            if self.url is not None:
                return ImagePart(url=self.url, detail=detail)
            return ImagePart(data=_b64(self.data), media_type=self.media_type, detail=detail)
        return AudioPart(data=_b64(self.data), format=SUPPORTED["audio"][self.media_type or ""])


def sniff_media_type(data: bytes) -> str | None:
    """The media type the bytes' signature says, or None when it is none this module knows."""
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    # An MPEG audio frame: 11 sync bits, then any version and a layer other than "reserved".
    if head.startswith(b"ID3") or (
        len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE6) in (0xE2, 0xE4, 0xE6)
    ):
        return "audio/mpeg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] in (b"M4A", b"M4B") else "video/mp4"
    return None


def load_media(value: Any, kind: MediaKind, *, roots: MediaRoots, max_bytes: int) -> list[Media]:
    """The items a value holds (see the module doc); raises `MediaError` naming the problem."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [
            item for element in value for item in load_media(element, kind, roots=roots, max_bytes=max_bytes)
        ]
    return [_load_one(value, kind, roots, max_bytes)]


def _load_one(value: Any, kind: MediaKind, roots: MediaRoots, max_bytes: int) -> Media:
    if isinstance(value, bytes | bytearray | memoryview):
        return _from_bytes(bytes(value), kind, max_bytes, "the bytes")
    if isinstance(value, str):
        return _from_text(value, kind, roots, max_bytes)
    if isinstance(value, dict):
        return _from_feature(value, kind, roots, max_bytes)
    save = getattr(value, "save", None)
    if kind == "image" and callable(save):
        buffer = io.BytesIO()
        try:
            save(buffer, format="PNG")
        except Exception as exc:
            raise MediaError(f"cannot save the {type(value).__name__} as PNG: {exc}") from exc
        return _from_bytes(buffer.getvalue(), kind, max_bytes, f"the {type(value).__name__}")
    raise MediaError(
        f"cannot read an {kind} from a {type(value).__name__} (give bytes, a file path, a URL, a data "
        "URI or a Hugging Face Image/Audio feature)"
    )


#: `scheme://` at the start of a value: a URL, not a path.
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _from_text(text: str, kind: MediaKind, roots: MediaRoots, max_bytes: int) -> Media:
    text = text.strip()
    if not text:
        raise MediaError(f"the {kind} value is empty")
    if text.startswith("data:"):
        return _from_data_uri(text, kind, max_bytes)
    scheme_match = _URL_SCHEME.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme in ("http", "https"):
        if kind == "audio":
            raise MediaError(
                f"audio by URL is not supported ({text[:120]}): audio is sent as data; give bytes, a data "
                "URI or a file under media_roots"
            )
        return Media("image", url=text)
    if scheme == "file":
        url = urlparse(text)
        if url.netloc not in ("", "localhost"):
            raise MediaError(f"{kind} URL {text[:120]} names another host; only local file:// URLs are read")
        text = unquote(url.path)
    elif scheme:
        raise MediaError(f"{kind} URL scheme {scheme}:// is not supported (give http(s), data or bytes)")
    data = roots.read(text, kind, max_bytes)
    return _from_bytes(data, kind, max_bytes, f"file {text}")


@dataclass(frozen=True, slots=True)
class MediaRoots:
    """The folders local media files may be read from (the config's `media_roots:`, resolved) and the
    folder a relative path starts from (the config file's). No folders: no local file is read."""

    base_dir: Path
    #: Each root as written in the config, and its real path (links resolved).
    folders: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def of(cls, config: Any) -> MediaRoots:
        """The roots of a `DatasetConfig` (its `media_roots`, relative to its folder)."""
        base = Path(config.base_dir)
        folders = tuple(
            (name, Path(os.path.realpath(base / Path(name).expanduser())))
            for name in getattr(config, "media_roots", ())
        )
        return cls(base, folders)

    def resolve(self, text: str, kind: MediaKind) -> Path:
        """The real path of a local file a value names, when it lies inside a root; else `MediaError`.
        The check is made before the file is looked at, so the answer says nothing of what exists
        outside the roots."""
        if not self.folders:
            raise MediaError(
                f"{kind} value {text[:120]!r} names a local file: local files are read only under the "
                "folders listed in `media_roots:` in the config (none are)"
            )
        if "\x00" in text:
            raise MediaError(f"{kind} path {text[:120]!r} holds a NUL character")
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        real = Path(os.path.realpath(path))
        if any(real == root or real.is_relative_to(root) for _, root in self.folders):
            return real
        names = ", ".join(name for name, _ in self.folders)
        raise MediaError(f"{kind} file {text[:120]} is outside media_roots ({names}): not read")

    def read(self, text: str, kind: MediaKind, max_bytes: int) -> bytes:
        """The bytes of the local file `text` names (see `resolve`), at most `max_bytes`."""
        real = self.resolve(text, kind)
        # No final link followed (one swapped in since `resolve`), and no wait on a FIFO.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError:
            raise MediaError(f"{kind} file not found: {text} (looked for {real})") from None
        except OSError as exc:
            raise MediaError(f"cannot read {kind} file {text}: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise MediaError(f"{kind} path is not a file: {real}")
            if info.st_size > max_bytes:
                raise MediaError(
                    f"{kind} file {text} is {_size(info.st_size)}, over the limit of {_size(max_bytes)}"
                )
            with os.fdopen(os.dup(fd), "rb") as file:
                return file.read(max_bytes + 1)
        except OSError as exc:
            raise MediaError(f"cannot read {kind} file {text}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)


def check_media_roots(config: Any) -> None:
    """Every folder in the config's `media_roots` exists (a typo would otherwise fail every row)."""
    for index, (name, real) in enumerate(MediaRoots.of(config).folders):
        if not real.is_dir():
            raise ConfigError(
                f"media root {name!r} is not a folder (looked for {real})",
                source=config.source,
                field=f"media_roots[{index}]",
                line=config.line_of_field(f"media_roots.{index}"),
            )


_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,(.*)$", re.DOTALL)


def _from_data_uri(text: str, kind: MediaKind, max_bytes: int) -> Media:
    match = _DATA_URI.match(text)
    if match is None:
        raise MediaError(f"not a base64 data URI: {text[:60]}...")
    encoded = match.group(3)
    if len(encoded) * 3 // 4 > max_bytes + 3:
        raise MediaError(f"the {kind} data URI holds over {_size(max_bytes)}, the limit")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(f"the {kind} data URI is not valid base64: {exc}") from None
    return _from_bytes(data, kind, max_bytes, "the data URI")


def _from_feature(value: dict[str, Any], kind: MediaKind, roots: MediaRoots, max_bytes: int) -> Media:
    """A Hugging Face Image/Audio feature: stored (`bytes`, `path`) or decoded audio (`array`)."""
    data = value.get("bytes")
    if data is not None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MediaError(f"the {kind} feature's 'bytes' is a {type(data).__name__}, not bytes")
        return _from_bytes(bytes(data), kind, max_bytes, f"feature {value.get('path') or ''}".strip())
    if kind == "audio" and value.get("array") is not None and value.get("sampling_rate"):
        wav = _wav_from_samples(value["array"], int(value["sampling_rate"]))
        return _from_bytes(wav, kind, max_bytes, "the decoded audio")
    path = value.get("path")
    if isinstance(path, str) and path:
        return _from_text(path, kind, roots, max_bytes)
    raise MediaError(
        f"an {kind} given as a dict needs 'bytes' or 'path' (a Hugging Face {kind.capitalize()} feature); "
        f"got keys {sorted(value)}"
    )


def _from_bytes(data: bytes, kind: MediaKind, max_bytes: int, what: str) -> Media:
    if len(data) > max_bytes:
        raise MediaError(f"{what} ({_size(len(data))}) is over the {kind} limit of {_size(max_bytes)}")
    if not data:
        raise MediaError(f"{what}: empty, not an {kind}")
    media_type = sniff_media_type(data)
    if media_type is None:
        # Never quote the bytes: they may be a local file's contents.
        raise MediaError(f"{what} is not a known {kind} type")
    if media_type not in SUPPORTED[kind]:
        supported = ", ".join(SUPPORTED[kind].values())
        raise MediaError(f"{what} is {media_type}, which is not a supported {kind} type ({supported})")
    return Media(kind, media_type=media_type, data=data)


def _wav_from_samples(samples: Iterable[Any], rate: int) -> bytes:
    """Mono float samples in [-1, 1] (a decoded Audio feature's `array`) as 16-bit PCM WAV."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with the datasets extra that decodes audio
        frames = bytearray()
        for sample in samples:
            value = int(max(-1.0, min(1.0, float(sample))) * 32767)
            frames += value.to_bytes(2, "little", signed=True)
    else:
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim != 1:
            raise MediaError(f"decoded audio must be mono samples, got an array of shape {array.shape}")
        frames = bytearray((np.clip(array, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode("ascii")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


# ---- media referenced from a column -----------------------------------------------------------------

_ONE_EXPRESSION = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.DOTALL)


class _Reference:
    """One entry of `images:` / `audio:`. A lone `{{ expression }}` is evaluated to its value (bytes,
    a dict, a list stay what they are); any other template is rendered as text (a path or a URL)."""

    def __init__(self, source: str) -> None:
        match = _ONE_EXPRESSION.match(source)
        env = template_environment()
        if match is not None and "{{" not in match.group(1) and "{%" not in match.group(1):
            self._expression: Any = env.compile_expression(match.group(1), undefined_to_none=True)
            self._template: Any = None
        else:
            self._expression = None
            self._template = env.from_string(source)

    def value(self, row: Mapping[str, Any]) -> Any:
        if self._expression is not None:
            return self._expression(**row)
        return self._template.render(row)


class PromptMedia:
    """The images and audio an LLM column sends with its prompt (its `images:` and `audio:` entries),
    compiled once per column; `parts(row)` loads them for one record."""

    def __init__(
        self,
        images: Sequence[str],
        audio: Sequence[str],
        *,
        roots: MediaRoots,
        max_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
        detail: str | None = None,
    ) -> None:
        self._refs: list[tuple[MediaKind, str, _Reference]] = [
            ("image", f"images[{i}]", _Reference(source)) for i, source in enumerate(images)
        ] + [("audio", f"audio[{i}]", _Reference(source)) for i, source in enumerate(audio)]
        self.roots = roots
        self.max_bytes = max_bytes
        self.detail = detail

    def __bool__(self) -> bool:
        return bool(self._refs)

    def parts(self, row: Mapping[str, Any]) -> list[ContentPart]:
        """The content parts of one record's media, images first, in the order declared."""
        parts: list[ContentPart] = []
        for kind, field, ref in self._refs:
            try:
                value = ref.value(row)
                items = load_media(value, kind, roots=self.roots, max_bytes=self.max_bytes)
            except MediaError as exc:
                raise MediaError(f"{field}: {exc}") from None
            except Exception as exc:  # a template that fails on this record's values
                raise MediaError(f"{field}: {type(exc).__name__}: {exc}") from None
            parts.extend(item.part(detail=self.detail) for item in items)
        return parts


def prompt_media(config: Any, setup: GeneratorSetup) -> PromptMedia:
    """The `PromptMedia` of an LLM column (or flow node) config, compiled once per run."""
    key = f"prompt-media:{id(config)}"
    media = setup.cache.get(key)
    if media is None:
        media = setup.cache[key] = PromptMedia(
            getattr(config, "images", ()),
            getattr(config, "audio", ()),
            roots=MediaRoots.of(setup.config),
            max_bytes=getattr(config, "max_media_bytes", DEFAULT_MAX_MEDIA_BYTES),
            detail=getattr(config, "image_detail", None),
        )
    return media  # type: ignore[no-any-return]
