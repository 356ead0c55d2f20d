"""The defect tags of `quality-tags` (boilerplate, encoding, markup, sentence loops, truncation), the
recommended gates, and bad input that must give tags and never a failed row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.columns.quality.boilerplate import BoilerplateDetector, phrase_languages
from synthloom.columns.quality.config import RECOMMENDED_GATES, QualityTagsColumn
from synthloom.columns.quality.encoding import encoding_label, repair
from synthloom.columns.quality.heuristic_tags import HeuristicTagger
from synthloom.columns.quality.markup import markup_label
from synthloom.columns.quality.repetition import sentence_repeats
from synthloom.columns.quality.tag_bounds import outside

ENGLISH = (
    "Tides are the regular rise and fall of the sea. They are caused by the gravity of the Moon and the Sun "
    "pulling on the oceans while the Earth turns, so most coasts see two high tides every day."
)
GERMAN = (
    "Die Gezeiten entstehen durch die Anziehungskraft des Mondes und der Sonne auf die Ozeane der Erde: "
    "Flüsse münden, Küsten ändern sich."
)


def tagger(**options: Any) -> HeuristicTagger:
    return HeuristicTagger(QualityTagsColumn(name="tags", source="text", **options))


def gate_hits(tags: dict[str, Any], **options: Any) -> list[str]:
    gates = QualityTagsColumn(name="tags", source="text", gates="recommended", **options).gates_in_force()
    return [key for key, bounds in gates.items() if outside("tags", key, tags.get(key), bounds)]


# --- boilerplate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I'm sorry, but I can't assist with that.", "refusal"),
        (
            "I cannot provide medical advice, but here is what is generally known. " + ENGLISH,
            "refusal_then_content",
        ),
        ("As an AI language model, I have no feelings. " + ENGLISH, "self_reference"),
        ("Sure! Here is an explanation.\n\n" + ENGLISH, "preamble"),
        (ENGLISH + "\n\nI hope this helps! Let me know if you have any other questions.", "disclaimer"),
        ("Es tut mir leid, aber dabei kann ich nicht helfen.", "refusal"),
        (
            "作为一个人工智能\uff0c我没有个人观点。" + "潮汐是由月球和太阳对海洋的引力引起的。" * 3,
            "self_reference",
        ),
        (ENGLISH, None),
        (GERMAN, None),
    ],
)
def test_boilerplate_labels(text: str, label: str | None) -> None:
    assert tagger().tag(text)["boilerplate"] == label


def test_boilerplate_phrases_are_data_per_language() -> None:
    assert {"en", "de", "fr", "es", "ja", "zh"} <= set(phrase_languages())
    # The text's language narrows the lists read; English is always among them.
    detector = BoilerplateDetector()
    assert detector.label("Lo siento, pero no puedo ayudarte con eso.", "es") == "refusal"
    assert detector.label("Lo siento, pero no puedo ayudarte con eso.", "de") is None
    assert detector.label("I'm sorry, but I can't help with that.", "de") == "refusal"


def test_documentation_in_the_first_person_plural_is_not_boilerplate() -> None:
    text = "We cannot guarantee that the option works on every file system. See mount(8) for details."
    assert tagger().tag(text)["boilerplate"] is None


# --- encoding --------------------------------------------------------------------------------------


def _cp1252(text: str) -> str:
    return "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in text.encode("utf-8"))


@pytest.mark.parametrize(
    ("text", "label", "repairable"),
    [
        (_cp1252("Die Größe der Datei ändert sich über die Zeit."), "mojibake", True),
        (_cp1252(_cp1252("Les marées sont causées par la Lune.")), "mojibake", True),
        ("Die Gr\ufffd\ufffde der Datei \ufffdndert sich.", "replacement_char", False),
        ("Tides\x00 are regular.", "control_chars", False),
        ("Tides are regular.\x01\x9c\x02\x7f\x03 and more", "binary", False),
        ("bytes that were not text: \udcff\udcfe", "invalid_utf8", False),
        (GERMAN, None, None),
        ("Les marées sont causées par l'attraction de la Lune — et du Soleil « ici ».", None, None),
    ],
)
def test_encoding_labels(text: str, label: str | None, repairable: bool | None) -> None:
    assert encoding_label(text) == (label, repairable)


def test_repair_undoes_mojibake_and_leaves_good_text_alone() -> None:
    assert repair(_cp1252(GERMAN)) == GERMAN
    assert repair(_cp1252(_cp1252(GERMAN))) == GERMAN
    curly = "“Quoted” text — with a dash."
    assert repair(curly) == curly


# --- markup ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (ENGLISH + "<|im_end|>", "special_tokens"),
        ("[/INST] " + ENGLISH, "special_tokens"),
        (ENGLISH + "</s>", "special_tokens"),
        (f"<p>{ENGLISH}</p>", "html"),
        (ENGLISH.replace("sea.", "sea.<br>"), "html"),
        (ENGLISH.replace("Moon", "<b>Moon</b>"), "html"),
        (f"<answer>\n{ENGLISH}\n</answer>", "xml"),
        (f"```\n{ENGLISH}\n```", "fenced_prose"),
        (f"```text\n{ENGLISH}\n```", "fenced_prose"),
        ("Here is the code:\n```python\nfor i in range(3):\n    print(i)\n```", None),
        ("Copy <file> to <dir>, then run make <target> in <head>.", None),
        ("Outputs commits in <limit>..<head> prefixed with - or +.", None),
        (ENGLISH, None),
    ],
)
def test_markup_labels(text: str, label: str | None) -> None:
    assert markup_label(text) == label


# --- repetition and truncation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ratio_above", "most"),
    [
        (f"{ENGLISH} {ENGLISH}", 0.45, 2),
        (ENGLISH + "\n" + "\n".join(f"{i}. Check the cable first." for i in range(1, 6)), 0.2, 5),
        (ENGLISH + " Open the valve now. Close the valve now." * 4, 0.3, 4),
        ("潮汐是由月球引起的海洋变化。" * 3, 0.6, 3),
    ],
)
def test_sentence_loops(text: str, ratio_above: float, most: int) -> None:
    ratio, repeats = sentence_repeats(text)
    assert ratio > ratio_above and repeats == most


def test_text_said_twice_is_gated_and_a_clean_text_is_not() -> None:
    twice = tagger().tag(f"{ENGLISH}\n\n{ENGLISH}")
    assert "repeated_sentence_ratio" in gate_hits(twice)
    assert sentence_repeats(ENGLISH) == (0.0, 1)
    assert gate_hits(tagger().tag(ENGLISH)) == []


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        ("-R Read-only mode. The option will be set. You can still edit the buffer, but will be prev", True),
        ("Give the time in hours or minutes. For example, specify 30m for 30 minutes or 20", True),
        ("潮汐是由月球和太阳对海洋的引力引起的。地球自转时\uff0c大多数海岸每天会经历两次", True),
        ("- eggs\n- milk", False),
        ("It costs 42", False),
    ],
)
def test_truncation_of_long_list_items_numbers_and_cjk(text: str, truncated: bool) -> None:
    assert tagger().tag(text)["truncated"] is truncated


# --- gates -----------------------------------------------------------------------------------------


def test_recommended_gates_cover_the_computed_groups_and_filter_overrides_them() -> None:
    every = QualityTagsColumn(name="t", source="a", gates="recommended").gates_in_force()
    assert set(every) == set(RECOMMENDED_GATES)
    some = QualityTagsColumn(
        name="t", source="a", tags=["markup"], gates="recommended", filter={"markup": {"not_in": ["html"]}}
    ).gates_in_force()
    assert set(some) == {"markup"} and some["markup"].not_in == ["html"]
    assert QualityTagsColumn(name="t", source="a").gates_in_force() == {}


def test_repair_needs_the_encoding_group_and_a_column_source() -> None:
    with pytest.raises(ValueError, match="'repair' needs the 'encoding' tag group"):
        QualityTagsColumn(name="t", source="a", tags=["length"], repair=True)
    with pytest.raises(ValueError, match="must be a column, not a path"):
        QualityTagsColumn(name="t", source="a.text", repair=True)


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "invalid_utf8"),
        (bytes(range(256)), "invalid_utf8"),
        ("text with a NUL\x00 in it and more words after it.", "control_chars"),
        ("abc\udcff\udcfe def", "invalid_utf8"),
        (b"plain bytes that are UTF-8 text, " + "ü".encode(), None),
    ],
)
def test_binary_and_invalid_utf8_values_get_an_encoding_tag(value: Any, label: str | None) -> None:
    tags = tagger().tag(value)
    assert tags["encoding"] == label
    assert tags["chars"] > 0


def test_a_ten_megabyte_single_line_is_tagged_on_its_beginning() -> None:
    line = ("word " * 2_100_000)[:10_000_000]
    tags = tagger().tag(line)
    assert tags["chars"] == 10_000_000 and tags["lines"] == 1
    assert tags["loop_repeats"] > 3 and tags["encoding"] is None


def test_malformed_conversation_turns_are_tagged_as_text() -> None:
    turns: list[Any] = [{"role": "user"}, {"content": 5}, "loose", None, {"role": 3, "content": [1, {}]}]
    tags = tagger().tag(turns)
    assert tags["turns"] is None and tags["chars"] > 0 and tags["markup"] is None


def test_bad_input_gives_filtered_rows_never_failed_ones(tmp_path: Path) -> None:
    values = [ENGLISH, "I'm sorry, but I can't help with that.", ENGLISH + "<|im_end|>", "x\x00\x01\x02\x03y"]
    config = {
        "name": "gated",
        "columns": [
            {"name": "text", "type": "sampler", "sampler": "category", "params": {"values": values}},
            {"name": "tags", "type": "quality-tags", "source": "text", "gates": "recommended"},
        ],
        "run": {"buffer_size": 20, "seed": 1},
    }
    result = synthloom.create(DatasetConfig.model_validate(config), 40, tmp_path)
    assert {r["text"] for r in result} == {ENGLISH}
    assert not result.failures
    reasons = " ".join(f["reason"] for f in result.filtered)
    for tag in (
        "'tags.boilerplate' is 'refusal'",
        "'tags.markup' is 'special_tokens'",
        "'tags.encoding' is 'binary'",
    ):
        assert tag in reasons


def test_repair_writes_the_fixed_text_and_records_it_in_lineage(tmp_path: Path) -> None:
    broken = _cp1252(GERMAN)
    config = {
        "name": "repaired",
        "columns": [
            {"name": "text", "type": "sampler", "sampler": "category", "params": {"values": [broken]}},
            {
                "name": "tags",
                "type": "quality-tags",
                "source": "text",
                "gates": "recommended",
                "repair": True,
            },
            {"name": "echo", "type": "expression", "expr": "{{ text }}{{ '' if tags else '' }}"},
        ],
        "run": {"buffer_size": 10, "seed": 1},
    }
    result = synthloom.create(DatasetConfig.model_validate(config), 10, tmp_path)
    rows = list(result)
    assert len(rows) == 10 and not result.filtered
    assert {r["text"] for r in rows} == {GERMAN} and {r["echo"] for r in rows} == {GERMAN}
    assert all(r["tags"]["repaired"] is True and r["tags"]["encoding"] is None for r in rows)
    from synthloom.store.run_directory import RunDirectory

    assert result.path is not None
    directory = RunDirectory(Path(result.path))
    entries = [e for i in sorted(directory.committed()) for e in directory.read_lineage(i)]
    repaired = [e for e in entries if e["status"] == "repaired"]
    assert len(repaired) == 10 and repaired[0]["column"] == "text"
    assert repaired[0]["calls"][0]["before"] == broken and repaired[0]["calls"][0]["rewritten_by"] == "tags"
