"""Reading ReAct replies: actions, final answers, bare JSON tool calls, and what is not a call."""

from __future__ import annotations

import pytest

from synthloom.models import ToolCall, ToolSpec
from synthloom.tools import parse_react, react_instructions


def test_an_action_with_a_json_input_is_a_call() -> None:
    step = parse_react('Thought: need data\nAction: weather\nAction Input: {"city": "Oslo"}', call_id="c1")
    assert step.action == ToolCall("c1", "weather", {"city": "Oslo"})
    assert step.thought == "need data"
    assert step.final is None


def test_a_made_up_observation_and_what_follows_it_are_cut() -> None:
    reply = 'Action: add\nAction Input: {"a": 1, "b": 2}\nObservation: 3\nThought: done\nFinal Answer: 3'
    step = parse_react(reply, call_id="c")
    assert step.action == ToolCall("c", "add", {"a": 1, "b": 2})
    assert step.text == 'Action: add\nAction Input: {"a": 1, "b": 2}'


@pytest.mark.parametrize(
    ("name_line", "input_text"),
    [
        ("Action: `weather`", '```json\n{"city": "Oslo"}\n```'),
        ("action:  weather()", '{"city": "Oslo"} -- that should do'),
        ("Action: 'weather'", '  {"city": "Oslo"}'),
    ],
)
def test_action_names_and_inputs_are_read_leniently(name_line: str, input_text: str) -> None:
    step = parse_react(f"{name_line}\nAction Input: {input_text}", call_id="c")
    assert step.action == ToolCall("c", "weather", {"city": "Oslo"})


def test_an_input_that_is_not_a_json_object_is_kept_as_raw_arguments() -> None:
    step = parse_react("Action: weather\nAction Input: Oslo, please", call_id="c")
    assert step.action == ToolCall("c", "weather", raw_arguments="Oslo, please")
    empty = parse_react("Action: now\nAction Input:", call_id="c")
    assert empty.action == ToolCall("c", "now")


def test_a_final_answer_is_the_text_after_its_label() -> None:
    step = parse_react("Thought: I know.\nFinal Answer: It is 21C.\nHave a nice day.", call_id="c")
    assert step.action is None
    assert step.final == "It is 21C.\nHave a nice day."
    assert step.thought == "I know."


def test_an_action_after_the_final_answer_is_not_run() -> None:
    step = parse_react("Final Answer: 4\nAction: add\nAction Input: {}", call_id="c")
    assert step.action is None
    assert step.final is not None and step.final.startswith("4")


def test_a_bare_json_tool_call_is_an_action() -> None:
    step = parse_react('```json\n{"tool": "add", "arguments": {"a": 1, "b": 2}}\n```', call_id="c")
    assert step.action == ToolCall("c", "add", {"a": 1, "b": 2})
    step = parse_react('{"name": "add", "parameters": {"a": 1}}', call_id="c")
    assert step.action == ToolCall("c", "add", {"a": 1})


def test_a_json_answer_with_other_keys_is_not_a_tool_call() -> None:
    text = '{"name": "Ada", "age": 36}'
    step = parse_react(text, call_id="c")
    assert step.action is None
    assert step.final == text


def test_a_reply_with_no_labels_is_the_answer() -> None:
    assert parse_react("Thought: Just 4.", call_id="c").final == "Just 4."
    assert parse_react("It is 4.", call_id="c").final == "It is 4."


def test_instructions_list_each_tool_with_its_schema() -> None:
    text = react_instructions([ToolSpec("add", "Add.", {"type": "object", "properties": {"a": {}}})])
    assert '"name": "add"' in text and '"description": "Add."' in text and '"properties"' in text
    assert "Action Input:" in text and "Final Answer:" in text
