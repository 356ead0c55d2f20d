"""Every malformed config is refused with one `ConfigError` naming what a user needs to fix it.

The table below is run twice: through `synthloom.validate(path)` and through `synthloom validate` on the
command line (exit code 2, one "Error: ..." line on stderr, never a traceback). Expected substrings are
the facts a user needs: the file, the column or model, the field and the key fact; `{file}` stands for
the config file's name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.errors import ConfigError, PlanError, SeedDataError
from synthloom.interface.cli import cli

MODELS = "models:\n  - {alias: writer, provider: local}\n"
UUID = "  - {name: a, type: sampler, sampler: uuid}\n"
CONFIG_NAME = "dataset.yaml"


def sampler(name: str, kind: str, params: str) -> str:
    return f"columns:\n  - {{name: {name}, type: sampler, sampler: {kind}, params: {params}}}\n"


def case(id: str, text: str, *expected: str, marks: object = ()) -> object:
    return pytest.param(text, expected, id=id, marks=marks)


BAD_CONFIGS = [
    # ---- YAML itself ---------------------------------------------------------------------------
    case(
        "yaml-unclosed-flow-sequence",
        "name: x\ncolumns:\n  - name: a\n    type: [sampler\n",
        "{file}:5",
        "invalid YAML",
    ),
    case("yaml-tab-indent", "columns:\n\t- name: a\n", "{file}:2", "invalid YAML", "'\\t'"),
    case("yaml-empty-file", "", "{file}", "must be a mapping"),
    case("yaml-top-level-list", "- a\n- b\n", "{file}", "must be a mapping"),
    case("yaml-top-level-scalar", "just a string\n", "{file}", "must be a mapping"),
    # ---- structure -----------------------------------------------------------------------------
    case(
        "unknown-top-level-key",
        "name: x\ncolums: []\ncolumns:\n" + UUID,
        "{file}:2",
        "field 'colums'",
        "unknown field",
        "did you mean 'columns'?",
    ),
    case(
        "unknown-column-key-with-suggestion",
        "columns:\n  - name: answer\n    type: expression\n    exprr: '1'\n",
        "{file}:4",
        "column 'answer'",
        "field 'exprr'",
        "unknown field",
        "did you mean 'expr'?",
    ),
    case(
        "unknown-model-key-with-suggestion",
        "models:\n  - {alias: w, provider: local, timout: 5}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'w'",
        "field 'timout'",
        "did you mean 'timeout'?",
    ),
    case(
        "secret-in-config-is-unknown-field",
        "models:\n  - {alias: w, provider: local, api_key: sk-123}\ncolumns:\n" + UUID,
        "{file}",
        "model 'w'",
        "field 'api_key'",
        "did you mean 'api_key_env'?",
    ),
    case("columns-missing", "name: x\n", "{file}", "field 'columns'", "required field is missing"),
    case("columns-empty", "columns: []\n", "{file}:1", "field 'columns'", "at least 1 item"),
    case("columns-not-a-list", "columns: 5\n", "{file}:1", "field 'columns'", "valid list"),
    case("column-not-a-mapping", "columns:\n  - a\n", "{file}:2", "column '#1'", "dictionary"),
    case("column-type-missing", "columns:\n  - {name: a}\n", "{file}:2", "column 'a'", "'type'"),
    case(
        "unknown-column-type",
        "columns:\n  - {name: a, type: samplr}\n",
        "{file}:2",
        "column 'a'",
        "'samplr'",
        "'sampler'",
    ),
    case(
        "unknown-sampler",
        "columns:\n  - {name: a, type: sampler, sampler: gausian}\n",
        "{file}:2",
        "column 'a'",
        "field 'sampler'",
        "'gaussian'",
    ),
    case(
        "wrong-type-drop-not-bool",
        "columns:\n  - {name: a, type: expression, expr: '1', drop: maybe}\n",
        "{file}:2",
        "column 'a'",
        "field 'drop'",
        "boolean",
    ),
    case(
        "wrong-type-max-parallel-requests",
        "models:\n  - {alias: w, provider: local, max_parallel_requests: lots}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'w'",
        "field 'max_parallel_requests'",
        "integer",
    ),
    case(
        "wrong-type-temperature",
        "models:\n  - {alias: w, provider: local, inference: {temperature: hot}}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'w'",
        "field 'inference.temperature",
        "number",
    ),
    case(
        "missing-sampler-field",
        "columns:\n  - {name: a, type: sampler}\n",
        "{file}:2",
        "column 'a'",
        "field 'sampler'",
        "required field is missing",
    ),
    case(
        "missing-prompt",
        MODELS + "columns:\n  - {name: q, type: llm-text, model: writer}\n",
        "{file}:4",
        "column 'q'",
        "field 'prompt'",
        "required field is missing",
    ),
    case(
        "judge-without-scores",
        MODELS + "columns:\n  - {name: j, type: llm-judge, model: writer, prompt: hi, scores: []}\n",
        "{file}:4",
        "column 'j'",
        "field 'scores'",
        "at least 1 item",
    ),
    case("duplicate-column-names", "columns:\n" + UUID + UUID, "{file}", "duplicate column name: a"),
    case(
        "side-column-clashes-with-column",
        MODELS + "columns:\n  - {name: q, type: llm-text, model: writer, prompt: hi, with_reasoning: true}\n"
        "  - {name: q__reasoning, type: sampler, sampler: uuid}\n",
        "{file}",
        "duplicate column name: q__reasoning",
    ),
    case(
        "duplicate-model-aliases",
        MODELS + "  - {alias: writer, provider: local}\ncolumns:\n" + UUID,
        "{file}",
        "duplicate model alias: writer",
    ),
    case(
        "column-name-with-space",
        "columns:\n  - {name: 'my col', type: sampler, sampler: uuid}\n",
        "{file}:2",
        "column 'my col'",
        "field 'name'",
        "pattern",
    ),
    case(
        "dataset-name-path-traversal", "name: ../x\ncolumns:\n" + UUID, "{file}:1", "field 'name'", "pattern"
    ),
    case("dataset-name-with-slash", "name: a/b\ncolumns:\n" + UUID, "{file}:1", "field 'name'", "pattern"),
    # ---- models ----------------------------------------------------------------------------------
    case(
        "openai-without-base-url",
        "models:\n  - {alias: judge, provider: openai, model: m}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'judge'",
        "'base_url'",
    ),
    case(
        "openai-without-model",
        "models:\n  - {alias: judge, provider: openai, base_url: 'http://x/v1'}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'judge'",
        "needs 'model'",
    ),
    case(
        "unknown-provider",
        "models:\n  - {alias: w, provider: azure}\ncolumns:\n" + UUID,
        "{file}:2",
        "model 'w'",
        "field 'provider'",
        "'openai'",
    ),
    case(
        "no-models-declared",
        "columns:\n  - {name: q, type: llm-text, model: writer, prompt: hi}\n",
        "{file}",
        "column 'q'",
        "field 'model'",
        "unknown model alias 'writer'",
        "declares no models",
    ),
    case(
        "unknown-model-alias-with-suggestion",
        MODELS + "columns:\n  - {name: q, type: llm-text, model: writr, prompt: hi}\n",
        "{file}",
        "column 'q'",
        "field 'model'",
        "unknown model alias 'writr'",
        "did you mean 'writer'?",
    ),
    # ---- plan: references and cycles -------------------------------------------------------------
    case(
        "cycle-of-two",
        "columns:\n  - {name: a, type: expression, expr: '{{ b }}'}\n"
        "  - {name: b, type: expression, expr: '{{ a }}'}\n",
        "{file}",
        "column 'a'",
        "field 'expr'",
        "dependency cycle: a -> b -> a",
    ),
    case(
        "cycle-of-three",
        "columns:\n  - {name: a, type: expression, expr: '{{ c }}'}\n"
        "  - {name: b, type: expression, expr: '{{ a }}'}\n"
        "  - {name: c, type: expression, expr: '{{ b }}'}\n",
        "{file}",
        "column 'a'",
        "field 'expr'",
        "dependency cycle: a -> c -> b -> a",
    ),
    case(
        "self-reference",
        "columns:\n  - {name: a, type: expression, expr: '{{ a }}'}\n",
        "{file}",
        "column 'a'",
        "field 'expr'",
        "dependency cycle: a -> a",
    ),
    case(
        "cycle-through-when",
        "columns:\n  - {name: a, type: expression, expr: '1', when: '{{ b }}'}\n"
        "  - {name: b, type: expression, expr: '{{ a }}'}\n",
        "{file}",
        "column 'a'",
        "field 'when'",
        "dependency cycle: a -> b -> a",
    ),
    case(
        "unknown-reference-in-prompt",
        MODELS + "columns:\n  - {name: topic, type: sampler, sampler: uuid}\n"
        "  - {name: q, type: llm-text, model: writer, prompt: 'about {{ topc }}'}\n",
        "{file}",
        "column 'q'",
        "field 'prompt'",
        "unknown column 'topc'",
        "did you mean 'topic'?",
    ),
    case(
        "unknown-reference-in-system-prompt",
        MODELS + "columns:\n  - {name: topic, type: sampler, sampler: uuid}\n"
        "  - {name: q, type: llm-text, model: writer, prompt: hi, system_prompt: 'be {{ topik }}'}\n",
        "{file}",
        "column 'q'",
        "field 'system_prompt'",
        "unknown column 'topik'",
        "did you mean 'topic'?",
    ),
    case(
        "unknown-reference-in-when",
        "columns:\n  - {name: score, type: sampler, sampler: uuid}\n"
        "  - {name: b, type: expression, expr: '1', when: '{{ scor > 1 }}'}\n",
        "{file}",
        "column 'b'",
        "field 'when'",
        "unknown column 'scor'",
        "did you mean 'score'?",
    ),
    case(
        "unknown-reference-in-expr",
        "columns:\n  - {name: question, type: sampler, sampler: uuid}\n"
        "  - {name: b, type: expression, expr: '{{ qestion.text }}'}\n",
        "{file}",
        "column 'b'",
        "field 'expr'",
        "unknown column 'qestion'",
        "did you mean 'question'?",
    ),
    case(
        "unknown-reference-in-targets",
        "columns:\n  - {name: answer, type: sampler, sampler: uuid}\n"
        "  - {name: v, type: validation, validator: python, targets: [answr]}\n",
        "{file}",
        "column 'v'",
        "field 'targets'",
        "unknown column 'answr'",
        "did you mean 'answer'?",
    ),
    case(
        "unknown-reference-in-embedding-source",
        MODELS + "columns:\n  - {name: answer, type: sampler, sampler: uuid}\n"
        "  - {name: e, type: embedding, model: writer, source: answe}\n",
        "{file}",
        "column 'e'",
        "field 'source'",
        "unknown column 'answe'",
        "did you mean 'answer'?",
    ),
    case(
        "unknown-reference-in-custom-inputs",
        "columns:\n  - {name: a, type: custom, function: 'os.path:join', inputs: [zz]}\n",
        "{file}",
        "column 'a'",
        "field 'inputs'",
        "unknown column 'zz'",
    ),
    case(
        "subcategory-references-unknown-column",
        sampler("sub", "subcategory", "{category: topic, values: {x: [1]}}"),
        "{file}",
        "column 'sub'",
        "field 'params.category'",
        "unknown column 'topic'",
    ),
    case(
        "timedelta-references-unknown-column",
        sampler("later", "timedelta", "{max: 3, reference: when_}"),
        "{file}",
        "column 'later'",
        "field 'params.reference'",
        "unknown column 'when_'",
    ),
    case(
        "jinja-unclosed-block-tag",
        "columns:\n  - name: a\n    type: expression\n    expr: |\n      line one\n      {% for x in y %}\n"
        "      no end\n",
        "{file}",
        "column 'a'",
        "field 'expr'",
        "template syntax error",
        "line ",
        "'endfor'",
    ),
    case(
        "jinja-bad-expression-on-line-2",
        MODELS + "columns:\n  - name: q\n    type: llm-text\n    model: writer\n"
        '    prompt: "first line\\nsecond {{ oops oops }}\\nthird"\n',
        "{file}",
        "column 'q'",
        "field 'prompt'",
        "template syntax error on line 2",
    ),
    # ---- sampler parameters ----------------------------------------------------------------------
    case(
        "category-weights-length",
        sampler("a", "category", "{values: [x, y], weights: [1]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'weights' has 1 entries but 'values' has 2",
    ),
    case(
        "category-negative-weight",
        sampler("a", "category", "{values: [x, y], weights: [1, -1]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "weights.1",
        "greater than or equal to 0",
    ),
    case(
        "category-all-zero-weights",
        sampler("a", "category", "{values: [x, y], weights: [0, 0]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "must not all be zero",
    ),
    case(
        "category-no-values",
        sampler("a", "category", "{values: []}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "values",
    ),
    case(
        "category-unknown-param",
        sampler("a", "category", "{values: [x], wieghts: [1]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "wieghts",
    ),
    case(
        "uniform-low-above-high",
        sampler("a", "uniform", "{low: 5, high: 1}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'low' (5.0) must not exceed 'high' (1.0)",
    ),
    case(
        "gaussian-negative-stddev",
        sampler("a", "gaussian", "{mean: 0, stddev: -1}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "stddev",
    ),
    case(
        "bernoulli-p-above-one",
        sampler("a", "bernoulli", "{p: 1.5}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "sampler 'bernoulli'",
        "p: ",
        "less than or equal to 1",
    ),
    case(
        "binomial-negative-n",
        sampler("a", "binomial", "{n: -1, p: 0.5}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "sampler 'binomial'",
        "n: ",
    ),
    case(
        "poisson-negative-mean",
        sampler("a", "poisson", "{mean: -2}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "sampler 'poisson'",
        "mean: ",
    ),
    case(
        "scipy-unknown-distribution",
        sampler("a", "scipy", "{dist: nope}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'nope' is not a scipy.stats distribution",
    ),
    case(
        "scipy-bad-shape-parameter",
        sampler("a", "scipy", "{dist: gamma, params: {a: -1}}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "scipy.stats.gamma",
    ),
    case(
        "datetime-start-after-end",
        sampler("a", "datetime", "{start: '2024-01-01', end: '2023-01-01'}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'start' must not be after 'end'",
    ),
    case(
        "datetime-mixed-timezones",
        sampler("a", "datetime", "{start: '2024-01-01T00:00:00Z', end: '2024-02-01T00:00:00'}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "timezone",
    ),
    case(
        "timedelta-min-above-max",
        sampler("a", "timedelta", "{min: 5, max: 1}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'min' must not exceed 'max'",
    ),
    case(
        "person-unknown-locale",
        sampler("a", "person", "{locale: xx_XX}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "unknown Faker locale 'xx_XX'",
    ),
    case(
        "person-age-range-reversed",
        sampler("a", "person", "{age_range: [50, 20]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "'age_range'",
        "low <= high",
    ),
    case(
        "person-age-range-three-items",
        sampler("a", "person", "{age_range: [1, 2, 3]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "age_range",
    ),
    case(
        "person-unknown-field",
        sampler("a", "person", "{fields: [shoe_size]}"),
        "{file}:2",
        "column 'a'",
        "field 'params'",
        "fields",
    ),
    # ---- schemas, validators, import paths -------------------------------------------------------
    case(
        "structured-schema-not-json-schema",
        MODELS
        + "columns:\n  - {name: a, type: llm-structured, model: writer, prompt: hi, schema: {type: 12}}\n",
        "{file}:4",
        "column 'a'",
        "field 'schema'",
        "not a valid JSON Schema",
    ),
    case(
        "structured-schema-import-path-not-importable",
        MODELS + "columns:\n  - {name: a, type: llm-structured, model: writer, prompt: hi, "
        "schema: 'nope_pkg.models:Answer'}\n",
        "{file}",
        "column 'a'",
        "field 'schema'",
        "cannot import 'nope_pkg.models:Answer'",
    ),
    case(
        "regex-validator-bad-pattern",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: regex, "
        "targets: [a], pattern: '(unclosed'}\n",
        "{file}:3",
        "column 'v'",
        "'pattern' is not a valid regular expression",
    ),
    case(
        "regex-validator-without-pattern",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: regex, targets: [a]}\n",
        "{file}:3",
        "column 'v'",
        "validator 'regex' needs 'pattern'",
    ),
    case(
        "json-schema-validator-without-schema",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: json-schema, targets: [a]}\n",
        "{file}:3",
        "column 'v'",
        "needs 'json_schema'",
    ),
    case(
        "http-validator-without-url",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: http, targets: [a]}\n",
        "{file}:3",
        "column 'v'",
        "needs 'url'",
    ),
    case(
        "validator-without-targets",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: python}\n",
        "{file}:3",
        "column 'v'",
        "field 'targets'",
        "required field is missing",
    ),
    case(
        "custom-function-not-an-import-path",
        "columns:\n  - {name: a, type: custom, function: 'not a path'}\n",
        "{file}:2",
        "column 'a'",
        "field 'function'",
        "not an import path: expected 'package.module:name'",
    ),
    case(
        "custom-function-module-missing",
        "columns:\n  - {name: a, type: custom, function: 'nope_mod:fn'}\n",
        "{file}",
        "column 'a'",
        "field 'function'",
        "cannot import 'nope_mod:fn'",
        "No module named 'nope_mod'",
    ),
    case(
        "custom-function-attribute-missing",
        "columns:\n  - {name: a, type: custom, function: 'os.path:nope_fn'}\n",
        "{file}",
        "column 'a'",
        "field 'function'",
        "cannot import 'os.path:nope_fn'",
        "nope_fn",
    ),
    # Helper modules next to the config (written by the `config_dir` fixture) import without PYTHONPATH;
    # an import path that resolves to the wrong kind of object is the user's mistake, found by the plan.
    case(
        "structured-schema-import-path-not-a-model",
        MODELS + "columns:\n  - {name: a, type: llm-structured, model: writer, prompt: hi, "
        "schema: 'badcfg_helpers:NOT_A_MODEL'}\n",
        "{file}:4",
        "column 'a'",
        "field 'schema'",
        "'badcfg_helpers:NOT_A_MODEL' is an int, not a Pydantic model class",
    ),
    case(
        "structured-schema-import-path-plain-class",
        MODELS + "columns:\n  - {name: a, type: llm-structured, model: writer, prompt: hi, "
        "schema: 'badcfg_helpers:Plain'}\n",
        "{file}:4",
        "column 'a'",
        "field 'schema'",
        "is the class Plain, not a Pydantic model class",
    ),
    case(
        "custom-function-not-callable",
        "columns:\n  - {name: a, type: custom, function: 'badcfg_helpers:not_callable'}\n",
        "{file}:2",
        "column 'a'",
        "field 'function'",
        "'badcfg_helpers:not_callable' is a str, not a callable",
    ),
    case(
        "callable-validator-not-callable",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: callable, targets: [a], "
        "function: 'badcfg_helpers:NOT_A_MODEL'}\n",
        "{file}:3",
        "column 'v'",
        "field 'function'",
        "is an int, not a callable",
    ),
    case(
        "import-path-module-raises-on-import",
        "columns:\n  - {name: a, type: custom, function: 'badcfg_broken:fn'}\n",
        "{file}:2",
        "column 'a'",
        "field 'function'",
        "importing it raised RuntimeError: half-written helper",
    ),
    case(
        "field-of-another-validator",
        "columns:\n" + UUID + "  - {name: v, type: validation, validator: regex, targets: [a], "
        "pattern: x, url: 'http://127.0.0.1:1/'}\n",
        "{file}:3",
        "column 'v'",
        "'url' is only used by validator 'http'",
    ),
    # ---- templates that parse but cannot render --------------------------------------------------
    case(
        "structured-schema-json-text-instead-of-a-mapping",
        MODELS + "columns:\n  - {name: a, type: llm-structured, model: w, prompt: hi, "
        'schema: \'{"type": "object"}\'}\n',
        "{file}:4",
        "column 'a'",
        "field 'schema'",
        "write the schema as a YAML mapping",
    ),
    case(
        "when-without-braces-is-never-evaluated",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: '{{ a }}', when: 'a == 1'}\n",
        "{file}:3",
        "column 'b'",
        "field 'when'",
        "'when' is plain text ('a == 1')",
        "'{{ a == 1 }}'",
    ),
    case(
        "expression-without-braces-cannot-cast",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: 'a + 1', dtype: int}\n",
        "{file}",
        "column 'b'",
        "field 'expr'",
        "'expr' is plain text ('a + 1'): it is not evaluated",
        "not a whole number",
        "'{{ a + 1 }}'",
    ),
    case(
        "template-unknown-filter",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: '{{ a | uper }}'}\n",
        "{file}:3",
        "column 'b'",
        "field 'expr'",
        "unknown filter 'uper'",
        "did you mean 'upper'?",
    ),
    case(
        "template-unknown-test",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: '{% if a is frobbed %}1{% endif %}'}\n",
        "{file}:3",
        "column 'b'",
        "field 'expr'",
        "unknown test 'frobbed'",
    ),
    case(
        "template-unknown-test-with-suggestion",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: '{{ a is definde }}'}\n",
        "{file}:3",
        "unknown test 'definde'",
        "did you mean 'defined'?",
    ),
    case(
        "template-unknown-filter-in-prompt",
        MODELS + "columns:\n" + UUID + "  - name: q\n    type: llm-text\n    model: writer\n"
        "    prompt: |\n      Line one\n      {{ a | lenght }}\n",
        "{file}:8",
        "column 'q'",
        "field 'prompt'",
        "unknown filter 'lenght' on line 2 of the template",
        "did you mean 'length'?",
    ),
    case(
        "template-unknown-filter-in-when",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: '1', when: '{{ a | trimm }}'}\n",
        "{file}:3",
        "column 'b'",
        "field 'when'",
        "unknown filter 'trimm'",
    ),
    case(
        "template-includes-a-file",
        "columns:\n" + UUID + "  - {name: b, type: expression, expr: \"{% include 'x.j2' %}\"}\n",
        "{file}:3",
        "column 'b'",
        "field 'expr'",
        "cannot load other template files",
    ),
    case(
        "judge-score-name-with-a-quote",
        MODELS + "columns:\n  - name: g\n    type: llm-judge\n    model: writer\n    prompt: hi\n"
        "    scores:\n      - {name: 'say \"hi\"', description: d, options: {1: a, 2: b}}\n",
        "{file}:9",
        "column 'g'",
        "field 'scores.0.name'",
        "cannot contain",
    ),
    case(
        "yaml-two-merge-keys-in-one-mapping",
        "x-a: &a {type: sampler}\nx-b: &b {sampler: uuid}\ncolumns:\n  - name: a\n    <<: *a\n    <<: *b\n",
        "{file}:6",
        "duplicate merge key",
    ),
    # ---- run -------------------------------------------------------------------------------------
    case(
        "buffer-size-zero",
        "run: {buffer_size: 0}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.buffer_size'",
        "greater than 0",
    ),
    case(
        "buffer-size-negative",
        "run: {buffer_size: -3}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.buffer_size'",
        "greater than 0",
    ),
    case(
        "cell-retries-negative",
        "run: {cell_retries: -1}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.cell_retries'",
        "greater than or equal to 0",
    ),
    case(
        "failure-window-negative",
        "run: {failure_window: -10}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.failure_window'",
        "greater than 0",
    ),
    case(
        "max-failure-rate-above-one",
        "run: {max_failure_rate: 2}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.max_failure_rate'",
        "less than or equal to 1",
    ),
    case(
        "row-groups-in-flight-zero",
        "run: {max_row_groups_in_flight: 0}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.max_row_groups_in_flight'",
        "greater than 0",
    ),
    case(
        "endpoint-deadline-negative",
        "run: {endpoint_deadline: -1}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.endpoint_deadline'",
        "greater than 0",
    ),
    # ---- seed (seed errors name the seed file; see the xfail below for the config file) --------------
    case(
        "seed-file-missing", "seed: {path: missing.jsonl}\ncolumns:\n" + UUID, "missing.jsonl", "no such file"
    ),
    case("seed-file-empty", "seed: {path: empty.jsonl}\ncolumns:\n" + UUID, "empty.jsonl", "Empty"),
    case(
        "seed-csv-header-only", "seed: {path: header.csv}\ncolumns:\n" + UUID, "header.csv", "has no records"
    ),
    case(
        "seed-unknown-columns",
        "seed: {path: seed.jsonl, columns: [nope]}\ncolumns:\n" + UUID,
        "seed.jsonl",
        "'columns'",
        "'nope'",
        "available: topic",
    ),
    case(
        "seed-glob-matches-nothing",
        "seed: {path: 'nothing-*.jsonl'}\ncolumns:\n" + UUID,
        "nothing-*.jsonl",
        "matches no files",
    ),
    case(
        "seed-unsupported-extension",
        "seed: {path: seed.txt}\ncolumns:\n" + UUID,
        "seed.txt",
        "unsupported seed file type",
    ),
    case(
        "seed-bad-sampling",
        "seed: {path: seed.jsonl, sampling: random}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'seed.sampling'",
        "'shuffle'",
    ),
    case(
        "seed-field-clashes-with-column",
        "seed: {path: seed.jsonl}\ncolumns:\n  - {name: topic, type: sampler, sampler: uuid}\n",
        "{file}",
        "column 'topic'",
        "field 'name'",
        "same name as a field of the seed data",
    ),
    # ---- known gaps (see the report) -------------------------------------------------------------
    case(
        "duplicate-yaml-key-is-refused",
        "columns:\n" + UUID + "columns:\n  - {name: b, type: sampler, sampler: uuid}\n",
        "{file}:3",
        "duplicate",
        "columns",
    ),
    case(
        "unknown-run-key-with-suggestion",
        "run: {bufer_size: 3}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'run.bufer_size'",
        "did you mean 'buffer_size'?",
    ),
    case(
        "unknown-seed-key-with-suggestion",
        "seed: {path: seed.jsonl, samplng: shuffle}\ncolumns:\n" + UUID,
        "{file}:1",
        "field 'seed.samplng'",
        "did you mean 'sampling'?",
    ),
    case(
        "unknown-sampler-param-with-suggestion",
        sampler("a", "category", "{values: [x], wieghts: [1]}"),
        "{file}:2",
        "column 'a'",
        "wieghts",
        "did you mean 'weights'?",
    ),
    case(
        "uniform-int-range-without-integer",
        sampler("a", "uniform", "{low: 0.2, high: 0.5, dtype: int}"),
        "{file}",
        "column 'a'",
        "field 'params'",
        "no integer",
    ),
]


HELPERS = """\
NOT_A_MODEL = 42
not_callable = "hello"


class Plain:
    pass
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Import paths resolve next to the config: keep this test's folder off every other test's path.
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("badcfg_helpers", "badcfg_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    (tmp_path / "badcfg_helpers.py").write_text(HELPERS)
    (tmp_path / "badcfg_broken.py").write_text("raise RuntimeError('half-written helper')\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "seed.jsonl").write_text('{"topic": "physics"}\n{"topic": "chemistry"}\n')
    (tmp_path / "seed.txt").write_text("topic\nphysics\n")
    (tmp_path / "header.csv").write_text("topic,level\n")
    yield tmp_path
    for name in ("badcfg_helpers", "badcfg_broken"):
        sys.modules.pop(name, None)


def write_config(directory: Path, text: str) -> Path:
    path = directory / CONFIG_NAME
    path.write_text(text)
    return path


def expected_in(message: str, expected: tuple[str, ...]) -> list[str]:
    """The expected substrings missing from `message`."""
    return [e for e in (x.replace("{file}", CONFIG_NAME) for x in expected) if e not in message]


def test_the_table_covers_at_least_forty_malformed_configs() -> None:
    assert len(BAD_CONFIGS) >= 40


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_validate_refuses_malformed_config_with_a_precise_message(
    config_dir: Path, text: str, expected: tuple[str, ...]
) -> None:
    path = write_config(config_dir, text)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert not expected_in(message, expected), message


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_cli_validate_prints_one_error_and_exits_2(
    config_dir: Path, text: str, expected: tuple[str, ...]
) -> None:
    path = write_config(config_dir, text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:"), result.stderr
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not expected_in(result.stderr, expected), result.stderr


def test_cycle_error_names_every_column_on_the_cycle(config_dir: Path) -> None:
    path = write_config(
        config_dir,
        "columns:\n  - {name: start, type: sampler, sampler: uuid}\n"
        "  - {name: a, type: expression, expr: '{{ start }}{{ c }}'}\n"
        "  - {name: b, type: expression, expr: '{{ a }}'}\n"
        "  - {name: c, type: expression, expr: '{{ b }}'}\n",
    )
    with pytest.raises(PlanError) as info:
        synthloom.validate(path)
    cycle = info.value.reason.split("dependency cycle: ")[1]
    assert set(cycle.split(" -> ")) == {"a", "b", "c"}
    assert "start" not in cycle


def test_plan_errors_and_seed_errors_are_config_errors(config_dir: Path) -> None:
    with pytest.raises(PlanError):
        synthloom.validate(
            write_config(config_dir, "columns:\n  - {name: a, type: expression, expr: '{{ a }}'}\n")
        )
    with pytest.raises(SeedDataError):
        synthloom.validate(write_config(config_dir, "seed: {path: missing.jsonl}\ncolumns:\n" + UUID))
    assert issubclass(PlanError, ConfigError)
    assert issubclass(SeedDataError, ConfigError)


def test_config_error_carries_source_column_field_and_line(config_dir: Path) -> None:
    path = write_config(
        config_dir, "columns:\n" + UUID + "  - {name: b, type: sampler, sampler: bernoulli, params: {p: 2}}\n"
    )
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    err = info.value
    assert (Path(err.source or "").name, err.column, err.field, err.line) == (CONFIG_NAME, "b", "params", 3)


def test_several_problems_are_reported_together(config_dir: Path) -> None:
    path = write_config(config_dir, "run: {buffer_size: 0, cell_retries: -1}\ncolumns:\n" + UUID)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert "run.buffer_size" in message
    assert "also:" in message
    assert "run.cell_retries" in message


def test_seed_errors_name_the_config_file_and_seed_field(config_dir: Path) -> None:
    path = write_config(config_dir, "seed: {path: missing.jsonl}\ncolumns:\n" + UUID)
    with pytest.raises(SeedDataError) as info:
        synthloom.validate(path)
    assert CONFIG_NAME in str(info.value)
    assert "seed.path" in str(info.value)


def test_union_field_errors_do_not_leak_pydantic_internals(config_dir: Path) -> None:
    path = write_config(
        config_dir,
        "models:\n  - {alias: w, provider: local, inference: {temperature: hot}}\ncolumns:\n" + UUID,
    )
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    assert "function-after" not in str(info.value)
    assert info.value.field == "inference.temperature"


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        synthloom.validate(tmp_path / "nope.yaml")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:")
    assert "nope.yaml" in result.stderr


def test_invalid_json_config_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text('{\n  "columns": [\n    {"name": "a",}\n  ]\n}\n')
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    assert "dataset.json:3" in str(info.value)
    assert "invalid JSON" in str(info.value)


@pytest.mark.parametrize("records", ["0", "-5"])
def test_cli_create_refuses_non_positive_record_counts(tmp_path: Path, records: str) -> None:
    path = write_config(tmp_path, "columns:\n" + UUID)
    result = CliRunner().invoke(
        cli, ["create", str(path), "-n", records, "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:")
    assert "num_records" in result.stderr
    assert "positive whole number" in result.stderr
    assert records in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("records", [0, -5, True, 2.5])
def test_api_create_and_preview_refuse_bad_record_counts(tmp_path: Path, records: object) -> None:
    path = write_config(tmp_path, "columns:\n" + UUID)
    with pytest.raises(ConfigError, match="num_records"):
        synthloom.create(path, records, output=tmp_path / "out")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_records"):
        synthloom.preview(path, records)  # type: ignore[arg-type]
