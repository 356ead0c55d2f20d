"""Templates: what they reference, what they may use, and randomness that is seeded per record."""

from __future__ import annotations

import contextvars

import pytest

import synthloom
from synthloom.errors import PlanError
from synthloom.plan.templates import (
    compile_template,
    set_template_seed,
    template_references,
    template_rng,
    template_seed,
    uses_randomness,
)


def refs(source: str, columns: set[str] | None = None) -> set[str]:
    return template_references(source, column="c", field="expr", columns=columns)


# ---- references -----------------------------------------------------------------------------------


def test_a_variable_set_inside_a_branch_is_not_a_column_reference() -> None:
    source = "{% if a %}{% set x = 1 %}{% else %}{% set x = 2 %}{% endif %}{{ x }}"
    assert refs(source) == {"a"}
    assert refs("{% if a %}{% set label %}yes{% endset %}{% endif %}{{ label }}") == {"a"}


def test_names_bound_by_for_with_and_macros_anywhere_are_not_references() -> None:
    assert refs("{% for k in ks %}{% endfor %}{{ k }}") == {"ks"}
    assert refs("{% with y = a %}{% endwith %}{{ y }}") == {"a"}
    assert refs("{{ m(1) }}{% macro m(p) %}{{ p }}{% endmacro %}") == set()


def test_a_column_read_before_a_template_variable_of_the_same_name_is_still_a_reference() -> None:
    assert refs("{{ a }}{% set a = 2 %}", columns={"a"}) == {"a"}
    assert refs("{% if b %}{% set a = 2 %}{% endif %}{{ a }}", columns={"a", "b"}) == {"a", "b"}
    assert refs("{% set a = 2 %}{{ a }}", columns={"a"}) == set()


def test_a_set_in_a_branch_plans_without_an_unknown_column_error(tmp_path: object) -> None:
    config = (
        synthloom.DatasetBuilder("branch")
        .sampler("level", "category", values=["easy", "hard"])
        .expression(
            "label",
            "{% if level == 'hard' %}{% set tag = 'H' %}{% else %}{% set tag = 'E' %}{% endif %}{{ tag }}",
        )
        .build()
    )
    assert synthloom.validate(config).column("label").depends_on == {"level"}
    rows = list(synthloom.preview(config, num_records=6))
    assert all(r["label"] == ("H" if r["level"] == "hard" else "E") for r in rows)


# ---- templates that parse but cannot render ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ a | uper }}", "unknown filter 'uper' on line 1 of the template (did you mean 'upper'?)"),
        ("{% if a is frobbed %}1{% endif %}", "unknown test 'frobbed'"),
        ("{% if a %}{{ a | joinn(',') }}{% endif %}", "unknown filter 'joinn'"),
        ("line\n{% filter uper %}x{% endfilter %}", "unknown filter 'uper' on line 2"),
        ("{% include 'other.j2' %}", "cannot load other template files"),
        ("{% import 'm.j2' as m %}", "cannot load other template files"),
    ],
)
def test_unknown_filters_tests_and_file_loads_are_plan_errors(source: str, message: str) -> None:
    with pytest.raises(PlanError) as info:
        refs(source)
    assert message in str(info.value)
    assert (info.value.column, info.value.field) == ("c", "expr")


def test_every_standard_filter_and_test_passes() -> None:
    assert refs("{{ a | upper | trim | default('x') }}{{ b is defined }}{{ c | random }}") == {"a", "b", "c"}


# ---- seeded randomness ----------------------------------------------------------------------------

DRAW = "{{ range(1000) | random }} {{ range(1000) | random }} {{ lipsum(1, html=False, min=5, max=9) }}"


def test_random_and_lipsum_draw_from_the_seed() -> None:
    template = compile_template(DRAW)
    with template_seed(7):
        first = template.render()
    with template_seed(7):
        again = template.render()
    with template_seed(8):
        other = template.render()
    assert first == again
    assert first != other


def test_without_a_seed_templates_use_a_fixed_one_not_the_system_randomness() -> None:
    template = compile_template(DRAW)
    # A fresh context stands for a fresh process: the same draws every time.
    first = contextvars.Context().run(template.render)
    second = contextvars.Context().run(template.render)
    assert first == second


def test_a_seed_holds_for_its_context_only() -> None:
    def draw_with(seed: int) -> int:
        set_template_seed(seed)
        return template_rng().randrange(10**9)

    a = contextvars.Context().run(draw_with, 1)
    b = contextvars.Context().run(draw_with, 1)
    c = contextvars.Context().run(draw_with, 2)
    assert a == b != c


def test_uses_randomness_sees_the_random_filter_and_lipsum() -> None:
    assert uses_randomness("{{ xs | random }}")
    assert uses_randomness("{{ lipsum(1) }}")
    assert not uses_randomness("{{ xs | first }}")


def _draws(run_seed: int, num_records: int = 40) -> list[str]:
    config = (
        synthloom.DatasetBuilder("draws")
        .sampler("n", "category", values=["x"])
        .expression("pick", "{{ range(100000) | random }}-{{ ['a', 'b', 'c', 'd'] | random }}")
        .run(seed=run_seed, buffer_size=16)
        .build()
    )
    return [row["pick"] for row in synthloom.preview(config, num_records=num_records)]


def test_expression_random_draws_are_reproducible_per_record_and_differ_between_records() -> None:
    first = _draws(3)
    assert first == _draws(3)  # same run seed: same draws
    assert len(set(first)) > 30  # different records: different draws
    assert first != _draws(4)  # another run seed: other draws
    # A record's draws do not depend on how many records the run has.
    assert _draws(3, num_records=10) == first[:10]
