"""What `quality-tags` (with `gates: recommended`) and MinHash `dedup` catch of the defects LLM-made data
really has, on a planted-defect corpus of real text (`quality_corpus.py`, fixed seed).

Per defect kind and variant: recall (a planted record removed by any recommended gate, or by dedup for
near-duplicates); per gate: false positives on the clean records; tagging records/s (one thread, all tag
groups on, as a user configures them) and the process's peak memory. Beside each, a reference tool where
one exists: ftfy (`is_bad`, and its fix changing the text) for encodings, datasketch's `MinHashLSH` for
near-duplicates (same threshold, 128 permutations, the same word-5-gram shingles). Tagging goes a row
group (1,000 records) at a time, as the column does.

Near-duplicates are binned by their exact word-5-gram Jaccard with the record they copy; the target is
the pairs at 0.7 and above, with dedup's defaults (`threshold: 0.7, ngram: 5, num_perm: 256`). datasketch
is optional (`pip install datasketch`); without it the reference column is left out.

    flock /tmp/synthloom-cpu.lock .venv/bin/python benchmarks/bench_quality_defects.py --save
    .venv/bin/python benchmarks/bench_quality_defects.py --records 4000        # quick
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from harness import save_results, stamped  # noqa: E402
from quality_corpus import KINDS, Record, build_corpus, exact_jaccard, word_shingles  # noqa: E402

from synthloom.columns.quality.config import DedupColumn, QualityTagsColumn  # noqa: E402
from synthloom.columns.quality.dedup import fingerprints_of, new_index  # noqa: E402
from synthloom.columns.quality.dedup_index import MinHashIndex  # noqa: E402
from synthloom.columns.quality.heuristic_tags import HeuristicTagger  # noqa: E402
from synthloom.columns.quality.minhash import lsh_params  # noqa: E402
from synthloom.columns.quality.tag_bounds import outside  # noqa: E402

GROUP = 1000
JACCARD_BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def tag_corpus(corpus: list[Record]) -> dict[str, Any]:
    config = QualityTagsColumn(name="tags", source="answer", gates="recommended")
    tagger = HeuristicTagger(config)
    gates = config.gates_in_force()
    texts = [r.text for r in corpus]
    tagger.tag(corpus[0].text)  # load the language model outside the timing
    started, cpu = time.perf_counter(), time.process_time()
    # As the column tags: a row group at a time (languages are identified per batch).
    tags = [t for at in range(0, len(corpus), GROUP) for t in tagger.tag_many(texts[at : at + GROUP])]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    hits: list[list[str]] = []
    for t in tags:
        hits.append([key for key, bounds in gates.items() if outside("tags", key, t.get(key), bounds)])
    return {
        "tags": tags,
        "hits": hits,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "gates": sorted(gates),
    }


def dedup_corpus(
    corpus: list[Record], threshold: float, num_perm: int, z: float | None = None
) -> tuple[dict[int, int], float]:
    """record id -> the record it was found to duplicate (MinHash dedup in record order, by group), and
    the index's bytes per row kept. `z` replaces the acceptance margin (in standard errors)."""
    config = DedupColumn(
        name="unique", source="answer", method="minhash", threshold=threshold, ngram=5, num_perm=num_perm
    )
    index = new_index(config)
    if z is not None:
        accept = max(0.05, threshold - z * math.sqrt(threshold * (1 - threshold) / num_perm))
        bands, rows = lsh_params(round(0.9 * accept, 3), num_perm)
        index = MinHashIndex(threshold=accept, bands=bands, rows_per_band=rows, num_perm=num_perm)
    found: dict[int, int] = {}
    for start in range(0, len(corpus), GROUP):
        chunk = corpus[start : start + GROUP]
        table = {"answer": [r.text for r in chunk]}
        rows = list(range(len(chunk)))
        prints = fingerprints_of(config, table, [start + i for i in rows], rows)
        keep, duplicates = index.check(prints)
        for d in duplicates:
            found[d.record] = d.of
        index.add(prints.take(keep))
    return found, index.nbytes / max(1, index.rows)


def datasketch_dedup(corpus: list[Record], threshold: float) -> tuple[dict[int, int], float] | None:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        return None
    started = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    found: dict[int, int] = {}
    for r in corpus:
        m = MinHash(num_perm=128)
        m.update_batch([s.encode() for s in word_shingles(r.text)])
        hits = lsh.query(m)
        if hits:
            found[r.id] = min(hits)
        else:
            lsh.insert(r.id, m)
    return found, time.perf_counter() - started


def ftfy_reference(corpus: list[Record]) -> tuple[list[bool], float] | None:
    try:
        import ftfy
        import ftfy.badness
    except ImportError:
        return None
    started = time.perf_counter()
    flags = [ftfy.badness.is_bad(r.text) or ftfy.fix_text(r.text) != r.text for r in corpus]
    return flags, time.perf_counter() - started


def _share(a: int, b: int) -> float | None:
    return round(100 * a / b, 2) if b else None


def measure(records: int, seed: int, threshold: float, num_perm: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    corpus = build_corpus(records, seed=seed)
    build_seconds = time.perf_counter() - t0
    tagged = tag_corpus(corpus)
    after_tags_mb = _peak_mb()
    started = time.perf_counter()
    duplicates, index_bytes = dedup_corpus(corpus, threshold, num_perm)
    dedup_seconds = time.perf_counter() - started
    flagged = [bool(h) for h in tagged["hits"]]
    for r in corpus:
        if r.id in duplicates:
            flagged[r.id] = True
    clean = [r for r in corpus if r.kind == "clean"]
    out: dict[str, Any] = {
        "records": len(corpus),
        "clean": len(clean),
        "languages": dict(sorted(Counter(r.language for r in corpus).items())),
        "seed": seed,
        "corpus_build_s": round(build_seconds, 1),
        "tagging_records_per_s": round(len(corpus) / tagged["seconds"]),
        # The machine is shared: per CPU-second is what the code costs, per second what it got.
        "tagging_records_per_cpu_s": round(len(corpus) / tagged["cpu_seconds"]),
        "peak_rss_mb_after_tagging": after_tags_mb,
        "dedup_records_per_s": round(len(corpus) / dedup_seconds),
        "dedup_index_bytes_per_row": round(index_bytes),
        "gates": tagged["gates"],
    }
    # Recall per kind and variant (near: by dedup only; the others: by any gate, dedup included).
    kinds: dict[str, Any] = {}
    for kind, variants in KINDS.items():
        planted = [r for r in corpus if r.kind == kind]
        if kind == "near":
            planted = [r for r in planted if (r.jaccard or 0) >= 0.7]
            caught = [r for r in planted if r.id in duplicates]
        else:
            caught = [r for r in planted if flagged[r.id]]
        per_variant = {}
        for variant in variants:
            v = [r for r in planted if r.variant == variant]
            per_variant[variant] = {
                "n": len(v),
                "recall": _share(sum(1 for r in v if r in caught), len(v)),
            }
        kinds[kind] = {
            "n": len(planted),
            "recall": _share(len(caught), len(planted)),
            "variants": per_variant,
        }
    out["kinds"] = kinds
    misses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in corpus:
        if r.kind not in ("clean", "near") and not flagged[r.id] and len(misses[r.kind]) < 4:
            misses[r.kind].append(
                {"id": r.id, "variant": r.variant, "language": r.language, "text": r.text[-200:]}
            )
    out["miss_examples"] = dict(misses)
    # False positives on clean records, per gate and all together.
    per_gate: Counter[str] = Counter()
    for r in clean:
        for key in tagged["hits"][r.id]:
            per_gate[key] += 1
    clean_dups = [r for r in clean if r.id in duplicates]
    out["false_positives"] = {
        "all_gates_and_dedup": _share(sum(1 for r in clean if flagged[r.id]), len(clean)),
        "all_gates": _share(sum(1 for r in clean if tagged["hits"][r.id]), len(clean)),
        "per_gate": {k: _share(v, len(clean)) for k, v in sorted(per_gate.items())},
        "dedup": _share(len(clean_dups), len(clean)),
        # A clean record found to duplicate another clean one may really be one (the source repeats).
        # A clean record found to duplicate another clean one may really be one (the source repeats
        # itself: option descriptions shared by several manual pages), so the exact Jaccard is shown.
        "dedup_exact_jaccard": dict(
            Counter(
                next(f"{lo:.1f}-{min(hi, 1.0):.1f}" for lo, hi in JACCARD_BINS if lo <= j < hi)
                for j in (exact_jaccard(r.text, corpus[duplicates[r.id]].text) for r in clean_dups)
            )
        ),
    }
    examples = defaultdict(list)
    for r in clean:
        for key in tagged["hits"][r.id]:
            if len(examples[key]) < 3:
                examples[key].append(
                    {"id": r.id, "tag": tagged["tags"][r.id].get(key), "text": r.text[-160:]}
                )
    out["false_positive_examples"] = dict(examples)
    # Near-duplicates by exact Jaccard bin, ours and datasketch's.
    near = [r for r in corpus if r.kind == "near"]
    reference = datasketch_dedup(corpus, threshold)
    bins = {}
    for low, high in JACCARD_BINS:
        in_bin = [r for r in near if low <= (r.jaccard or 0) < high]
        row: dict[str, Any] = {
            "n": len(in_bin),
            "recall": _share(sum(1 for r in in_bin if r.id in duplicates), len(in_bin)),
        }
        if reference is not None:
            row["datasketch_recall"] = _share(sum(1 for r in in_bin if r.id in reference[0]), len(in_bin))
        bins[f"{low:.1f}-{min(high, 1.0):.1f}"] = row
    out["near_by_jaccard"] = bins
    if reference is not None:
        ref_found, ref_seconds = reference
        target = [r for r in near if (r.jaccard or 0) >= 0.7]
        out["datasketch"] = {
            "recall_jaccard_ge_0.7": _share(sum(1 for r in target if r.id in ref_found), len(target)),
            "false_positives": _share(sum(1 for r in clean if r.id in ref_found), len(clean)),
            "records_per_s": round(len(corpus) / ref_seconds),
        }
    ftfy_ref = ftfy_reference(corpus)
    if ftfy_ref is not None:
        flags, seconds = ftfy_ref
        enc = [r for r in corpus if r.kind == "encoding"]
        out["ftfy"] = {
            "recall": _share(sum(1 for r in enc if flags[r.id]), len(enc)),
            "variants": {
                v: _share(
                    sum(1 for r in enc if r.variant == v and flags[r.id]),
                    sum(1 for r in enc if r.variant == v),
                )
                for v in KINDS["encoding"]
            },
            "false_positives": _share(sum(1 for r in clean if flags[r.id]), len(clean)),
            "records_per_s": round(len(corpus) / seconds),
        }
    out["peak_rss_mb"] = _peak_mb()
    return out


def dedup_sweep(records: int, seed: int, threshold: float) -> dict[str, Any]:
    """Recall and clean records flagged below the threshold, for permutations x acceptance margins:
    how the dedup defaults were chosen."""
    corpus = build_corpus(records, seed=seed)
    near = [r for r in corpus if r.kind == "near"]
    target = [r for r in near if (r.jaccard or 0) >= threshold]
    low = [r for r in target if (r.jaccard or 0) < threshold + 0.1]
    clean = [r for r in corpus if r.kind == "clean"]
    rows = []
    for num_perm, z in ((128, 1.645), (128, 1.0), (128, 0.0), (256, 1.645), (256, 1.28), (256, 0.0)):
        found, _ = dedup_corpus(corpus, threshold, num_perm, z)
        below = sum(
            1 for r in clean if r.id in found and exact_jaccard(r.text, corpus[found[r.id]].text) < threshold
        )
        rows.append(
            {
                "num_perm": num_perm,
                "z": z,
                "recall_ge_threshold": _share(sum(1 for r in target if r.id in found), len(target)),
                "recall_first_0.1_above": _share(sum(1 for r in low if r.id in found), len(low)),
                "clean_flagged_below_threshold_pct": _share(below, len(clean)),
            }
        )
    return {
        "records": records,
        "threshold": threshold,
        "pairs": len(target),
        "pairs_near": len(low),
        "rows": rows,
    }


def markdown(f: dict[str, Any]) -> str:
    """The figures as the RESULTS.md table."""
    fp = f["false_positives"]
    lines = [
        f"{f['records']:,} records ({f['clean']:,} clean) in {len(f['languages'])} languages, "
        f"seed {f['seed']}; tagging {f['tagging_records_per_s']:,} records/s "
        f"({f['tagging_records_per_cpu_s']:,} per CPU-second), peak RSS {f['peak_rss_mb']} MB; "
        f"MinHash dedup {f['dedup_records_per_s']:,} records/s, index "
        f"{f.get('dedup_index_bytes_per_row', '?')} bytes per row.",
        "",
        "| defect | recall | by strength (variant) | reference tool |",
        "|---|---|---|---|",
    ]
    for kind, row in f["kinds"].items():
        variants = ", ".join(
            f"{v} {r['recall']} %" for v, r in row["variants"].items() if r["recall"] is not None
        )
        reference = ""
        if kind == "encoding" and "ftfy" in f:
            reference = f"ftfy {f['ftfy']['recall']} % (false positives {f['ftfy']['false_positives']} %)"
        if kind == "near" and "datasketch" in f:
            d = f["datasketch"]
            reference = (
                f"datasketch MinHashLSH {d['recall_jaccard_ge_0.7']} % "
                f"(clean flagged {d['false_positives']} %)"
            )
        label = "near-duplicate (Jaccard ≥ 0.7)" if kind == "near" else kind
        lines.append(f"| {label} | **{row['recall']} %** (n={row['n']}) | {variants} | {reference} |")
    lines += [
        "",
        "| near-duplicates by exact word-5-gram Jaccard | n | MinHash dedup | datasketch |",
        "|---|---|---|---|",
    ]
    for span, row in f["near_by_jaccard"].items():
        lines.append(f"| {span} | {row['n']} | {row['recall']} % | {row.get('datasketch_recall', '')} % |")
    gates = ", ".join(f"{k} {v} %" for k, v in fp["per_gate"].items()) or "none"
    lines += [
        "",
        f"False positives on clean records: all recommended gates together **{fp['all_gates']} %** "
        f"({gates}); MinHash dedup flagged {fp['dedup']} % of clean records, by their exact Jaccard "
        f"with the record matched: {fp['dedup_exact_jaccard']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=256)
    parser.add_argument("--save", action="store_true", help="write results/quality_defects.json")
    parser.add_argument("--sweep", action="store_true", help="only the dedup permutations x margin sweep")
    args = parser.parse_args()
    if args.sweep:
        import json

        sweep = dedup_sweep(args.records, args.seed, args.threshold)
        print(json.dumps(sweep, indent=2))
        if args.save:
            save_results("quality_defects", {"dedup_sweep": stamped(sweep)})
        return
    figures = measure(args.records, args.seed, args.threshold, args.num_perm)
    import json

    print(json.dumps(figures, indent=2, ensure_ascii=False))
    print(markdown(figures))
    if args.save:
        save_results("quality_defects", {"defects": stamped(figures)})


if __name__ == "__main__":
    main()
