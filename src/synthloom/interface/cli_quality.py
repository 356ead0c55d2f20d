"""`synthloom report RUN` and `synthloom view RUN`: a run, read for people."""

from __future__ import annotations

import asyncio
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
@user_errors
def report_command(run: Path, output: Path | None, max_rows: int, samples: int) -> None:
    """Write one self-contained HTML report of RUN: distributions, scores, tags, tokens and cost,
    latency, failed and filtered rows, dedup, diversity and sample records."""
    from synthloom.report import write_report

    _check_run(run)
    path = write_report(run, output, max_rows=max_rows, samples=samples)
    click.echo(f"report written to {path}")


@click.command("view")
@run_argument
@click.option("--port", default=8765, show_default=True, type=int, help="Port on 127.0.0.1 (0: any free).")
@user_errors
def view_command(run: Path, port: int) -> None:
    """Browse RUN in a local web viewer (127.0.0.1 only): records filtered by values and tags, failed
    and filtered rows, and each cell's lineage (prompt, reply, reasoning, attempts, tokens, latency)."""
    from synthloom.report import ViewerServer

    _check_run(run)

    async def serve() -> None:
        try:
            server = ViewerServer(run, port=port)
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
