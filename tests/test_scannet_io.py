"""Each ScanNet format the synthetic stage writes is read back by the readers preprocess uses."""

import json
import sys

import numpy as np
import pytest
from conftest import REPO

from ws3dvg.ops.geometry import box_iou, instance_boxes, transform_points
from ws3dvg.scannet import io as sio
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import process_scene, read_scene
from ws3dvg.synth.scene import box_surface

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_mesh_io import plyfile_mesh  # noqa: E402  (plyfile's general writer, the reference)


def test_mesh_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    mesh = sio.Mesh(rng.normal(size=(50, 3)).astype(np.float32), rng.integers(0, 255, (50, 3)).astype(np.uint8),
                    rng.integers(0, 50, (30, 3)))
    sio.write_mesh(tmp_path / "m.ply", mesh)
    assert (tmp_path / "m.ply").read_bytes().startswith(b"ply\nformat binary_little_endian 1.0")
    back = sio.read_mesh(tmp_path / "m.ply")
    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    np.testing.assert_array_equal(back.colors, mesh.colors)
    np.testing.assert_array_equal(back.faces, mesh.faces)


def test_mesh_writer_gives_plyfiles_bytes(tmp_path):
    # write_mesh writes whole arrays; the file must be the one plyfile's row-by-row writer gives
    rng = np.random.default_rng(1)
    mesh = sio.Mesh(rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 255, (40, 3)).astype(np.uint8),
                    rng.integers(0, 40, (25, 3)))
    sio.write_mesh(tmp_path / "ours.ply", mesh)
    plyfile_mesh(mesh).write(str(tmp_path / "plyfile.ply"))
    assert (tmp_path / "ours.ply").read_bytes() == (tmp_path / "plyfile.ply").read_bytes()
    empty = sio.Mesh(mesh.vertices, mesh.colors, np.empty((0, 3), np.int64))
    sio.write_mesh(tmp_path / "e.ply", empty)
    plyfile_mesh(empty).write(str(tmp_path / "e_plyfile.ply"))
    assert (tmp_path / "e.ply").read_bytes() == (tmp_path / "e_plyfile.ply").read_bytes()
    assert sio.read_mesh(tmp_path / "e.ply").faces.shape == (0, 3)


def test_mesh_reader_falls_back_to_the_general_reader(tmp_path):
    # an ASCII PLY cannot be mapped: read_mesh takes plyfile's general reader and gives the same mesh
    rng = np.random.default_rng(2)
    mesh = sio.Mesh(rng.normal(size=(20, 3)).astype(np.float32), rng.integers(0, 255, (20, 3)).astype(np.uint8),
                    rng.integers(0, 20, (12, 3)))
    plyfile_mesh(mesh, text=True).write(str(tmp_path / "ascii.ply"))
    back = sio.read_mesh(tmp_path / "ascii.ply")
    np.testing.assert_allclose(back.vertices, mesh.vertices, rtol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)


def test_segs_aggregation_meta_roundtrip(tmp_path):
    segs = np.array([4, 4, 7, 10, 7])
    sio.write_segs(tmp_path / "s.json", "scene0000_00", segs)
    np.testing.assert_array_equal(sio.read_segs(tmp_path / "s.json"), segs)
    groups = [{"object_id": 0, "label": "chair", "segments": [4]}, {"object_id": 1, "label": "wall", "segments": [7, 10]}]
    sio.write_aggregation(tmp_path / "a.json", "scene0000_00", groups)
    assert sio.read_aggregation(tmp_path / "a.json") == groups
    assert "segGroups" in json.loads((tmp_path / "a.json").read_text())
    m = np.arange(16, dtype=float).reshape(4, 4)
    sio.write_meta(tmp_path / "m.txt", m, {"sceneType": "Office"})
    np.testing.assert_array_equal(sio.read_axis_alignment(tmp_path / "m.txt"), m)


def test_frame_files_roundtrip(tmp_path):
    depth = np.array([[0.0, 1.234], [2.5, 65.0]], dtype=np.float32)
    sio.write_depth(tmp_path / "d.png", depth)
    np.testing.assert_allclose(sio.read_depth(tmp_path / "d.png"), depth, atol=5e-4)
    lab = np.array([[0, 1313], [2, 5]])
    sio.write_label_image(tmp_path / "l.png", lab)
    np.testing.assert_array_equal(sio.read_label_image(tmp_path / "l.png"), lab)
    pose = np.eye(4)
    pose[:3, 3] = [1, 2, 3]
    sio.write_matrix(tmp_path / "p.txt", pose)
    np.testing.assert_allclose(sio.read_matrix(tmp_path / "p.txt"), pose)


def test_synthetic_files_read_back(tiny_synth):
    scene = "scene0000_00"
    paths = sio.scan_paths(tiny_synth / "scans", scene)
    mesh = sio.read_mesh(paths["mesh"], scene)
    segs = sio.read_segs(paths["segs"], scene)
    assert len(segs) == len(mesh.vertices) > 1000
    groups = sio.read_aggregation(paths["aggregation"], scene)
    assert {"floor", "wall"} <= {g["label"] for g in groups}
    assert set(np.unique(segs)) == {s for g in groups for s in g["segments"]}
    align = sio.read_axis_alignment(paths["meta"], scene)
    assert not np.allclose(align, np.eye(4))
    frames = tiny_synth / "frames" / scene
    k = sio.read_matrix(frames / "intrinsic" / "intrinsic_depth.txt")
    depth = sio.read_depth(frames / "depth" / "0.png")
    assert depth.shape == (30, 40) and depth.max() > 0.5
    assert k[0, 2] == pytest.approx((40 - 1) / 2)


def test_synthetic_frames_agree_with_mesh(tiny_synth):
    """A depth pixel back-projected through pose and axis alignment lands on the aligned mesh."""
    scene = "scene0000_00"
    frames = tiny_synth / "frames" / scene
    k = sio.read_matrix(frames / "intrinsic" / "intrinsic_depth.txt")
    pose = sio.read_matrix(frames / "pose" / "0.txt")
    depth = sio.read_depth(frames / "depth" / "0.png")
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    cam = np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z, np.ones_like(z)], 1)
    raw = (cam @ pose.T)[:, :3]
    align = sio.read_axis_alignment(sio.scan_paths(tiny_synth / "scans", scene)["meta"])
    aligned = transform_points(raw, align)
    verts = transform_points(sio.read_mesh(sio.scan_paths(tiny_synth / "scans", scene)["mesh"]).vertices, align)
    lo, hi = verts.min(0), verts.max(0)
    inside = np.all((aligned > lo - 0.1) & (aligned < hi + 0.1), axis=1)
    assert inside.mean() > 0.98


def _write_single_box_scene(root, scene, align, label="office chair"):
    """One box object (aligned corners (1,2,0)-(2,4,1)) on a floor slab, written in the raw frame."""
    d = root / "scans" / scene
    d.mkdir(parents=True)
    parts = [(np.array([1.0, 2.0, 0.0]), np.array([2.0, 4.0, 1.0])), (np.array([-3.0, -3.0, -0.1]), np.array([3.0, 3.0, 0.0]))]
    verts, faces, segs = [], [], []
    off = 0
    for obj, (lo, hi) in enumerate(parts):
        for fv, ff in box_surface(lo, hi, 0.25):
            verts.append(fv)
            faces.append(ff + off)
            segs.append(np.full(len(fv), 10 + obj))
            off += len(fv)
    verts = np.concatenate(verts)
    raw = transform_points(verts, np.linalg.inv(align))
    sio.write_mesh(d / f"{scene}_vh_clean_2.ply", sio.Mesh(raw, np.full((len(raw), 3), 100, np.uint8), np.concatenate(faces)))
    sio.write_segs(d / f"{scene}_vh_clean_2.0.010000.segs.json", scene, np.concatenate(segs))
    sio.write_aggregation(d / f"{scene}.aggregation.json", scene,
                          [{"object_id": 0, "label": label, "segments": [10]},
                           {"object_id": 1, "label": "floor", "segments": [11]}])
    sio.write_meta(d / f"{scene}.txt", align)
    return d


def test_known_axis_alignment_gives_expected_box(tmp_path, tiny_synth):
    theta = 0.7
    align = np.eye(4)
    align[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    align[:3, 3] = [0.5, -1.0, 0.2]
    _write_single_box_scene(tmp_path, "scene0100_00", align)
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    out = process_scene(tmp_path / "scans", "scene0100_00", labels)
    chair = out["boxes"][out["boxes"][:, 7] == 1][0]
    np.testing.assert_allclose(chair[:6], [1.5, 3.0, 0.5, 1.0, 2.0, 1.0], atol=1e-5)
    assert chair[6] == 5 and out["box_class18"][out["boxes"][:, 7] == 1][0] == 2  # nyu40 chair, class chair
    floor = out["box_class18"][out["boxes"][:, 7] == 2][0]
    assert floor == -1
    # normals of the box's top face point up after alignment
    xyz = out["points"][:, :3]
    top = (np.abs(xyz[:, 2] - 1.0) < 1e-4) & np.all((xyz[:, :2] > [1.01, 2.01]) & (xyz[:, :2] < [1.99, 3.99]), 1)
    assert top.sum() > 5
    np.testing.assert_allclose(out["points"][top, 6:9], np.tile([0, 0, 1], (top.sum(), 1)), atol=1e-5)


def test_preprocessed_boxes_match_synthetic_objects(tiny_h5, tiny_synth):
    scene = read_scene(tiny_h5, "scene0000_00")
    ids, boxes = instance_boxes(scene["points"][:, :3], scene["instance"])
    np.testing.assert_allclose(boxes, scene["boxes"][:, :6], atol=1e-5)
    np.testing.assert_array_equal(ids, scene["boxes"][:, 7])
    # scene is axis-aligned: the floor is the lowest thing and horizontal
    floor = scene["boxes"][scene["box_label"] == "floor"][0]
    assert floor[5] == pytest.approx(0.1, abs=1e-4) and floor[2] == pytest.approx(-0.05, abs=1e-4)
    assert float(box_iou(floor[:6], floor[:6])) == pytest.approx(1.0)
    assert set(scene["points"][:, 3:6].ravel()) <= set(range(256))
