"""The `synthloom` command line. User errors print one message and exit 2; never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from synthloom._version import __version__
from synthloom.errors import BudgetExceededError, ConfigError, RunStateError, SynthloomError
from synthloom.terminal_text import PrintableFormatter, plain, printable

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes: 2 for what the user must fix, 1 for a run that failed, 3 for a run that committed fewer
#: records than asked (unless allowed) or stopped at its spend budget (committed rows kept), 130 for an
#: interrupt.
EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 1
EXIT_PARTIAL = 3
EXIT_OVER_BUDGET = 3


def _fail(message: str, code: int) -> None:
    # An error may quote a seed value, a model's reply or a server's body: printed as data.
    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


def _fail_json(exc: SynthloomError, code: int, command: str) -> None:
    """The error of a command run with `--json`, on stdout as JSON (the shape is in the README)."""
    from synthloom.interface.error_report import error_entries

    report: dict[str, Any] = {"ok": False, "exit_code": code, "error": str(exc)}
    if command == "validate":
        report = {"valid": False, **report}
    report["errors"] = error_entries(exc) if isinstance(exc, ConfigError) else []
    click.echo(json.dumps(report, indent=2, default=str))
    click.echo(f"Error: {exc}", err=True)
    sys.exit(code)


def user_errors(func: F) -> F:
    """Turn synthloom's errors into one line on stderr and an exit code (and, under `--json`, a JSON
    report on stdout)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, RunStateError) as exc:
            if kwargs.get("as_json"):
                _fail_json(exc, EXIT_USER_ERROR, func.__name__)
            _fail(str(exc), EXIT_USER_ERROR)
        except BudgetExceededError as exc:
            _fail(str(exc), EXIT_OVER_BUDGET)
        except SynthloomError as exc:
            if kwargs.get("as_json"):
                _fail_json(exc, EXIT_RUN_FAILED, func.__name__)
            _fail(str(exc), EXIT_RUN_FAILED)
        except KeyboardInterrupt:
            _fail("interrupted; committed row groups are kept (continue with --resume always)", 130)
        except click.exceptions.ClickException:
            raise
        except Exception as exc:  # a bug: say so plainly, trace only when asked
            if os.environ.get("SYNTHLOOM_DEBUG"):
                raise
            _fail(
                f"internal error ({type(exc).__name__}: {exc}); set SYNTHLOOM_DEBUG=1 for a traceback",
                EXIT_RUN_FAILED,
            )

    return wrapper  # type: ignore[return-value]


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=_LOG_FORMAT, stream=sys.stderr
    )
    # Log lines quote file names, seed values and server errors: the console handler escapes them.
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout):
            handler.setFormatter(PrintableFormatter(_LOG_FORMAT))
    for noisy in ("aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        logging.getLogger("synthloom.models").setLevel(logging.WARNING)


config_argument = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))


def cache_options(func: F) -> F:
    """`--cache PATH` and `--cache-mode`, shared by the commands that send model requests."""
    func = click.option(
        "--cache-mode",
        type=click.Choice(["read-write", "read-only", "refresh", "off"]),
        default=None,
        help="How the response cache is used (default: run.cache.mode, read-write).",
    )(func)
    return click.option(  # type: ignore[no-any-return]
        "--cache",
        "cache_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The response cache file (default: run.cache.path, else OUTPUT/.cache/responses.sqlite3).",
    )(func)


def _cache_mode(mode: str | None) -> Any:
    return None if mode is None else mode.replace("-", "_")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="synthloom")
@click.option("-v", "--verbose", is_flag=True, help="Log details (limiter level changes, retries).")
def cli(verbose: bool) -> None:
    """synthloom: declarative synthetic datasets with LLMs."""
    _configure_logging(verbose)


@cli.command()
@config_argument
@click.option(
    "--json", "as_json", is_flag=True, help="Print the plan, or every error with a suggested fix, as JSON."
)
@user_errors
def validate(config: Path, as_json: bool) -> None:
    """Check CONFIG (columns, templates, models, seed data) without generating anything. A pipeline
    file (`stages:`) is checked stage by stage."""
    from synthloom.config.pipeline import is_pipeline
    from synthloom.interface.api import validate as validate_config

    if is_pipeline(config):
        _validate_pipeline(config, as_json)
        return
    plan = validate_config(config)
    summary: dict[str, Any] = {
        "valid": True,
        "columns": [
            {
                "name": c.name,
                "type": c.config.type,
                "depends_on": sorted(c.depends_on),
                "reads_seed": sorted(c.reads_seed),
                "drop": c.config.drop,
            }
            for c in plan.columns
        ],
        "seed_columns": list(plan.seed_columns),
        "output_columns": plan.output_columns,
    }
    if as_json:
        _emit_json(summary)
        return
    click.echo(f"{config}: valid, {len(plan.columns)} columns")
    for c in summary["columns"]:
        deps = ", ".join(c["depends_on"] + [f"seed.{s}" for s in c["reads_seed"]]) or "-"
        click.echo(f"  {c['name']:<24} {c['type']:<16} <- {deps}{'  (dropped)' if c['drop'] else ''}")


def _validate_pipeline(config: Path, as_json: bool) -> None:
    from synthloom.interface.pipeline_run import validate_pipeline

    stages = validate_pipeline(config)
    if as_json:
        _emit_json(
            {
                "valid": True,
                "stages": [{"name": n, "columns": [c.name for c in p.columns]} for n, p in stages],
            }
        )
        return
    click.echo(f"{config}: valid pipeline, {len(stages)} stages")
    for name, plan in stages:
        click.echo(f"  {name:<24} {len(plan.columns)} columns")


def _create_pipeline(
    config: Path, num_records: int | None, output: Path, resume: str, progress: bool, as_json: bool
) -> None:
    from synthloom.interface.pipeline_run import arun_pipeline

    results = asyncio.run(
        arun_pipeline(config, output, default_records=num_records, resume=resume, progress=progress)  # type: ignore[arg-type]
    )
    summary = [
        {
            "stage": r.name,
            "path": str(r.result.path),
            "records": r.result.metadata.get("committed_records"),
            "status": r.result.metadata.get("status"),
        }
        for r in results
    ]
    if as_json:
        _emit_json({"stages": summary})
        return
    for s in summary:
        click.echo(f"stage {s['stage']}: {s['records']} records written to {s['path']}")


@cli.command()
@config_argument
@click.option("-n", "--num-records", default=5, show_default=True, type=int, help="Records to generate.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@click.option(
    "-o",
    "--output",
    default="output",
    show_default=True,
    type=click.Path(path_type=Path),
    help="The output folder whose response cache is used.",
)
@cache_options
@user_errors
def preview(
    config: Path,
    num_records: int,
    as_json: bool,
    output: Path,
    cache_path: Path | None,
    cache_mode: str | None,
) -> None:
    """Generate a few records in memory and show them; no records are written (answers are cached)."""
    from synthloom.config.pipeline import is_pipeline
    from synthloom.interface.api import preview as run_preview

    if is_pipeline(config):
        raise click.UsageError(
            "a pipeline file has several stages: preview a stage's own config file, or `validate` the "
            "pipeline (a stage seeded by another needs that stage's records, made by `create`)"
        )

    result = run_preview(
        config, num_records, output=output, cache=cache_path, cache_mode=_cache_mode(cache_mode)
    )
    rows = list(result)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
    else:
        _print_table(rows)
    if result.failures:
        click.echo(f"{len(result.failures)} record(s) failed:", err=True)
        for f in result.failures[:10]:
            click.echo(printable(f"  record {f['record']}, column '{f['column']}': {f['error']}"), err=True)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("no records")
        return
    for index, row in enumerate(rows):
        table = Table(title=f"record {index}", title_justify="left", show_header=False, expand=True)
        table.add_column("column", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in row.items():
            text = json.dumps(value, default=str, indent=1) if isinstance(value, dict | list) else str(value)
            # Values are data: escaped, and never read as rich markup.
            table.add_row(plain(key), plain(text if len(text) < 2000 else text[:2000] + " ..."))
        console.print(table)


@cli.command()
@config_argument
@click.option(
    "-n",
    "--num-records",
    type=int,
    default=None,
    help="Records to generate (in a pipeline file: for the stages without their own 'records').",
)
@click.option(
    "-o",
    "--output",
    default="output",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder that receives <name>/.",
)
@click.option(
    "--resume",
    type=click.Choice(["never", "always", "if-possible", "regenerate"]),
    default="if-possible",
    show_default=True,
    help="Continue a run found in the output folder; `regenerate` remakes it under a changed config "
    "(unchanged requests come from the response cache).",
)
@click.option("--progress/--no-progress", default=True, help="Show a live progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Exit 0 even when fewer records than asked were committed (also: run.allow_partial).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where row groups run (default: run.executor): this process, or a Ray cluster.",
)
@click.option(
    "--ray-address",
    default=None,
    help="The Ray cluster to join (default: run.executor.ray.address, else start one).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port while the run lasts (0: any free port).",
)
@click.option(
    "--from",
    "from_run",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="An earlier run whose response cache this run uses: a changed config made into a new "
    "output folder requests only what changed.",
)
@cache_options
@user_errors
def create(
    config: Path,
    num_records: int,
    output: Path,
    resume: str,
    progress: bool,
    as_json: bool,
    allow_partial: bool,
    executor: str | None,
    ray_address: str | None,
    metrics_port: int | None,
    from_run: Path | None,
    cache_path: Path | None,
    cache_mode: str | None,
) -> None:
    """Generate NUM_RECORDS records from CONFIG into OUTPUT/<name>/, checkpointing as it goes. A
    pipeline file (`stages:`) runs its stages in order, each into OUTPUT/<stage>/.

    Exits 3 when fewer records than asked were committed (failed or filtered rows), unless
    --allow-partial or run.allow_partial is set; 1 when the run failed; 2 for a config mistake."""
    from synthloom.config.pipeline import is_pipeline
    from synthloom.interface.api import create as run_create

    if from_run is not None and cache_path is not None:
        raise click.UsageError("--from reuses that run's response cache; give it or --cache, not both")
    if is_pipeline(config):
        if from_run is not None:
            raise click.UsageError("--from goes with a dataset config, not a pipeline file")
        _create_pipeline(config, num_records, output, resume, progress, as_json)
        return
    if num_records is None:
        raise click.UsageError("give the number of records: -n / --num-records")
    if ray_address is not None:
        if executor == "local":
            raise click.UsageError("--ray-address goes with --executor ray")
        executor = "ray"
    result = run_create(
        config,
        num_records,
        output,
        resume=resume,  # type: ignore[arg-type]
        progress=progress,
        executor=executor,  # type: ignore[arg-type]
        ray_address=ray_address,
        metrics_port=metrics_port,
        cache=cache_path,
        cache_mode=_cache_mode(cache_mode),
        from_run=from_run,
    )
    meta = result.metadata
    summary = {
        "path": str(result.path),
        "status": meta.get("status"),
        "records": meta.get("committed_records"),
        "target_records": meta.get("target_records"),
        "failed_records": meta.get("failed_records", 0),
        "filtered_records": meta.get("filtered_records", 0),
        "usage": result.usage.get("models", {}),
        "columns": result.usage.get("columns", {}),
        # Every session's answered requests (killed ones too), and what the rows the run holds cost.
        "paid": meta.get("usage_paid", {}),
        "paid_for_rows": meta.get("usage_committed", {}),
    }
    partial = _shortfall(summary)
    allowed = allow_partial or _run_allows_partial(result.path)
    if as_json:
        _emit_json(summary)
        if partial and not allowed:
            _fail(partial, EXIT_PARTIAL)
        return
    removed = [
        f"{summary['failed_records']} failed: see failures.jsonl" if summary["failed_records"] else "",
        f"{summary['filtered_records']} filtered: see filtered.jsonl" if summary["filtered_records"] else "",
    ]
    notes = "; ".join(r for r in removed if r)
    click.echo(
        f"{summary['records']}/{summary['target_records']} records written to {summary['path']}"
        + (f" ({notes})" if notes else "")
    )
    for line in _column_usage_lines(summary["columns"]):
        click.echo(line)
    for alias, u in summary["usage"].items():
        click.echo(
            f"  {alias}: {u.get('requests', 0)} requests, {u.get('input_tokens', 0)} tokens in, "
            f"{u.get('output_tokens', 0)} out, p50 {u.get('latency_p50') or 0:.2f}s, "
            f"{u.get('rate_limited', 0)} 429s, {u.get('retries', 0)} retries"
            + (f", {u['cached']} from the cache" if u.get("cached") else "")
            + (f", {u['batched']} batched" if u.get("batched") else "")
            + (f", cost {u['cost']:.4f}" if u.get("cost") else "")
        )
    spend = _spend_line(summary["paid"], summary["paid_for_rows"])
    if spend:
        click.echo(spend)
    if partial and not allowed:
        _fail(partial, EXIT_PARTIAL)


def _spend_line(paid: dict[str, dict[str, Any]], for_rows: dict[str, dict[str, Any]]) -> str:
    """The run's two accounts over every session: what was paid, and what the kept rows cost."""

    def total(usage: dict[str, dict[str, Any]]) -> str:
        requests = sum(int(u.get("requests", 0)) - int(u.get("cached", 0)) for u in usage.values())
        tokens = sum(int(u.get("input_tokens", 0)) + int(u.get("output_tokens", 0)) for u in usage.values())
        cost = sum(float(u.get("cost", 0)) for u in usage.values())
        return f"{requests:,} requests, {tokens:,} tokens" + (f", cost {cost:.4f}" if cost else "")

    if not paid:
        return ""
    return f"  run spend, all sessions: paid {total(paid)}; for the rows kept {total(for_rows)}"


def _column_usage_lines(columns: dict[str, dict[str, Any]]) -> list[str]:
    """One line per column that sent requests; a flow's nodes (`<flow>.<node>`, already counted in the
    flow's line) indented under it, so the spend is not read twice."""
    lines: list[str] = []
    nodes: dict[str, list[str]] = {}
    for name in columns:
        if "." in name:
            nodes.setdefault(name.split(".", 1)[0], []).append(name)
    for name, c in columns.items():
        if "." in name or not c.get("requests"):
            continue
        lines.append(
            f"  column {name}: {c['requests']} requests, {c.get('output_tokens', 0)} tokens out, "
            f"p95 {c.get('latency_p95') or 0:.2f}s, {c.get('cells_failed', 0)} failed"
        )
        for node in nodes.get(name, []):
            n = columns[node]
            lines.append(
                f"      node {node.split('.', 1)[1]}: {n.get('requests', 0)} requests, "
                f"{n.get('output_tokens', 0)} tokens out, p95 {n.get('latency_p95') or 0:.2f}s"
            )
    return lines


def _run_allows_partial(path: Path | None) -> bool:
    import yaml

    written = path / "config.yaml" if path is not None else None
    if written is None or not written.exists():
        return False
    data = yaml.safe_load(written.read_text()) or {}
    return bool((data.get("run") or {}).get("allow_partial"))


def _shortfall(summary: dict[str, Any]) -> str | None:
    """Why the run is short of its target, with the counts; None when it is not."""
    written, asked = summary["records"] or 0, summary["target_records"] or 0
    if written >= asked:
        return None
    failed, filtered = summary["failed_records"], summary["filtered_records"]
    hints = []
    if failed:
        hints.append("failures.jsonl says why rows failed")
    if filtered:
        hints.append(
            "filtered.jsonl says why rows were filtered (run.target: kept generates until N are kept)"
        )
    hints.append("pass --allow-partial (or set run.allow_partial: true) to accept a short run")
    counts = f"{failed} failed, {filtered} filtered"
    return f"only {written} of {asked} records were written ({counts}): " + "; ".join(hints)


@cli.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@user_errors
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the dataset config (for editors)."""
    from synthloom.config.dataset import DatasetConfig

    text = json.dumps(DatasetConfig.model_json_schema(by_alias=True), indent=2)
    if output:
        output.write_text(text + "\n")
    else:
        click.echo(text)


def _attach_model_commands() -> None:
    try:
        from synthloom.interface.cli_models import mock_server_command, models_group
    except ImportError:  # pragma: no cover - the model layer is part of the package
        return
    from synthloom.interface.cli_bench import bench_command

    models_group.add_command(bench_command)
    cli.add_command(models_group)
    cli.add_command(mock_server_command)
    from synthloom.interface.cli_export import export_command

    cli.add_command(export_command)
    from synthloom.interface.cli_quality import report_command, view_command

    cli.add_command(report_command)
    cli.add_command(view_command)
    from synthloom.interface.cli_plan import plan_command

    cli.add_command(plan_command)
    from synthloom.interface.cli_reference import design_command, reference_command, skill_command

    cli.add_command(design_command)
    cli.add_command(reference_command)
    cli.add_command(skill_command)
    from synthloom.interface.cli_recipes import recipes_group

    cli.add_command(recipes_group)


_attach_model_commands()


def main() -> None:
    cli(prog_name="synthloom")
