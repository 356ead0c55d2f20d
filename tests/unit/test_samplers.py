from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from synthloom.columns.sampler.config import SamplerColumn
from synthloom.columns.sampler.generator import AGE_REFERENCE_DATE, SAMPLERS, SamplerGenerator
from synthloom.columns.sampler.params import PERSON_FIELDS
from synthloom.engine.generator import CellFailure, RowGroupSlice
from synthloom.errors import ConfigError

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def draw(
    sampler: str,
    params: dict[str, Any] | None = None,
    *,
    size: int = 1000,
    index: int = 0,
    run_seed: int = 1,
    table: dict[str, list[Any]] | None = None,
    name: str = "col",
) -> list[Any]:
    gen = SamplerGenerator(SamplerColumn(name=name, sampler=sampler, params=params or {}), None)  # type: ignore[arg-type]
    group = RowGroupSlice(index=index, start=index * size, size=size, run_seed=run_seed)
    return gen.generate(table or {}, group, None)


SIMPLE = [
    ("category", {"values": ["a", "b", "c"]}),
    ("uniform", {"low": 0, "high": 1}),
    ("gaussian", {}),
    ("bernoulli", {"p": 0.5}),
    ("binomial", {"n": 10, "p": 0.5}),
    ("poisson", {"mean": 3}),
    ("scipy", {"dist": "beta", "params": {"a": 2, "b": 3}}),
    ("datetime", {"start": "2020-01-01", "end": "2024-01-01"}),
    ("timedelta", {"max": 10}),
    ("uuid", {}),
    ("person", {"fields": ["name", "age"]}),
]


def test_every_sampler_has_a_function() -> None:
    assert set(SAMPLERS) == {name for name, _ in SIMPLE} | {"subcategory"}


@pytest.mark.parametrize(("sampler", "params"), SIMPLE)
def test_same_seed_and_group_give_the_same_draws(sampler: str, params: dict[str, Any]) -> None:
    assert draw(sampler, params, size=200) == draw(sampler, params, size=200)


@pytest.mark.parametrize(("sampler", "params"), SIMPLE)
def test_other_group_seed_or_column_give_other_draws(sampler: str, params: dict[str, Any]) -> None:
    base = draw(sampler, params, size=200)
    assert base != draw(sampler, params, size=200, index=1)
    assert base != draw(sampler, params, size=200, run_seed=2)
    assert base != draw(sampler, params, size=200, name="other")


@pytest.mark.parametrize(("sampler", "params"), SIMPLE)
def test_draws_ignore_the_active_mask(sampler: str, params: dict[str, Any]) -> None:
    gen = SamplerGenerator(SamplerColumn(name="c", sampler=sampler, params=params), None)  # type: ignore[arg-type]
    group = RowGroupSlice(index=0, start=0, size=50, run_seed=1)
    assert gen.generate({}, group, [i % 2 == 0 for i in range(50)]) == gen.generate({}, group, None)


def test_category_frequencies_follow_the_weights() -> None:
    values = draw("category", {"values": ["x", "y", "z"], "weights": [6, 3, 1]}, size=20_000)
    counts = Counter(values)
    assert set(counts) == {"x", "y", "z"}
    assert counts["x"] / 20_000 == pytest.approx(0.6, abs=0.02)
    assert counts["y"] / 20_000 == pytest.approx(0.3, abs=0.02)
    assert counts["z"] / 20_000 == pytest.approx(0.1, abs=0.02)


def test_category_without_weights_is_uniform_and_keeps_value_types() -> None:
    values = draw("category", {"values": [1, "two", [3]]}, size=9000)
    assert all(v in (1, "two", [3]) for v in values)
    counts = Counter(map(str, values))
    assert all(c / 9000 == pytest.approx(1 / 3, abs=0.03) for c in counts.values())


def test_subcategory_picks_from_the_parent_values_list() -> None:
    parents = ["fruit", "veg", "fruit", "unknown", None, "veg"] * 100
    values = draw(
        "subcategory",
        {"category": "kind", "values": {"fruit": ["apple", "pear"], "veg": ["leek"]}},
        size=len(parents),
        table={"kind": parents},
    )
    for parent, value in zip(parents, values, strict=True):
        expected = {"fruit": {"apple", "pear"}, "veg": {"leek"}}.get(parent)
        if expected is None:
            assert value is None
        else:
            assert value in expected
    assert {v for p, v in zip(parents, values, strict=True) if p == "fruit"} == {"apple", "pear"}


def test_subcategory_matches_non_string_parents_by_their_text() -> None:
    values = draw("subcategory", {"category": "n", "values": {"1": ["one"]}}, size=2, table={"n": [1, 2]})
    assert values == ["one", None]


def test_uniform_float_stays_in_range() -> None:
    values = draw("uniform", {"low": -2.5, "high": 7.5}, size=20_000)
    assert all(isinstance(v, float) for v in values)
    assert min(values) >= -2.5 and max(values) <= 7.5
    assert np.mean(values) == pytest.approx(2.5, abs=0.1)


def test_uniform_int_includes_both_ends() -> None:
    values = draw("uniform", {"low": 1, "high": 3, "dtype": "int"}, size=3000)
    assert all(type(v) is int for v in values)
    assert set(values) == {1, 2, 3}


def test_uniform_int_without_an_integer_in_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"column 'col', field 'params': no integer lies between"):
        draw("uniform", {"low": 0.2, "high": 0.8, "dtype": "int"})


def test_gaussian_mean_and_stddev() -> None:
    values = np.array(draw("gaussian", {"mean": 10, "stddev": 2}, size=20_000))
    assert values.mean() == pytest.approx(10, abs=0.1)
    assert values.std() == pytest.approx(2, abs=0.1)


def test_bernoulli_gives_bools_at_rate_p() -> None:
    values = draw("bernoulli", {"p": 0.2}, size=20_000)
    assert all(type(v) is bool for v in values)
    assert sum(values) / 20_000 == pytest.approx(0.2, abs=0.015)


def test_binomial_and_poisson_give_ints_with_the_right_mean() -> None:
    binomial = draw("binomial", {"n": 20, "p": 0.25}, size=20_000)
    poisson = draw("poisson", {"mean": 4}, size=20_000)
    assert all(type(v) is int for v in binomial + poisson)
    assert max(binomial) <= 20
    assert np.mean(binomial) == pytest.approx(5, abs=0.1)
    assert np.mean(poisson) == pytest.approx(4, abs=0.1)


def test_scipy_distribution_with_shape_parameters() -> None:
    values = draw("scipy", {"dist": "gamma", "params": {"a": 2.0, "scale": 3.0}}, size=20_000)
    assert min(values) > 0
    assert np.mean(values) == pytest.approx(6, rel=0.05)
    discrete = draw("scipy", {"dist": "randint", "params": {"low": 2, "high": 5}}, size=1000)
    assert set(discrete) == {2, 3, 4} and all(type(v) is int for v in discrete)


def test_datetime_is_within_range_at_unit_resolution() -> None:
    values = draw("datetime", {"start": "2024-01-01", "end": "2024-03-01", "unit": "D"}, size=5000)
    assert all(type(v) is dt.datetime for v in values)
    assert min(values) == dt.datetime(2024, 1, 1) and max(values) == dt.datetime(2024, 3, 1)
    assert all(v.hour == v.minute == v.second == 0 for v in values)
    hourly = draw("datetime", {"start": "2024-01-01", "end": "2024-01-02", "unit": "h"}, size=500)
    assert {v.minute for v in hourly} == {0}
    assert len({v.hour for v in hourly}) == 24


def test_datetime_keeps_the_time_zone() -> None:
    values = draw(
        "datetime", {"start": "2024-01-01T00:00:00+02:00", "end": "2024-01-02T00:00:00+02:00"}, size=100
    )
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert all(v.utcoffset() == dt.timedelta(hours=2) for v in values)
    assert all(start <= v <= start + dt.timedelta(days=1) for v in values)


def test_timedelta_without_reference_is_a_timedelta_in_range() -> None:
    values = draw("timedelta", {"min": 1, "max": 2, "unit": "h"}, size=2000)
    assert all(type(v) is dt.timedelta for v in values)
    assert min(values) >= dt.timedelta(hours=1) and max(values) <= dt.timedelta(hours=2)
    assert len(set(values)) > 1000  # one-second resolution, not whole hours


def test_timedelta_with_reference_is_added_to_the_reference_column() -> None:
    refs = [dt.datetime(2024, 5, 1), None, "2024-05-01T12:00:00", dt.date(2024, 5, 1), 42]
    params = {"min": 0, "max": 3, "unit": "D", "reference": "ordered_at"}
    values = draw("timedelta", params, size=5, table={"ordered_at": refs})
    deltas = draw("timedelta", {"min": 0, "max": 3, "unit": "D"}, size=5)
    assert values[0] == dt.datetime(2024, 5, 1) + deltas[0]
    assert values[1] is None
    assert values[2] == dt.datetime(2024, 5, 1, 12) + deltas[2]
    assert values[3] == dt.date(2024, 5, 1) + deltas[3]
    assert isinstance(values[4], CellFailure) and "holds a int, not a datetime" in values[4].error


def test_uuid_values_are_valid_v4_and_unique() -> None:
    values = draw("uuid", size=20_000)
    assert all(UUID_RE.match(v) for v in values)
    assert len(set(values)) == 20_000


def test_uuid_prefix_short_and_uppercase() -> None:
    values = draw("uuid", {"prefix": "rec-", "short": True, "uppercase": True}, size=1000)
    assert all(re.fullmatch(r"rec-[0-9A-F]{12}", v) for v in values)
    assert len(set(values)) == 1000


def test_person_has_every_field_by_default_and_ages_in_range() -> None:
    people = draw("person", {"age_range": [30, 40]}, size=2000)
    assert all(list(p) == list(PERSON_FIELDS) for p in people)
    assert {p["age"] for p in people} == set(range(30, 41))
    assert {p["sex"] for p in people} == {"female", "male"}
    for p in people:
        born = p["birth_date"]
        had_birthday = (AGE_REFERENCE_DATE.month, AGE_REFERENCE_DATE.day) >= (born.month, born.day)
        assert AGE_REFERENCE_DATE.year - born.year - (0 if had_birthday else 1) == p["age"]
        assert p["name"] == f"{p['first_name']} {p['last_name']}"
        assert "@" in p["email"] and p["country"] == "United States"
        assert p["city"] and p["state"] and p["phone"] and p["occupation"]


def test_person_fields_subset_and_fixed_sex() -> None:
    people = draw("person", {"fields": ["first_name", "sex"], "sex": "female"}, size=500)
    assert all(set(p) == {"first_name", "sex"} and p["sex"] == "female" for p in people)


def test_person_asking_for_fewer_fields_keeps_the_others_values() -> None:
    full = draw("person", size=200)
    some = draw("person", {"fields": ["age", "occupation"]}, size=200)
    assert [(p["age"], p["occupation"]) for p in full] == [(p["age"], p["occupation"]) for p in some]


def test_person_follows_the_locale() -> None:
    people = draw("person", {"locale": "ja_JP", "fields": ["name", "last_name", "country"]}, size=200)
    assert all(p["country"] == "Japan" for p in people)
    # Japanese names are written family name first, without a space in Faker's plain format or with one.
    assert all(p["name"].startswith(p["last_name"]) for p in people)
    german = draw("person", {"locale": "de_DE", "fields": ["country", "phone"]}, size=50)
    assert all(p["country"] == "Germany" for p in german)


def test_person_with_an_unknown_locale_is_refused_at_config_time() -> None:
    with pytest.raises(ValidationError, match="unknown Faker locale 'xx_XX'"):
        SamplerColumn(name="p", sampler="person", params={"locale": "xx_XX"})


@pytest.mark.parametrize(("sampler", "params"), [*SIMPLE, ("person", {}), ("person", {"locale": "ja_JP"})])
def test_a_records_draw_does_not_depend_on_its_row_group_size(sampler: str, params: dict[str, Any]) -> None:
    """A preview of 3 shows the records `create` makes first; extending a partial group keeps its rows."""
    small = draw(sampler, params, size=3)
    large = draw(sampler, params, size=40)
    assert small == large[:3]
