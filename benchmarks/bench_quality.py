"""Quality tagging and dedup on a planted-defect corpus, through `synthloom.create`.

The corpus: `--records` (100,000) prompt/response records. Most are clean English answers built from a
large vocabulary (so clean rows are all different); the rest carry one planted defect each:

    exact        a copy of an earlier clean answer (case and spacing changed)
    near         an earlier clean answer with one or two words edited
    paraphrase   an earlier clean answer with synonyms swapped in and its sentences reordered
    language     an answer in German, French or Spanish
    loop         a clean answer that ends in a generation loop (a sentence repeated 4-9 times)
    truncated    a clean answer cut off mid-sentence
    gibberish    random letter strings
    short        one to three words

The pipeline: `quality-tags` on the response with filters (language in [en], loop_repeats max 3,
words min 5, truncated false), then dedup: exact, MinHash (Jaccard 0.75) and embedding (cosine 0.9).
No sentence-embedding model can be downloaded here, so the embedding column is a stand-in: a hashed
bag of words in which a word and its synonyms share a dimension (the synonyms the paraphrases use).
The dedup index is what is measured; a real model's recall on real paraphrases is its own.

A planted row counts as found when the run filtered it (any reason); a clean row filtered is a false
positive, counted per filter. Also measured: tagging throughput (the tagger alone), the pipeline's
wall time, the dedup indexes' bytes per row, and MinHash dedup of `--minhash-records` (1,000,000)
records in bounded memory (signatures per row group, the index alone kept).

    PYTHONPATH=src python benchmarks/bench_quality.py --save
    PYTHONPATH=src python benchmarks/bench_quality.py --records 20000 --minhash-records 100000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import synthloom  # noqa: E402
from synthloom import DatasetConfig  # noqa: E402
from synthloom.columns.quality.config import DedupColumn, QualityTagsColumn  # noqa: E402
from synthloom.columns.quality.dedup import DedupPass, fingerprints_of  # noqa: E402
from synthloom.columns.quality.heuristic_tags import HeuristicTagger  # noqa: E402

KINDS = ("exact", "near", "paraphrase", "language", "loop", "truncated", "gibberish", "short")

NOUNS = [
    "river",
    "mountain",
    "engine",
    "garden",
    "library",
    "planet",
    "market",
    "teacher",
    "student",
    "forest",
    "ocean",
    "bridge",
    "city",
    "village",
    "computer",
    "network",
    "signal",
    "battery",
    "window",
    "kitchen",
    "doctor",
    "patient",
    "harvest",
    "climate",
    "storm",
    "desert",
    "island",
    "museum",
    "painting",
    "theory",
    "experiment",
    "protein",
    "molecule",
    "galaxy",
    "telescope",
    "satellite",
    "railway",
    "harbour",
    "factory",
    "budget",
    "contract",
    "customer",
    "product",
    "software",
    "database",
    "server",
    "keyboard",
    "camera",
    "microscope",
    "volcano",
    "glacier",
    "canyon",
    "meadow",
    "orchard",
    "vineyard",
    "festival",
    "concert",
    "theatre",
    "novel",
    "poem",
    "chapter",
    "lecture",
    "seminar",
    "journal",
    "article",
    "committee",
    "council",
    "parliament",
    "election",
    "economy",
    "currency",
    "industry",
    "farmer",
    "merchant",
    "sailor",
    "pilot",
    "engineer",
    "architect",
    "scientist",
    "historian",
    "philosopher",
    "musician",
    "athlete",
    "coach",
    "referee",
    "stadium",
    "tournament",
    "recipe",
    "ingredient",
    "oven",
    "bakery",
    "sandwich",
    "vegetable",
    "fruit",
    "apple",
    "orange",
    "lemon",
    "coffee",
    "tea",
    "honey",
    "cheese",
    "bread",
]
VERBS = [
    "builds",
    "explains",
    "measures",
    "describes",
    "improves",
    "protects",
    "studies",
    "supports",
    "connects",
    "changes",
    "creates",
    "reduces",
    "increases",
    "collects",
    "compares",
    "designs",
    "follows",
    "discovers",
    "reveals",
    "controls",
    "delivers",
    "prepares",
    "examines",
    "records",
    "reports",
    "shapes",
    "guides",
    "moves",
    "carries",
    "heats",
    "cools",
    "feeds",
    "lights",
    "opens",
    "closes",
    "tests",
    "checks",
    "repairs",
    "cleans",
    "paints",
    "writes",
    "reads",
    "teaches",
    "learns",
    "finds",
    "keeps",
    "shares",
    "sells",
    "buys",
    "grows",
]
ADJECTIVES = [
    "small",
    "large",
    "quiet",
    "busy",
    "bright",
    "dark",
    "ancient",
    "modern",
    "simple",
    "complex",
    "rapid",
    "slow",
    "careful",
    "famous",
    "local",
    "distant",
    "warm",
    "cold",
    "heavy",
    "light",
    "fresh",
    "sharp",
    "gentle",
    "strong",
    "weak",
    "rare",
    "common",
    "useful",
    "fragile",
    "clever",
    "curious",
    "patient",
    "honest",
    "narrow",
    "wide",
    "deep",
    "shallow",
    "green",
    "golden",
    "silver",
    "wooden",
    "stone",
    "digital",
    "natural",
]
PLACES = [
    "in the morning",
    "near the coast",
    "after the meeting",
    "during the winter",
    "across the valley",
    "before dinner",
    "along the river",
    "inside the lab",
    "at the station",
    "under the old bridge",
    "over the hills",
    "around noon",
]
SYNONYMS = {
    "builds": "constructs",
    "explains": "clarifies",
    "measures": "gauges",
    "describes": "portrays",
    "improves": "enhances",
    "protects": "guards",
    "studies": "investigates",
    "supports": "backs",
    "creates": "produces",
    "reduces": "lowers",
    "increases": "raises",
    "collects": "gathers",
    "small": "little",
    "large": "big",
    "quiet": "silent",
    "busy": "hectic",
    "bright": "shiny",
    "ancient": "old",
    "modern": "contemporary",
    "rapid": "fast",
    "careful": "cautious",
    "famous": "renowned",
    "warm": "mild",
    "useful": "handy",
    "clever": "smart",
    "city": "town",
    "teacher": "instructor",
    "student": "pupil",
    "doctor": "physician",
    "ocean": "sea",
    "storm": "tempest",
    "river": "stream",
    "market": "bazaar",
    "factory": "plant",
    "customer": "client",
    "journal": "magazine",
    "farmer": "grower",
}
FOREIGN = {
    "de": [
        "Der Fluss fließt langsam durch das grüne Tal.",
        "Die Schüler lernen jeden Tag etwas Neues.",
        "Am Morgen trinken wir gerne einen starken Kaffee.",
        "Das Museum zeigt viele alte Gemälde.",
        "Der Wissenschaftler misst die Temperatur im Labor.",
        "Im Winter ist es in den Bergen sehr kalt.",
        "Die Stadt plant eine neue Brücke über den Fluss.",
        "Unsere Nachbarn haben einen schönen Garten.",
    ],
    "fr": [
        "La rivière coule lentement à travers la vallée verte.",
        "Les élèves apprennent quelque chose chaque jour.",
        "Le matin, nous aimons boire un café bien fort.",
        "Le musée présente de nombreux tableaux anciens.",
        "Le scientifique mesure la température dans le laboratoire.",
        "En hiver, il fait très froid en montagne.",
        "La ville prévoit un nouveau pont sur la rivière.",
        "Nos voisins ont un très beau jardin fleuri.",
    ],
    "es": [
        "El río fluye lentamente a través del valle verde.",
        "Los alumnos aprenden algo nuevo cada día.",
        "Por la mañana nos gusta tomar un café muy fuerte.",
        "El museo muestra muchas pinturas antiguas.",
        "El científico mide la temperatura en el laboratorio.",
        "En invierno hace mucho frío en las montañas.",
        "La ciudad planea un nuevo puente sobre el río.",
        "Nuestros vecinos tienen un jardín muy bonito.",
    ],
}
SHORT = ["Yes.", "No.", "Maybe later.", "I agree.", "Not sure.", "Thanks!", "Paris.", "It depends.", "42."]
LOOP_UNITS = [
    "I hope this helps.",
    "Let me know if you have questions.",
    "The answer is the same.",
    "This is important.",
]


def sentence(rng: random.Random) -> str:
    adj, noun, verb, adj2, noun2 = (
        rng.choice(ADJECTIVES),
        rng.choice(NOUNS),
        rng.choice(VERBS),
        rng.choice(ADJECTIVES),
        rng.choice(NOUNS),
    )
    return f"The {adj} {noun} {verb} the {adj2} {noun2} {rng.choice(PLACES)}."


def clean_answer(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(6, 9)))


def paraphrase(text: str, rng: random.Random) -> str:
    sentences = text.split(". ")
    rng.shuffle(sentences)
    words = ". ".join(s.rstrip(".") for s in sentences).split()
    out = [SYNONYMS.get(w, w) if rng.random() < 0.8 else w for w in words]
    return " ".join(out).rstrip(".") + "."


def near_copy(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(1, len(words) - 1)
        words[i] = rng.choice(NOUNS + ADJECTIVES)
    return " ".join(words)


def gibberish(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(rng.randint(8, 40))
    )


def build_corpus(n: int, seed: int = 0, defect_share: float = 0.02) -> list[dict[str, Any]]:
    """`n` records; each defect kind is `defect_share` of them, planted after the first 2 %."""
    rng = random.Random(seed)
    plan = ["clean"] * n
    slots = list(range(n // 50, n))
    rng.shuffle(slots)
    per_kind = int(n * defect_share)
    for k, kind in enumerate(KINDS):
        for slot in slots[k * per_kind : (k + 1) * per_kind]:
            plan[slot] = kind
    records: list[dict[str, Any]] = []
    clean_records: list[int] = []
    for i, kind in enumerate(plan):
        topic = rng.choice(NOUNS)
        prompt = f"Tell me about the {topic}."
        dup_of = None
        if kind in ("exact", "near", "paraphrase") and clean_records:
            dup_of = rng.choice(clean_records)
            original = records[dup_of]["response"]
            response = {
                "exact": lambda o: "  " + o.upper() if rng.random() < 0.5 else o.replace(" ", "  "),
                "near": lambda o: near_copy(o, rng),
                "paraphrase": lambda o: paraphrase(o, rng),
            }[kind](original)
        elif kind == "language":
            pool = FOREIGN[rng.choice(sorted(FOREIGN))]
            response = " ".join(rng.sample(pool, rng.randint(3, 6)))
        elif kind == "loop":
            unit = rng.choice(LOOP_UNITS)
            response = clean_answer(rng) + " " + " ".join([unit] * rng.randint(4, 9))
        elif kind == "truncated":
            text = clean_answer(rng)
            cut = rng.randint(len(text) // 3, len(text) - 5)
            while text[cut - 1] in " .":
                cut -= 1
            response = text[:cut]
        elif kind == "gibberish":
            response = gibberish(rng)
        elif kind == "short":
            response = rng.choice(SHORT)
        else:
            kind = "clean"
            response = clean_answer(rng)
            clean_records.append(i)
        records.append({"prompt": prompt, "response": response, "kind": kind, "dup_of": dup_of})
    return records


def stand_in_embedding(rows: list[Any], dims: int = 128) -> list[list[float]]:
    """Hashed bag of words, synonyms folded together: the benchmark's stand-in for an embedding model."""
    canonical = {v: k for k, v in SYNONYMS.items()}
    out = []
    for row in rows:
        vector = np.zeros(dims, dtype=np.float32)
        for word in str(row["response"]).lower().replace(".", " ").split():
            word = canonical.get(word, word)
            if len(word) > 3:
                vector[zlib.crc32(word.encode()) % dims] += 1.0
        out.append(vector.tolist())
    return out


def pipeline_config(seed_path: Path, buffer_size: int) -> dict[str, Any]:
    return {
        "name": "planted",
        "seed": {"path": str(seed_path), "sampling": "ordered"},
        "columns": [
            {
                "name": "tags",
                "type": "quality-tags",
                "source": "response",
                "tags": ["language", "length", "lexical", "repetition"],
                "filter": {
                    "language": {"in": ["en"]},
                    "loop_repeats": {"max": 3},
                    "words": {"min": 5},
                    "truncated": {"in": [False]},
                },
            },
            {"name": "exact", "type": "dedup", "source": "response"},
            {"name": "near", "type": "dedup", "source": "response", "method": "minhash", "threshold": 0.75},
            {
                "name": "vector",
                "type": "custom",
                "mode": "batch",
                "function": "bench_quality:stand_in_embedding",
                "inputs": ["response"],
                "drop": True,
            },
            {"name": "para", "type": "dedup", "method": "embedding", "embedding": "vector", "threshold": 0.9},
        ],
        "run": {"buffer_size": buffer_size, "seed": 1},
    }


def run_pipeline(records: list[dict[str, Any]], workdir: Path, buffer_size: int) -> dict[str, Any]:
    seed_path = workdir / "corpus.jsonl"
    with seed_path.open("w") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    config = DatasetConfig.model_validate(pipeline_config(seed_path, buffer_size))
    sys.path.insert(0, str(HERE))
    started = time.perf_counter()
    result = synthloom.create(config, len(records), workdir / "out", progress=False)
    seconds = time.perf_counter() - started
    flagged: dict[int, str] = {f["record"]: f["column"] for f in result.filtered}
    reasons: dict[int, str] = {f["record"]: f["reason"] for f in result.filtered}
    kinds = Counter(r["kind"] for r in records)
    found = Counter(r["kind"] for i, r in enumerate(records) if i in flagged)
    clean_by_filter = Counter(
        flagged[i] for i, r in enumerate(records) if r["kind"] == "clean" and i in flagged
    )
    wrong_original = sum(
        1
        for i, r in enumerate(records)
        if r["dup_of"] is not None
        and i in flagged
        and flagged[i] in ("exact", "near", "para")
        and f"record {r['dup_of']}" not in reasons[i]
    )
    detection = {k: round(found[k] / kinds[k], 4) for k in KINDS if kinds[k]}
    clean = kinds["clean"]
    return {
        "records": len(records),
        "planted": {k: kinds[k] for k in KINDS},
        "clean_records": clean,
        "detection_rate": detection,
        "clean_flagged_rate": round(sum(clean_by_filter.values()) / clean, 4),
        "clean_flagged_by_filter": {k: round(v / clean, 4) for k, v in sorted(clean_by_filter.items())},
        "duplicates_pointing_elsewhere_than_the_planted_original": wrong_original,
        "kept": len(result),
        "pipeline_seconds": round(seconds, 1),
        "pipeline_records_per_s": round(len(records) / seconds),
        "goal_met": all(v >= 0.95 for v in detection.values())
        and all(v <= 0.02 for v in clean_by_filter.values()),
    }


def tagging_throughput(records: list[dict[str, Any]]) -> dict[str, Any]:
    texts = [r["response"] for r in records]
    out: dict[str, Any] = {}
    for name, groups in (
        ("all_tags", ["language", "length", "lexical", "repetition", "characteristics", "conversation"]),
        ("language_only", ["language"]),
        ("without_language", ["length", "lexical", "repetition", "characteristics", "conversation"]),
    ):
        tagger = HeuristicTagger(QualityTagsColumn(name="t", source="x", tags=groups))
        started = time.perf_counter()
        for text in texts:
            tagger.tag(text)
        out[f"{name}_records_per_s"] = round(len(texts) / (time.perf_counter() - started))
    return out


def index_memory(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes the three indexes hold per kept row, after indexing the corpus's responses."""
    out: dict[str, Any] = {}
    table = {"response": [r["response"] for r in records]}
    vectors = {"vector": stand_in_embedding(records)}
    for name, config, data in (
        ("exact", DedupColumn(name="x", source="response"), table),
        ("minhash", DedupColumn(name="x", source="response", method="minhash", threshold=0.75), table),
        ("embedding", DedupColumn(name="x", method="embedding", embedding="vector", threshold=0.9), vectors),
    ):
        stage = DedupPass(config, {})
        stage.restore(None, [])
        n = len(records)
        started = time.perf_counter()
        for start in range(0, n, 1000):
            rows = list(range(start, min(n, start + 1000)))
            part = {k: [v[i] for i in rows] for k, v in data.items()}
            fingerprints = fingerprints_of(config, part, rows, list(range(len(rows))))
            keep, _ = stage.index.check(fingerprints)
            stage.index.add(fingerprints.take(keep))
        out[name] = {
            "rows_indexed": stage.index.rows,
            "index_bytes": stage.index.nbytes,
            "bytes_per_row": round(stage.index.nbytes / max(1, stage.index.rows), 1),
            "seconds": round(time.perf_counter() - started, 2),
        }
    return out


def minhash_at_scale(n: int, group: int = 1000) -> dict[str, Any]:
    """MinHash dedup of `n` generated records, one row group at a time: signatures are computed and
    dropped per group, only the index stays. 1 % of rows are near copies of earlier ones."""
    rng = random.Random(5)
    config = DedupColumn(name="near", source="response", method="minhash", threshold=0.8)
    stage = DedupPass(config, {})
    stage.restore(None, [])
    process = psutil.Process()
    rss_start = process.memory_info().rss
    peak = rss_start
    planted = found = 0
    recent: list[str] = []
    started = time.perf_counter()
    for start in range(0, n, group):
        texts = []
        for _ in range(min(group, n - start)):
            if recent and rng.random() < 0.01:
                texts.append(near_copy(rng.choice(recent), rng))
                planted += 1
            else:
                texts.append(clean_answer(rng))
        recent = texts[-200:]
        rows = list(range(start, start + len(texts)))
        fingerprints = fingerprints_of(config, {"response": texts}, rows, list(range(len(texts))))
        keep, dupes = stage.index.check(fingerprints)
        found += len(dupes)
        stage.index.add(fingerprints.take(keep))
        if (start // group) % 50 == 0:
            peak = max(peak, process.memory_info().rss)
    seconds = time.perf_counter() - started
    peak = max(peak, process.memory_info().rss)
    return {
        "records": n,
        "planted_near_copies": planted,
        "duplicates_found": found,
        "seconds": round(seconds, 1),
        "records_per_s": round(n / seconds),
        "index_bytes": stage.index.nbytes,
        "index_bytes_per_row": round(stage.index.nbytes / stage.index.rows, 1),
        "rss_growth_mb": round((peak - rss_start) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--minhash-records", type=int, default=1_000_000)
    parser.add_argument("--buffer-size", type=int, default=1000)
    parser.add_argument("--save", action="store_true", help="write results/quality.json")
    args = parser.parse_args()
    corpus = build_corpus(args.records)
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["planted_defects"] = run_pipeline(corpus, Path(tmp), args.buffer_size)
        print(json.dumps(result["planted_defects"], indent=2), flush=True)
    result["tagging"] = tagging_throughput(corpus[:20_000])
    print(json.dumps(result["tagging"], indent=2), flush=True)
    result["index_memory"] = index_memory(corpus)
    print(json.dumps(result["index_memory"], indent=2), flush=True)
    result["minhash_at_scale"] = minhash_at_scale(args.minhash_records)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))
    if args.save:
        out = HERE / "results" / "quality.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {out}")


if __name__ == "__main__":
    main()
