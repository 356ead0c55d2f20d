"""Jinja2 templates: one sandboxed environment, the checks a template must pass before a run, and
the column references a template makes.

Randomness reachable from a template (the `random` filter, the `lipsum` global) draws from a
per-render generator held in a context variable, so a run is reproducible: the engine sets a seed per
cell (`template_seed(seed)`, or `set_template_seed` in a hot loop) derived from the run seed, the
column and the record. Without one, a fixed seed is used, never the system's randomness.
"""

from __future__ import annotations

import difflib
import json
import random
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.constants import LOREM_IPSUM_WORDS
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from synthloom.errors import PlanError

__all__ = [
    "FALLBACK_TEMPLATE_SEED",
    "compile_template",
    "is_plain_text",
    "is_truthy",
    "key_reads",
    "literal_placeholders",
    "reset_template_seed",
    "set_examples_reader",
    "set_template_seed",
    "template_environment",
    "template_references",
    "template_rng",
    "template_seed",
    "uses_randomness",
]

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

#: The seed templates draw from when no cell seed is set: reproducible, never the system's randomness.
FALLBACK_TEMPLATE_SEED = 0x5EED


# ---- seeded randomness ----------------------------------------------------------------------------
class _LazyRandom:
    """A seed whose `random.Random` is made on the first draw: setting a seed per cell stays cheap
    for the many templates that never draw."""

    __slots__ = ("_rng", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng: random.Random | None = None

    def get(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng


_template_random: ContextVar[_LazyRandom | None] = ContextVar("synthloom_template_random", default=None)


def set_template_seed(seed: int) -> Token[_LazyRandom | None]:
    """Make templates rendered from now on (in this context) draw from `seed`. Returns the token for
    `reset_template_seed`. The engine calls it per cell, with a seed fixed by (run seed, column,
    record), so the same record draws the same values in every run and every process."""
    return _template_random.set(_LazyRandom(seed))


def reset_template_seed(token: Token[_LazyRandom | None]) -> None:
    """Undo the matching `set_template_seed`."""
    _template_random.reset(token)


@contextmanager
def template_seed(seed: int) -> Iterator[None]:
    """Within the block, template randomness (`random` filter, `lipsum`) draws from
    `random.Random(seed)` (made on the first draw: most cells never draw). The engine derives `seed`
    from the run seed, the column and the record, so a run that uses `| random` is reproducible,
    resumed or not."""
    token = set_template_seed(seed)
    try:
        yield
    finally:
        reset_template_seed(token)


def template_rng() -> random.Random:
    """The generator template randomness draws from in the current context. With no seed set, one
    seeded with `FALLBACK_TEMPLATE_SEED` is made for the current context."""
    current = _template_random.get()
    if current is None:
        current = _LazyRandom(FALLBACK_TEMPLATE_SEED)
        _template_random.set(current)
    return current.get()


@jinja2.pass_context
def _seeded_random(context: jinja2.runtime.Context, values: Sequence[Any]) -> Any:
    """Jinja's `random` filter, drawing from the cell's seeded generator."""
    items = list(values)
    if not items:
        return context.environment.undefined("No random item, sequence was empty.")
    return template_rng().choice(items)


def _seeded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's `lipsum` global (placeholder paragraphs, `<p>`-wrapped unless `html=False`), drawing
    from the cell's seeded generator."""
    rng = template_rng()
    words = LOREM_IPSUM_WORDS.split()
    paragraphs = []
    for _ in range(n):
        chosen: list[str] = []
        for _ in range(rng.randrange(min, max)):
            word = rng.choice(words)
            while chosen and word == chosen[-1].rstrip(",.").lower():
                word = rng.choice(words)
            if not chosen or chosen[-1].endswith("."):
                word = word.capitalize()
            elif rng.random() < 0.1:
                chosen[-1] += ","
            elif rng.random() < 0.08:
                chosen[-1] += "."
                word = word.capitalize()
            chosen.append(word)
        text = " ".join(chosen).rstrip(",.") + "."
        paragraphs.append(f"<p>{text}</p>" if html else text)
    return "\n".join(paragraphs) if html else "\n\n".join(paragraphs)


# ---- the environment ------------------------------------------------------------------------------
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


@lru_cache(maxsize=1)
def template_environment() -> ImmutableSandboxedEnvironment:
    """The environment every template renders in: sandboxed (no private or dunder attributes, no
    mutation of data, no file access), no autoescaping (this is text, not HTML), and undefined
    attributes of a value (`{{ answer.missing }}`) render empty instead of raising. Its randomness
    is seeded per cell (see the module docstring)."""
    env = _RefusingSandbox(
        undefined=jinja2.ChainableUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        cache_size=4096,
        finalize=_finalize,
    )
    env.filters["random"] = _seeded_random
    env.globals["lipsum"] = _seeded_lipsum
    env.globals["examples"] = _reviewed_examples
    return env


#: What `examples(...)` reads with: `(run_dir, verdict, n) -> records`. The interface installs a reader
#: of reviewed records before a run (the plan layer cannot read run directories itself).
ExamplesReader = Callable[[str, str, int], list[dict[str, Any]]]
_examples_reader: list[ExamplesReader] = []


def set_examples_reader(reader: ExamplesReader) -> None:
    """Install the reader behind the `examples(...)` template global."""
    _examples_reader[:] = [reader]


def _reviewed_examples(run: str, verdict: str = "good", n: int = 3) -> list[dict[str, Any]]:
    """`{% for ex in examples('output/qa', verdict='good', n=3) %}...{% endfor %}`: up to `n` records of
    the run at `run` (a path, relative to the working directory) whose latest review is `verdict`."""
    if not _examples_reader:
        raise jinja2.TemplateRuntimeError("examples() is only available while synthloom runs a config")
    return _examples_reader[0](str(run), str(verdict), int(n))


@lru_cache(maxsize=4096)
def compile_template(source: str) -> jinja2.Template:
    """Compile once; callers render many times. The template's globals (a chain of its own and the
    environment's, fixed once the environment is made) are flattened into one dict: Jinja walks them
    on every render, and walking a chain cost more than the render itself."""
    template = template_environment().from_string(source)
    template.globals = dict(template.globals)  # type: ignore[assignment]
    return template


#: Rendered conditions that read as false (`when`, filters, flow edges, seed filters).
_FALSE_TEXT = frozenset({"", "false", "0", "none", "no", "null"})


def is_truthy(rendered: str) -> bool:
    """How a rendered condition reads: 'False', '0', 'none', '' and the like are false."""
    return rendered.strip().lower() not in _FALSE_TEXT


def uses_randomness(source: str) -> bool:
    """Whether `source` draws random values (the `random` filter, `lipsum`): only then does a renderer
    need to set a seed per row."""
    ast = template_environment().parse(source)
    return any(f.name == "random" for f in ast.find_all(nodes.Filter)) or any(
        n.name == "lipsum" for n in ast.find_all(nodes.Name)
    )


def is_plain_text(source: str) -> bool:
    """Whether `source` has no Jinja in it at all (`x > 5` rather than `{{ x > 5 }}`)."""
    ast = template_environment().parse(source)
    return all(
        isinstance(node, nodes.Output) and all(isinstance(c, nodes.TemplateData) for c in node.nodes)
        for node in ast.body
    )


# ---- checks and references ------------------------------------------------------------------------
def template_references(
    source: str, *, column: str, field: str, columns: Collection[str] | None = None
) -> set[str]:
    """The top-level names `source` reads (`{{ answer.confidence }}` reads `answer`).

    A name the template assigns anywhere (`set`, `for`, `with`, a macro or its parameters) is the
    template's own variable, not a reference, unless it is one of `columns` (the known column and
    seed names): `{% if a %}{% set x = 1 %}{% endif %}{{ x }}` reads `a` only.

    Raises `PlanError` naming the column, the field and the template line when the template cannot
    render: a syntax error, an unknown filter or test (with the closest name), a file include."""
    env = template_environment()
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise PlanError(
            f"template syntax error on line {exc.lineno} of the template: {exc.message}",
            column=column,
            field=field,
        ) from None
    _check_names(env, ast, column=column, field=field)
    try:
        compile_template(source)
    except jinja2.TemplateSyntaxError as exc:  # includes TemplateAssertionError
        raise PlanError(
            f"template error on line {exc.lineno} of the template: {exc.message}", column=column, field=field
        ) from None
    names = meta.find_undeclared_variables(ast)
    own = _assigned_names(ast)
    keep = set(columns or ())
    return {
        n
        for n in names
        if n not in TEMPLATE_BUILTINS and n not in env.globals and (n not in own or n in keep)
    }


def _check_names(env: jinja2.Environment, ast: nodes.Template, *, column: str, field: str) -> None:
    """Jinja reports an unknown filter or test only when it is used (or, outside an `if`, when
    compiling): check every one up front, with the closest known name."""
    checks: list[tuple[str, type[nodes.Node], Collection[str]]] = [
        ("filter", nodes.Filter, env.filters),
        ("test", nodes.Test, env.tests),
    ]
    for kind, node_type, known in checks:
        for node in ast.find_all(node_type):
            name = node.name  # type: ignore[attr-defined]
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise PlanError(
                    f"unknown {kind} '{name}' on line {node.lineno} of the template{hint}",
                    column=column,
                    field=field,
                )
    for node in ast.find_all(tuple(_FILE_TAGS)):
        raise PlanError(
            f"'{{% {_FILE_TAGS[type(node)]} %}}' on line {node.lineno} of the template: templates "
            "cannot load other template files; put the text in the template itself",
            column=column,
            field=field,
        )


_FILE_TAGS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from",
}


def _assigned_names(ast: nodes.Template) -> set[str]:
    """Every name the template binds somewhere: `set` and `for` targets, `with` variables, macros and
    call blocks with their parameters."""
    own = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    own |= {m.name for m in ast.find_all(nodes.Macro)}
    return own


# ---- what a template reads inside a value ---------------------------------------------------------
#: Methods of a mapping a template may call on a structured value (`answer.items()`).
_MAPPING_METHODS = frozenset({"items", "keys", "values", "get"})

#: `{question}` (Python's str.format, SyGra, LangChain): one brace on each side, an identifier inside.
_SINGLE_BRACE = re.compile(r"(?<!\{)\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")


def literal_placeholders(source: str) -> list[str]:
    """Names written `{name}` in the template's literal text: Jinja sends them as they are."""
    ast = template_environment().parse(source)
    found: list[str] = []
    for data in ast.find_all(nodes.TemplateData):
        found.extend(match.group(1) for match in _SINGLE_BRACE.finditer(data.data))
    return found


def key_reads(source: str) -> list[tuple[str, tuple[tuple[str, bool], ...]]]:
    """Each `{{ name.key.subkey }}` or `{{ name['key'] }}` the template reads, as (name, keys), each key
    with whether it was written as an attribute (`.key`), for names the template does not bind itself.
    A method call on a mapping (`.items()`) ends the keys."""
    ast = template_environment().parse(source)
    own = _assigned_names(ast)
    reads: list[tuple[str, tuple[tuple[str, bool], ...]]] = []
    called = {id(call.node) for call in ast.find_all(nodes.Call)}
    # Outermost accesses only: `a.b.c` is one Getattr whose node is `a.b`; walk down to the name.
    inner: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in inner:
            continue
        keys: list[tuple[str, bool]] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            inner.add(id(current.node))
            key: tuple[str, bool] | None = None
            if isinstance(current, nodes.Getattr):
                if id(current) in called and current.attr in _MAPPING_METHODS:
                    keys.clear()  # `answer.items()`: what follows reads the method's result
                else:
                    key = (current.attr, True)
            else:
                arg = current.arg
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    key = (arg.value, False)
                else:
                    keys.clear()  # `answer[i]`: a computed key, nothing to check
            if key is not None:
                keys.insert(0, key)
            current = current.node
        if isinstance(current, nodes.Name) and current.ctx == "load" and current.name not in own and keys:
            reads.append((current.name, tuple(keys)))
    return reads
