"""Mistakes that used to validate and then send wrong requests: each one now exits 2 at plan time,
naming the file and line, the column (or model) and the field, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from synthloom.interface.cli import cli

MODELS = "models:\n  - {alias: w, provider: local}\n"
QUESTION = "  - {name: question, type: sampler, sampler: category, params: {values: [a, b]}}\n"

#: (id, config text, the facts the message must state)
MISTAKES = [
    (
        "single-brace-placeholder",
        MODELS + "columns:\n" + QUESTION + "  - {name: answer, type: llm-text, model: w, "
        "prompt: 'Answer this: {question}'}\n",
        [
            "mistake.yaml:5",
            "column 'answer'",
            "field 'prompt'",
            "'{question}' is sent as literal text",
            "write '{{ question }}'",
        ],
    ),
    (
        "structured-key-not-in-schema",
        MODELS + "columns:\n" + QUESTION + "  - name: answer\n    type: llm-structured\n    model: w\n"
        "    prompt: '{{ question }}'\n"
        "    schema: {type: object, properties: {text: {type: string}}, required: [text]}\n"
        "  - {name: echo, type: expression, expr: '{{ answer.txt }}'}\n",
        ["mistake.yaml:10", "column 'echo'", "field 'expr'", "reads key 'txt'", "did you mean 'text'?"],
    ),
    (
        "judge-score-key",
        MODELS + "columns:\n" + QUESTION + "  - name: grade\n    type: llm-judge\n    model: w\n"
        "    prompt: '{{ question }}'\n"
        "    scores: [{name: accuracy, description: correct, options: {1: no, 2: yes}}]\n"
        "  - {name: g, type: expression, expr: '{{ grade.accuracy.scor }}'}\n",
        ["mistake.yaml:10", "column 'g'", "field 'expr'", "reads key 'scor'", "did you mean 'score'?"],
    ),
    (
        "person-field",
        MODELS + "columns:\n  - {name: reviewer, type: sampler, sampler: person, "
        "params: {fields: [first_name, age, city]}}\n"
        "  - {name: review, type: llm-text, model: w, prompt: 'Write as {{ reviewer.firstname }}'}\n",
        [
            "mistake.yaml:5",
            "column 'review'",
            "field 'prompt'",
            "reads key 'firstname'",
            "did you mean 'first_name'?",
        ],
    ),
    (
        "subcategory-key",
        "columns:\n  - {name: category, type: sampler, sampler: category, "
        "params: {values: [headphones, laptops]}}\n"
        "  - name: product\n    type: sampler\n    sampler: subcategory\n"
        "    params: {category: category, values: {headphone: [buds], laptops: [thinkpad]}}\n",
        [
            "mistake.yaml:6",
            "column 'product'",
            "field 'params.values.headphone'",
            "did you mean 'headphones'?",
        ],
    ),
    (
        "key-in-api-key-env",
        "models:\n  - {alias: w, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        "api_key_env: sk-proj-abc123DEF456ghi789}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n",
        ["mistake.yaml:2", "model 'w'", "field 'api_key_env'", "looks like an API key", "export"],
    ),
    (
        "base-url-without-scheme",
        "models:\n  - {alias: w, provider: openai, base_url: 'localhost:8000/v1', model: m}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n",
        [
            "mistake.yaml:2",
            "model 'w'",
            "field 'base_url'",
            "has no scheme",
            "write 'http://localhost:8000/v1'",
        ],
    ),
    (
        "unset-variable-in-headers",
        "models:\n  - {alias: w, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        "headers: {Authorization: 'Bearer ${SYNTHLOOM_TEST_UNSET_TOKEN}'}}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n",
        [
            "model 'w'",
            "field 'headers.Authorization'",
            "environment variable 'SYNTHLOOM_TEST_UNSET_TOKEN'",
            "is not set",
        ],
    ),
    (
        "num-records-in-run",
        "columns:\n  - {name: a, type: sampler, sampler: uuid}\nrun: {num_records: 500}\n",
        ["mistake.yaml:3", "field 'run.num_records'", "synthloom create CONFIG -n 500"],
    ),
    (
        "unquoted-question-mark",
        "columns:\n  - {name: a, type: sampler, sampler: category, params: {values: [x]}}\n"
        "  - {name: b, type: expression, expr: '{{ a }}', description: Does it work?}\n",
        [
            "mistake.yaml:3",
            "but got '?' at column 75",
            "must be quoted",
            'write description: "Does it work?"',
        ],
    ),
]


@pytest.mark.parametrize(("text", "facts"), [pytest.param(t, f, id=i) for i, t, f in MISTAKES])
def test_silent_mistake_exits_2_with_the_fix(tmp_path: Path, text: str, facts: list[str]) -> None:
    path = tmp_path / "mistake.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:") and "Traceback" not in result.output
    missing = [fact for fact in facts if fact not in result.stderr]
    assert not missing, result.stderr


def test_a_key_in_api_key_env_is_not_echoed(tmp_path: Path) -> None:
    secret = "sk-proj-abc123DEF456ghi789"
    path = tmp_path / "mistake.yaml"
    path.write_text(
        f"models:\n  - {{alias: w, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        f"api_key_env: {secret}}}\ncolumns:\n  - {{name: a, type: llm-text, model: w, prompt: hi}}\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["create", str(path), "-n", "1", "-o", str(out), "--no-progress"])
    assert result.exit_code == 2
    assert secret not in result.output and secret[3:12] not in result.output
    assert not out.exists()


def test_placeholder_check_leaves_json_examples_and_unknown_names_alone(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        MODELS + "columns:\n" + QUESTION + "  - {name: answer, type: llm-text, model: w, "
        "prompt: 'Reply as {\"answer\": 1} or {other}: {{ question }}'}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_known_keys_and_mapping_methods_pass(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        MODELS + "columns:\n" + QUESTION + "  - name: answer\n    type: llm-structured\n    model: w\n"
        "    prompt: '{{ question }}'\n"
        "    schema: {type: object, properties: {text: {type: string}, meta: {type: object}}}\n"
        "  - {name: e, type: expression, "
        "expr: \"{{ answer.text }}{{ answer['meta'].anything }}{% for k, v in answer.items() %}{{ v.x }}"
        '{% endfor %}"}\n'
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_subcategory_must_cover_every_parent_value(tmp_path: Path) -> None:
    path = tmp_path / "mistake.yaml"
    path.write_text(
        "columns:\n  - {name: category, type: sampler, sampler: category, params: {values: [a, b]}}\n"
        "  - {name: sub, type: sampler, sampler: subcategory,\n"
        "     params: {category: category, values: {a: [x]}}}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "no values for 'b'" in result.stderr and "field 'params.values'" in result.stderr


def test_env_variables_in_headers_and_base_url_are_expanded_at_request_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synthloom.config.model_config import ModelConfig
    from synthloom.models.providers.registry import resolve_provider

    monkeypatch.setenv("SYNTHLOOM_TEST_TOKEN", "tok-123")
    monkeypatch.setenv("SYNTHLOOM_TEST_HOST", "127.0.0.1:8123")
    config = ModelConfig(
        alias="w",
        base_url="http://${SYNTHLOOM_TEST_HOST}/v1",
        model="m",
        headers={"Authorization": "Bearer ${SYNTHLOOM_TEST_TOKEN}", "X-Plain": "a$b"},
    )
    provider = resolve_provider("openai")
    assert provider.base_url(config) == "http://127.0.0.1:8123/v1"
    assert provider.headers(config) == {"Authorization": "Bearer tok-123", "X-Plain": "a$b"}
    # The config itself (what config.yaml and the fingerprint are written from) keeps the reference.
    assert config.headers["Authorization"] == "Bearer ${SYNTHLOOM_TEST_TOKEN}"


def test_expanded_values_never_reach_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthloom.config.loader import parse_config
    from synthloom.store.run_directory import RunDirectory

    monkeypatch.setenv("SYNTHLOOM_TEST_TOKEN", "tok-secret-xyz")
    config = parse_config(
        "models:\n  - {alias: w, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, "
        "headers: {X-Team: '${SYNTHLOOM_TEST_TOKEN}'}}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n"
    )
    (tmp_path / "run").mkdir()
    directory = RunDirectory(tmp_path / "run")
    directory.write_config(config)
    written = (tmp_path / "run" / "config.yaml").read_text()
    assert "tok-secret-xyz" not in written
    assert yaml.safe_load(written)["models"][0]["headers"]["X-Team"] == "${SYNTHLOOM_TEST_TOKEN}"


def test_a_key_in_api_key_env_is_not_echoed_by_the_python_api() -> None:
    from pydantic import ValidationError

    from synthloom.config.dataset import DatasetConfig

    secret = "sk-proj-abc123DEF456ghi789"
    data = {
        "models": [{"alias": "w", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": secret}],
        "columns": [{"name": "a", "type": "sampler", "sampler": "uuid"}],
    }
    with pytest.raises(ValidationError) as caught:
        DatasetConfig.model_validate(data)
    assert "looks like an API key" in str(caught.value)
    assert secret not in str(caught.value) and "abc123" not in repr(caught.value)


def test_single_braces_written_as_a_jinja_string_pass(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        MODELS + "columns:\n" + QUESTION + "  - {name: answer, type: llm-text, model: w, "
        "prompt: \"Fill in {{ '{question}' }} with: {{ question }}\"}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_a_key_named_like_a_mapping_method_must_be_read_with_brackets(tmp_path: Path) -> None:
    path = tmp_path / "mistake.yaml"
    judge = (
        "  - name: grade\n    type: llm-judge\n    model: w\n    prompt: '{{ question }}'\n"
        "    scores: [{name: clear, description: is it clear, options: {1: no, 2: yes}}]\n"
    )
    path.write_text(
        MODELS
        + "columns:\n"
        + QUESTION
        + judge
        + "  - {name: keep, type: filter, condition: '{{ grade.clear.score == 2 }}'}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "reads the mapping method 'clear', not the key 'clear': write grade['clear']" in result.stderr
    path.write_text(
        MODELS
        + "columns:\n"
        + QUESTION
        + judge
        + "  - {name: keep, type: filter, condition: \"{{ grade['clear'].score == 2 }}\"}\n"
    )
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0


def test_the_quote_hint_keeps_a_template_whole() -> None:
    from synthloom.config.loader import parse_config
    from synthloom.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config("columns:\n  - {name: a, type: llm-text, prompt: Answer: {{ q }}, model: w}\n")
    assert 'write prompt: "Answer: {{ q }}"' in str(caught.value)
