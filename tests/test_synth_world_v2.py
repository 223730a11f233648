"""World v2: shapes that keep the box, materials that keep the mean colour, facts that are true, descriptions
that single out their target, and language statistics near real ScanRefer's."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from ws3dvg.synth import grammar
from ws3dvg.synth.catalog import MATERIALS, SHAPES
from ws3dvg.synth.facts import Fact, facts_about, singles_out
from ws3dvg.synth.scene import SceneObject, layout_room, pattern
from ws3dvg.text.tokens import clean_tokens

ROOT = Path(__file__).resolve().parents[1]
REAL_SCANREFER = ROOT.parent / "shared" / "real" / "scanrefer" / "ScanRefer_filtered_train_sampled1000.json"
REAL_SCANREFER_TEST = ROOT.parent / "shared" / "real" / "scanrefer" / "ScanRefer_filtered_test.json"


def synth_cfg(**over) -> dict:
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())["synth"]
    return dict(cfg, world=2, **over)


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_every_shape_of_a_kind_fills_the_same_box(kind):
    boxes = []
    for build in SHAPES[kind].values():
        parts = np.array(build(1.1, 0.7, 0.9))
        boxes.append(np.r_[parts[:, 0].min(0), parts[:, 1].max(0)])
    np.testing.assert_allclose(boxes, [[-0.55, -0.35, 0, 0.55, 0.35, 0.9]] * len(boxes), atol=1e-9)


@pytest.mark.parametrize("material", MATERIALS)
def test_materials_keep_the_mean_colour(material):
    g = np.stack(np.meshgrid(*[np.arange(0.005, 0.84, 0.01)] * 3, indexing="ij"), -1).reshape(-1, 3)  # 6 bands
    base = np.array([120.0, 75.0, 40.0])
    off = pattern(g, material, base)
    assert abs(off.mean()) < 0.5
    if material != "plain":
        assert np.allclose(np.abs(off), 40.0)   # min(40, darkest channel, 255 - brightest)
    assert np.all(base.min() + off >= 0) and np.all(base.max() + off <= 255)


def _group(shapes: list[str], colours: list[str]) -> list[SceneObject]:
    return [SceneObject(i, "chair", "chair", c, np.array([[[i, 0, 0], [i + 0.5, 0.5, 0.9]]], float), shape=s,
                        material="plain") for i, (s, c) in enumerate(zip(shapes, colours))]


def test_singles_out_is_the_and_of_the_masks():
    armrests = Fact("shape", "armrests", (True, False, True))
    red = Fact("colour", "red", (True, True, False))
    assert not singles_out([armrests], 0) and not singles_out([red], 0)
    assert singles_out([armrests, red], 0)                 # only chair 0 has armrests and is red
    assert not singles_out([armrests, red], 1)             # a statement false of the target refers to nothing
    assert not singles_out([], 0)


def test_facts_hold_of_the_target_and_their_masks_are_the_truth():
    for seed in range(6):
        rng = np.random.default_rng([5, seed])
        room = layout_room(rng, synth_cfg())
        objects = [o for o in room.objects if o.kind not in ("floor", "wall")]
        for t in objects:
            group = [o for o in objects if o.name == t.name]
            ti = group.index(t)
            for f in facts_about(t, group, room):
                assert f.mask[ti]
                if f.kind in ("shape", "material"):
                    assert f.mask == tuple(getattr(o, f.kind) == getattr(t, f.kind) for o in group)
                if f.kind == "colour":
                    assert f.mask == tuple(o.color == t.color for o in group)
                if f.kind == "closest":
                    a = next(o for o in room.objects if o.object_id == f.anchors[0])
                    d = [np.linalg.norm(o.box[:2] - a.box[:2]) for o in group]
                    assert int(np.argmin(d)) == ti


def _descriptions(n_scenes: int, seed: int = 3407, cfg: dict | None = None) -> tuple[list[dict], dict]:
    cfg = cfg or synth_cfg()
    rows, stats = [], Counter()
    for i in range(n_scenes):
        rng = np.random.default_rng([seed, i])
        r, _, s = grammar.room_descriptions(layout_room(rng, cfg), rng, cfg)
        rows += [dict(row, scene_id=f"room{i}") for row in r]  # a room is a scene, as ScanRefer's counts need
        stats.update(s)
    return rows, stats


def _language_stats(token_lists, texts) -> dict:
    lengths = np.array([len(t) for t in token_lists])
    sentences = np.array([len([s for s in re.split(r"\.", x) if s.strip()]) for x in texts])
    return {"mean": lengths.mean(), "median": float(np.median(lengths)), "two_sentences": (sentences >= 2).mean(),
            "words": len({w for t in token_lists for w in t if w.isalpha()})}


def test_language_statistics_are_near_real_scanrefer():
    if not REAL_SCANREFER.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(REAL_SCANREFER)
        pytest.skip("../shared/real is not here")
    real_rows = json.loads(REAL_SCANREFER.read_text())
    real = _language_stats([clean_tokens(r["token"]) for r in real_rows], [r["description"] for r in real_rows])
    rows, stats = _descriptions(150)   # the GPU setting's size: layout and language only, no meshes
    ours = _language_stats([r["token"] for r in rows], [r["description"] for r in rows])
    assert abs(ours["mean"] / real["mean"] - 1) <= 0.2, (ours, real)
    assert abs(ours["median"] / real["median"] - 1) <= 0.2, (ours, real)
    assert ours["two_sentences"] >= 0.5
    assert ours["words"] >= 400
    assert stats["attribute_only_rows"] / stats["multiple_rows"] >= 0.3
    assert stats["skipped_targets"] / stats["targets"] < 0.05


def _unique_share_and_chance(rows: list[dict], labels) -> tuple[float, float]:
    """ScanRefer's count of each row's class among the annotated objects: the share of rows alone of their class,
    and over the others the chance of a random object of the class."""
    import pandas as pd

    from ws3dvg.text.annotations import scanrefer_same_class

    count = scanrefer_same_class(pd.DataFrame(rows).assign(split="rows"), labels)
    many = count[count > 1]
    return float((count <= 1).mean()), float((1.0 / many).mean())


def test_the_world_2_overlays_layout_is_counted_as_real_scanrefers():
    """The GPU overlays' layout (params-world-v2.yaml) gives real ScanRefer's share of "unique" rows and its chance
    of the class on "multiple" ones. The earlier layout ([3,5] copies of [2,3] kinds: 0.155 "unique") and one that
    fixed only the share ([2,5] copies: chance 0.301) both fail these bounds (benchmarks/RESULTS.md)."""
    from conftest import REAL_LABEL_TABLE

    from ws3dvg.scannet.labels import LabelMap

    if not (REAL_SCANREFER_TEST.exists() and REAL_LABEL_TABLE.exists()):
        if os.environ.get("CI"):
            raise FileNotFoundError(REAL_SCANREFER_TEST)
        pytest.skip("../shared is not here")
    labels = LabelMap.read(REAL_LABEL_TABLE)
    real = _unique_share_and_chance(json.loads(REAL_SCANREFER_TEST.read_text()), labels)  # a whole split's file
    cfg = synth_cfg()
    for name in ("params-gpu.yaml", "params-scanrefer-scale.yaml", "params-world-v2.yaml"):
        cfg.update(yaml.safe_load((ROOT / "benchmarks" / name).read_text()).get("synth") or {})
    cfg["descriptions_per_object"] = 1   # the count is over objects; one row each is enough
    rows, _ = _descriptions(150, cfg=cfg)
    ours = _unique_share_and_chance(rows, labels)
    assert abs(ours[0] - real[0]) <= 0.04 and abs(ours[1] - real[1]) <= 0.03, (ours, real)


def test_descriptions_name_their_target_and_say_true_things():
    rows, _ = _descriptions(8)
    assert rows
    for r in rows:
        assert r["token"] == [t for t in r["token"] if re.fullmatch(r"[a-z]+|[.,]", t)]
        nouns = {w for n in grammar.NOUNS[r["object_name"].replace("_", " ")] for w in n.split()}
        assert nouns & set(r["token"]), r["description"]          # the target is named by one of its nouns
        assert r["decided_by"] == "unique" or r["decided_by"].split("+")[0] in {
            "shape", "material", "colour", "size", "scale", "closest", "farthest", "ordinal", "next", "on",
            "under", "between", "side", "corner", "wall", "middle", "near"}


def test_redundant_attributes_at_zero_write_the_same_rows():
    plain = _descriptions(6, 11)[0]
    zero = _descriptions(6, 11, synth_cfg(redundant_attributes={"colour": 0.0, "shape": 0.0}))[0]
    assert [r["description"] for r in zero] == [r["description"] for r in plain]


def test_redundant_colour_is_named_where_it_decides_nothing_and_changes_no_deciding_fact():
    rows = _descriptions(6, 11, synth_cfg(redundant_attributes={"colour": 1.0}))[0]
    plain = _descriptions(6, 11)[0]
    colour_share = [np.mean([any(f.kind == "colour" for f in r["facts"]) for r in rs]) for rs in (plain, rows)]
    assert colour_share[1] > colour_share[0] + 0.2, colour_share
    for r in rows:
        facts = r["facts"]
        assert np.logical_and.reduce([np.array(f.mask) for f in facts]).sum() == 1   # still singles out
        colour = [f for f in facts if f.kind == "colour"]
        if r["decided_by"] == "unique" or not colour:
            continue
        if r["attribute_only"]:   # shape or material still the only fact that decides
            plain_facts = [f for f in facts if not f.is_attribute]
            assert sum(np.logical_and.reduce([np.array(f.mask) for f in plain_facts])) > 1, r["description"]
    # with p = 1, a row without its colour is a "multiple" one where the colour alone would decide, or an
    # attribute-only row where it would decide beside the plain statements
    missing = [r for r in rows if not any(f.kind == "colour" for f in r["facts"])]
    assert missing and all(r["decided_by"] != "unique" for r in missing)


def test_a_world_2_synthesis_reads_back_through_the_real_loaders(tmp_path):
    import pandas as pd

    from conftest import TINY_SYNTH
    from ws3dvg.scannet.io import read_split
    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.scannet.preprocess import preprocess_scenes, read_scene
    from ws3dvg.synth.world import synthesize
    from ws3dvg.text.annotations import read_referit3d, read_scanrefer

    root = tmp_path / "synthetic"
    stats = synthesize(root, dict(TINY_SYNTH, world=2, attribute_share=0.6), seed=7)
    assert 0 <= stats["attribute_only_share_of_multiple"] <= 1
    splits = {s: read_split(root / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    preprocess_scenes(root / "scans", splits, LabelMap.read(root / "meta" / "scannetv2-labels.combined.tsv"),
                      tmp_path / "scannet.h5", workers=1)
    rows = pd.concat([read_scanrefer(root / "scanrefer" / f"ScanRefer_filtered_{s}.json", s) for s in splits])
    objects = pd.read_csv(root / "meta" / "synth_objects.csv").set_index(["scene_id", "object_id"])
    described = pd.read_csv(root / "meta" / "synth_descriptions.csv")
    assert len(described) == len(rows) and set(objects["material"]) <= set(MATERIALS)
    for scene, group in rows.groupby("scene_id"):
        d = read_scene(tmp_path / "scannet.h5", scene)
        labels = dict(zip(d["boxes"][:, 7].astype(int) - 1, d["box_label"]))  # instance id = objectId + 1
        for oid, name in zip(group["object_id"].astype(int), group["object_name"]):
            assert labels[oid] == name.replace("_", " ") == objects.loc[(scene, oid), "name"]
    assert len(read_referit3d(root / "referit3d" / "sr3d.csv", splits)) > 0
