"""A previous synthloom run as a seed (stage chaining):

    seed:
      run: out/stage1                  the run directory (<output>/<name>)
      where: "{{ grade.accuracy.score >= 2 }}"

Only committed row groups are read (`data/part-NNNNN.parquet`, in row-group order): a run still in
progress, or one that stopped early, seeds the next stage with what it has finished, never with a
half-written file. Dicts and lists the run stored as JSON text come back as values, so a condition
or a template can reach into them (`{{ answer.confidence }}`).

Row groups of one run may disagree on a field's type (a column that was null in one group, or held
mixed values and was stored as JSON text in another); the parts are brought to one schema as they
are read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.seeds.parquet_source import open_parquet
from synthloom.seeds.sources import IndexedSource
from synthloom.store.run_directory import RunDirectory
from synthloom.store.table_codec import JSON_FIELD_KEY, is_json_field

__all__ = ["open_run"]


def open_run(seed: SeedConfig, *, base_dir: Path, prefix: str) -> IndexedSource:
    """The committed records of the run directory `seed.run`."""
    assert seed.run is not None
    root = Path(seed.run).expanduser()
    root = root if root.is_absolute() else base_dir / root
    field = f"{prefix}.run"
    if not root.is_dir():
        raise SeedDataError("no such run directory", source=str(root), field=field)
    run = RunDirectory(root)
    if not run.data_dir.is_dir():
        raise SeedDataError(
            "not a synthloom run directory (no data/ folder); name the folder that holds metadata.json",
            source=str(root),
            field=field,
        )
    committed = run.committed()
    if not committed:
        raise SeedDataError("the run has no committed row groups yet", source=str(root), field=field)
    files = [committed[index].path for index in sorted(committed)]
    schema = _run_schema(files, seed.columns, source=str(root))
    return open_parquet(files, columns=seed.columns, schema=schema)


def _run_schema(files: list[Path], columns: list[str] | None, *, source: str) -> pa.Schema:
    """One schema for every part: a field stored as JSON text in any part is JSON text in all."""
    found: dict[str, list[pa.Field]] = {}
    for path in files:
        for f in pq.read_schema(path):
            found.setdefault(f.name, []).append(f)
    if columns is not None:
        missing = [c for c in columns if c not in found]
        if missing:
            raise SeedDataError(
                f"'columns' names {', '.join(repr(c) for c in missing)}, not in the run's records; "
                f"available: {', '.join(found)}",
                source=source,
            )
        found = {c: found[c] for c in columns}
    fields = []
    for name, versions in found.items():
        json_text = pa.field(name, pa.string(), metadata={JSON_FIELD_KEY: b"1"})
        if any(is_json_field(v) for v in versions):
            fields.append(json_text)
            continue
        try:
            merged = pa.unify_schemas([pa.schema([v]) for v in versions], promote_options="permissive")
            fields.append(merged.field(name))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fields.append(json_text)  # a number in one row group, text in another: keep both as values
    return pa.schema(fields)
