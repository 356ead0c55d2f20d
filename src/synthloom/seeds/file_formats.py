"""Seed files into Arrow tables: JSON Lines, JSON (an array of records), CSV and Parquet, each
optionally gzip/bz2/zstd/lz4 compressed (except Parquet), and a Hugging Face dataset saved with
`save_to_disk` (read by `datasets.load_from_disk` when the `datasets` package is installed, otherwise
its Arrow files are read directly, memory mapped, with no dependency).

Text that merely looks like a date stays text: Arrow's CSV and JSON readers would turn "2024-01-01"
into a timestamp, which changes how a template renders it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from synthloom.errors import SeedDataError

__all__ = [
    "NOT_A_DATASET",
    "check_data_files",
    "default_split",
    "format_of",
    "is_hf_dir",
    "read_arrow_dataset_dir",
    "read_csv",
    "read_json_array",
    "read_jsonl",
]

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
NOT_A_DATASET = (
    "is a directory, but not a Hugging Face dataset saved with save_to_disk (no state.json or "
    "dataset_dict.json); for a folder of documents use 'documents:', for a folder in Hub layout 'hf:'"
)


def format_of(path: Path) -> str:
    """The format a seed file's name says it has."""
    if is_hf_dir(path):
        return "hf"
    if path.is_dir():
        raise SeedDataError(NOT_A_DATASET, source=str(path))
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


def is_hf_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists())


def _open(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="detect")


def read_csv(path: Path) -> pa.Table:
    def read(column_types: dict[str, pa.DataType]) -> pa.Table:
        with _open(path) as stream:
            options = pa_csv.ConvertOptions(column_types=column_types)
            return pa_csv.read_csv(stream, convert_options=options)

    return _without_inferred_timestamps(read)


def read_jsonl(path: Path) -> pa.Table:
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


def read_json_array(path: Path) -> pa.Table:
    with _open(path) as stream:
        data = stream.read()
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if data.lstrip()[:1] == b"{":  # several objects, one per line: JSON Lines named .json
            return read_jsonl(path)
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
    """Read with type inference, but keep date-like text as text. `read(types)` reads with the given
    column types forced (all columns, to keep their order)."""
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


def default_split(splits: list[str], source: str) -> str:
    """The split a seed uses when none is named: `train`, or the only one there is."""
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return splits[0]
    if not splits:
        raise SeedDataError("the dataset has no splits", source=source)
    raise SeedDataError(
        f"a DatasetDict with splits {', '.join(splits)} and no 'train': name one with "
        "`hf: <folder>, split: <name>`, or point 'path' at one split's directory",
        source=source,
    )


def read_arrow_dataset_dir(path: Path) -> pa.Table:
    """A `save_to_disk` folder read without the `datasets` package: its Arrow files, memory mapped."""
    if not path.is_dir():
        raise SeedDataError(
            "a Hugging Face dataset must be a directory written by save_to_disk", source=str(path)
        )
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits") or []
        path = path / default_split(list(splits), str(path))
    state_file = path / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        files = [path / f["filename"] for f in state.get("_data_files", [])]
    else:
        files = sorted(path.glob("*.arrow"))
    if not files:
        raise SeedDataError("the dataset directory holds no .arrow data files", source=str(path))
    check_data_files(files)
    tables = [_read_arrow(file) for file in files]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def check_data_files(files: list[Path]) -> None:
    for file in files:
        if not file.exists():
            raise SeedDataError("data file named in state.json is missing", source=str(file))


def _read_arrow(file: Path) -> pa.Table:
    # `datasets` writes the IPC stream format; accept the file format too. Memory mapped: no copy.
    source = pa.memory_map(str(file))
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source).read_all()
