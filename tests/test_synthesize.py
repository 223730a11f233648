"""The synthetic generator: determinism and the properties the benchmark relies on."""

import hashlib
import json

import numpy as np
import pandas as pd
from conftest import TINY_SYNTH

from ws3dvg.synth.world import synthesize
from ws3dvg.text.tokens import tokenize


def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical(tmp_path, tiny_synth):
    cfg = dict(TINY_SYNTH, n_scenes=2)
    synthesize(tmp_path / "a", cfg, seed=11)
    synthesize(tmp_path / "b", cfg, seed=11, workers=2)  # workers change nothing
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b and len(a) > 20
    synthesize(tmp_path / "c", cfg, seed=12)
    assert _digest(tmp_path / "c") != a


def test_scanrefer_and_sr3d_formats(tiny_synth):
    rows = json.loads((tiny_synth / "scanrefer" / "ScanRefer_filtered_train.json").read_text())
    assert rows and set(rows[0]) == {"scene_id", "object_id", "object_name", "ann_id", "description", "token"}
    assert all(isinstance(r["object_id"], str) and r["token"] == tokenize(r["description"]) for r in rows)
    train = (tiny_synth / "meta" / "scannetv2_train.txt").read_text().split()
    assert {r["scene_id"] for r in rows} <= set(train)
    sr3d = pd.read_csv(tiny_synth / "referit3d" / "sr3d.csv")
    for col in ("scan_id", "target_id", "utterance", "stimulus_id", "instance_type", "tokens"):
        assert col in sr3d.columns
    s = sr3d.iloc[0]
    parts = s.stimulus_id.split("-", 4)
    assert parts[0] == s.scan_id and int(parts[3]) == s.target_id and int(parts[2]) >= 2


def test_descriptions_use_relations_and_attributes(tiny_synth):
    rows = json.loads((tiny_synth / "scanrefer" / "ScanRefer_filtered_train.json").read_text())
    text = " ".join(r["description"] for r in rows)
    assert any(w in text for w in ("closest to", "farthest from", "next to", "between", "left of", "right of"))
    assert any(c in text for c in ("red", "blue", "green", "white", "black", "brown", "gray"))


def test_many_objects_of_one_class_per_room(tiny_h5):
    from ws3dvg.scannet.preprocess import read_scene

    counts = np.bincount(read_scene(tiny_h5, "scene0000_00")["box_class18"].clip(min=0), minlength=18)
    assert counts.max() >= 2
