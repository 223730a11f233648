"""Annotation readers, derived flags, vocabulary, GloVe loaders, bad rows, the stage's artifacts."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from ws3dvg.engine.errors import DataError
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.text.annotations import build_table, decode_stimulus_id, read_referit3d, read_scanrefer
from ws3dvg.text.glove import embedding_matrix, load_glove
from ws3dvg.text.vocab import KEYWORD, PADDING, Vocabulary, encode_batch

# scene with instances 1, 2 = chairs (class 2), 3 = table (class 4)
SCENES = {"scene0000_00": np.array([[1, 2], [2, 2], [3, 4]])}


@pytest.fixture(scope="module")
def labels(tiny_synth):
    return LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")


def _raw(rows):
    df = pd.DataFrame(rows)
    for col, default in (("tokens", None), ("stimulus_id", ""), ("split", "train"), ("source", "test.json"),
                         ("ann_id", "0")):
        if col not in df:
            df[col] = default
    return df


@pytest.mark.parametrize("stimulus, n, hard", [
    ("scene0525_00-plant-5-6-22-23-39-40", 5, 1), ("scene0000_00-chair-2-1-4", 2, 0),
    ("scene0000_00-kitchen_cabinets-3-7-8-9", 3, 1), ("scene0001_00-lamp-1-3", 1, 0),
])
def test_stimulus_decoding(stimulus, n, hard):
    scene, label, n_objects, target, distractors = decode_stimulus_id(stimulus)
    assert n_objects == n and len(distractors) == n - 1 and int(n_objects > 2) == hard
    assert "_" not in label


def test_bad_stimulus():
    with pytest.raises(ValueError, match="distractors"):
        decode_stimulus_id("scene0000_00-chair-3-1-4")


def test_unique_multiple_on_two_chairs_one_table(labels):
    raw = _raw([{"scene_id": "scene0000_00", "object_id": "0", "object_name": "chair", "description": "the chair"},
                {"scene_id": "scene0000_00", "object_id": "2", "object_name": "table", "description": "the table"},
                {"scene_id": "scene0000_00", "object_id": "1", "object_name": "office_chair", "description": "a chair"}])
    table, report = build_table(raw, SCENES, labels)
    assert list(table["unique"]) == [False, True, False]
    assert list(table["n_same_class"]) == [2, 1, 2]
    assert list(table["class18"]) == [2, 4, 2]
    assert report.summary()["kept"] == 3


def test_unique_is_scanrefers_annotated_objects_not_the_scenes_instances(labels):
    """ScanRefer counts the objects its file annotates: two chairs in the scene, one described -> unique."""
    raw = _raw([{"scene_id": "scene0000_00", "object_id": "0", "object_name": "chair", "description": "the chair"},
                {"scene_id": "scene0000_00", "object_id": "0", "object_name": "chair", "description": "it again"},
                {"scene_id": "scene0000_00", "object_id": "2", "object_name": "table", "description": "the table"},
                # the same scene in another split's file counts apart (ScanRefer builds one lookup per split)
                {"scene_id": "scene0000_00", "object_id": "1", "object_name": "chair", "description": "x",
                 "split": "val"},
                # an unknown name is `others`; a second `others` object makes both "multiple"
                {"scene_id": "scene0000_00", "object_id": "3", "object_name": "flux_capacitor", "description": "a"},
                {"scene_id": "scene0000_00", "object_id": "4", "object_name": "wall", "description": "b"}])
    from ws3dvg.text.annotations import scanrefer_same_class

    raw["split"] = raw["split"].fillna("train")
    assert scanrefer_same_class(raw, labels).tolist() == [1, 1, 1, 1, 2, 2]
    scenes = {"scene0000_00": np.array([[1, 2], [2, 2], [3, 4], [4, 17], [5, -1]])}
    table, _ = build_table(raw, scenes, labels)
    assert list(table["unique"]) == [True, True, True, True, False, False]
    assert list(table["n_same_class"]) == [1, 1, 1, 1, 2, 2]


def test_referit3d_same_type_count_from_stimulus(labels):
    raw = _raw([{"scene_id": "scene0000_00", "object_id": "0", "object_name": "chair", "description": "the chair",
                 "stimulus_id": "scene0000_00-office_chair-3-0-1-4"},
                {"scene_id": "scene0000_00", "object_id": "2", "object_name": "table", "description": "the table",
                 "stimulus_id": "scene0000_00-table-2-2-3"}])
    table, _ = build_table(raw, SCENES, labels)
    assert list(table["n_same_class"]) == [3, 2] and not table["unique"].any()  # not the 18-class count (2, 1)


def test_bad_rows_reported_and_skipped_or_strict(labels):
    raw = _raw([
        {"scene_id": "scene0000_00", "object_id": "0", "object_name": "chair", "description": "ok chair"},
        {"scene_id": "scene0999_00", "object_id": "0", "object_name": "chair", "description": "unknown scene"},
        {"scene_id": "scene0000_00", "object_id": "42", "object_name": "chair", "description": "unknown object"},
        {"scene_id": "scene0000_00", "object_id": "1", "object_name": "chair", "description": "   "},
        {"scene_id": "scene0000_00", "object_id": "x", "object_name": "chair", "description": "bad id"},
    ])
    table, report = build_table(raw, SCENES, labels)
    assert len(table) == 1
    assert report.summary()["skipped"] == {"scene not preprocessed": 1, "object id not in the preprocessed scene": 1,
                                           "empty description": 1, "malformed object_id": 1}
    assert "scene0999_00" in report.skipped["scene not preprocessed"][0]
    with pytest.raises(DataError, match="scene scene0999_00 object 0.*scene not preprocessed"):
        build_table(raw, SCENES, labels, strict=True)


def test_read_scanrefer_and_referit3d(tmp_path, labels):
    (tmp_path / "sr.json").write_text(json.dumps([{"scene_id": "scene0000_00", "object_id": "1",
                                                   "object_name": "chair", "ann_id": "0",
                                                   "description": "The chair, by the table.",
                                                   "token": ["the", "chair", ",", "by", "the", "table", "."]}]))
    df = read_scanrefer(tmp_path / "sr.json", "val")
    table, _ = build_table(df, SCENES, labels)
    assert table.iloc[0]["tokens"][-1] == "." and table.iloc[0]["split"] == "val"
    pd.DataFrame({"scan_id": ["scene0000_00", "scene0000_00"], "target_id": [0, 2],
                  "utterance": ["facing the bed, the left chair", "the table"],
                  "stimulus_id": ["scene0000_00-chair-2-0-1", "scene0000_00-table-1-2"],
                  "instance_type": ["chair", "table"], "tokens": ["['facing', 'the', 'bed', ',', 'the', 'left', 'chair']", "bad["],
                  "mentions_target_class": [True, True], "correct_guess": [True, True]}).to_csv(tmp_path / "nr3d.csv", index=False)
    df = read_referit3d(tmp_path / "nr3d.csv", {"train": ["scene0000_00"]})
    table, _ = build_table(df, SCENES, labels)
    assert list(table["view_dep"]) == [1, 0] and list(table["hard"]) == [0, 0]
    assert table.iloc[1]["tokens"] == ["the", "table"]  # malformed token field -> tokenised utterance
    with pytest.raises(DataError, match="lacks the column 'utterance'"):
        pd.DataFrame({"scan_id": ["a"], "target_id": [1], "stimulus_id": ["x"]}).to_csv(tmp_path / "b.csv", index=False)
        read_referit3d(tmp_path / "b.csv", {})
    (tmp_path / "bad.json").write_text('[{"scene_id": "a"')
    with pytest.raises(DataError, match="bad.json: malformed JSON"):
        read_scanrefer(tmp_path / "bad.json", "train")


def test_vocab_and_encoding():
    vocab = Vocabulary.build([["the", "red", "chair"], ["the", "table"], ["rare"]], min_count=1)
    assert vocab.words[:4] == ["[pad]", "unk", "[sos]", "[eos]"] and "red" in vocab.index
    assert Vocabulary.build([["a", "a", "b"]], min_count=2).words[4:] == ["a"]
    ids, mask, length = encode_batch([["the", "red", "sofa"], ["the"]], [[1], []], vocab, max_len=2, sos_eos=True)
    assert ids.shape == (2, 4)
    assert list(ids[0]) == [2, vocab.index["the"], vocab.index["red"], 3]
    assert list(mask[0]) == [0, 0, KEYWORD, 0] and list(mask[1]) == [0, 0, 0, PADDING]
    assert list(length) == [4, 3]
    ids, _, _ = encode_batch([["sofa"]], [[]], vocab, 3, False)
    assert ids[0, 0] == vocab.index["unk"]


def test_glove_pickle_and_text(tmp_path):
    vocab = Vocabulary.build([["chair", "table", "zyzzyva"]])
    vecs = {"chair": np.ones(4), "table": np.full(4, 2.0), "unk": np.full(4, -1.0), "other": np.zeros(4)}
    with open(tmp_path / "glove.p", "wb") as f:
        pickle.dump(vecs, f)
    (tmp_path / "glove.txt").write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vecs.items()))
    for name in ("glove.p", "glove.txt"):
        g = load_glove(tmp_path / name, words=set(vocab.words))
        assert "other" not in g
        mat, missing = embedding_matrix(vocab, g)
        assert mat.shape == (len(vocab), 4) and missing == 1
        np.testing.assert_array_equal(mat[vocab.index["chair"]], 1.0)
        np.testing.assert_array_equal(mat[vocab.index["zyzzyva"]], -1.0)  # unknown word -> unk vector
        np.testing.assert_array_equal(mat[0], 0.0)
    (tmp_path / "bad.txt").write_text("chair 1 2\ntable x y\n")
    with pytest.raises(DataError, match="line 2"):
        load_glove(tmp_path / "bad.txt")


def test_mask_table_on_synthetic(tiny_synth, tiny_h5, labels):
    from ws3dvg.text.annotations import scene_classes_from_h5
    from ws3dvg.text.masking import mask_table, read_masked, write_masked
    from ws3dvg.text.tagger import RuleTagger

    raw = pd.concat([read_scanrefer(tiny_synth / "scanrefer" / f"ScanRefer_filtered_{s}.json", s) for s in ("train", "val")])
    table, report = build_table(raw, scene_classes_from_h5(tiny_h5), labels)
    arrays, vocab, stats = mask_table(table, RuleTagger(labels.table["raw_category"]), 1, 30, True)
    assert stats["train"]["with_keyword_share"] > 0.9 and stats["vocab_size"] == len(vocab)
    write_masked(tiny_h5.parent / "masked.h5", arrays, {"max_len": 30})
    back = read_masked(tiny_h5.parent / "masked.h5", "val")
    np.testing.assert_array_equal(back["ids"], arrays["val"]["ids"])
    assert back["scene_id"][0].startswith("scene") and back["mask"].shape[1] == 32
