"""MinHash signatures, LSH parameters and the compact key index the dedup stage is built on."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from synthloom.columns.quality.dedup_index import EmbeddingIndex, ExactIndex, Fingerprints, MinHashIndex
from synthloom.columns.quality.key_index import KeyIndex
from synthloom.columns.quality.minhash import jaccard_estimate, lsh_params, minhash_signatures, normalise

WORDS = [f"w{i}" for i in range(400)]


def test_normalise_drops_case_punctuation_and_spacing() -> None:
    assert normalise("  Hello,   WORLD!!\n_ok_ ") == "hello world ok"


def test_signatures_estimate_the_jaccard_similarity_of_word_ngrams() -> None:
    base = " ".join(WORDS[:100])
    edited = " ".join(WORDS[:90] + WORDS[200:210])  # shingles: 88 shared of 112 distinct (n=3)
    other = " ".join(WORDS[300:400])
    sig = minhash_signatures([base, edited, other], num_perm=256, ngram=3)
    assert sig.dtype == np.uint32 and sig.shape == (3, 256)
    assert jaccard_estimate(sig[0], sig[1]) == pytest.approx(88 / 108, abs=0.08)
    assert jaccard_estimate(sig[0], sig[2]) < 0.05
    assert (minhash_signatures([base.upper() + "!!"], num_perm=256, ngram=3) == sig[0]).all()


def test_signatures_are_the_same_in_another_process() -> None:
    code = (
        "from synthloom.columns.quality.minhash import minhash_signatures;"
        "print(minhash_signatures(['the quick brown fox jumps'], num_perm=16, ngram=2)[0].tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    here = minhash_signatures(["the quick brown fox jumps"], num_perm=16, ngram=2)[0].tolist()
    assert out.strip() == str(here)


def test_short_and_empty_texts() -> None:
    sig = minhash_signatures(["one", "", "!!!", "two words"], num_perm=16, ngram=5)
    assert (sig[1] == 0xFFFFFFFF).all() and (sig[2] == 0xFFFFFFFF).all()
    assert (sig[0] != 0xFFFFFFFF).all() and (sig[3] != 0xFFFFFFFF).all()


def test_lsh_parameters_fit_the_permutations_and_find_pairs_at_the_threshold() -> None:
    bands, rows = lsh_params(0.72, 64)  # what a dedup at Jaccard 0.8 asks for (see dedup.py)
    assert bands * rows <= 64
    assert 1 - (1 - 0.8**rows) ** bands > 0.97
    assert 1 - (1 - 0.3**rows) ** bands < 0.05


def test_key_index_finds_the_earliest_position_across_merged_runs() -> None:
    index = KeyIndex()
    for start in range(0, 5000, 100):
        keys = np.arange(start, start + 100, dtype=np.uint64) % 1234
        index.add(keys, np.arange(start, start + 100))
    assert index.size == 5000
    found = index.first(np.array([0, 5, 1233, 99999], dtype=np.uint64))
    assert found.tolist() == [0, 5, 1233, -1]
    assert index.all(5) == [5, 1239, 2473, 3707, 4941]
    assert index.nbytes == 5000 * 12


def test_indexes_check_in_record_order_within_a_group_and_against_earlier_ones() -> None:
    exact = ExactIndex()
    keep, found = exact.check(Fingerprints(np.array([0, 1, 2]), np.array([7, 8, 7], dtype=np.uint64)))
    assert keep.tolist() == [True, True, False] and found[0].of == 0
    exact.add(Fingerprints(np.array([0, 1]), np.array([7, 8], dtype=np.uint64)))
    keep, found = exact.check(Fingerprints(np.array([10]), np.array([8], dtype=np.uint64)))
    assert keep.tolist() == [False] and found[0].of == 1

    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedding = EmbeddingIndex(threshold=0.95)
    keep, found = embedding.check(Fingerprints(np.array([3, 4, 5]), vectors))
    assert keep.tolist() == [True, False, True] and found[0].of == 3

    minhash = MinHashIndex(threshold=0.8, bands=8, rows_per_band=8, num_perm=64)
    text = " ".join(WORDS[:50])
    sig = minhash_signatures([text, text + " extra", " ".join(WORDS[100:150])], num_perm=64, ngram=3)
    keep, found = minhash.check(Fingerprints(np.array([0, 1, 2]), sig))
    assert keep.tolist() == [True, False, True] and found[0].of == 0 and found[0].similarity >= 0.8
    minhash.add(Fingerprints(np.array([0, 2]), sig[[0, 2]]))
    keep, found = minhash.check(Fingerprints(np.array([9]), sig[1:2]))
    assert keep.tolist() == [False] and found[0].of == 0
    restored = MinHashIndex(threshold=0.8, bands=8, rows_per_band=8, num_perm=64)
    restored.load(minhash.state(Fingerprints(np.array([0, 2]), sig[[0, 2]])))
    assert restored.check(Fingerprints(np.array([9]), sig[1:2]))[0].tolist() == [False]
