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


def read_jsonl(path: Path, *, skip_bad_lines: bool = False) -> tuple[pa.Table, list[tuple[int, str]]]:
    """A JSON Lines file as a table, and the lines left out: (line number, why). A line that is not
    UTF-8, not JSON or not an object is a `SeedDataError` naming it, or, with `skip_bad_lines`, left
    out (the seed report lists it)."""

    def read(schema: dict[str, pa.DataType]) -> pa.Table:
        parse = pa_json.ParseOptions(explicit_schema=pa.schema(schema) if schema else None)
        with _open(path) as stream:
            return pa_json.read_json(
                stream, read_options=pa_json.ReadOptions(block_size=_JSON_BLOCK_SIZE), parse_options=parse
            )

    if skip_bad_lines:
        return _read_good_lines(path)
    try:
        table = _without_inferred_timestamps(read)
        # Arrow takes invalid UTF-8 into string columns unchecked; it fails later, far from the file.
        table.validate(full=True)
        return table, []
    except pa.ArrowInvalid as exc:
        # Arrow counts records, not lines; find the bad line for a message the user can act on.
        bad = _bad_lines(path, first_only=True)
        if bad:
            number, reason = bad[0]
            raise SeedDataError(
                f"line {number} {reason} (set `skip_bad_lines: true` under seed to leave such lines out)",
                source=str(path),
            ) from None
        raise SeedDataError(f"cannot read JSON Lines: {exc}", source=str(path)) from None


def _line_problem(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not valid UTF-8 (byte {exc.start + 1})"
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"is a JSON {type(value).__name__}, not an object (record)"
    return None


def _bad_lines(path: Path, *, first_only: bool = False) -> list[tuple[int, str]]:
    with _open(path) as stream:
        data = stream.read()
    found = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip() and (problem := _line_problem(line)) is not None:
            found.append((number, problem))
            if first_only:
                break
    return found


def _read_good_lines(path: Path) -> tuple[pa.Table, list[tuple[int, str]]]:
    with _open(path) as stream:
        data = stream.read()
    good: list[bytes] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        problem = _line_problem(line)
        if problem is None:
            good.append(line)
        else:
            bad.append((number, problem))
    if not good:
        raise SeedDataError("no line is a valid JSON record", source=str(path))
    body = b"\n".join(good) + b"\n"

    def read(schema: dict[str, pa.DataType]) -> pa.Table:
        parse = pa_json.ParseOptions(explicit_schema=pa.schema(schema) if schema else None)
        return pa_json.read_json(
            pa.BufferReader(body),
            read_options=pa_json.ReadOptions(block_size=_JSON_BLOCK_SIZE),
            parse_options=parse,
        )

    try:
        return _without_inferred_timestamps(read), bad
    except pa.ArrowInvalid as exc:
        raise SeedDataError(f"cannot read JSON Lines: {exc}", source=str(path)) from None


def read_json_array(path: Path) -> pa.Table:
    with _open(path) as stream:
        data = stream.read()
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if data.lstrip()[:1] == b"{":  # several objects, one per line: JSON Lines named .json
            return read_jsonl(path)[0]
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
