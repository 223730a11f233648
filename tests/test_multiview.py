"""ENet architecture and loading; projection geometry on a hand-made camera; bad frame inputs."""

import shutil

import numpy as np
import pytest
import torch

from ws3dvg.engine.errors import DataError
from ws3dvg.models.enet import ENet, load_enet
from ws3dvg.multiview.projection import load_frames, project_features


def _published_enet_shapes(num_classes=41):
    """The ENet encoder of 3DMV / ScanRefer, written out layer by layer: (key, shape) of each weight."""
    shapes = {"0.0.weight": (13, 3, 3, 3), "0.0.bias": (13,), "2.weight": (16,), "2.bias": (16,), "3.weight": (16,)}

    def bn(key, c):
        shapes[key + ".weight"], shapes[key + ".bias"] = (c,), (c,)

    def block(i, cin, cout, kind):
        mid = cout // 4
        p = f"{i}.0.0."
        shapes[p + "0.weight"] = (mid, cin, 2, 2) if kind == "down" else (mid, cin, 1, 1)
        bn(p + "1", mid)
        shapes[p + "2.weight"] = (mid,)
        if kind == "asym":
            shapes[p + "3.weight"] = (mid, mid, 1, 5)
            shapes[p + "4.weight"], shapes[p + "4.bias"] = (mid, mid, 5, 1), (mid,)
            j = 5
        else:
            shapes[p + "3.weight"], shapes[p + "3.bias"] = (mid, mid, 3, 3), (mid,)
            j = 4
        bn(p + f"{j}", mid)
        shapes[p + f"{j + 1}.weight"] = (mid,)
        shapes[p + f"{j + 2}.weight"] = (cout, mid, 1, 1)
        bn(p + f"{j + 3}", cout)
        shapes[f"{i}.2.weight"] = (cout,)

    block(4, 16, 64, "down")
    for i in range(5, 9):
        block(i, 64, 64, "reg")
    block(9, 64, 128, "down")
    for stage_start in (10, 18):
        for j, kind in enumerate(["reg", "dil", "asym", "dil", "reg", "dil", "asym", "dil"]):
            block(stage_start + j, 128, 128, kind)
    shapes["26.0.weight"] = (num_classes, 128, 1, 1)
    return shapes


def test_enet_parameters_match_published_architecture():
    model = ENet()
    got = {k: tuple(v.shape) for k, v in model.named_parameters()}
    assert got == _published_enet_shapes()
    assert sum(np.prod(s) for s in got.values()) == 343404


def test_enet_forward_shape_and_roundtrip(tmp_path):
    model = ENet().eval()
    x = torch.randn(2, 3, 256, 328)  # ScanRefer's frame size
    assert model.features(x).shape == (2, 128, 32, 41)
    assert model(x).shape == (2, 41, 32, 41)
    torch.save(model.state_dict(), tmp_path / "enet.pth")
    loaded = load_enet(tmp_path / "enet.pth").eval()
    torch.testing.assert_close(loaded.features(x), model.features(x))
    bad = model.state_dict()
    bad.pop("3.weight")
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(DataError, match=r"bad.pth: does not fit the ENet.*1 missing \(e.g. \['3.weight'\]\)"):
        load_enet(tmp_path / "bad.pth")
    wide = model.state_dict()
    wide["26.0.weight"] = torch.zeros(41, 64, 1, 1)
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(DataError, match=r"shape mismatch 26.0.weight \(41, 64, 1, 1\) vs \(41, 128, 1, 1\)"):
        load_enet(tmp_path / "wide.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pth: not a torch checkpoint"):
        load_enet(tmp_path / "junk.pth")


def test_enet_loads_the_older_layout(tmp_path):
    """Checkpoints this project wrote before the fix kept the initial conv at "1.0": still loaded, same features."""
    model = ENet().eval()
    old = {("1.0." + k[4:] if k.startswith("0.0.") else k): v for k, v in model.state_dict().items()}
    assert "1.0.weight" in old and "0.0.weight" not in old
    torch.save({"model": old}, tmp_path / "old.pth")
    x = torch.randn(1, 3, 64, 80)
    torch.testing.assert_close(load_enet(tmp_path / "old.pth").eval().features(x), model.features(x))


def test_projection_geometry():
    # camera at the origin looking along +z (identity pose); 4 x 4 feature map = depth size
    k = np.eye(4)
    k[0, 0] = k[1, 1] = 2.0
    k[0, 2] = k[1, 2] = 1.5
    feats = torch.arange(2 * 16, dtype=torch.float64).view(1, 2, 4, 4)  # channel 0: 0..15, channel 1: 16..31
    depth = torch.full((1, 4, 4), 2.0, dtype=torch.float64)
    depth[0, 1, 1] = 1.0                    # something in front of the point that projects to (1, 1)
    pts = torch.tensor([
        [0.25, 0.25, 2.0],    # -> u = 2*0.125+1.5 = 1.75 -> 2, v -> 2: visible, pixel (2, 2) = index 10
        [-0.25, -0.25, 2.0],  # -> pixel (1, 1): depth image says 1.0 -> occluded
        [0.0, 0.0, -2.0],     # behind the camera
        [5.0, 0.0, 2.0],      # outside the image
    ], dtype=torch.float64)
    pose = torch.eye(4, dtype=torch.float64)[None]
    out = project_features(pts, feats, depth, pose, k, (4, 4), threshold=0.1)
    assert out[0].tolist() == [10.0, 26.0]
    assert out[1:].abs().sum() == 0
    # a second frame that also sees point 0, with larger features: max-pooled
    feats2 = torch.cat([feats, feats + 100])
    out = project_features(pts, feats2, depth.expand(2, -1, -1), pose.expand(2, -1, -1), k, (4, 4), 0.1)
    assert out[0].tolist() == [110.0, 126.0]


def test_projection_on_synthetic_frames(tiny_synth, tiny_h5):
    """Points of a synthetic scene seen by its frames get features; with a random ENet, the pipeline runs."""
    from ws3dvg.multiview.projection import project_all

    cfg = {"image_size": [64, 48], "frames_per_scene": 0, "depth_threshold": 0.1, "batch_size": 4}
    stats = project_all(ENet(), str(tiny_synth / "frames"), str(tiny_h5), ["scene0000_00"], cfg,
                        str(tiny_h5.parent / "mv.h5"), torch.device("cpu"))
    assert 0.01 < stats["covered_share"] <= 1.0  # 2 tiny frames at an 8 x 6 feature map


@pytest.mark.parametrize("problem", ["pose", "intrinsics", "depth_type"])
def test_bad_frames(tiny_synth, tmp_path, problem):
    from PIL import Image

    scene = "scene0000_00"
    d = tmp_path / scene
    shutil.copytree(tiny_synth / "frames" / scene, d)
    if problem == "pose":
        (d / "pose" / "1.txt").unlink()
        match = "1.txt: frame 1 has no pose"
    elif problem == "intrinsics":
        k = np.loadtxt(d / "intrinsic" / "intrinsic_depth.txt")
        k[0, 2] = 500
        np.savetxt(d / "intrinsic" / "intrinsic_depth.txt", k)
        match = "depth image is 40x30 but the intrinsics' principal point"
    else:
        Image.new("RGB", (40, 30)).save(d / "depth" / "0.png")
        match = "depth image must be single-channel 16-bit"
    with pytest.raises(DataError, match=match) as err:
        load_frames(d, scene, ["0", "1"], (64, 48))
    assert scene in str(err.value)


def test_enet_frames_are_read_per_item_and_batches_cover_each_epoch(tiny_synth):
    """train_enet reads frames as batches need them (nothing grows with the frame count) and each epoch's batches
    are one permutation, drawn in the main process: the same for the same seed, whatever the workers."""
    from ws3dvg.multiview.enet_training import LabelledFrames, _ShuffledBatches
    from ws3dvg.scannet.io import read_split
    from ws3dvg.scannet.labels import LabelMap

    scenes = read_split(tiny_synth / "meta" / "scannetv2_train.txt")
    frames = LabelledFrames(tiny_synth / "frames", scenes, LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv"),
                            (32, 24), 0)
    assert len(frames) == 2 * len(scenes)  # TINY_SYNTH: 2 frames a scene
    assert not any(isinstance(v, (np.ndarray, torch.Tensor)) for v in vars(frames).values() if v is not frames.lut)
    image, target = frames[0]
    assert image.shape == (24, 32, 3) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert target.shape == (24, 32) and target.dtype == torch.int64 and int(target.max()) <= 40
    batches = list(_ShuffledBatches(7, 3, 2, torch.Generator().manual_seed(5)))
    assert [len(b) for b in batches] == [3, 3, 1, 3, 3, 1]
    assert sorted(sum(batches[:3], [])) == list(range(7)) and sorted(sum(batches[3:], [])) == list(range(7))
    assert batches == list(_ShuffledBatches(7, 3, 2, torch.Generator().manual_seed(5)))


def test_enet_training_is_the_same_with_loader_workers(tiny_synth, tiny_h5):
    from ws3dvg.multiview.enet_training import train_enet
    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.scannet.preprocess import read_splits

    cfg = {"image_size": [32, 24], "frames_per_scene": 0, "batch_size": 2, "epochs": 1, "lr": 1e-3,
           "weight_decay": 0.0, "amp": False}
    args = (cfg, str(tiny_synth / "frames"), read_splits(tiny_h5),
            LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv"), torch.device("cpu"), 3)
    (a, ra), (b, rb) = train_enet(*args), train_enet(*args, workers=2)
    assert ra == rb and ra["train_frames"] == 4
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
