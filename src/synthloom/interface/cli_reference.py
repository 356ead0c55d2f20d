"""`synthloom reference` (what a config can name, from the registries) and `synthloom skill` (the shipped
guide for coding agents)."""

from __future__ import annotations

import difflib
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from synthloom.errors import ConfigError
from synthloom.interface.cli import user_errors

__all__ = ["design_command", "reference_command", "skill_command", "skill_text"]

#: The reference's sections, in the order they are printed, with the title each gets.
SECTIONS = {
    "column_types": "Column types",
    "samplers": "Samplers (`type: sampler`, `sampler: NAME`, `params: {...}`)",
    "providers": "Model providers (`models: [{provider: NAME}]`)",
    "recipes": "Recipes (`include: {recipe: NAME}`)",
    "executors": "Executors (`run: {executor: NAME}`)",
}


@click.command("reference")
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Every entry in full (default: a short index).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the shape is in the README).")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown.")
@user_errors
def reference_command(name: str | None, show_all: bool, as_json: bool, as_markdown: bool) -> None:
    """What a config can use, read from the installed registries: column types (fields, defaults,
    meanings, an example each), samplers, providers, recipes, executors and formats. NAME shows one
    column type, sampler, provider, recipe or executor in full."""
    from synthloom.interface.reference import build_reference

    if as_json and as_markdown:
        raise click.UsageError("choose one of --json and --markdown")
    data = build_reference()
    if name is not None:
        section, entry = _find(data, name)
        if as_json:
            click.echo(json.dumps({"section": section, **entry}, indent=2, default=str))
        else:
            click.echo(_entry_markdown(section, entry))
        return
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif as_markdown or show_all:
        click.echo(_full_markdown(data))
    else:
        click.echo(_index(data))


def _find(data: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    for section in SECTIONS:
        for entry in data[section]:
            if entry["name"] == name:
                return section, entry
    known = [entry["name"] for section in SECTIONS for entry in data[section]]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(
        f"nothing called '{name}' in the reference{hint}; run `synthloom reference` for the index"
    )


def _index(data: dict[str, Any]) -> str:
    lines = [f"synthloom {data['synthloom']} reference (`synthloom reference NAME` for one entry)", ""]
    for section, title in SECTIONS.items():
        lines.append(title.split(" (")[0] + ":")
        width = max((len(e["name"]) for e in data[section]), default=0)
        for entry in data[section]:
            text = entry.get("summary") or entry.get("description") or ""
            origin = entry.get("origin")
            plugin = f" [plugin: {origin}]" if origin not in (None, "builtin") else ""
            lines.append(f"  {entry['name']:<{width}}  {text}{plugin}")
        lines.append("")
    lines.append("Export formats: " + ", ".join(data["export_formats"]))
    lines.append("Structured formats (llm-structured `format:`): " + ", ".join(data["structured_formats"]))
    return "\n".join(lines)


def _full_markdown(data: dict[str, Any]) -> str:
    parts = [f"# synthloom {data['synthloom']} reference", ""]
    for section, title in SECTIONS.items():
        parts += [f"## {title}", ""]
        parts += [_entry_markdown(section, entry, level=3) for entry in data[section]]
    parts += ["## Export formats", "", ", ".join(f"`{f}`" for f in data["export_formats"]), ""]
    parts += ["## Structured formats", "", ", ".join(f"`{f}`" for f in data["structured_formats"]), ""]
    return "\n".join(parts)


def _entry_markdown(section: str, entry: dict[str, Any], level: int = 1) -> str:
    head = "#" * level
    lines = [f"{head} `{entry['name']}`", ""]
    text = entry.get("summary") or entry.get("description")
    if text:
        lines += [text, ""]
    if entry.get("origin") not in (None, "builtin"):
        lines += [f"From the installed package `{entry['origin']}`.", ""]
    if "capabilities" in entry:
        caps = ", ".join(k for k, v in entry["capabilities"].items() if v) or "plain chat only"
        lines += [f"Capabilities: {caps}.", ""]
    if entry.get("batch_protocol"):
        lines += [f"Batch API (`batch:` on a model): {entry['batch_protocol']}.", ""]
    if entry.get("requires"):
        lines += [f"Needs the `{entry['requires']}` package installed.", ""]
    if entry.get("fields"):
        lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
        for field in entry["fields"]:
            default = "**required**" if field["required"] else f"`{json.dumps(field['default'])}`"
            meaning = field["meaning"].replace("|", "\\|")
            kind = field["type"].replace("|", "\\|")
            lines.append(f"| `{field['name']}` | {kind} | {default} | {meaning} |")
        lines.append("")
    if "example" in entry:
        import yaml

        example = yaml.safe_dump([entry["example"]], sort_keys=False, allow_unicode=True, width=100)
        lines += ["```yaml", "columns:", *("  " + line for line in example.splitlines()), "```", ""]
    return "\n".join(lines)


def skill_text() -> str:
    """The SKILL.md shipped in the package."""
    return resources.files("synthloom").joinpath("SKILL.md").read_text(encoding="utf-8")


@click.command("skill")
@click.option("--path", "show_path", is_flag=True, help="Print where SKILL.md is installed instead.")
@user_errors
def skill_command(show_path: bool) -> None:
    """Print the guide for coding agents (SKILL.md): the loop, exit codes, --json shapes, pitfalls."""
    if show_path:
        click.echo(str(resources.files("synthloom").joinpath("SKILL.md")))
        return
    click.echo(skill_text(), nl=False)


@click.command("design")
@click.argument("description")
@click.option(
    "--model", "alias", required=True, help="The model alias that drafts (`local`: the embedded model)."
)
@click.option(
    "--models",
    "models_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML file whose `models:` declares the aliases (the drafted config gets the same).",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default="dataset", show_default=True, help="The dataset's name in the config.")
@click.option("--rounds", default=4, show_default=True, type=click.IntRange(1, 20), help="Drafts at most.")
@click.option("--fixes", default=2, show_default=True, type=click.IntRange(0, 10), help="Previews at most.")
@click.option("--interactive", is_flag=True, help="Show each valid draft and take your corrections.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print {path, valid, rounds, errors} as JSON.")
@user_errors
def design_command(
    description: str,
    alias: str,
    models_file: Path | None,
    output: Path,
    name: str,
    rounds: int,
    fixes: int,
    interactive: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Draft a config for DESCRIPTION with a model: validate it, feed the errors back, preview two records,
    ask for fixes, and write OUTPUT (exit 1, writing nothing, when no valid draft came out)."""
    from synthloom.config.loader import load_models_file
    from synthloom.config.model_config import ModelConfig
    from synthloom.interface.design import describe_error, run_design

    if output.exists() and not force:
        raise ConfigError(f"{output} exists: give --force to overwrite it")
    if models_file is not None:
        models = load_models_file(models_file)
    elif alias == "local":
        models = [ModelConfig(alias="local", provider="local")]
    else:
        raise ConfigError(f"model '{alias}': give --models FILE declaring it (or use --model local)")
    if alias not in {m.alias for m in models}:
        raise ConfigError(f"model '{alias}' is not declared in {models_file}")

    def ask(draft: str) -> str:
        click.echo(draft)
        return str(click.prompt("Corrections (empty to accept)", default="", show_default=False))

    result = run_design(
        description,
        model=alias,
        models=models,
        name=name,
        max_rounds=rounds,
        max_fixes=fixes,
        ask=ask if interactive else None,
    )
    if as_json:
        report = {
            "path": str(output) if result.valid else None,
            "valid": result.valid,
            "rounds": result.rounds,
            "errors": result.errors,
        }
    if not result.valid:
        if as_json:
            click.echo(json.dumps(report, indent=2, default=str))
        for error in result.errors:
            click.echo(f"  {describe_error(error)}", err=True)
        click.echo(f"Error: no valid config after {result.rounds} drafts; nothing written", err=True)
        sys.exit(1)
    header = "".join(f"# {line}\n" for line in _header(description, alias, result.rounds))
    output.write_text(header + result.yaml_text, encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(
            f"{output}: valid config after {result.rounds} draft(s); check it: synthloom preview {output}"
        )


def _header(description: str, alias: str, rounds: int) -> list[str]:
    lines = [f"Drafted by `synthloom design` with model '{alias}' in {rounds} draft(s), from:"]
    lines += ["  " + line for line in description.splitlines() or [""]]
    lines.append("Check it before a large run: synthloom preview THIS_FILE -n 5")
    return lines
