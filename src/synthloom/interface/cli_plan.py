"""`synthloom plan CONFIG`: what a run would request and cost, before any request is sent."""

from __future__ import annotations

from pathlib import Path

import click

from synthloom.interface.cli import _emit_json, config_argument, user_errors

__all__ = ["plan_command"]


@click.command("plan")
@config_argument
@click.option("-n", "--num-records", default=1000, show_default=True, type=int, help="Records of the run.")
@click.option(
    "--against",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="An earlier run of this config: only what changed since is requested again; its measured "
    "tokens per request price the rest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the projection as JSON.")
@user_errors
def plan_command(config: Path, num_records: int, against: Path | None, as_json: bool) -> None:
    """Which columns of CONFIG will send requests, how many per model, and the projected tokens and
    cost (from each model's pricing and the earlier run's measured tokens), before any request."""
    from synthloom.interface.api import projection

    result = projection(config, num_records, against=against)
    if as_json:
        _emit_json(result.to_dict())
    else:
        where = f" against {result.against}" if result.against else ""
        click.echo(f"{result.records} records{where}:")
        for col in result.columns:
            tokens = (
                f", {col.input_tokens:,.0f} tokens in, {col.output_tokens:,.0f} out"
                if col.input_tokens is not None and col.output_tokens is not None
                else ", tokens unknown (no earlier run measured them)"
            )
            click.echo(
                f"  column {col.name:<20} {col.reason:<22} {col.requests:>10,.0f} requests "
                f"({col.cells} cells x {col.requests_per_cell:g}){tokens}"
            )
        for alias, m in result.models.items():
            cost = "no pricing" if m["cost"] is None else f"${m['cost']:,.4f}"
            click.echo(f"  model {alias:<21} {m['requests']:>33,.0f} requests, {cost}")
    for warning in result.budget_warnings:
        click.echo(f"Warning: {warning}", err=True)
