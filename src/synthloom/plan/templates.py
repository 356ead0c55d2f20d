"""Jinja2 templates: one sandboxed environment, and the column references a template makes."""

from __future__ import annotations

import contextlib
import contextvars
import json
import random
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from synthloom.errors import PlanError

__all__ = ["compile_template", "template_environment", "template_references", "template_seed"]

# Names a template may use that are not columns.
TEMPLATE_BUILTINS = frozenset(
    {
        "loop",
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
    }
)


class _RefusingSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, but reaching for an unsafe attribute is an error rather than an empty string."""

    def unsafe_undefined(self, obj: object, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")


def _finalize(value: object) -> object:
    """How a value prints in a template: null (a skipped cell) as nothing, dicts and lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


#: The random source of templates rendered in this task: set per cell by the engine (`template_seed`).
_template_rng: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar(
    "template_rng", default=None
)
#: Used when nothing set a seed (a template rendered outside a run): fixed, so still reproducible.
_UNSEEDED = 0x5EED


@contextlib.contextmanager
def template_seed(seed: int) -> Iterator[random.Random]:
    """Within the block, template randomness (`random` filter) draws from `random.Random(seed)`. The
    engine derives `seed` from the run seed, the column and the record, so a run that uses `| random`
    is reproducible, resumed or not."""
    rng = random.Random(seed)
    token = _template_rng.set(rng)
    try:
        yield rng
    finally:
        _template_rng.reset(token)


def _seeded_random(values: Sequence[Any]) -> Any:
    """Jinja's `random` filter, drawing from the cell's seeded source instead of the process's."""
    rng = _template_rng.get()
    if rng is None:
        rng = random.Random(_UNSEEDED)
        _template_rng.set(rng)
    items = list(values)
    if not items:
        return jinja2.Undefined(hint="No random item, sequence was empty.")
    return rng.choice(items)


@lru_cache(maxsize=1)
def template_environment() -> ImmutableSandboxedEnvironment:
    """The environment every template renders in: sandboxed (no private or dunder attributes, no
    mutation of data, no file access), no autoescaping (this is text, not HTML), and undefined
    attributes of a value (`{{ answer.missing }}`) render empty instead of raising."""
    env = _RefusingSandbox(
        undefined=jinja2.ChainableUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        cache_size=4096,
        finalize=_finalize,
    )
    env.filters["random"] = _seeded_random
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str) -> jinja2.Template:
    """Compile once; callers render many times."""
    return template_environment().from_string(source)


def template_references(source: str, *, column: str, field: str) -> set[str]:
    """The top-level names `source` reads (`{{ answer.confidence }}` reads `answer`).

    Raises `PlanError` naming the column, the field and the template line on a syntax error."""
    env = template_environment()
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise PlanError(
            f"template syntax error on line {exc.lineno} of the template: {exc.message}",
            column=column,
            field=field,
        ) from None
    names = meta.find_undeclared_variables(ast)
    # Names bound by {% set %} or loops are declared; find_undeclared_variables already excludes them.
    return {n for n in names if n not in TEMPLATE_BUILTINS and not _is_global(env, n)}


def _is_global(env: jinja2.Environment, name: str) -> bool:
    return name in env.globals
