"""A planted-defect corpus from real text (`real_text.py`), with a fixed seed.

Records are one to three consecutive paragraphs of a real document in one of about 17 languages. Most are
clean; each of the others carries one planted defect of a *kind* at a graded *strength* (the variant):

    boilerplate  refusal (the whole reply) · lead (a refusal or hedge, then the content) · self (AI
                 self-reference opening the reply) · tail (a disclaimer closing it); sentences from
                 `data/boilerplate/<lang>.tsv` in the record's language (English where there is no file)
    encoding     double (UTF-8 read as cp1252 twice) · mojibake (once, whole text) · partial (one
                 sentence) · replacement (non-ASCII letters became U+FFFD) · one_replacement (a single one)
                 · binary (a run of random bytes read as Latin-1)
    markup       html (paragraphs in <p>, inline tags) · inline_tag (one <br> or <b>) · xml (wrapped in
                 <answer> or similar) · fence (prose in a ``` block) · special_token (one chat special
                 token such as <|im_end|>)
    repetition   twice (the text said twice) · numbered (a sentence repeated as a numbered list) ·
                 alternating (two sentences taking turns) · loop3/loop5/loop10 (a sentence repeated)
    truncation   mid_word · word (at a word boundary) · clause (just after a comma)
    near         a later copy of an earlier clean record: edits_few/some/many (up to one word in 30, 12
                 or 7 replaced, inserted or dropped),
                 append (a sentence added), reformat (line breaks, case, punctuation); each with its
                 exact word-5-gram Jaccard against the original (the original stays, as a clean record)

Mojibake needs non-ASCII letters, so it is planted in texts that have some. Everything is drawn from one
`random.Random(seed)`: the same seed and the same installed text give the same corpus.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from real_text import load_paragraphs

__all__ = ["KINDS", "Record", "build_corpus", "exact_jaccard", "word_shingles"]

DATA = Path(__file__).resolve().parent / "data" / "boilerplate"

KINDS: dict[str, tuple[str, ...]] = {
    "boilerplate": ("refusal", "lead", "self", "tail"),
    "encoding": ("double", "mojibake", "partial", "replacement", "one_replacement", "binary"),
    "markup": ("html", "inline_tag", "xml", "fence", "special_token"),
    "repetition": ("twice", "numbered", "alternating", "loop3", "loop5", "loop10"),
    "truncation": ("mid_word", "word", "clause"),
    "near": ("edits_few", "edits_some", "edits_many", "append", "reformat"),
}
SPECIAL_TOKENS = (
    "<|im_end|>",
    "<|im_start|>assistant",
    "<|eot_id|>",
    "<|endoftext|>",
    "</s>",
    "[/INST]",
    "<|assistant|>",
    "<end_of_turn>",
)
_SENTENCE = re.compile(r"(?<=[.!?。\uff01\uff1f])\s+|(?<=[。\uff01\uff1f])")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass
class Record:
    id: int
    language: str
    text: str
    kind: str = "clean"
    variant: str = ""
    #: near: the record this one copies, and their exact word-5-gram Jaccard.
    source: int | None = None
    jaccard: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def word_shingles(text: str, n: int = 5) -> set[str]:
    words = _NON_WORD.sub(" ", text.lower()).split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def exact_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = word_shingles(a, n), word_shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def load_boilerplate() -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for path in sorted(DATA.glob("*.tsv")):
        table: dict[str, list[str]] = defaultdict(list)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                kind, sentence = line.split("\t", 1)
                table[kind].append(sentence)
        out[path.stem] = dict(table)
    return out


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


# --- encodings -------------------------------------------------------------------------------------


def utf8_as_cp1252(text: str) -> str:
    """What a program that takes UTF-8 bytes for Windows-1252 shows (undefined bytes as Latin-1)."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _has_non_ascii_letters(text: str) -> bool:
    return sum(1 for c in text if ord(c) > 127 and c.isalpha()) >= 3


def plant_encoding(text: str, variant: str, rng: random.Random) -> str:
    if variant == "double":
        return utf8_as_cp1252(utf8_as_cp1252(text))
    if variant == "mojibake":
        return utf8_as_cp1252(text)
    if variant == "partial":
        parts = sentences(text)
        picks = [i for i, s in enumerate(parts) if any(ord(c) > 127 for c in s)]
        i = rng.choice(picks)
        parts[i] = utf8_as_cp1252(parts[i])
        return " ".join(parts)
    if variant in ("replacement", "one_replacement"):
        positions = [i for i, c in enumerate(text) if ord(c) > 127 and c.isalpha()]
        if variant == "one_replacement":
            positions = [rng.choice(positions)]
        chars = list(text)
        for i in positions:
            chars[i] = "\ufffd"
        return "".join(chars)
    if variant == "binary":
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(24, 200))).decode("latin-1")
        cut = rng.randint(0, len(text))
        return text[:cut] + garbage + text[cut:]
    raise ValueError(variant)


# --- markup ----------------------------------------------------------------------------------------


def plant_markup(text: str, variant: str, rng: random.Random) -> str:
    if variant == "html":
        parts = text.split("\n\n")
        words = parts[0].split(" ")
        if len(words) > 4:
            i = rng.randrange(len(words) - 1)
            tag = rng.choice(["strong", "em", "b", "code"])
            words[i] = f"<{tag}>{words[i]}</{tag}>"
            parts[0] = " ".join(words)
        return "\n".join(f"<p>{p}</p>" for p in parts)
    if variant == "inline_tag":
        words = text.split(" ")
        i = rng.randrange(1, max(2, len(words)))
        if rng.random() < 0.5:
            words.insert(i, rng.choice(["<br>", "<br/>", "<br />"]))
        else:
            words[i - 1] = f"<b>{words[i - 1]}</b>"
        return " ".join(words)
    if variant == "xml":
        tag = rng.choice(["answer", "response", "output", "assistant", "result"])
        return f"<{tag}>\n{text}\n</{tag}>"
    if variant == "fence":
        lang = rng.choice(["", "", "text", "markdown"])
        return f"```{lang}\n{text}\n```"
    if variant == "special_token":
        token = rng.choice(SPECIAL_TOKENS)
        return f"{text}{token}" if rng.random() < 0.7 else f"{token}\n{text}"
    raise ValueError(variant)


# --- repetition and truncation ---------------------------------------------------------------------


def plant_repetition(text: str, variant: str, rng: random.Random) -> str:
    parts = sentences(text)
    # The repeated sentence is a sentence (five words, or ten CJK characters), not a stray "3.".
    whole = [p for p in parts if len(p.split()) >= 5 or (len(p) >= 10 and len(p.split()) < 3)]
    one = rng.choice(whole or parts)
    if variant == "twice":
        return f"{text}\n\n{text}" if rng.random() < 0.5 else f"{text} {text}"
    if variant == "numbered":
        k = rng.randint(4, 8)
        style = rng.choice(["{i}. {s}", "Step {i}: {s}", "{i}) {s}"])
        return text + "\n" + "\n".join(style.format(i=i, s=one) for i in range(1, k + 1))
    if variant == "alternating":
        other = rng.choice([p for p in parts if p != one] or parts)
        k = rng.randint(3, 5)
        return text + " " + " ".join(f"{one} {other}" for _ in range(k))
    if variant.startswith("loop"):
        k = int(variant[4:])
        return text + " " + " ".join([one] * k)
    raise ValueError(variant)


def plant_truncation(text: str, language: str, variant: str, rng: random.Random) -> str | None:
    """`text` cut mid-sentence in its second half; None where the variant has no place to cut."""
    low = len(text) // 2
    if language in ("ja", "zh"):
        spots = [
            i for i in range(low, len(text) - 1) if text[i - 1] not in "。\uff01\uff1f、\uff0c,.!?\uff1a:"
        ]
        return text[: rng.choice(spots)] if spots else None
    if variant == "mid_word":
        spots = [i for i in range(low, len(text) - 1) if text[i - 1].isalpha() and text[i].isalpha()]
    elif variant == "word":
        spots = [i for i in range(low, len(text) - 1) if text[i] == " " and text[i - 1].isalnum()]
    else:
        spots = [i + 1 for i in range(low, len(text) - 1) if text[i] == "," and text[i + 1] == " "]
    return text[: rng.choice(spots)] if spots else None


# --- near-duplicates -------------------------------------------------------------------------------


def plant_near(text: str, variant: str, rng: random.Random, vocabulary: list[str], other: str) -> str:
    if variant.startswith("edits"):
        words = text.split(" ")
        share = {"edits_few": 30, "edits_some": 12, "edits_many": 7}[variant]
        k = rng.randint(max(1, len(words) // (2 * share)), max(1, len(words) // share))
        for _ in range(k):
            op = rng.random()
            i = rng.randrange(len(words))
            if op < 0.5:
                words[i] = rng.choice(vocabulary)
            elif op < 0.75:
                words.insert(i, rng.choice(vocabulary))
            elif len(words) > 5:
                del words[i]
        return " ".join(words)
    if variant == "append":
        return f"{text} {rng.choice(sentences(other))}"
    if variant == "reformat":
        out = text.replace(". ", ".\n") if rng.random() < 0.5 else text.replace(", ", " , ")
        return out.upper() if rng.random() < 0.2 else f"  {out}  "
    raise ValueError(variant)


# --- the corpus ------------------------------------------------------------------------------------


def build_corpus(records: int = 10_000, *, seed: int = 0, clean_share: float = 0.8) -> list[Record]:
    """`records` records, `clean_share` of them clean, the rest spread evenly over kinds and variants."""
    rng = random.Random(seed)
    paragraphs = load_paragraphs(seed=seed)
    languages = sorted(paragraphs)
    boilerplate = load_boilerplate()
    vocabulary = sorted({w for p in paragraphs.get("en", [])[:2000] for w in p.split() if w.isalpha()})

    # Paragraphs are drawn without replacement (so clean records are not copies of each other), from a
    # language chosen in proportion to what it has left.
    cursor = dict.fromkeys(languages, 0)

    def draw_text() -> tuple[str, str]:
        left = [len(paragraphs[lang]) - cursor[lang] for lang in languages]
        if sum(left) <= 0:
            raise SystemExit(f"the installed text runs out at {len(out)} records: ask for fewer")
        language = rng.choices(languages, weights=[max(0, n) for n in left])[0]
        pool, start = paragraphs[language], cursor[language]
        count = min(rng.choice((1, 1, 1, 2)), len(pool) - start)
        cursor[language] = start + count
        return language, "\n\n".join(pool[start : start + count])

    out: list[Record] = []
    plan = [("clean", "")] * round(records * clean_share)
    defects = [(kind, variant) for kind, variants in KINDS.items() for variant in variants]
    while len(plan) < records:
        plan.append(defects[(len(plan) - round(records * clean_share)) % len(defects)])
    rng.shuffle(plan)
    clean_ids: list[int] = []
    for kind, variant in plan:
        language, text = draw_text()
        record = Record(len(out), language, text, kind, variant)
        if kind == "clean":
            clean_ids.append(record.id)
        elif kind == "boilerplate":
            table = boilerplate.get(language) or boilerplate["en"]
            phrase = rng.choice(table[variant])
            if variant == "refusal":
                record.text = phrase
            elif variant == "lead":
                record.text = f"{phrase}\n\n{text}"
            elif variant == "self":
                joiner = "" if language in ("ja", "zh") else " "
                first = text[0].lower() + text[1:] if language not in ("ja", "zh", "de") else text
                record.text = f"{phrase}{joiner}{first}"
            else:
                record.text = f"{text}\n\n{phrase}"
        elif kind == "encoding":
            if variant in ("double", "mojibake", "partial", "replacement", "one_replacement"):
                while not _has_non_ascii_letters(text):
                    language, text = draw_text()
                record.language = language
            record.text = plant_encoding(text, variant, rng)
        elif kind == "markup":
            record.text = plant_markup(text, variant, rng)
        elif kind == "repetition":
            record.text = plant_repetition(text, variant, rng)
        elif kind == "truncation":
            cut = plant_truncation(text, language, variant, rng)
            while cut is None:
                language, text = draw_text()
                cut = plant_truncation(text, language, variant, rng)
            record.language, record.text = language, cut
        elif kind == "near":
            candidates = [i for i in clean_ids if len(out[i].text.split()) >= 20] or clean_ids
            if not candidates:  # nothing clean before it yet: a clean record instead
                record.kind, record.variant = "clean", ""
                clean_ids.append(record.id)
            else:
                original = out[rng.choice(candidates)]
                record.language = original.language
                record.source = original.id
                record.text = plant_near(original.text, variant, rng, vocabulary, draw_text()[1])
                record.jaccard = round(exact_jaccard(original.text, record.text), 4)
        out.append(record)
    return out
