"""Outputs: from generated rows to final records, and from a run to the files trainers read.

    config.output ──► OutputShaper.apply(rows) ──► records (+ filtered, failed)      at commit time
    run directory ──► ExportSource ──► export_records(...) ──► jsonl / csv / parquet / hf / training formats
                                   └─► push_to_hub(...) ──► Parquet shards + dataset card on the Hub

| module | holds |
|---|---|
| `value_sources.py` | one value from a row: `from` a column path, a constant, a template, nested fields |
| `conversations.py` | conversations read from any common shape, written as OpenAI messages or ShareGPT |
| `training_formats.py` | `messages`, `sharegpt`, `oasst`, `dpo`, `alpaca`, with their conventional columns |
| `record_schema.py` | final-record validation (JSON Schema or a Pydantic model), static checks |
| `shaper.py` | `OutputShaper`: the `output:` block applied to a row group |
| `output_check.py` | `check_output`: the block checked before any request is sent |
| `export_source.py` | a run's committed parts, read one at a time, optionally reshaped |
| `arrow_types.py` | one schema for all parts (stored and native encodings) |
| `file_exporters.py`, `hf_exporter.py` | the writers; `dataset_card.py` the Hub card |
| `exporters.py` | format names to writers; export-time reshaping |

Layer: imports `config`, `plan` and `store`; `engine` and `interface` import it.
"""

from synthloom.outputs.dataset_card import CardFacts, render_card
from synthloom.outputs.export_source import ExportSource
from synthloom.outputs.exporters import (
    EXPORT_FORMATS,
    TRAINING_FORMATS,
    ExportReport,
    export_formats,
    export_records,
    prepare_source,
    register_exporter,
)
from synthloom.outputs.hf_exporter import PushResult, hf_dataset, push_to_hub, save_hf_dataset
from synthloom.outputs.output_check import check_output
from synthloom.outputs.record_schema import RecordSchema
from synthloom.outputs.shaper import OutputShaper, RowProblem, ShapedRows

__all__ = [
    "EXPORT_FORMATS",
    "TRAINING_FORMATS",
    "CardFacts",
    "ExportReport",
    "ExportSource",
    "OutputShaper",
    "PushResult",
    "RecordSchema",
    "RowProblem",
    "ShapedRows",
    "check_output",
    "export_formats",
    "export_records",
    "hf_dataset",
    "prepare_source",
    "push_to_hub",
    "register_exporter",
    "render_card",
    "save_hf_dataset",
]
