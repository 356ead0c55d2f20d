"""Seed data: loaded once per run into a pyarrow Table, then handed out a row group at a time.

Formats: JSON Lines, JSON (an array of records), CSV, Parquet (each optionally gzip/bz2/zstd/lz4
compressed, except Parquet), glob patterns over them (files concatenated in sorted order), and a
Hugging Face dataset saved with `save_to_disk` (its Arrow stream files are read directly, memory
mapped, so the `datasets` package is not needed). For a `DatasetDict` the `train` split is used, or
the only split when there is one.

Sampling maps generated record `i` to a seed record:

- `ordered`: record `i % n`, cycling through the data.
- `shuffle`: record `perm_e[i % n]` where `perm_e` is a permutation of epoch `e = i // n`, seeded by
  (run seed, epoch): every record appears once per epoch, and record `i` always gets the same seed row.
- `with_replacement`: independent draws from `group.rng("__seed__")`.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from synthloom.config.dataset import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice, stable_hash

__all__ = ["SeedReader"]

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "hf",
}
_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
#: Large enough that one long JSON line (a whole document) fits in a block.
_JSON_BLOCK_SIZE = 32 << 20
_EPOCHS_CACHED = 2


class SeedReader:
    """The seed dataset of a run: `len(reader)` records with `reader.column_names`."""

    def __init__(self, seed: SeedConfig, *, base_dir: Path, run_seed: int) -> None:
        self.seed = seed
        self.run_seed = run_seed
        self.table = self._load(seed, Path(base_dir))
        self._permutations: dict[int, np.ndarray] = {}

    @property
    def column_names(self) -> list[str]:
        return list(self.table.column_names)

    def __len__(self) -> int:
        return self.table.num_rows

    def rows_for(self, group: RowGroupSlice) -> dict[str, list[Any]]:
        """The seed values of `group`'s records, column by column (`group.size` values each)."""
        n = self.table.num_rows
        sampling = self.seed.sampling
        if sampling == "ordered":
            first = group.start % n
            if first + group.size <= n:  # the common case: one contiguous, zero-copy slice
                return self.table.slice(first, group.size).to_pydict()
            indices = (group.start + np.arange(group.size, dtype=np.int64)) % n
        elif sampling == "shuffle":
            indices = self._shuffled(group.start, group.size)
        else:
            indices = group.rng("__seed__").integers(0, n, size=group.size)
        return self.table.take(pa.array(indices)).to_pydict()

    def _shuffled(self, start: int, size: int) -> np.ndarray:
        n = self.table.num_rows
        records = np.arange(start, start + size, dtype=np.int64)
        epochs = records // n
        out = np.empty(size, dtype=np.int64)
        for epoch in np.unique(epochs).tolist():
            mask = epochs == epoch
            out[mask] = self._permutation(epoch)[records[mask] % n]
        return out

    def _permutation(self, epoch: int) -> np.ndarray:
        perm = self._permutations.get(epoch)
        if perm is None:
            rng = np.random.default_rng(
                np.random.SeedSequence([self.run_seed, stable_hash("__seed__"), epoch])
            )
            perm = rng.permutation(self.table.num_rows)
            if len(self._permutations) >= _EPOCHS_CACHED:  # row groups move forward: drop the oldest
                del self._permutations[min(self._permutations)]
            self._permutations[epoch] = perm
        return perm

    # -- loading ----------------------------------------------------------------------------------

    def _load(self, seed: SeedConfig, base_dir: Path) -> pa.Table:
        path = Path(seed.path).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if any(ch in seed.path for ch in "*?["):
            files = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            files = [f for f in files if f.is_file() or _is_hf_dir(f)]
            if not files:
                raise SeedDataError("the pattern matches no files", source=str(path))
        elif not path.exists():
            raise SeedDataError("no such file or directory", source=str(path))
        else:
            files = [path]
        tables = [self._read_one(f, seed.format) for f in files]
        if len(tables) == 1:
            table = tables[0]
        else:
            try:
                table = pa.concat_tables(tables, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise SeedDataError(
                    f"the matched files do not share a schema: {exc}", source=str(path)
                ) from None
        source = str(files[0]) if len(files) == 1 else str(path)
        if seed.columns is not None:
            missing = [c for c in seed.columns if c not in table.column_names]
            if missing:
                raise SeedDataError(
                    f"'columns' names {', '.join(repr(c) for c in missing)}, not in the data; "
                    f"available: {', '.join(table.column_names)}",
                    source=source,
                )
            table = table.select(seed.columns)
        if table.num_rows == 0:
            raise SeedDataError("the seed dataset has no records", source=source)
        if table.num_columns == 0:
            raise SeedDataError("the seed dataset has no columns", source=source)
        return table

    def _read_one(self, path: Path, forced: str | None) -> pa.Table:
        fmt = forced or _format_of(path)
        try:
            if fmt == "hf":
                return _read_hf(path)
            if path.is_dir():
                raise SeedDataError(
                    "is a directory, but not a Hugging Face dataset saved with save_to_disk "
                    "(no state.json or dataset_dict.json)",
                    source=str(path),
                )
            if fmt == "parquet":
                return pq.read_table(path, columns=self.seed.columns, memory_map=True)
            if fmt == "csv":
                return _without_inferred_timestamps(lambda opts: _read_csv(path, opts))
            if fmt == "json":
                return _read_json_array(path)
            return _read_jsonl(path)
        except SeedDataError as exc:
            raise exc.with_source(str(path)) from None
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SeedDataError(f"cannot read {fmt} data: {exc}", source=str(path)) from None


def _format_of(path: Path) -> str:
    if _is_hf_dir(path):
        return "hf"
    if path.is_dir():
        raise SeedDataError(
            "is a directory, but not a Hugging Face dataset saved with save_to_disk "
            "(no state.json or dataset_dict.json)",
            source=str(path),
        )
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes.pop()
    fmt = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise SeedDataError(
            f"unsupported seed file type '{''.join(path.suffixes) or path.name}': expected .jsonl, .json, "
            ".csv, .parquet (optionally compressed) or a Hugging Face dataset directory; "
            "set seed 'format' to force one",
            source=str(path),
        )
    return fmt


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists())


def _open(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="detect")


def _read_csv(path: Path, column_types: dict[str, pa.DataType]) -> pa.Table:
    with _open(path) as stream:
        return pa_csv.read_csv(stream, convert_options=pa_csv.ConvertOptions(column_types=column_types))


def _read_jsonl(path: Path) -> pa.Table:
    def read(schema: dict[str, pa.DataType]) -> pa.Table:
        parse = pa_json.ParseOptions(explicit_schema=pa.schema(schema) if schema else None)
        with _open(path) as stream:
            return pa_json.read_json(
                stream, read_options=pa_json.ReadOptions(block_size=_JSON_BLOCK_SIZE), parse_options=parse
            )

    try:
        return _without_inferred_timestamps(read)
    except pa.ArrowInvalid as exc:
        # Arrow counts records, not lines; find the bad line for a message the user can act on.
        _raise_bad_jsonl_line(path)
        raise SeedDataError(f"cannot read JSON Lines: {exc}", source=str(path)) from None


def _raise_bad_jsonl_line(path: Path) -> None:
    with _open(path) as stream:
        data = stream.read()
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SeedDataError(f"line {number} is not valid JSON: {exc}", source=str(path)) from None
        if not isinstance(value, dict):
            raise SeedDataError(
                f"line {number} is a JSON {type(value).__name__}, not an object (record)", source=str(path)
            )


def _read_json_array(path: Path) -> pa.Table:
    with _open(path) as stream:
        data = stream.read()
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if data.lstrip()[:1] == b"{":  # several objects, one per line: JSON Lines named .json
            return _read_jsonl(path)
        raise SeedDataError(f"not valid JSON: {exc}", source=str(path)) from None
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SeedDataError("expected a JSON array of objects (records)", source=str(path))
    if not records:
        return pa.table({})
    # `pa.array` of dicts takes the union of every record's keys (from_pylist only the first's).
    return pa.Table.from_struct_array(pa.array(records))


def _without_inferred_timestamps(read: Callable[[dict[str, pa.DataType]], pa.Table]) -> pa.Table:
    """Read with type inference, but keep text that merely looks like a date as text: Arrow's CSV
    and JSON readers turn "2024-01-01" into a timestamp, which would change how templates render it.
    `read(types)` reads with the given column types forced (all columns, to keep their order)."""
    table = read({})
    types = {field.name: _timestamps_as_strings(field.type) for field in table.schema}
    if all(types[f.name] == f.type for f in table.schema):
        return table
    return read(types)


def _timestamps_as_strings(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _timestamps_as_strings(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_timestamps_as_strings(t.value_type))
    return t


def _read_hf(path: Path) -> pa.Table:
    if not path.is_dir():
        raise SeedDataError(
            "a Hugging Face dataset must be a directory written by save_to_disk", source=str(path)
        )
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits") or []
        if "train" in splits:
            split = "train"
        elif len(splits) == 1:
            split = splits[0]
        elif not splits:
            raise SeedDataError("dataset_dict.json lists no splits", source=str(path))
        else:
            raise SeedDataError(
                f"a DatasetDict with splits {', '.join(splits)} and no 'train': point 'path' at one split's "
                "directory",
                source=str(path),
            )
        path = path / split
    state_file = path / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        files = [path / f["filename"] for f in state.get("_data_files", [])]
    else:
        files = sorted(path.glob("*.arrow"))
    if not files:
        raise SeedDataError("the dataset directory holds no .arrow data files", source=str(path))
    tables = []
    for file in files:
        if not file.exists():
            raise SeedDataError("data file named in state.json is missing", source=str(file))
        tables.append(_read_arrow(file))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _read_arrow(file: Path) -> pa.Table:
    # `datasets` writes the IPC stream format; accept the file format too. Memory mapped: no copy.
    source = pa.memory_map(str(file))
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source).read_all()
