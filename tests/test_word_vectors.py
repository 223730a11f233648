"""The synthetic world's own GloVe (synth/word_vectors.py): counts by hand, vectors' properties, the file read back
by the loader users' GloVe goes through, and its corpus kept apart from the dataset's scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ws3dvg.synth import word_vectors as wv


def test_cooccurrence_counts_by_hand():
    # window 2: "a b c" gives a-b 1, b-c 1, a-c 1/2; "b a" gives b-a 1. The flat token stream puts c next to the
    # second sentence's b: pairs never cross sentences
    words, c = wv.cooccurrence([["a", "b", "c"], ["b", "a"]], window=2)
    assert words == ["a", "b", "c"]
    np.testing.assert_allclose(c, [[0, 2, 0.5], [2, 0, 1], [0.5, 1, 0]])


def test_words_in_the_same_contexts_get_the_same_vector():
    sentences = [["the", "couch", "is", "black"], ["the", "sofa", "is", "black"], ["the", "lamp", "is", "tall"],
                 ["a", "couch", "near", "the", "door"], ["a", "sofa", "near", "the", "door"]] * 3
    words, counts = wv.cooccurrence(sentences, window=2)
    vectors = wv.ppmi_svd(counts, dim=20, rms=0.4)
    assert vectors.shape == (len(words), 20)  # 10 words: padded to 20
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 0.4 * np.sqrt(20), rtol=1e-9)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    i, j, k = words.index("couch"), words.index("sofa"), words.index("lamp")
    assert unit[i] @ unit[j] == pytest.approx(1.0, abs=1e-6)
    assert unit[i] @ unit[k] < 0.9
    np.testing.assert_array_equal(vectors, wv.ppmi_svd(counts, dim=20, rms=0.4))  # same counts, same bytes


def test_synthesize_writes_vectors_the_glove_loader_reads(tmp_path):
    from conftest import TINY_SYNTH
    from ws3dvg.synth.world import synthesize
    from ws3dvg.text.glove import load_glove

    cfg = dict(TINY_SYNTH, world=2, attribute_share=0.6, word_vectors={"rooms": 6, "dim": 16, "window": 3})
    stats = synthesize(tmp_path / "synthetic", cfg, seed=7)
    table = load_glove(tmp_path / "synthetic" / "glove" / "word_vectors.txt")
    assert len(table) == stats["word_vector_words"] > 50 and {v.shape for v in table.values()} == {(16,)}
    assert stats["word_vector_sentences"] > 6
    # the corpus describes other rooms than the scenes: its first room is not scene 0
    rows = json.loads((tmp_path / "synthetic" / "scanrefer" / "ScanRefer_filtered_train.json").read_text())
    scene0 = {" ".join(r["token"]) for r in rows if r["scene_id"] == "scene0000_00"}
    assert scene0
    assert not scene0 & {" ".join(t) for t in wv.corpus_room(cfg, 7, 0)}
    # without rooms nothing is written
    synthesize(tmp_path / "none", dict(cfg, word_vectors={"rooms": 0, "dim": 16, "window": 3}), seed=7)
    assert not (tmp_path / "none" / "glove").exists()
