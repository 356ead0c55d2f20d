"""Built-in training formats: the exact records each writes, their conventional columns, and the rows
they filter."""

from __future__ import annotations

from typing import Any

import pytest

from synthloom.config.output_config import OutputConfig
from synthloom.outputs import OutputShaper, RowProblem, ShapedRows

ROW = {"system": "Be brief.", "question": "2+2?", "answer": {"text": "4"}, "bad": "5"}
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Weather?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
        ],
    },
    {"role": "tool", "content": "rain", "tool_call_id": "c1"},
    {"role": "assistant", "content": "It rains."},
]


def shape(
    fmt: dict[str, Any] | str, rows: list[dict[str, Any]], columns: list[str] | None = None
) -> ShapedRows:
    keys = columns or sorted({k for r in rows for k in r})
    return OutputShaper(OutputConfig.model_validate({"format": fmt}), keys, known=keys).apply(rows)


def test_messages_from_system_user_and_assistant_sources() -> None:
    shaped = shape(
        {"type": "messages", "system": "system", "user": "question", "assistant": "answer.text"}, [ROW]
    )
    assert shaped.records == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
            ]
        }
    ]


def test_messages_from_a_conversation_column_keeps_tool_calls() -> None:
    shaped = shape({"type": "messages", "messages": "chat"}, [{"chat": CONVERSATION}])
    assert shaped.records == [{"messages": CONVERSATION}]


def test_messages_with_a_system_source_prepends_it_to_a_conversation_without_one() -> None:
    shaped = shape(
        {"type": "messages", "messages": "chat", "system": {"value": "Sys"}},
        [{"chat": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}],
    )
    assert shaped.records == [
        {
            "messages": [
                {"role": "system", "content": "Sys"},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Yo"},
            ]
        }
    ]


def test_sharegpt_maps_roles_and_tool_turns() -> None:
    shaped = shape({"type": "sharegpt", "messages": "chat"}, [{"chat": CONVERSATION}])
    assert shaped.records == [
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello"},
                {"from": "human", "value": "Weather?"},
                {"from": "function_call", "value": '{"name":"weather","arguments":{"city":"Oslo"}}'},
                {"from": "observation", "value": "rain"},
                {"from": "gpt", "value": "It rains."},
            ]
        }
    ]


def test_sharegpt_from_role_sources_writes_structured_values_as_json() -> None:
    shaped = shape({"type": "sharegpt", "user": "question", "assistant": "answer"}, [ROW])
    assert shaped.records == [
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "2+2?"},
                {"from": "gpt", "value": '{"text":"4"}'},
            ]
        }
    ]


def test_oasst_builds_a_tree_with_ranked_sibling_replies() -> None:
    shaped = shape(
        {
            "type": "oasst",
            "user": "question",
            "assistant": ["answer.text", "bad"],
            "model_name": "m-7b",
            "lang": "de",
            "tree_id": {"value": "tree-1"},
        },
        [ROW],
    )
    (record,) = shaped.records
    root = record["prompt"]
    assert record["message_tree_id"] == "tree-1"
    assert record["tree_state"] == "ready_for_export"
    assert root["role"] == "prompter" and root["text"] == "2+2?" and root["parent_id"] is None
    assert root["system"] == "Be brief."  # a `system` column is read by convention
    assert root["lang"] == "de" and root["synthetic"] is True and root["model_name"] is None
    assert [(r["role"], r["text"], r["rank"], r["model_name"]) for r in root["replies"]] == [
        ("assistant", "4", 0, "m-7b"),
        ("assistant", "5", 1, "m-7b"),
    ]
    assert all(r["parent_id"] == root["message_id"] and r["replies"] == [] for r in root["replies"])
    ids = [root["message_id"], *(r["message_id"] for r in root["replies"])]
    assert len(set(ids)) == 3
    # Stable: the same row gives the same ids.
    assert shape(
        {
            "type": "oasst",
            "user": "question",
            "assistant": ["answer.text", "bad"],
            "model_name": "m-7b",
            "lang": "de",
            "tree_id": {"value": "tree-1"},
        },
        [ROW],
    ).records == [record]


def test_oasst_from_a_conversation_is_a_chain() -> None:
    chat = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    (record,) = shape({"type": "oasst", "messages": "chat"}, [{"chat": chat}]).records
    node, texts = record["prompt"], []
    while node:
        texts.append((node["role"], node["text"]))
        assert node["replies"] == [] or node["replies"][0]["parent_id"] == node["message_id"]
        node = node["replies"][0] if node["replies"] else None
    assert texts == [("prompter", "a"), ("assistant", "b"), ("prompter", "c")]


def test_oasst_filters_a_conversation_with_tool_turns() -> None:
    shaped = shape({"type": "oasst", "messages": "chat"}, [{"chat": CONVERSATION}])
    assert shaped.records == []
    (problem,) = shaped.filtered
    assert problem.field == "output.format"
    assert "alternates prompter and assistant turns" in problem.reason


def test_dpo_text_and_conversational() -> None:
    text = shape({"type": "dpo", "prompt": "question", "chosen": "answer.text", "rejected": "bad"}, [ROW])
    assert text.records == [{"prompt": "2+2?", "chosen": "4", "rejected": "5", "system": "Be brief."}]
    chat = shape(
        {
            "type": "dpo",
            "prompt": "question",
            "chosen": "answer.text",
            "rejected": "bad",
            "conversational": True,
        },
        [ROW],
    )
    assert chat.records == [
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
            "chosen": [{"role": "assistant", "content": "4"}],
            "rejected": [{"role": "assistant", "content": "5"}],
        }
    ]


def test_dpo_filters_a_pair_whose_answers_are_the_same() -> None:
    shaped = shape({"type": "dpo", "prompt": "question", "chosen": "bad", "rejected": {"value": "5"}}, [ROW])
    assert shaped.records == []
    assert shaped.filtered == [
        RowProblem(0, "output.format.chosen", "chosen and rejected are the same text: not a preference pair")
    ]


def test_alpaca_reads_its_conventional_columns() -> None:
    rows = [
        {"instruction": "Sum", "input": "2, 2", "output": "4"},
        {"instruction": "Hi", "input": None, "output": "Hello"},
    ]
    assert shape("alpaca", rows).records == [
        {"instruction": "Sum", "input": "2, 2", "output": "4"},
        {"instruction": "Hi", "input": "", "output": "Hello"},
    ]
    without_input = shape("alpaca", [{"instruction": "Hi", "output": "Hello"}])
    assert without_input.records == [{"instruction": "Hi", "input": "", "output": "Hello"}]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt"])
def test_chat_formats_default_to_prompt_and_completion(fmt: str) -> None:
    records = shape(fmt, [{"prompt": "p", "completion": "c"}]).records
    key = "messages" if fmt == "messages" else "conversations"
    assert len(records) == 1 and len(records[0][key]) == 2


def test_chat_formats_default_to_a_conversation_column_when_there_is_one() -> None:
    rows = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "prompt": "x"}
    ]
    assert shape("messages", rows).records == [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    ]


def test_a_missing_part_filters_the_row_with_the_reason() -> None:
    shaped = shape(
        {"type": "messages", "user": "question", "assistant": "answer.text"}, [ROW, {**ROW, "answer": None}]
    )
    assert len(shaped.records) == 1
    assert shaped.positions == [0]
    assert shaped.filtered == [
        RowProblem(1, "output.format.assistant", "no value (the source is null or missing)")
    ]


@pytest.mark.parametrize(
    ("chat", "reason"),
    [
        ("not json", "not a conversation (text that is not a JSON list)"),
        ([], "not a conversation (expected a list of messages, got empty)"),
        ([{"role": "wizard", "content": "x"}], "message 0 has an unknown role 'wizard'"),
        (["text"], "message 0 is not an object"),
    ],
)
def test_a_value_that_is_not_a_conversation_is_filtered(chat: Any, reason: str) -> None:
    shaped = shape({"type": "messages", "messages": "chat"}, [{"chat": chat}])
    assert shaped.filtered == [RowProblem(0, "output.format.messages", reason)]


def test_a_conversation_stored_as_json_text_is_read() -> None:
    shaped = shape(
        {"type": "sharegpt", "messages": "chat"}, [{"chat": '[{"role": "user", "content": "Hi"}]'}]
    )
    assert shaped.records == [{"conversations": [{"from": "human", "value": "Hi"}]}]


def test_sharegpt_refuses_an_image_part() -> None:
    chat = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "x"}}],
        }
    ]
    shaped = shape({"type": "sharegpt", "messages": "chat"}, [{"chat": chat}])
    assert shaped.records == []
    assert "non-text part (image_url)" in shaped.filtered[0].reason
