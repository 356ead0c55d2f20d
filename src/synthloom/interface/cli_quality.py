"""`synthloom report RUN` and `synthloom view RUN`: a run, read for people."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from synthloom.errors import RunStateError
from synthloom.interface.cli import user_errors
from synthloom.store.run_reader import RunData

__all__ = ["report_command", "view_command"]

run_argument = click.argument("run", type=click.Path(file_okay=False, path_type=Path))


def _check_run(run: Path) -> None:
    if not RunData.is_run(run):
        hint = ""
        if run.is_dir():
            inner = sorted(p.parent.name for p in run.glob("*/metadata.json"))
            if inner:
                hint = f" (runs inside it: {', '.join(inner[:5])})"
        raise RunStateError(f"{run} is not a synthloom run directory: it has no metadata.json{hint}")


@click.command("report")
@run_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML file (default: RUN/report.html).",
)
@click.option("--max-rows", default=20_000, show_default=True, type=int, help="Rows the plots read.")
@click.option("--samples", default=10, show_default=True, type=int, help="Sample records shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's path and the run's counts as JSON.")
@user_errors
def report_command(run: Path, output: Path | None, max_rows: int, samples: int, as_json: bool) -> None:
    """Write one self-contained HTML report of RUN: distributions, scores, tags, tokens and cost,
    latency, failed and filtered rows, dedup, diversity and sample records."""
    from synthloom.report import write_report
    from synthloom.store.run_reader import RunData

    _check_run(run)
    path = write_report(run, output, max_rows=max_rows, samples=samples)
    if not as_json:
        click.echo(f"report written to {path}")
        return
    from synthloom.report.html_report import report_reviews

    meta = RunData(run).metadata
    summary = {
        "report": str(path),
        "run": str(run),
        "status": meta.get("status"),
        "records": meta.get("committed_records"),
        "target_records": meta.get("target_records"),
        "failed_records": meta.get("failed_records", 0),
        "filtered_records": meta.get("filtered_records", 0),
        "reviews": report_reviews(run, max_rows=max_rows),
    }
    click.echo(json.dumps(summary, indent=2, default=str))


@click.command("view")
@run_argument
@click.option("--port", default=8765, show_default=True, type=int, help="Port on 127.0.0.1 (0: any free).")
@click.option(
    "--review", is_flag=True, help="Mark records good or bad with a note (saved to RUN/reviews.jsonl)."
)
@click.option("--reviewer", default=None, help="The name written with each review (default: your login).")
@user_errors
def view_command(run: Path, port: int, review: bool, reviewer: str | None) -> None:
    """Browse RUN in a local web viewer (127.0.0.1 only): records filtered by values and tags, failed
    and filtered rows, and each cell's lineage (prompt, reply, reasoning, attempts, tokens, latency).
    With --review, mark records good or bad, add notes, and filter by review."""
    import getpass

    from synthloom.report import ViewerServer

    _check_run(run)
    who = reviewer or getpass.getuser()

    async def serve() -> None:
        try:
            server = ViewerServer(run, port=port, review=review, reviewer=who)
            await server.start()
        except OSError as exc:
            raise RunStateError(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} (try --port 0)"
            ) from None
        click.echo(f"viewing {run} at {server.url} (Ctrl+C to stop)")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        click.echo("stopped")
