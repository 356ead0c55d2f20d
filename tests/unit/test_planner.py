"""The planner: dependencies read from templates and explicit fields, and an order that respects them."""

from __future__ import annotations

import pytest

from synthloom.config.loader import parse_config
from synthloom.errors import PlanError
from synthloom.plan import build_plan
from synthloom.plan.planner import import_object
from synthloom.plan.templates import template_references

MODELS = "models:\n  - {alias: writer, provider: local}\n"


def plan_of(columns: str, *, seed_columns: tuple[str, ...] = (), models: str = MODELS):  # type: ignore[no-untyped-def]
    return build_plan(
        parse_config(models + "columns:\n" + columns, source="plan.yaml"), seed_columns=seed_columns
    )


def refs(source: str) -> set[str]:
    return template_references(source, column="c", field="expr")


def test_attribute_and_item_access_depend_on_the_top_level_name() -> None:
    assert refs("{{ answer.confidence }} {{ grade['accuracy'].score }}") == {"answer", "grade"}


def test_loop_variables_and_set_variables_are_not_references() -> None:
    assert refs("{% for item in items %}{{ item.name }}{{ loop.index }}{% endfor %}") == {"items"}
    assert refs("{% set total = a + b %}{{ total }}") == {"a", "b"}
    assert (
        refs(
            "{% set ns = namespace(n=0) %}{% for x in range(3) %}{% set ns.n = ns.n + x %}{% endfor %}"
            "{{ ns.n }}"
        )
        == set()
    )


def test_literals_filters_and_builtins_are_not_references() -> None:
    assert refs("{{ 'text' | upper }} {{ true }} {{ none }} {{ [1, 2] | length }}") == set()
    assert refs("{{ name | default('x') }}") == {"name"}


def test_references_in_every_template_field_are_dependencies() -> None:
    plan = plan_of(
        "  - {name: a, type: sampler, sampler: uuid}\n"
        "  - {name: b, type: sampler, sampler: uuid}\n"
        "  - {name: c, type: sampler, sampler: uuid}\n"
        "  - {name: q, type: llm-text, model: writer, prompt: '{{ a }}', system_prompt: '{{ b }}',\n"
        "     when: '{{ c }}'}\n"
    )
    assert plan.column("q").depends_on == {"a", "b", "c"}


def test_explicit_reference_fields_are_dependencies() -> None:
    plan = plan_of(
        "  - {name: day, type: sampler, sampler: datetime,\n"
        "     params: {start: '2024-01-01', end: '2024-03-01'}}\n"
        "  - {name: later, type: sampler, sampler: timedelta, params: {max: 3, reference: day}}\n"
        "  - {name: topic, type: sampler, sampler: category, params: {values: [x, y]}}\n"
        "  - {name: sub, type: sampler, sampler: subcategory,\n"
        "     params: {category: topic, values: {x: [1], y: [2]}}}\n"
        "  - {name: v, type: validation, validator: python, targets: [later, sub]}\n"
        "  - {name: e, type: embedding, model: writer, source: topic}\n"
        "  - {name: f, type: custom, function: 'os.path:join', inputs: [v, e]}\n"
    )
    assert plan.column("later").depends_on == {"day"}
    assert plan.column("sub").depends_on == {"topic"}
    assert plan.column("v").depends_on == {"later", "sub"}
    assert plan.column("e").depends_on == {"topic"}
    assert plan.column("f").depends_on == {"v", "e"}


def test_side_column_reference_maps_to_its_owner() -> None:
    plan = plan_of(
        "  - {name: q, type: llm-text, model: writer, prompt: hi, with_reasoning: true, with_trace: true}\n"
        "  - {name: why, type: expression, expr: '{{ q__reasoning }} {{ q__trace }}'}\n"
    )
    assert plan.column("why").depends_on == {"q"}
    assert plan.dependants["q"] == {"why"}


def test_validator_targets_may_name_a_side_column() -> None:
    plan = plan_of(
        "  - {name: q, type: llm-text, model: writer, prompt: hi, with_reasoning: true}\n"
        "  - {name: v, type: validation, validator: python, targets: [q__reasoning]}\n"
    )
    assert plan.column("v").depends_on == {"q"}


def test_topological_order_puts_dependencies_first_and_keeps_declaration_order_otherwise() -> None:
    plan = plan_of(
        "  - {name: summary, type: expression, expr: '{{ answer }} {{ question }}'}\n"
        "  - {name: answer, type: expression, expr: '{{ question }}'}\n"
        "  - {name: unrelated, type: sampler, sampler: uuid}\n"
        "  - {name: question, type: expression, expr: '{{ topic }}'}\n"
        "  - {name: topic, type: sampler, sampler: category, params: {values: [x]}}\n"
    )
    order = [c.name for c in plan.columns]
    assert order == ["topic", "question", "answer", "summary", "unrelated"]
    for position, col in enumerate(plan.columns):
        assert col.depends_on <= set(order[:position])


def test_independent_columns_keep_declaration_order() -> None:
    plan = plan_of("".join(f"  - {{name: c{i}, type: sampler, sampler: uuid}}\n" for i in (3, 1, 2)))
    assert [c.name for c in plan.columns] == ["c3", "c1", "c2"]


def test_dependants_are_the_reverse_of_dependencies() -> None:
    plan = plan_of(
        "  - {name: a, type: sampler, sampler: uuid}\n"
        "  - {name: b, type: expression, expr: '{{ a }}'}\n"
        "  - {name: c, type: expression, expr: '{{ a }}{{ b }}'}\n"
    )
    assert plan.dependants == {"a": {"b", "c"}, "b": {"c"}, "c": frozenset()}


def test_seed_fields_are_read_but_are_not_column_dependencies() -> None:
    plan = plan_of(
        "  - {name: q, type: expression, expr: '{{ abstract }} {{ title.upper() }} {{ n }}'}\n"
        "  - {name: n, type: sampler, sampler: uuid}\n",
        seed_columns=("abstract", "title", "year"),
    )
    q = plan.column("q")
    assert q.depends_on == {"n"}
    assert q.reads_seed == {"abstract", "title"}
    assert plan.seed_columns == ("abstract", "title", "year")


def test_seed_field_used_by_an_explicit_reference_is_read_from_seed() -> None:
    plan = plan_of(
        "  - {name: v, type: validation, validator: python, targets: [code]}\n", seed_columns=("code",)
    )
    assert plan.column("v").depends_on == frozenset()
    assert plan.column("v").reads_seed == {"code"}


def test_output_columns_are_seed_then_kept_columns_with_side_columns_without_dropped() -> None:
    plan = plan_of(
        "  - {name: scratch, type: sampler, sampler: uuid, drop: true}\n"
        "  - {name: q, type: llm-text, model: writer, prompt: '{{ scratch }}', with_trace: true}\n"
        "  - {name: hidden, type: llm-text, model: writer, prompt: hi, with_reasoning: true, drop: true}\n"
        "  - {name: keep, type: expression, expr: '{{ hidden }}'}\n",
        seed_columns=("title",),
    )
    assert plan.output_columns == ["title", "q", "q__trace", "keep"]
    assert {c.name for c in plan.columns} == {"scratch", "q", "hidden", "keep"}


def test_model_aliases_are_those_the_columns_use() -> None:
    plan = plan_of(
        "  - {name: q, type: llm-text, model: writer, prompt: hi}\n",
        models=MODELS + "  - {alias: unused, provider: local}\n",
    )
    assert plan.model_aliases == {"writer"}
    assert plan_of("  - {name: a, type: sampler, sampler: uuid}\n").model_aliases == set()


def test_plan_rejects_a_column_named_like_a_seed_field() -> None:
    with pytest.raises(PlanError) as info:
        plan_of("  - {name: title, type: sampler, sampler: uuid}\n", seed_columns=("title",))
    assert (info.value.column, info.value.field) == ("title", "name")
    assert "seed data" in str(info.value)


def test_plan_errors_of_a_parsed_config_name_its_source() -> None:
    with pytest.raises(PlanError, match=r"^plan\.yaml:\d+, column 'a'"):
        plan_of("  - {name: a, type: expression, expr: '{{ a }}'}\n")


def test_unknown_reference_suggests_seed_fields_too() -> None:
    with pytest.raises(PlanError, match=r"unknown column 'abstrct' \(did you mean 'abstract'\?\)"):
        plan_of("  - {name: q, type: expression, expr: '{{ abstrct }}'}\n", seed_columns=("abstract",))


def test_unknown_reference_without_a_close_name_has_no_suggestion() -> None:
    with pytest.raises(PlanError) as info:
        plan_of(
            "  - {name: q, type: expression, expr: '{{ zzz }}'}\n"
            "  - {name: a, type: sampler, sampler: uuid}\n"
        )
    assert "unknown column 'zzz'" in str(info.value)
    assert "did you mean" not in str(info.value)


def test_template_syntax_error_names_the_template_line() -> None:
    with pytest.raises(PlanError) as info:
        plan_of('  - {name: q, type: expression, expr: "ok\\nok\\n{% if x %}\\n{% endfor %}"}\n')
    assert (info.value.column, info.value.field) == ("q", "expr")
    assert "line 4 of the template" in str(info.value)


def test_cycle_error_points_at_the_field_that_closes_it() -> None:
    with pytest.raises(PlanError) as info:
        plan_of(
            "  - {name: a, type: expression, expr: '1', when: '{{ b }}'}\n"
            "  - {name: b, type: validation, validator: python, targets: [a]}\n"
        )
    assert info.value.column == "a"
    assert info.value.field == "when"
    assert "a -> b -> a" in str(info.value)


def test_import_paths_are_checked_and_resolved() -> None:
    import os.path

    assert import_object("os.path:join") is os.path.join
    assert import_object("os.path.join") is os.path.join
    with pytest.raises(ValueError, match=r"package\.module:name"):
        import_object("join")
    plan = plan_of("  - {name: f, type: custom, function: 'os.path:join'}\n")
    assert plan.column("f").depends_on == frozenset()


def test_sandbox_refuses_dunder_access_when_rendering() -> None:
    from jinja2.exceptions import SecurityError

    from synthloom.plan.templates import compile_template

    template = compile_template("{{ x.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        template.render(x="text")
    assert (
        compile_template("{{ a.missing }}|{{ d }}|{{ n }}").render(a={"k": 1}, d={"k": 1}, n=None)
        == '|{"k": 1}|'
    )
