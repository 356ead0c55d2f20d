"""Property tests: whatever config a user writes, `validate` returns a plan or raises `ConfigError`."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synthloom
from synthloom.plan import Plan

NAMES = ["a", "b", "c", "topic", "answer", "q_1", "x_y", "Ab"]
# Mostly valid names (so that plans get accepted and checked), sometimes anything at all.
name_st = st.integers(0, 19).flatmap(
    lambda n: st.text(min_size=0, max_size=8) if n == 0 else st.sampled_from(NAMES)
)
ref_st = st.one_of(
    st.sampled_from([*NAMES, "nope", "field", "loop", "range"]), st.from_regex(r"[a-z_]{1,6}", fullmatch=True)
)

SNIPPETS = [
    "{{ %s }}",
    "{{ %s.field }}",
    "{{ %s | upper }}",
    "{% if %s %}y{% endif %}",
    "{% for i in %s %}{{ i }}{% endfor %}",
    "{{ %s }",
    "{% if %s %}",
    "{{ %s[0] }}",
    "{{ %s + 1 }}",
    "{% set z = %s %}{{ z }}",
    "{{ '%s' }}",
    "{# %s #}",
    "{{ %s(",
    "{{ %s.__class__ }}",
    "{% raw %}{{ %s }}",
]


@st.composite
def template_st(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(st.sampled_from(SNIPPETS), ref_st), max_size=3))
    text = " ".join(snippet.replace("%s", ref) for snippet, ref in parts)
    return text + draw(st.sampled_from(["", "plain", "{{", "}}", "{%", "%}", "\n"]))


number = st.one_of(st.integers(-5, 5), st.floats(-10, 10, allow_nan=False), st.just("x"), st.none())

SAMPLER_PARAMS = {
    "category": st.fixed_dictionaries(
        {"values": st.lists(st.one_of(st.integers(0, 3), st.text(max_size=3)), max_size=3)},
        optional={"weights": st.lists(number, max_size=3)},
    ),
    "uniform": st.fixed_dictionaries(
        {"low": number, "high": number}, optional={"dtype": st.sampled_from(["int", "float", "x"])}
    ),
    "gaussian": st.fixed_dictionaries({"mean": number, "stddev": number}),
    "bernoulli": st.fixed_dictionaries({"p": number}),
    "binomial": st.fixed_dictionaries({"n": number, "p": number}),
    "poisson": st.fixed_dictionaries({"mean": number}),
    "uuid": st.fixed_dictionaries({}, optional={"prefix": st.text(max_size=3), "short": st.booleans()}),
    "subcategory": st.fixed_dictionaries(
        {
            "category": ref_st,
            "values": st.dictionaries(
                st.text(max_size=2), st.lists(st.text(max_size=2), max_size=2), max_size=2
            ),
        }
    ),
    "datetime": st.fixed_dictionaries(
        {
            "start": st.sampled_from(["2020-01-01", "bad", "2030-01-01"]),
            "end": st.sampled_from(["2021-01-01", "2019-01-01", "x"]),
        }
    ),
    "scipy": st.fixed_dictionaries(
        {
            "dist": st.sampled_from(["norm", "nope", "__import__"]),
            "params": st.dictionaries(st.sampled_from(["loc", "scale", "zz"]), number, max_size=2),
        }
    ),
    "bogus": st.just({}),
}
VALID_SAMPLERS = sorted(set(SAMPLER_PARAMS) - {"bogus"})


@st.composite
def column_st(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "sampler",
                "sampler",
                "expression",
                "expression",
                "llm-text",
                "validation",
                "embedding",
                "mystery",
            ]
        )
    )
    col: dict[str, Any] = {"name": draw(name_st), "type": kind}
    if kind == "sampler":
        sampler = draw(st.sampled_from(VALID_SAMPLERS if draw(st.integers(0, 9)) else ["bogus"]))
        col.update(sampler=sampler, params=draw(SAMPLER_PARAMS[sampler]))
    elif kind == "expression":
        col.update(
            expr=draw(template_st()),
            dtype=draw(st.sampled_from(["str", "int", "float", "bool", "json", "x"])),
        )
    elif kind == "llm-text":
        col.update(model=draw(st.sampled_from(["m", "m", "other"])), prompt=draw(template_st()))
        if draw(st.booleans()):
            col["system_prompt"] = draw(template_st())
    elif kind == "validation":
        col.update(
            validator=draw(st.sampled_from(["regex", "json-schema", "python", "nope"])),
            targets=draw(st.lists(ref_st, max_size=2)),
            pattern=draw(st.sampled_from(["a+", "(", "[a-z]*"])),
        )
    elif kind == "embedding":
        col.update(model="m", source=draw(ref_st))
    if draw(st.integers(0, 4)) == 0:
        col["when"] = draw(template_st())
    if draw(st.integers(0, 5)) == 0:
        col["drop"] = draw(st.sampled_from([True, "maybe"]))
    if draw(st.integers(0, 8)) == 0:
        col[draw(st.sampled_from(["extra", "prompt", "params"]))] = draw(st.sampled_from([1, "x", None]))
    return col


seed_value = st.one_of(st.integers(-3, 3), st.text(max_size=6), st.none(), st.booleans())


@st.composite
def seed_st(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]] | None:
    if draw(st.booleans()):
        return None
    fmt = draw(st.sampled_from(["jsonl", "csv", "missing"]))
    fields = draw(
        st.lists(st.sampled_from(["abstract", "topic", "a", "x y", ""]), min_size=0, max_size=3, unique=True)
    )
    rows = draw(st.lists(st.fixed_dictionaries({f: seed_value for f in fields}), max_size=4))
    return fmt, rows


@st.composite
def config_st(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": draw(st.integers(0, 9).flatmap(lambda n: name_st if n == 0 else st.just("props"))),
        "models": [{"alias": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "sim"}],
        "columns": draw(st.lists(column_st(), min_size=0 if draw(st.integers(0, 9)) == 0 else 1, max_size=6)),
    }
    if draw(st.integers(0, 4)) == 0:
        config["run"] = {"buffer_size": draw(st.integers(-1, 3)), "seed": draw(st.integers(-2, 2))}
    return config


def _write_seed(directory: Path, seed: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fmt, rows = seed
    if fmt == "missing":
        return {"path": "nowhere.jsonl"}
    path = directory / f"seed.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        with path.open("w", newline="") as fh:
            fieldnames = list(rows[0]) if rows else []
            writer = csv.DictWriter(fh, fieldnames=fieldnames)
            if fieldnames:
                writer.writeheader()
            writer.writerows(rows)
    return {"path": path.name}


def _check_order(plan: Plan) -> None:
    seen: set[str] = set()
    for col in plan.columns:
        for dep in col.depends_on:
            assert dep in seen, f"column '{col.name}' planned before its input '{dep}'"
        seen.add(col.name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=config_st(), seed=seed_st())
def test_validate_returns_a_plan_or_raises_config_error(
    config: dict[str, Any], seed: tuple[str, list[dict[str, Any]]] | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if seed is not None:
            config["seed"] = _write_seed(directory, seed)
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        try:
            plan = synthloom.validate(path)
        except synthloom.ConfigError as exc:
            assert str(exc)  # a message, never an empty one
            return
    _check_order(plan)
    assert {c.name for c in plan.columns} == {c["name"] for c in config["columns"]}


@st.composite
def graph_st(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Expression columns over a small name set, each reading random others: DAGs, cycles, self-loops."""
    names = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=6, unique=True)
    )
    columns = []
    for name in draw(st.permutations(names)):
        refs = draw(st.lists(st.sampled_from([*names, "ghost"]), max_size=3))
        expr = "-".join(f"{{{{ {r} }}}}" for r in refs) or "const"
        columns.append({"name": name, "type": "expression", "expr": expr})
    return columns


@settings(max_examples=150, deadline=None)
@given(columns=graph_st())
def test_random_graphs_plan_in_dependency_order_or_name_the_problem(columns: list[dict[str, Any]]) -> None:
    config = synthloom.DatasetConfig.model_validate({"columns": columns})
    refs = {c["name"]: {p.strip(" {}") for p in c["expr"].split("-") if p != "const"} for c in columns}
    try:
        plan = synthloom.validate(config)
    except synthloom.PlanError as exc:
        message = str(exc)
        assert "ghost" in message or "cycle" in message, message
        return
    assert not any("ghost" in r for r in refs.values())
    _check_order(plan)
    for col in plan.columns:
        assert col.depends_on == frozenset(refs[col.name])


@st.composite
def acyclic_config_st(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG of valid columns (each reads only earlier-generated ones), declared in shuffled order."""
    size = draw(st.integers(1, 8))
    columns: list[dict[str, Any]] = []
    for i in range(size):
        inputs = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        refs = [f"c{j}" for j in inputs]
        kind = (
            draw(st.sampled_from(["sampler", "expression", "llm-text"]))
            if not refs
            else draw(st.sampled_from(["expression", "llm-text"]))
        )
        column: dict[str, Any] = {"name": f"c{i}", "type": kind}
        if kind == "sampler":
            column.update(sampler="category", params={"values": ["x", "y"]})
        elif kind == "expression":
            column["expr"] = "-".join(f"{{{{ {r} }}}}" for r in refs) or "constant"
        else:
            column.update(model="m", prompt=" ".join(f"{{{{ {r}.part }}}}" for r in refs) or "hello")
        if refs and draw(st.booleans()):
            column["when"] = f"{{{{ {refs[0]} != 'x' }}}}"
        columns.append(column)
    order = draw(st.permutations(range(size)))
    return {
        "name": "dag",
        "models": [{"alias": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "sim"}],
        "columns": [columns[i] for i in order],
    }


@settings(max_examples=150, deadline=None)
@given(config=acyclic_config_st())
def test_any_acyclic_config_is_accepted_and_planned_in_dependency_order(config: dict[str, Any]) -> None:
    plan = synthloom.validate(synthloom.DatasetConfig.model_validate(config))
    assert sorted(c.name for c in plan.columns) == sorted(c["name"] for c in config["columns"])
    _check_order(plan)
    for column in config["columns"]:
        text = json.dumps(column)
        expected = {f"c{j}" for j in range(len(config["columns"])) if f"{{{{ c{j}" in text}
        assert plan.column(column["name"]).depends_on == expected
