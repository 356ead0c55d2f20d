"""`synthloom export`: a run's records as a file, a Hugging Face folder, a training format, or a Hub push."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from synthloom.outputs.exporters import EXPORT_FORMATS, TRAINING_FORMATS
from synthloom.terminal_text import printable

__all__ = ["export_command"]

#: Exit codes, as in `synthloom.interface.cli`: 2 for what the user must fix, 1 for a failed export.
_EXIT_USER_ERROR = 2
_EXIT_FAILED = 1


def _parse_map(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`--map user=question --map assistant=answer.text` -> sources; a part given twice is a list
    (OASST sibling replies)."""
    sources: dict[str, Any] = {}
    for pair in pairs:
        part, sep, column = pair.partition("=")
        if not sep or not part.strip() or not column.strip():
            raise click.BadParameter(f"expected PART=COLUMN, got {pair!r}", param_hint="--map")
        part, column = part.strip(), column.strip()
        if part in sources:
            previous = sources[part]
            sources[part] = [*previous, column] if isinstance(previous, list) else [previous, column]
        else:
            sources[part] = column
    return sources


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    help="Output format (default: from the --output suffix): "
    f"{', '.join(EXPORT_FORMATS)}, or one an installed plugin adds. Training formats write JSON Lines.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (or folder, for hf) to write.")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="PART=COLUMN",
    help="Training formats: read PART (user, assistant, system, messages, prompt, chosen, ...) from "
    "COLUMN, a dotted path into a column working too (answer.text). Repeatable.",
)
@click.option(
    "--records-as",
    type=click.Choice(TRAINING_FORMATS),
    help="Reshape the records into this training format before writing --format (e.g. -f hf or parquet).",
)
@click.option("--license", help="License written in the dataset card (hf, --push-to-hub).")
@click.option(
    "--push-to-hub",
    "repo_id",
    metavar="OWNER/NAME",
    help="Upload to this Hugging Face dataset repo (Parquet shards and a dataset card); token from HF_TOKEN.",
)
@click.option("--private", is_flag=True, default=None, help="Create the Hub repo as private.")
@click.option(
    "--reviewed",
    type=click.Choice(["good", "bad", "unreviewed"]),
    help="Only the records whose latest review (synthloom view --review) is this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export_command(
    run: Path,
    fmt: str | None,
    output: Path | None,
    mapping: tuple[str, ...],
    records_as: str | None,
    license: str | None,
    repo_id: str | None,
    private: bool | None,
    reviewed: str | None,
    as_json: bool,
) -> None:
    """Export the records of the run directory RUN (`<output>/<name>/`).

    \b
      synthloom export output/qa -o qa.jsonl
      synthloom export output/qa -f messages --map user=question --map assistant=answer.text -o sft.jsonl
      synthloom export output/qa -f hf -o qa-hf/            # datasets.load_from_disk("qa-hf")
      synthloom export output/qa -f hf --records-as alpaca --map instruction=question -o alpaca-hf/
      synthloom export output/qa -f messages --push-to-hub me/qa-sft --license apache-2.0
    """
    from synthloom.errors import ConfigError, RunStateError, SynthloomError
    from synthloom.outputs import ExportSource, export_records, prepare_source, push_to_hub
    from synthloom.outputs.exporters import export_formats

    if output is None and repo_id is None:
        raise click.UsageError("give --output PATH (or --push-to-hub OWNER/NAME)")
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in export_formats():
            raise click.UsageError(f"unknown format '{fmt}': use one of {', '.join(export_formats())}")
    if fmt is None and output is not None:
        fmt = output.suffix.lstrip(".").lower() or None
        if fmt not in EXPORT_FORMATS:
            raise click.UsageError(f"cannot tell the format from {output.name!r}: give --format")
    if repo_id is not None and fmt not in (None, "hf", *TRAINING_FORMATS):
        raise click.UsageError(
            f"--push-to-hub uploads Parquet: use --format hf or a training format, not {fmt}"
        )
    sources = _parse_map(mapping)
    reports: list[dict[str, Any]] = []

    def read_run() -> ExportSource:
        if reviewed is None:
            return ExportSource.from_run(run)
        from synthloom.report.reviewed_records import reviewed_source

        return reviewed_source(run, reviewed)

    try:
        source = read_run()
        if output is not None:
            assert fmt is not None
            written = export_records(
                source, output, fmt, records_as=records_as, sources=sources, license=license
            )
            reports.append(written.to_json())
        if repo_id is not None:
            shaped = prepare_source(read_run(), records_as or fmt, sources=sources)
            pushed = push_to_hub(shaped, repo_id, private=private or None, license=license)
            reports.append(
                {
                    "format": "hub",
                    "repo_id": repo_id,
                    "url": pushed.commit_url,
                    "records": pushed.records,
                    "filtered": shaped.tally.filtered,
                    "failed": shaped.tally.failed,
                    "examples": shaped.tally.examples,
                }
            )
    except (ConfigError, RunStateError) as exc:
        click.echo(f"Error: {printable(exc)}", err=True)
        sys.exit(_EXIT_USER_ERROR)
    except SynthloomError as exc:
        click.echo(f"Error: {printable(exc)}", err=True)
        sys.exit(_EXIT_FAILED)
    except Exception as exc:  # a bug: say so plainly, trace only when asked
        if os.environ.get("SYNTHLOOM_DEBUG"):
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {printable(exc)}); set SYNTHLOOM_DEBUG=1 for a "
            "traceback",
            err=True,
        )
        sys.exit(_EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
        return
    for report in reports:
        where = report.get("path") or report.get("url")
        line = f"{report['records']:,} records written to {where}"
        removed = report["filtered"] + report["failed"]
        if removed:
            line += f" ({removed:,} {'row' if removed == 1 else 'rows'} skipped, for example:)"
        click.echo(line)
        for example in report["examples"]:
            click.echo(f"  {printable(example)}", err=True)
