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


def test_render_keeps_the_nearest_sample_per_pixel():
    from ws3dvg.synth.render import intrinsic_matrix, render

    k = intrinsic_matrix(4, 4, hfov_deg=90.0)   # f = 2, centre 1.5: (x, y, z) -> pixel (2x/z + 1.5, 2y/z + 1.5)
    pose = np.eye(4)                             # camera at the origin looking down +z
    pts = np.array([[0.0, 0.0, 2.0],             # pixel (2, 2) from (1.5 + 0.5) rounded down
                    [0.0, 0.0, 1.0],             # the same pixel, nearer: it wins
                    [0.0, 0.0, 1.0],             # as near as the one before: the first of them wins
                    [-0.9, -0.9, 2.0]])          # pixel (1, 1): 2 x -0.9 / 2 + 2 = 1.1
    vals = np.array([[10], [20], [30], [40]])
    depth, image = render(pts, vals, pose, k, 4, 4, splat=1)
    assert depth[2, 2] == 1.0 and image[2, 2, 0] == 20
    assert depth[1, 1] == 2.0 and image[1, 1, 0] == 40
    assert (depth > 0).sum() == 2


def test_render_equals_a_stable_sort_by_pixel_and_depth():
    # the reference: sort every splatted sample by pixel, then depth, stably; the first of each pixel wins
    from ws3dvg.synth.render import intrinsic_matrix, look_pose, render

    rng = np.random.default_rng(3)
    pts = rng.uniform(-2, 2, (3000, 3)) + [0, 0, 4]
    pts[1000:1500] = pts[:500]                   # exact ties in depth and pixel
    vals = rng.integers(0, 255, (3000, 4))
    k, pose = intrinsic_matrix(32, 24), look_pose(np.zeros(3), np.array([0.0, 0.0, 4.0]) + [0.01, 1.0, 0.0])
    depth, image = render(pts, vals, pose, k, 32, 24)
    cam = (pts - pose[:3, 3]) @ pose[:3, :3]
    ok = cam[:, 2] > 0.05
    cam, vals_ok = cam[ok], vals[ok]
    u = np.floor(k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2] + 0.5).astype(np.int64)
    v = np.floor(k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2] + 0.5).astype(np.int64)
    u = (u[:, None] + np.array([0, 0, 1, 1])).ravel()
    v = (v[:, None] + np.array([0, 1, 0, 1])).ravel()
    z, src = np.repeat(cam[:, 2], 4), np.repeat(np.arange(len(cam)), 4)
    inside = (u >= 0) & (u < 32) & (v >= 0) & (v < 24)
    pix, z, src = (v * 32 + u)[inside], z[inside], src[inside]
    order = np.lexsort((z, pix))
    win = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    ref_depth, ref_image = np.zeros(32 * 24, np.float32), np.zeros((32 * 24, 4), vals.dtype)
    ref_depth[pix[win]], ref_image[pix[win]] = z[win], vals_ok[src[win]]
    assert (depth > 0).sum() > 100
    np.testing.assert_array_equal(depth.ravel(), ref_depth)
    np.testing.assert_array_equal(image.reshape(-1, 4), ref_image)
