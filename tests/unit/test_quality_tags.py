"""Heuristic tags: what each one says of good text, of defects, and of bad input (which never fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.columns.quality.characteristics import characteristics
from synthloom.columns.quality.config import QualityTagsColumn, TagBounds
from synthloom.columns.quality.heuristic_tags import HeuristicTagger
from synthloom.columns.quality.lexical import mtld, ttr, words_of
from synthloom.columns.quality.repetition import compression_ratio, loop_score, repeated_ngram_ratio
from synthloom.columns.quality.tag_bounds import outside
from synthloom.engine.generator import CellFiltered
from synthloom.errors import ConfigError

ENGLISH = (
    "Tides are the regular rise and fall of the sea. They are caused by the gravity of the Moon and the Sun "
    "pulling on the oceans while the Earth turns, so most coasts see two high tides every day."
)


def tagger(**options: Any) -> HeuristicTagger:
    return HeuristicTagger(QualityTagsColumn(name="tags", source="text", **options))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (ENGLISH, "en"),
        ("Die Gezeiten entstehen durch die Anziehungskraft des Mondes und der Sonne auf die Ozeane.", "de"),
        ("Les marées sont causées par l'attraction de la Lune et du Soleil sur les océans.", "fr"),
        ("潮汐是由月球和太阳对海洋的引力引起的。", "zh"),
        ("Приливы вызваны притяжением Луны и Солнца.", "ru"),
    ],
)
def test_language_is_detected_with_its_confidence(text: str, language: str) -> None:
    tags = tagger().tag(text)
    assert tags["language"] == language
    assert tags["language_confidence"] > 0.9


@pytest.mark.parametrize(
    "value",
    ["", "   ", "12345 678", "xq zvb wlp qrt mnb vcx zzq plk wer tyu iop asd", "#$%&*!!", None],
)
def test_text_with_no_language_is_unknown(value: Any) -> None:
    tags = tagger().tag(value)
    assert tags["language"] == "unknown"
    assert tags["language_confidence"] == 0.0


def test_restricting_languages_and_a_bad_code_is_a_config_error() -> None:
    assert tagger(languages=["en", "de"]).tag(ENGLISH)["language"] == "en"
    with pytest.raises(ConfigError, match="unknown language codes"):
        tagger(languages=["en", "qq"])


def test_lengths_and_lexical_diversity() -> None:
    tags = tagger().tag(ENGLISH)
    assert tags["chars"] == len(ENGLISH)
    assert tags["words"] == len(words_of(ENGLISH)) == 39
    assert tags["lines"] == 1
    assert 0.6 < tags["ttr"] < 1
    assert tags["mtld"] > 30
    assert ttr([]) is None and mtld(["a"] * 5) is None
    assert mtld(["the", "cat"] * 20) < 5  # two words again and again: barely diverse


def test_cjk_characters_count_as_words() -> None:
    assert words_of("潮汐是由") == ["潮", "汐", "是", "由"]


def test_generation_loops_and_repeated_ngrams() -> None:
    loop = ENGLISH + " I hope this helps you." * 12
    assert loop_score(words_of(loop)) > 0.5
    assert loop_score(words_of("no no no no no no no no")) == 1.0
    assert loop_score(words_of(ENGLISH)) == 0.0
    assert repeated_ngram_ratio(words_of(loop), 3) > 0.5
    assert repeated_ngram_ratio(words_of(ENGLISH), 3) == 0.0
    assert repeated_ngram_ratio(["a"], 3) is None
    assert compression_ratio(loop) < 0.4 < compression_ratio(ENGLISH)  # type: ignore[operator]
    assert compression_ratio("short") is None


@pytest.mark.parametrize(
    ("text", "flag", "category"),
    [
        ("Here:\n```python\nprint(1)\n```", "has_code", "code"),
        ("def add(a, b):\n    return a + b", "has_code", "code"),
        ("We know that $x^2 + y^2 = z^2$ holds.", "has_math", "math"),
        ("So 12 * 4 = 48.", "has_math", "math"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "has_table", "table"),
        ("As shown by (Smith et al., 2020) and [3], it works.", "has_citation", "cited"),
        ("Steps:\n- mix\n- bake\n- eat", "has_list", "list"),
        ("1. mix\n2. bake", "has_list", "list"),
        (ENGLISH, None, "prose"),
    ],
)
def test_data_characteristics_and_the_category(text: str, flag: str | None, category: str) -> None:
    found = characteristics(text)
    if flag:
        assert found[flag]
    else:
        assert not any(v for k, v in found.items() if k.startswith("has_"))
    assert found["category"] == category


def test_conversations_get_turns_lengths_and_role_shares() -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What causes tides?"},
        {"role": "assistant", "content": "The Moon's gravity."},
        {"role": "user", "content": [{"type": "text", "text": "And the Sun?"}]},
        {"role": "assistant", "content": "It adds a smaller pull."},
    ]
    tags = tagger().tag(conversation)
    assert tags["turns"] == 4
    assert tags["avg_turn_length"] == pytest.approx((18 + 19 + 12 + 23) / 4, abs=0.1)
    assert tags["role_shares"] == {"assistant": 0.4, "system": 0.2, "user": 0.4}
    assert tags["category"] == "conversation"
    assert tags["language"] == "en"
    assert tagger().tag(ENGLISH)["turns"] is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        3.5,
        True,
        {"a": 1},
        [1, 2, 3],
        b"\x00\x01",
        "x",
        "Ω≈ç√∫ 中文 русский English ☃ 🙂",
        "\x00\ud800?",
    ],
)
def test_bad_input_gets_tags_never_an_error(value: Any) -> None:
    tags = tagger().tag(value)
    assert set(tags) >= {"language", "chars", "ttr", "loop_score", "category", "turns"}


def test_a_one_megabyte_text_is_tagged_on_its_beginning_with_its_exact_length() -> None:
    huge = (ENGLISH + "\n") * (1_000_000 // len(ENGLISH))
    tags = tagger(max_chars=10_000).tag(huge)
    assert tags["chars"] == len(huge) > 900_000
    assert tags["words"] < 2_500  # counted on the first 10,000 characters
    assert tags["language"] == "en"


def test_only_the_groups_asked_for_are_computed() -> None:
    tags = tagger(tags=["length"]).tag(ENGLISH)
    assert set(tags) == {"chars", "words", "lines", "truncated"}


def test_thresholds_give_a_reason_or_none() -> None:
    assert (
        outside("tags", "loop_score", 0.8, TagBounds(max=0.3)) == "'tags.loop_score' = 0.8 is above max 0.3"
    )
    assert outside("tags", "words", 2, TagBounds(min=5)) == "'tags.words' = 2 is below min 5"
    assert outside("tags", "language", "unknown", TagBounds(**{"in": ["en"]})) is not None
    assert outside("tags", "language", "en", TagBounds(**{"in": ["en"]})) is None
    assert outside("tags", "category", "code", TagBounds(not_in=["code"])) is not None
    assert outside("tags", "mtld", None, TagBounds(min=10)) is None  # unknown never fails a bound
    with pytest.raises(ValueError, match="at least one"):
        TagBounds()


def test_a_filter_on_an_unknown_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="filter on unknown tag 'loops'"):
        QualityTagsColumn(name="t", source="a", filter={"loops": {"max": 1}})
    with pytest.raises(ValueError, match="filter on unknown tag 'language'"):
        QualityTagsColumn(name="t", source="a", tags=["length"], filter={"language": {"in": ["en"]}})


def test_tag_filters_remove_rows_in_a_run(tmp_path: Path) -> None:
    config = {
        "name": "tagged",
        "columns": [
            {
                "name": "text",
                "type": "sampler",
                "sampler": "category",
                "params": {
                    "values": [
                        ENGLISH,
                        "Das ist ein ganz normaler deutscher Satz über das Meer.",
                        "I agree with you. I agree with you. I agree with you. I agree with you.",
                    ]
                },
            },
            {
                "name": "tags",
                "type": "quality-tags",
                "source": "text",
                "filter": {"language": {"in": ["en"]}, "loop_score": {"max": 0.3}},
            },
            {"name": "lang", "type": "expression", "expr": "{{ tags.language }}"},
        ],
        "run": {"buffer_size": 20, "seed": 1},
    }
    result = synthloom.create(DatasetConfig.model_validate(config), 60, tmp_path)
    rows = list(result)
    assert rows and {r["text"] for r in rows} == {ENGLISH}
    assert {r["lang"] for r in rows} == {"en"}
    reasons = {f["reason"] for f in result.filtered}
    assert "'tags.language' is 'de', not in ['en']" in reasons
    assert any(r.startswith("'tags.loop_score' = 1 is above max 0.3") for r in reasons)
    assert all(f["column"] == "tags" for f in result.filtered)
    assert isinstance(CellFiltered("x"), CellFiltered)


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        (ENGLISH, False),
        ("Tides are caused by the gravity of the Moon and the", True),
        ("Here is the code:\n```python\nprint(1)", True),
        ("Shopping list:\n- eggs\n- milk", False),
        ("| a | b |\n|---|---|\n| 1 | 2 |", False),
        ("Paris", False),
        ("It costs 42", False),
        ("Done (see above)", False),
    ],
)
def test_truncated_replies(text: str, truncated: bool) -> None:
    assert tagger().tag(text)["truncated"] is truncated


def test_loop_repeats_counts_the_unit_in_a_row() -> None:
    from synthloom.columns.quality.repetition import loop_stats

    assert loop_stats(words_of(ENGLISH + " I hope this helps." * 5)) == (pytest.approx(20 / 59, abs=1e-3), 5)
    assert loop_stats(words_of(ENGLISH)) == (0.0, 0)
