"""The shortcuts that make `quality-tags` fast give the tags the plain computation gives: batch language
identification scores as py3langid does, literal gates never skip a text a pattern matches, ASCII text
skips the mojibake search only where it cannot match, and a row group tagged at once is tagged as its
rows one by one."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthloom.columns.quality.boilerplate import PHRASES, phrase_languages
from synthloom.columns.quality.config import QualityTagsColumn
from synthloom.columns.quality.encoding import encoding_label, require_ftfy
from synthloom.columns.quality.heuristic_tags import HeuristicTagger
from synthloom.columns.quality.language import LanguageDetector
from synthloom.columns.quality.language_batch import BatchScorer, top_of_ranked
from synthloom.columns.quality.literal_gate import AnyPattern, LiteralGate, required_literals
from synthloom.columns.quality.repetition import loop_stats, sentence_repeats

PLANTED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "boilerplate"

TEXTS = [
    "Tides are the regular rise and fall of the sea, caused by the Moon.",
    "Die Gezeiten entstehen durch die Anziehungskraft des Mondes.",
    "Les marées sont dues à l'attraction de la Lune et du Soleil.",
    "潮汐是海水在月球和太阳引力作用下的周期性涨落。",
    "潮の満ち引きは月と太陽の引力によって起こります。",
    "Приливы вызываются притяжением Луны и Солнца.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "",
    "12345 67890",
    "a\udcff b\udcfe broken bytes kept as surrogates",
    "x" * 5000,
    "Mixed: English words und deutsche Wörter, 中文 and русский.",
]


def test_batch_language_scores_are_py3langids_bit_for_bit() -> None:
    for languages in (None, ["de", "en", "fr"]):
        detector = LanguageDetector(languages)
        scorer = detector._batch
        assert scorer.usable
        batch = scorer.top(scorer.scores(TEXTS))
        assert batch == [top_of_ranked(detector._ident.rank(t)) for t in TEXTS]


def test_detecting_a_batch_gives_what_detecting_each_text_gives() -> None:
    detector = LanguageDetector()
    texts = [*TEXTS, None, "   ", "!!!", *TEXTS]
    assert len(texts) >= 8  # the batch path
    assert detector.detect(texts) == [detector.detect_one(t) for t in texts]
    assert detector.detect(texts)[0][0] == "en"


def test_an_identifier_with_other_internals_is_scored_text_by_text() -> None:
    assert not BatchScorer(object()).usable
    detector = LanguageDetector()
    expected = detector.detect(TEXTS)
    detector._batch = BatchScorer(object())
    assert detector.detect(TEXTS) == expected


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        # `re`'s parser moves a prefix shared by every branch out of them: "th", " can".
        (r"\bi hope (?:this|that) helps\b", {"i hope th"}),
        (r"\b(?:this )?information may (?:not be|be out of)\b", {"information may "}),
        (r"\bi(?: cannot| can't)\b", {"i can"}),
        (r"\b(?:ich|wir) (?:kann|können)\b", {"ich", "wir"}),
        (r"^\W*(?:sure|of course)\s*[!.,]", {"sure", "of course"}),
        (r"\b[a-z]\^\d", {"^"}),
        (r"[.!?]\s+", {".", "!", "?"}),
        (r"(?:お応え|回答)(?:は|が)?でき", {"でき"}),
        (r"[a-z]+\d", None),
        (r"(?i)i hope", None),
        (r"(?:foo|\w+)b?", None),
    ],
)
def test_required_literals(pattern: str, literals: set[str] | None) -> None:
    found = required_literals(pattern)
    assert (None if found is None else set(found)) == literals


def _phrase_patterns() -> list[tuple[str, str]]:
    out = []
    for language in phrase_languages():
        for line in (PHRASES / f"{language}.tsv").read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                out.append((language, line.partition("\t")[2]))
    return out


def test_every_phrase_pattern_has_a_gate_and_the_gate_holds_on_the_planted_sentences() -> None:
    sentences = [
        line.partition("\t")[2].lower()
        for path in sorted(PLANTED.glob("*.tsv"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(sentences) > 100
    matched = 0
    for language, pattern in _phrase_patterns():
        literals = required_literals(pattern, re.MULTILINE)
        assert literals is not None, f"{language}: {pattern} has no literal to gate on"
        compiled = re.compile(pattern, re.MULTILINE)
        for sentence in sentences:
            for match in compiled.finditer(sentence):
                matched += 1
                assert any(literal in match.group(0) for literal in literals), (pattern, sentence)
    assert matched > 100


def test_a_gate_rules_out_only_texts_without_its_literals() -> None:
    gate = LiteralGate([r"\bi hope (?:this|that) helps\b", r"\bfeel free to ask\b"])
    assert gate.could_match("well, i hope that helps you")
    assert gate.could_match("feel free to ask")
    assert not gate.could_match("i hoped it would help")
    assert LiteralGate([r"\bi hope", r"[a-z]+\d"]).could_match("anything at all")


def test_any_pattern_finds_what_the_alternation_finds() -> None:
    branches = [r"\$[^$\n]+\$", r"\b[a-z]\^\d", r"\b\d+\s*/\s*\d+\b", r"\bet al\.", r"[=<>]\s*-?\d"]
    alternation = re.compile("|".join(branches))
    either = AnyPattern(branches)
    rng = random.Random(7)
    pieces = ["x^2", " 3/4 ", "$a$", "et al.", "= -5", "text", " ", "etal.", "x ^2", "/", "a", "1"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        assert either.found(text) == (alternation.search(text) is not None), text


def test_ascii_text_never_looks_like_mojibake_to_ftfy() -> None:
    ftfy = require_ftfy()
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(chr(rng.randrange(128)) for _ in range(rng.randint(1, 40)))
        assert not ftfy.badness.is_bad(text)


@pytest.mark.parametrize(
    "text", ["plain words.", "Tides\x00 are regular.", "Tides are regular.\x01\x1b\x02\x7f\x03 and more", ""]
)
def test_the_ascii_shortcut_labels_as_the_full_check_does(text: str) -> None:
    # The same text with a harmless non-ASCII letter goes through every check.
    assert encoding_label(text) == encoding_label(text + " é")


def _loop_stats_by_sorting(words: list[str]) -> tuple[float, int]:
    """The former numpy implementation of `loop_stats`, kept as the reference."""
    n = len(words)
    if n < 3:
        return 0.0, 0
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(w, len(index)) for w in words), dtype=np.int64, count=n)
    if len(index) == n:
        return 0.0, 0
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    gaps = (order[1:] - order[:-1])[same]
    gaps = gaps[gaps <= min(64, n // 3)]
    if not gaps.size:
        return 0.0, 0
    counts = np.bincount(gaps)
    periods = np.flatnonzero(counts >= np.maximum(2, np.arange(counts.size)))
    best, repeats = 0, 0
    for p in periods[periods > 0][:8]:
        equal = ids[p:] == ids[:-p]
        if equal.any():
            padded = np.concatenate(([0], equal.astype(np.int8), [0]))
            edges = np.flatnonzero(np.diff(padded))
            run = int((edges[1::2] - edges[::2]).max())
        else:
            run = 0
        if run >= 2 * p and run + int(p) > best:
            best, repeats = run + int(p), (run + int(p)) // int(p)
    return round(best / n, 4), repeats


def test_loop_stats_agree_with_the_sorting_implementation() -> None:
    rng = random.Random(11)
    loops = 0
    for _ in range(1500):
        vocabulary = [f"w{i}" for i in range(rng.randint(2, 40))]
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 80))]
        if rng.random() < 0.5:  # plant a loop
            unit = [rng.choice(vocabulary) for _ in range(rng.randint(1, 8))]
            at = rng.randint(0, len(words))
            words[at:at] = unit * rng.randint(2, 6)
        expected = _loop_stats_by_sorting(words)
        loops += expected[1] > 0
        assert loop_stats(words) == expected, words
    assert loops > 300


def test_sentences_split_at_stops_in_every_script() -> None:
    assert sentence_repeats("这是一个很长的句子\uff0c重复了很多次。" * 3) == (0.6667, 3)
    assert sentence_repeats("One sentence that is long enough!  " * 2 + "Another one, also long enough?") == (
        0.3478,
        2,
    )
    numbered = "1. Repeat this line please\n2. Repeat this line please\n3. Something else here"
    assert sentence_repeats(numbered) == (0.3538, 2)


def test_a_row_group_is_tagged_as_its_rows_one_by_one() -> None:
    tagger = HeuristicTagger(QualityTagsColumn(name="tags", source="text", gates="recommended"))
    values: list[Any] = [
        *TEXTS,
        None,
        b"bytes \xff\xfe that are not utf-8",
        {"text": "A mapping holding the text under a key."},
        [
            {"role": "user", "content": "Hi there, how are tides made?"},
            {"role": "assistant", "content": "By the Moon."},
        ],
        "I'm sorry, but I can't help with that request.",
        "Ã©tÃ© mojibake here and there, Ã  la franÃ§aise.",
        42,
    ]
    assert tagger.tag_many(values) == [tagger.tag(v) for v in values]
