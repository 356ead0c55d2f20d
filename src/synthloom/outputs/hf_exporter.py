"""Hugging Face exports: a `save_to_disk` folder, an in-memory `datasets.Dataset`, and a Hub push.

All three need the optional `datasets` extra (`pip install 'synthloom[hf]'`), which brings
`huggingface_hub`. Records are written in the native encoding (`arrow_types.native_schema`): nested
values are Arrow lists and structs, so `messages` loads as a list of `{role, content}`.

- `save_hf_dataset(source, folder)`: the parts streamed into one Arrow file in a scratch folder, opened
  memory-mapped as a `datasets.Dataset` and saved with `save_to_disk` (sharded by `datasets`); a dataset
  card is written beside it as README.md. `datasets.load_from_disk(folder)` reads it back.
- `push_to_hub(source, repo_id)`: Parquet shards `data/train-NNNNN-of-NNNNN.parquet` and README.md (the
  card, whose `configs` point the Hub at the shards), in one commit through `huggingface_hub`:
  `create_repo(exist_ok=True)`, then `create_commit` adding the new files and deleting shards of an
  earlier push that the new one does not replace. The endpoint is `endpoint=`, else `HF_ENDPOINT`
  (read at call time), else the public Hub; the token is `token=`, else huggingface_hub's own
  (`HF_TOKEN`, the saved login).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.config.output_config import CardConfig
from synthloom.errors import OutputError
from synthloom.outputs.arrow_types import native_schema, to_native
from synthloom.outputs.dataset_card import CardFacts, render_card
from synthloom.outputs.export_source import ExportSource

if TYPE_CHECKING:
    import datasets

__all__ = ["PushResult", "hf_dataset", "push_to_hub", "save_hf_dataset"]

#: Files `save_to_disk` writes; an existing folder holding them is a previous export and is replaced.
_SAVED = ("state.json", "dataset_info.json")
#: Uncompressed bytes per Parquet shard of a Hub push (the `datasets` library's default is 500 MB).
SHARD_BYTES = 500 * 1024 * 1024


def _require_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise OutputError(
            "Hugging Face exports need the `datasets` library: pip install 'synthloom[hf]'"
        ) from None
    return datasets


@contextlib.contextmanager
def _quiet(datasets: Any) -> Iterator[None]:
    """No progress bars from `datasets` while we drive it (ours is the caller's display)."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _spool_arrow(source: ExportSource, scratch: Path) -> tuple[Path, pa.Schema, int]:
    """Every record in the native encoding, in one Arrow IPC stream file under `scratch`."""
    source = source.spooled(scratch / "reshaped")
    schema = native_schema(source.tables())
    path = scratch / "records.arrow"
    rows = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for table in source.tables():
            writer.write_table(to_native(table, schema))
            rows += table.num_rows
    return path, schema, rows


def _card(
    source: ExportSource,
    schema: pa.Schema,
    records: int,
    *,
    license: str | None,
    repo_id: str | None,
    data_files: str,
) -> str:
    output = source.output_config()
    facts = CardFacts(
        name=source.name,
        config=source.config,
        metadata=source.metadata,
        usage=source.usage,
        schema=schema,
        records=records,
        card=output.card if output is not None else CardConfig(),
        license=license,
        repo_id=repo_id,
        data_files=data_files,
        reshaped_by=source.shaper.output.format.type
        if source.shaper is not None and source.shaper.output is not None and source.shaper.output.format
        else None,
    )
    return render_card(facts)


def save_hf_dataset(source: ExportSource, folder: Path, *, license: str | None = None) -> int:
    """A folder `datasets.load_from_disk` reads, with a dataset card. Returns the record count."""
    datasets = _require_datasets()
    _prepare_folder(folder)
    with tempfile.TemporaryDirectory(prefix=".synthloom-hf-", dir=folder.parent) as tmp:
        path, schema, rows = _spool_arrow(source, Path(tmp))
        if not schema.names:
            raise OutputError(f"{source.origin} has no committed records: there is no dataset to write")
        dataset = datasets.Dataset.from_file(str(path))
        try:
            with _quiet(datasets):
                # With no rows `datasets` would write no shard at all, and could not load the folder.
                dataset.save_to_disk(str(folder), num_shards=1 if rows == 0 else None)
        except OSError as exc:
            raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None
        finally:
            del dataset
    card = _card(source, schema, rows, license=license, repo_id=None, data_files="data-*.arrow")
    (folder / "README.md").write_text(card, encoding="utf-8")
    return rows


def _prepare_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; an `hf` export writes a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not all((folder / name).exists() for name in _SAVED):
            raise OutputError(
                f"{folder} is not empty and is not an earlier `hf` export; choose another folder"
            )
        for child in folder.iterdir():
            if child.is_file() and (child.suffix == ".arrow" or child.name in (*_SAVED, "README.md")):
                child.unlink()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder.parent}: {exc.strerror or exc}") from None


def hf_dataset(source: ExportSource) -> datasets.Dataset:
    """The records as a `datasets.Dataset`, memory-mapped from a scratch file (removed at once: the
    mapping keeps the data readable until the dataset is released)."""
    datasets = _require_datasets()
    with tempfile.TemporaryDirectory(prefix="synthloom-hf-") as tmp:
        path, _, _ = _spool_arrow(source, Path(tmp))
        table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    return datasets.Dataset(table)  # type: ignore[no-any-return]


class PushResult:
    """What a push made: the commit's URL, the files it added, the card it wrote."""

    def __init__(self, commit_url: str, files: list[str], records: int, card: str) -> None:
        self.commit_url = commit_url
        self.files = files
        self.records = records
        self.card = card

    def __repr__(self) -> str:
        return f"<PushResult {self.records} records, {len(self.files)} files: {self.commit_url}>"


def push_to_hub(
    source: ExportSource,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    license: str | None = None,
    commit_message: str | None = None,
    shard_bytes: int = SHARD_BYTES,
) -> PushResult:
    """Upload the records as Parquet shards plus a dataset card to the dataset repo `repo_id`."""
    _require_datasets()
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    with tempfile.TemporaryDirectory(prefix="synthloom-push-") as tmp:
        scratch = Path(tmp)
        spooled = source.spooled(scratch / "reshaped")
        schema = native_schema(spooled.tables())
        shards, rows = _write_shards(spooled, schema, scratch / "data", shard_bytes)
        card = _card(source, schema, rows, license=license, repo_id=repo_id, data_files="data/train-*")
        (scratch / "README.md").write_text(card, encoding="utf-8")
        files = {f"data/{p.name}": p for p in shards} | {"README.md": scratch / "README.md"}
        api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            existing = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
            stale = [f for f in existing if f.startswith("data/train-") and f not in files]
            operations: list[Any] = [CommitOperationDelete(path_in_repo=f) for f in stale]
            operations += [
                CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(p)) for name, p in files.items()
            ]
            info = api.create_commit(
                repo_id,
                operations,
                commit_message=commit_message or f"synthloom: {rows:,} records of {source.name}",
                repo_type="dataset",
                revision=revision,
            )
        except HFValidationError as exc:
            raise OutputError(f"invalid Hub repo id '{repo_id}': {exc}") from None
        except HfHubHTTPError as exc:
            raise OutputError(_hub_message(repo_id, exc)) from None
        except OSError as exc:  # connection refused, DNS, TLS
            raise OutputError(f"cannot reach the Hugging Face Hub ({api.endpoint}): {exc}") from None
    return PushResult(str(info.commit_url), sorted(files), rows, card)


def _hub_message(repo_id: str, exc: Any) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return (
            f"the Hub refused the push to '{repo_id}' (HTTP {status}): set HF_TOKEN to a token with write "
            "access (or run `hf auth login`)"
        )
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"pushing to '{repo_id}' failed: {first_line}"


def _write_shards(
    source: ExportSource, schema: pa.Schema, folder: Path, shard_bytes: int
) -> tuple[list[Path], int]:
    """Parquet shards of about `shard_bytes` (uncompressed) each, named `train-NNNNN-of-NNNNN.parquet`."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    writer: pq.ParquetWriter | None = None
    size = rows = 0
    try:
        for table in source.tables():
            native = to_native(table, schema)
            if writer is None or size >= shard_bytes:
                if writer is not None:
                    writer.close()
                written.append(folder / f"shard-{len(written):05d}.parquet")
                writer = pq.ParquetWriter(written[-1], schema, compression="zstd")
                size = 0
            writer.write_table(native)
            size += native.nbytes
            rows += native.num_rows
        if writer is None:  # no records: one empty shard, so the dataset still has its columns
            written.append(folder / "shard-00000.parquet")
            pq.write_table(schema.empty_table(), written[-1])
    finally:
        if writer is not None:
            writer.close()
    final = []
    for index, path in enumerate(written):
        target = folder / f"train-{index:05d}-of-{len(written):05d}.parquet"
        shutil.move(path, target)
        final.append(target)
    return final, rows
