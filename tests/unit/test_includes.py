"""`include:` entries: sub-pipelines from a file, expanded at load time with parameters, overrides and a
prefix; errors inside an included file name that file and line."""

from __future__ import annotations

import pickle
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.config.includes import IncludedLine
from synthloom.config.name_prefix import prefix_names, rename_in_template
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli

MODELS = """\
models:
  - {alias: writer, provider: local}
  - {alias: big, provider: local}
"""

QA = """\
description: A question about a topic, and its answer.
params:
  topic: {description: the column holding the topic}
  model: {description: the writer's alias}
  answer_model: {default: "${model}"}
  words: {default: 50}
  tags: {default: [a, b]}
columns:
  - name: question
    type: llm-text
    model: ${model}
    prompt: "Ask one question about {{ ${topic} }} in ${words} words."
  - name: answer
    type: llm-text
    model: ${answer_model}
    with_trace: true
    prompt: "Answer: {{ question }}"
  - name: tagged
    type: expression
    expr: "{{ ${tags} | length }} {{ answer__trace | length }}"
"""


QA_ENTRY = "- include: parts/qa.yaml\n  params: {topic: subject, model: writer}\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def main_config(entry: str, extra_columns: str = "") -> str:
    return (
        MODELS
        + "columns:\n"
        + "  - {name: subject, type: sampler, sampler: category, params: {values: [tides, moons]}}\n"
        + textwrap.indent(textwrap.dedent(entry), "  ")
        + extra_columns
    )


def columns_of(path: Path) -> dict[str, dict[str, object]]:
    config = synthloom.load_config(path)
    return {c["name"]: c for c in config.to_dict()["columns"]}


# ---- expansion -----------------------------------------------------------------------------------------


def test_include_by_path_brings_its_columns_with_params_substituted(tmp_path: Path) -> None:
    write(tmp_path, "parts/qa.yaml", QA)
    path = write(
        tmp_path,
        "config.yaml",
        main_config("- include: parts/qa.yaml\n  params: {topic: subject, model: writer}\n"),
    )
    columns = columns_of(path)
    assert list(columns) == ["subject", "question", "answer", "tagged"]
    assert columns["question"]["prompt"] == "Ask one question about {{ subject }} in 50 words."
    assert columns["answer"]["model"] == "writer"  # a default naming another parameter
    assert columns["tagged"]["expr"] == '{{ ["a", "b"] | length }} {{ answer__trace | length }}'
    plan = synthloom.validate(path)
    assert plan.column("question").depends_on == {"subject"}


def test_prefix_renames_every_declared_name_and_the_references_to_it(tmp_path: Path) -> None:
    write(tmp_path, "parts/qa.yaml", QA)
    entry = "- include: parts/qa.yaml\n  prefix: qa\n  params: {topic: subject, model: writer, words: 9}\n"
    path = write(
        tmp_path,
        "config.yaml",
        main_config(entry, "  - {name: after, type: expression, expr: '{{ qa_answer }}'}\n"),
    )
    columns = columns_of(path)
    assert list(columns) == ["subject", "qa_question", "qa_answer", "qa_tagged", "after"]
    # The config's own column (subject) is not renamed; the file's are, side columns included.
    assert columns["qa_question"]["prompt"] == "Ask one question about {{ subject }} in 9 words."
    assert columns["qa_answer"]["prompt"] == "Answer: {{ qa_question }}"
    assert columns["qa_tagged"]["expr"] == '{{ ["a", "b"] | length }} {{ qa_answer__trace | length }}'
    plan = synthloom.validate(path)
    assert plan.column("after").depends_on == {"qa_answer"}
    assert plan.column("qa_tagged").depends_on == {"qa_answer"}


FLOW = """\
params:
  model: {}
  max_steps: {default: 6}
columns:
  - name: solution
    type: flow
    state: {attempts: 0}
    histories: {talk: {window: 4}}
    max_steps: ${max_steps}
    nodes:
      - name: draft
        type: llm-text
        model: ${model}
        prompt: "Solve {{ problem }}.{% if critique %} {{ critique.ok.reasoning }}{% endif %}"
        history: {name: talk, speaker: solver}
      - name: critique
        type: llm-judge
        model: ${model}
        prompt: "{{ draft | trim }} {{ talk.last }}"
        scores: [{name: ok, description: "Right?", options: {0: "no", 1: "yes"}}]
      - {name: count, type: expression, expr: "{{ attempts + 1 }}", dtype: int, writes: attempts}
      - {name: route, type: custom, function: "includes_helpers:identity", inputs: [draft, problem]}
    edges:
      - {from: START, to: draft}
      - {from: draft, to: critique}
      - from: critique
        when: [{if: "{{ critique.ok.score == 1 }}", to: route}, {else: count}]
      - {from: count, to: draft}
      - {from: route, to: END}
    outputs: {code: draft, verdict: critique, tries: attempts}
  - name: problem_copy
    type: validation
    validator: python
    targets: [solution]
"""


def test_prefix_renames_nodes_state_keys_edges_and_outputs_of_an_included_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "includes_helpers.py").write_text("def identity(row):\n    return row\n")
    write(tmp_path, "flow.yaml", FLOW)
    extra = "  - {name: problem, type: sampler, sampler: uuid}\n"
    path = write(
        tmp_path,
        "config.yaml",
        main_config("- include: flow.yaml\n  prefix: p\n  params: {model: writer}\n", extra),
    )
    columns = columns_of(path)
    flow = columns["p_solution"]
    assert flow["state"] == {"p_attempts": 0} and list(flow["histories"]) == ["p_talk"]  # type: ignore[call-overload]
    assert flow["max_steps"] == 6
    nodes = {n["name"]: n for n in flow["nodes"]}  # type: ignore[attr-defined]
    assert list(nodes) == ["p_draft", "p_critique", "p_count", "p_route"]
    # Templates: variables renamed; attributes (`.ok`), filters (`trim`) and outside names are not.
    assert nodes["p_draft"]["prompt"] == (
        "Solve {{ problem }}.{% if p_critique %} {{ p_critique.ok.reasoning }}{% endif %}"
    )
    assert nodes["p_critique"]["prompt"] == "{{ p_draft | trim }} {{ p_talk.last }}"
    assert nodes["p_draft"]["history"] == {"name": "p_talk", "speaker": "solver"}
    assert nodes["p_count"]["writes"] == "p_attempts"
    assert nodes["p_route"]["inputs"] == ["p_draft", "problem"]
    assert flow["edges"] == [
        {"from": "START", "to": "p_draft"},
        {"from": "p_draft", "to": "p_critique"},
        {
            "from": "p_critique",
            "when": [{"if": "{{ p_critique.ok.score == 1 }}", "to": "p_route"}, {"else": "p_count"}],
        },
        {"from": "p_count", "to": "p_draft"},
        {"from": "p_route", "to": "END"},
    ]
    # The value's field names stay: downstream reads {{ p_solution.code }}.
    assert flow["outputs"] == {"code": "p_draft", "verdict": "p_critique", "tries": "p_attempts"}
    assert columns["p_problem_copy"]["targets"] == ["p_solution"]
    synthloom.validate(path)


def test_overrides_merge_into_a_column_or_a_flow_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "includes_helpers.py").write_text("def identity(row):\n    return row\n")
    write(tmp_path, "flow.yaml", FLOW)
    entry = """\
    - include: flow.yaml
      prefix: p
      params: {model: writer}
      overrides:
        critique: {model: big, inference: {temperature: 0.0}, prompt: "Strict: {{ draft }}"}
        solution.count: {expr: "{{ attempts + 2 }}"}
        problem_copy: {targets: [solution, problem]}
    """
    extra = "  - {name: problem, type: sampler, sampler: uuid}\n"
    path = write(tmp_path, "config.yaml", main_config(entry, extra))
    columns = columns_of(path)
    nodes = {n["name"]: n for n in columns["p_solution"]["nodes"]}  # type: ignore[attr-defined]
    critique = nodes["p_critique"]
    assert critique["model"] == "big" and critique["inference"] == {"temperature": 0.0}
    assert critique["scores"][0]["name"] == "ok"  # fields the override does not name are kept
    assert critique["prompt"] == "Strict: {{ p_draft }}"  # an override speaks the file's names
    assert nodes["p_count"]["expr"] == "{{ p_attempts + 2 }}"
    assert columns["p_problem_copy"]["targets"] == ["p_solution", "problem"]
    assert synthloom.validate(path).column("p_solution").depends_on == {"problem"}


def test_overrides_rename_a_column_with_its_references_and_remove_another(tmp_path: Path) -> None:
    write(tmp_path, "parts/qa.yaml", QA)
    entry = QA_ENTRY + "  overrides: {answer: {name: reply, model: big}, tagged: null}\n"
    path = write(tmp_path, "config.yaml", main_config(entry))
    columns = columns_of(path)
    assert list(columns) == ["subject", "question", "reply"]
    assert columns["reply"]["model"] == "big" and columns["reply"]["prompt"] == "Answer: {{ question }}"
    synthloom.validate(path)


def test_overrides_rename_and_remove_flow_nodes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "parts/chain.yaml",
        """\
        columns:
          - name: chain
            type: flow
            nodes:
              - {name: one, type: expression, expr: "1"}
              - {name: two, type: expression, expr: "{{ one }}2"}
              - {name: three, type: expression, expr: "{{ two }}3"}
            output: three
        """,
    )
    # `two` read `one`: removing `one` means overriding what `two` reads too.
    entry = (
        "- include: parts/chain.yaml\n  overrides: {chain.two: {name: middle, expr: '2'}, chain.one: null}\n"
    )
    path = write(tmp_path, "config.yaml", main_config(entry))
    nodes = columns_of(path)["chain"]["nodes"]  # type: ignore[index]
    assert [n["name"] for n in nodes] == ["middle", "three"]  # type: ignore[index]
    assert nodes[1]["expr"] == "{{ middle }}3"  # type: ignore[index]
    result = synthloom.preview(path, 1)
    assert result.failures == [] and [row["chain"] for row in result] == ["23"]


def test_an_included_file_includes_another_relative_to_itself(tmp_path: Path) -> None:
    write(tmp_path, "lib/qa.yaml", QA)
    write(
        tmp_path,
        "lib/pair.yaml",
        """\
        params: {model: {}}
        columns:
          - {name: topic, type: sampler, sampler: category, params: {values: [x, y]}}
          - include: qa.yaml
            prefix: inner
            params: {topic: topic, model: "${model}"}
        """,
    )
    path = write(
        tmp_path,
        "config.yaml",
        main_config("- include: lib/pair.yaml\n  prefix: outer\n  params: {model: big}\n"),
    )
    columns = columns_of(path)
    assert list(columns) == [
        "subject",
        "outer_topic",
        "outer_inner_question",
        "outer_inner_answer",
        "outer_inner_tagged",
    ]
    assert (
        columns["outer_inner_question"]["prompt"] == "Ask one question about {{ outer_topic }} in 50 words."
    )
    assert columns["outer_inner_answer"]["model"] == "big"
    synthloom.validate(path)


def test_yaml_anchors_in_an_included_file_do_not_share_overridden_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pair.yaml",
        """\
        params: {model: {}}
        x-base: &base {type: llm-text, model: "${model}", inference: {temperature: 0.5}}
        columns:
          - {<<: *base, name: first, prompt: "One"}
          - {<<: *base, name: second, prompt: "Two $${literal}"}
        """,
    )
    entry = "- include: pair.yaml\n  params: {model: writer}\n  overrides: {first: {inference: {top_p: 1}}}\n"
    columns = columns_of(write(tmp_path, "config.yaml", main_config(entry)))
    assert columns["first"]["inference"] == {"temperature": 0.5, "top_p": 1.0}
    assert columns["second"]["inference"] == {"temperature": 0.5}
    assert columns["second"]["prompt"] == "Two ${literal}"


def test_json_files_can_be_included(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text('{"columns": [{"name": "n", "type": "sampler", "sampler": "uuid"}]}')
    columns = columns_of(write(tmp_path, "config.yaml", main_config("- include: one.json\n  prefix: j\n")))
    assert "j_n" in columns


# ---- errors point into the included file ---------------------------------------------------------------


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_validation_error_in_an_included_file_names_that_file_and_line(tmp_path: Path) -> None:
    part = write(
        tmp_path,
        "parts/qa.yaml",
        QA.replace("    with_trace: true\n", "    with_trace: true\n    promtp: x\n"),
    )
    path = write(
        tmp_path,
        "config.yaml",
        main_config("- include: parts/qa.yaml\n  prefix: qa\n  params: {topic: subject, model: writer}\n"),
    )
    with pytest.raises(ConfigError) as info:
        synthloom.load_config(path)
    message = str(info.value)
    include_line, inner = _line_of(path, "include: parts/qa.yaml"), _line_of(part, "promtp")
    assert f"config.yaml:{include_line} ({tmp_path / 'parts' / 'qa.yaml'}:{inner})" in message, message
    assert "column 'qa_answer', field 'promtp': unknown field (did you mean 'prompt'?)" in message
    assert info.value.source == str(path) and info.value.line == include_line


def test_a_plan_error_in_an_included_file_names_that_file_and_line(tmp_path: Path) -> None:
    part = write(tmp_path, "parts/qa.yaml", QA.replace('"Answer: {{ question }}"', '"Answer: {{ qestion }}"'))
    path = write(
        tmp_path,
        "config.yaml",
        main_config("- include: parts/qa.yaml\n  params: {topic: subject, model: writer}\n"),
    )
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert (
        f"qa.yaml:{_line_of(part, 'qestion')}), column 'answer', field 'prompt': unknown column 'qestion'"
        in message
    )
    assert "did you mean 'question'" in message


def test_an_override_error_names_the_including_file_line(tmp_path: Path) -> None:
    write(tmp_path, "parts/qa.yaml", QA)
    entry = QA_ENTRY + "  overrides:\n    answer: {model: nobody}\n"
    path = write(tmp_path, "config.yaml", main_config(entry))
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    assert re.search(
        rf"config\.yaml:{_line_of(path, 'model: nobody')}, column 'answer', field 'model'", str(info.value)
    )


def test_included_lines_pickle_and_compare_as_the_including_line() -> None:
    line = IncludedLine(12, "parts/qa.yaml", 7)
    assert line == 12 and str(line) == "12 (parts/qa.yaml:7)" and f"{line}" == str(line)
    copy = pickle.loads(pickle.dumps(line))
    assert (int(copy), copy.file, copy.inner) == (12, "parts/qa.yaml", 7)


BAD_INCLUDES = [
    pytest.param(
        "- include: parts/missing.yaml\n",
        "",
        ("field 'include'", "included file not found", "parts/missing.yaml"),
        id="missing-file",
    ),
    pytest.param(
        "- recipe: evol-instrct\n",
        "",
        ("field 'recipe'", "unknown recipe 'evol-instrct'", "did you mean 'evol-instruct'", "self-refine"),
        id="unknown-recipe",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  params: {topic: subject, model: writer, tpoic: x}\n",
        "",
        (
            "field 'params.tpoic'",
            "unknown parameter 'tpoic'",
            "did you mean 'topic'",
            "its parameters: topic, model",
        ),
        id="unknown-param",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  params: {topic: subject}\n",
        "",
        ("field 'params'", "needs the parameter(s) model", "the writer's alias"),
        id="missing-param",
    ),
    pytest.param(
        QA_ENTRY + "  overrides: {anwser: {model: big}}\n",
        "",
        ("node 'anwser'", "field 'overrides'", "has no column or node 'anwser'", "did you mean 'answer'"),
        id="unknown-override",
    ),
    pytest.param(
        QA_ENTRY + "  overrides: {answer: {name: question}}\n",
        "",
        ("field 'overrides.answer.name'", "'question' is already a name"),
        id="override-renames-onto-a-name",
    ),
    pytest.param(
        QA_ENTRY + "  overrides: {answer: {name: 9bad}}\n",
        "",
        ("field 'overrides.answer.name'", "is not a valid name"),
        id="override-renames-to-a-bad-name",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  prefix: qa\n  params: {topic: subject, model: writer}\n",
        "  - {name: qa_answer, type: expression, expr: x}\n",
        ("column 'qa_answer', field 'prefix'", "same name", "choose another 'prefix'"),
        id="prefix-collision",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  params: {topic: subject, model: writer}\n",
        "  - {name: answer, type: expression, expr: x}\n",
        ("column 'answer', field 'prefix'", "set 'prefix'"),
        id="collision-without-prefix",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  prefix: 9x\n",
        "",
        ("field 'prefix'", "not a usable prefix"),
        id="bad-prefix",
    ),
    pytest.param(
        "- include: parts/qa.yaml\n  prefx: qa\n",
        "",
        ("field 'prefx'", "did you mean 'prefix'"),
        id="entry-field",
    ),
    pytest.param(
        "- {include: parts/qa.yaml, recipe: self-refine}\n",
        "",
        ("field 'recipe'", "not both"),
        id="include-and-recipe",
    ),
    pytest.param(
        "- include: parts/undeclared.yaml\n",
        "",
        ("undeclared.yaml:4, column 'q', field 'prompt'", "unknown parameter '${topik}'", "(included at "),
        id="undeclared-param",
    ),
    pytest.param(
        "- include: parts/cycle.yaml\n", "", ("include cycle: cycle.yaml -> cycle.yaml",), id="cycle"
    ),
    pytest.param(
        "- include: parts/bad-top.yaml\n",
        "",
        ("bad-top.yaml:1, field 'column'", "did you mean 'columns'"),
        id="top-level",
    ),
]


@pytest.fixture
def bad_parts(tmp_path: Path) -> Path:
    write(tmp_path, "parts/qa.yaml", QA)
    write(
        tmp_path,
        "parts/undeclared.yaml",
        "params: {topic: {default: x}}\ncolumns:\n  - name: q\n    prompt: 'About ${topik}'\n"
        "    type: llm-text\n    model: writer\n",
    )
    write(tmp_path, "parts/cycle.yaml", "columns:\n  - include: cycle.yaml\n")
    write(tmp_path, "parts/bad-top.yaml", "column: []\n")
    return tmp_path


@pytest.mark.parametrize(("entry", "extra", "expected"), BAD_INCLUDES)
def test_bad_includes_are_config_errors_naming_file_line_and_field(
    bad_parts: Path, entry: str, extra: str, expected: tuple[str, ...]
) -> None:
    path = write(bad_parts, "config.yaml", main_config(entry, extra))
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert re.match(r".+\.yaml:\d+", message), message
    assert [e for e in expected if e not in message] == [], message


@pytest.mark.parametrize(("entry", "extra", "expected"), BAD_INCLUDES[:5])
def test_cli_validate_exits_2_on_a_bad_include(
    bad_parts: Path, entry: str, extra: str, expected: tuple[str, ...]
) -> None:
    path = write(bad_parts, "config.yaml", main_config(entry, extra))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:") and "Traceback" not in result.stderr
    assert [e for e in expected if e not in result.stderr] == [], result.stderr


def test_an_unknown_parameter_is_reported_at_its_own_line(bad_parts: Path) -> None:
    entry = "- include: parts/qa.yaml\n  params:\n    topic: subject\n    model: writer\n    tpoic: x\n"
    path = write(bad_parts, "config.yaml", main_config(entry))
    with pytest.raises(ConfigError) as info:
        synthloom.load_config(path)
    assert info.value.line == _line_of(path, "tpoic: x")


# ---- renaming templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ a }}", "{{ p_a }}"),
        ("{{ a.a }} {{ x['a'] }}", "{{ p_a.a }} {{ x['a'] }}"),
        ("{{ x | a }} {{ x is a }} {{ x is not a }}", "{{ x | a }} {{ x is a }} {{ x is not a }}"),
        ("{{ f(a=a) }} {{ [a, b] }}", "{{ f(a=p_a) }} {{ [p_a, b] }}"),
        ("{% for k in a %}{{ k }}{% endfor %}", "{% for k in p_a %}{{ k }}{% endfor %}"),
        ("{% raw %}{{ a }}{% endraw %} {# a #}", "{% raw %}{{ a }}{% endraw %} {# a #}"),
        ("line\n  {%- if a -%}\n  x\n  {%- endif %}", "line\n  {%- if p_a -%}\n  x\n  {%- endif %}"),
        ("{{ a__trace }} {{ ab }}", "{{ p_a__trace }} {{ ab }}"),
        ("a plain a", "a plain a"),
        ("{{ broken", "{{ broken"),
    ],
)
def test_template_renaming_touches_only_variables(source: str, expected: str) -> None:
    assert rename_in_template(source, {"a": "p_a"}) == expected


def test_prefix_names_leaves_names_the_columns_do_not_declare() -> None:
    columns = [{"name": "a", "type": "expression", "expr": "{{ a }} {{ outside }}"}]
    prefix_names(columns, "p")
    assert columns == [{"name": "p_a", "type": "expression", "expr": "{{ p_a }} {{ outside }}"}]
