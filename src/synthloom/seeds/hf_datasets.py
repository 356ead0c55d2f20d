"""Hugging Face datasets as seeds, through the `datasets` library (the `hf` extra).

    seed: {hf: owner/name, config: en, split: train, revision: main}     from the Hub
    seed: {hf: owner/name, streaming: true}                             read as a stream
    seed: {hf: data/my-set}                                             a local folder: Hub layout
                                                                        (data files, README configs)
                                                                        or a `save_to_disk` folder

The library's own environment applies: `HF_TOKEN` for private and gated datasets (read by the
library from the environment; synthloom never copies it anywhere), `HF_HOME` / `HF_DATASETS_CACHE`
for the cache, `HF_HUB_OFFLINE=1` to use only what is cached. With no `split`, `train` is used, or
the only split there is.

A downloaded dataset is memory mapped Arrow: its records are handed out without a copy. A streamed
one is read in order, a batch at a time, in bounded memory; `sampling: shuffle` then shuffles
within a buffer (`shuffle_buffer`, 10,000 by default, reshuffled every pass), the only shuffle a
stream allows.

Every failure of the library becomes one `SeedDataError` saying what to do: a dataset that does not
exist or needs a token, offline mode without a cached copy, an unknown split or config (with the
ones that exist).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import stable_hash
from synthloom.seeds.file_formats import check_data_files, default_split, is_hf_dir, read_arrow_dataset_dir
from synthloom.seeds.sources import RecordSource, StreamSource, TableSource

__all__ = ["datasets_module", "open_hf", "read_saved_dataset"]

DEFAULT_SHUFFLE_BUFFER = 10_000
_INSTALL = "Hugging Face seeds need the datasets package: pip install 'synthloom[hf]'"
_SPLITS_IN_MESSAGE = re.compile(r"one of \[(.*?)\]")


def datasets_module() -> ModuleType | None:
    """The `datasets` package, or None when it is not installed."""
    try:
        import datasets
    except ImportError:
        return None
    return datasets


@contextlib.contextmanager
def _quiet(datasets: ModuleType) -> Iterator[None]:
    """No progress bars on the user's terminal while a seed loads (synthloom shows its own)."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def read_saved_dataset(path: Path) -> pa.Table:
    """A `save_to_disk` folder given as `path:`: `train` (or the only split) of a `DatasetDict`."""
    datasets = datasets_module()
    if datasets is not None:
        _check_state_files(path)
        try:
            with _quiet(datasets):
                loaded = datasets.load_from_disk(str(path))
        except Exception:  # the library's own failure: the plain reader below reports what is wrong
            pass
        else:
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded[default_split(list(loaded), str(path))]
            return _as_table(loaded)
    return read_arrow_dataset_dir(path)


def _check_state_files(path: Path) -> None:
    for state in [path / "state.json", *path.glob("*/state.json")]:
        if state.exists():
            files = json.loads(state.read_text()).get("_data_files", [])
            check_data_files([state.parent / f["filename"] for f in files])


def open_hf(seed: SeedConfig, *, base_dir: Path, run_seed: int, salt: str, prefix: str) -> RecordSource:
    """The dataset `seed.hf` names, as a table (downloaded) or a stream."""
    assert seed.hf is not None
    datasets = datasets_module()
    if datasets is None:
        raise SeedDataError(_INSTALL, field=f"{prefix}.hf")
    local = Path(seed.hf).expanduser()
    local = local if local.is_absolute() else base_dir / local
    name = str(local) if local.exists() else seed.hf
    if not local.exists():
        _check_hub_reachable(datasets, seed, prefix)
    try:
        with _quiet(datasets):
            if local.exists() and is_hf_dir(local):
                loaded = datasets.load_from_disk(str(local))
                if seed.streaming:
                    loaded = _pick_split(datasets, loaded, seed, name, prefix).to_iterable_dataset()
            else:
                loaded = datasets.load_dataset(
                    name, seed.config, split=seed.split, revision=seed.revision, streaming=seed.streaming
                )
            dataset = _pick_split(datasets, loaded, seed, name, prefix)
            if seed.columns is not None:
                _check_columns(dataset, seed.columns, name)
                dataset = dataset.select_columns(seed.columns)
    except SeedDataError:
        raise
    except Exception as exc:  # the library's errors are translated here, at one boundary
        raise _translate(exc, seed, name, prefix) from None
    if isinstance(dataset, datasets.IterableDataset):
        return _stream(dataset, seed, run_seed=run_seed, salt=salt, name=name, prefix=prefix)
    return TableSource(_as_table(dataset))


def _check_hub_reachable(datasets: ModuleType, seed: SeedConfig, prefix: str) -> None:
    """Fail at once when the Hub's host does not even resolve: the library would otherwise retry
    for half a minute before saying the same thing. Offline mode needs no network: nothing to check."""
    if datasets.config.HF_HUB_OFFLINE:
        return
    from huggingface_hub import constants

    host = urlsplit(constants.ENDPOINT).hostname
    if not host:
        return
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        raise SeedDataError(
            f"cannot load Hugging Face dataset '{seed.hf}': the Hub ({host}) cannot be reached ({exc}). "
            "Check the network, or set HF_HUB_OFFLINE=1 to use datasets already in the cache (HF_HOME)",
            field=f"{prefix}.hf",
        ) from None


def _pick_split(datasets: ModuleType, loaded: Any, seed: SeedConfig, name: str, prefix: str) -> Any:
    if not isinstance(loaded, datasets.DatasetDict | datasets.IterableDatasetDict):
        return loaded
    splits = list(loaded)
    if seed.split is None:
        return loaded[default_split(splits, name)]
    if seed.split not in loaded:
        raise SeedDataError(
            f"no split '{seed.split}' in the dataset; splits: {', '.join(splits)}",
            source=name,
            field=f"{prefix}.split",
        )
    return loaded[seed.split]


def _check_columns(dataset: Any, columns: list[str], name: str) -> None:
    names = list(dataset.column_names or [])
    missing = [c for c in columns if c not in names]
    if missing and names:
        raise SeedDataError(
            f"'columns' names {', '.join(repr(c) for c in missing)}, not in the data; available: "
            f"{', '.join(names)}",
            source=name,
        )


def _as_table(dataset: Any) -> pa.Table:
    # The memory-mapped Arrow data itself: a slice, not a copy.
    table: pa.Table = dataset.with_format("arrow")[:]
    return table


def _stream(
    dataset: Any, seed: SeedConfig, *, run_seed: int, salt: str, name: str, prefix: str
) -> StreamSource:
    buffer = seed.shuffle_buffer or DEFAULT_SHUFFLE_BUFFER

    def open_batches(batch_rows: int, epoch: int) -> Iterator[pa.Table]:
        stream = dataset
        if seed.sampling == "shuffle":
            # A new seed per pass, not `set_epoch`: the library's Arrow iteration ignores the epoch.
            entropy = [run_seed, stable_hash(salt), epoch]
            stream = dataset.shuffle(
                seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]), buffer_size=buffer
            )
        try:
            yield from stream.with_format("arrow").iter(batch_size=batch_rows)
        except Exception as exc:  # a stream fails as it is read
            raise _translate(exc, seed, name, prefix) from None

    features = dataset.features
    if features is not None:
        schema = features.arrow_schema
    else:  # the library does not know the fields before it reads: look at the first batch
        first = next(open_batches(1, 0), None)
        if first is None:
            raise SeedDataError("the seed dataset has no records", source=name)
        schema = first.schema
    return StreamSource(schema, open_batches)


def _translate(exc: BaseException, seed: SeedConfig, name: str, prefix: str) -> SeedDataError:
    """The `datasets` library's errors, as one message the user can act on."""
    text = str(exc) or type(exc).__name__
    kind = type(exc).__name__
    if "OfflineModeIsEnabled" in text or "offline" in text.lower():
        return SeedDataError(
            f"cannot load Hugging Face dataset '{seed.hf}': it is not in the local cache and offline mode is "
            "on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE). Load it once with network access, point HF_HOME "
            "at a cache that has it, or give a local folder",
            source=name,
            field=f"{prefix}.hf",
        )
    if "Couldn't reach" in text:
        return SeedDataError(
            f"cannot load Hugging Face dataset '{seed.hf}': the Hub cannot be reached ({text}). Check the "
            "network, or set HF_HUB_OFFLINE=1 to use datasets already in the cache (HF_HOME)",
            source=name,
            field=f"{prefix}.hf",
        )
    if kind in ("DatasetNotFoundError", "RepositoryNotFoundError", "GatedRepoError") or (
        "doesn't exist on the Hub" in text
    ):
        return SeedDataError(
            f"Hugging Face dataset '{seed.hf}' does not exist, or it is private or gated: check the name, "
            "and for a private or gated dataset set HF_TOKEN to a token that can read it "
            f"(the Hub said: {text.splitlines()[0]})",
            source=name,
            field=f"{prefix}.hf",
        )
    if "Unknown split" in text:
        found = _SPLITS_IN_MESSAGE.search(text)
        splits = found.group(1).replace("'", "") if found else "unknown"
        return SeedDataError(
            f"no split '{seed.split}' in the dataset; splits: {splits}", source=name, field=f"{prefix}.split"
        )
    if "BuilderConfig" in text and "not found" in text:
        return SeedDataError(
            f"no config '{seed.config}' in the dataset: {text}", source=name, field=f"{prefix}.config"
        )
    if kind == "RevisionNotFoundError" or ("Revision" in text and "not" in text):
        return SeedDataError(
            f"no revision '{seed.revision}' of the dataset: {text}", source=name, field=f"{prefix}.revision"
        )
    return SeedDataError(
        f"cannot load Hugging Face dataset: {kind}: {text}", source=name, field=f"{prefix}.hf"
    )
