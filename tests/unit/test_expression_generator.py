from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from synthloom.columns.expression.config import ExpressionColumn
from synthloom.columns.expression.generator import ExpressionGenerator
from synthloom.engine.generator import CellFailure, RowGroupSlice


def render(
    expr: str, table: dict[str, list[Any]], dtype: str = "str", active: Sequence[bool] | None = None
) -> list[Any]:
    gen = ExpressionGenerator(ExpressionColumn(name="e", expr=expr, dtype=dtype), None)  # type: ignore[arg-type]
    size = len(next(iter(table.values()))) if table else 1
    return gen.generate(table, RowGroupSlice(index=0, start=0, size=size, run_seed=0), active)


def failed(value: Any, text: str) -> bool:
    return isinstance(value, CellFailure) and text in value.error


def test_renders_each_row_with_its_own_values() -> None:
    table = {"topic": ["a", "b"], "difficulty": [3.14159, 7.77]}
    assert render("{{ topic }}-{{ difficulty | round(1) }}", table) == ["a-3.1", "b-7.8"]


def test_reads_nested_fields_of_structured_columns() -> None:
    table = {"answer": [{"score": 3, "tags": ["x"]}, {"score": 1, "tags": []}]}
    assert render("{{ answer.score }}/{{ answer.tags | length }}", table) == ["3/1", "1/0"]


def test_missing_attribute_renders_empty() -> None:
    assert render("[{{ answer.missing }}]", {"answer": [{"a": 1}]}) == ["[]"]


def test_globals_and_local_variables_work_and_do_not_leak_between_rows() -> None:
    expr = "{% if x %}{% set y = x * 2 %}{% endif %}{{ y }}|{{ range(2) | list }}"
    assert render(expr, {"x": [1, 0, 3]}) == ["2|[0, 1]", "|[0, 1]", "6|[0, 1]"]


def test_inactive_rows_are_not_rendered() -> None:
    # Row 1 would fail (division by zero); it is inactive, so it is simply None.
    assert render("{{ 10 // n }}", {"n": [2, 0, 5]}, "int", active=[True, False, True]) == [5, None, 2]


def test_int_cast_accepts_whole_floats_and_refuses_fractions() -> None:
    values = render("{{ v }}", {"v": [" 7 ", "3.0", "3.5", "seven"]}, "int")
    assert values[:2] == [7, 3]
    assert failed(values[2], "'3.5' is not a whole number")
    assert failed(values[3], "could not convert string to float")


def test_float_cast() -> None:
    values = render("{{ v * 2 }}", {"v": [1.25, 2]}, "float")
    assert values == [2.5, 4.0] and all(type(v) is float for v in values)


def test_bool_cast_accepts_the_documented_spellings_only() -> None:
    values = render("{{ v }}", {"v": ["True", "true", "1", "False", "false", "0", "", "yes"]}, "bool")
    assert values[:7] == [True, True, True, False, False, False, False]
    assert failed(values[7], "'yes' is not a boolean")


def test_bool_cast_of_a_comparison() -> None:
    assert render("{{ difficulty > 5 }}", {"difficulty": [2.0, 8.0]}, "bool") == [False, True]


def test_json_cast_parses_the_rendered_text() -> None:
    values = render(
        '{"name": "{{ n }}", "tags": {{ tags | tojson }}}', {"n": ["a", 'b"'], "tags": [[1], []]}, "json"
    )
    assert values[0] == {"name": "a", "tags": [1]}
    assert failed(values[1], "not valid JSON")


def test_a_failing_row_does_not_fail_the_others() -> None:
    values = render("{{ 1 / n }}", {"n": [1, 0, 4]}, "float")
    assert values[0] == 1.0 and values[2] == 0.25
    assert failed(values[1], "ZeroDivisionError")


def test_sandbox_refuses_dunder_access_for_that_row() -> None:
    values = render("{{ ''.__class__.__mro__ }}", {"x": [1, 2]})
    assert all(failed(v, "SecurityError") for v in values)


def test_sandbox_refuses_unsafe_access_through_data() -> None:
    values = render("{{ x.__class__.__subclasses__() }}", {"x": [object(), 1]})
    assert all(failed(v, "SecurityError") for v in values)


def test_seed_text_that_looks_like_a_template_is_not_rendered_again() -> None:
    table = {"text": ["{{ secret }}", "{% for i in range(3) %}x{% endfor %}"], "secret": ["s1", "s2"]}
    assert render("<{{ text }}>", table) == ["<{{ secret }}>", "<{% for i in range(3) %}x{% endfor %}>"]


def test_columns_not_in_the_table_render_as_undefined() -> None:
    assert render("[{{ nope }}]", {"x": [1, 2]}) == ["[]", "[]"]


def test_same_input_gives_same_output_across_generators() -> None:
    table = {"v": list(range(100))}
    assert (
        render("{{ v * 3 }}", table, "int")
        == render("{{ v * 3 }}", table, "int")
        == [3 * v for v in range(100)]
    )


@pytest.mark.parametrize(
    "expr",
    [
        "{{ topic }}-{{ difficulty | round(1) }}",
        "{{ difficulty > 5 }}",
        "{{ topic | upper }}{{ difficulty }}",
    ],
)
def test_fast_path_matches_template_render(expr: str) -> None:
    table = {"topic": ["alpha", "beta", None], "difficulty": [1.26, 9.99, 5]}
    gen = ExpressionGenerator(ExpressionColumn(name="e", expr=expr), None)  # type: ignore[arg-type]
    expected = [gen.template.render(topic=t, difficulty=d) for t, d in zip(*table.values(), strict=True)]
    assert render(expr, table) == expected
