"""Box IoU, NMS, AP, checkpoint mapping, a tiny detector that overfits, and the cache layout."""

import numpy as np
import pytest
import torch

from ws3dvg.detection.checkpoints import load_pretrained, rename, unwrap
from ws3dvg.detection.metrics import average_precision, match_detections, mean_ap, nms
from ws3dvg.geometry import box_iou, oriented_box_iou

TINY_DETECTOR = {"model": "groupfree", "num_points": 1024, "input_features": ["height", "color", "normal"],
                 "sa_npoints": [256, 128, 64, 32], "width": 1, "num_proposal": 32, "decoder_layers": 2, "ffn_dim": 64,
                 "batch_size": 2, "epochs": 1, "lr": 0.003, "decoder_lr_scale": 0.1, "weight_decay": 0.0, "eval_every": 100, "nms_iou": 0.25,
                 "amp": False, "loader_workers": 0, "pretrained": ""}


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 0, 2, 2, 2], [1, 0, 0, 2, 2, 2], 4 / 12),           # half overlap along x
    ([0, 0, 0, 2, 2, 2], [0, 0, 0, 2, 2, 2], 1.0),
    ([0, 0, 0, 1, 1, 1], [5, 5, 5, 1, 1, 1], 0.0),
    ([0, 0, 0, 2, 2, 2], [0.5, 0.5, 0.5, 1, 1, 1], 1 / 8),     # one inside the other
    ([0, 0, 0, 2, 1, 1], [1, 0.5, 0, 2, 1, 1], 0.5 / 3.5),     # overlap 1 x 0.5 x 1
])
def test_axis_aligned_iou(a, b, expected):
    assert float(box_iou(np.array(a, float), np.array(b, float))) == pytest.approx(expected)
    assert float(box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))) == pytest.approx(expected)
    # heading 0: the oriented IoU agrees
    assert oriented_box_iou(np.array([a + [0.0]]), np.array([b + [0.0]]))[0] == pytest.approx(expected)


def test_oriented_iou_hand_cases():
    sq = np.array([[0, 0, 0, 2, 2, 2, 0.0]])
    # the same square turned 45 degrees: the footprints meet in a regular octagon of area 8(sqrt2 - 1)
    inter = 8 * (np.sqrt(2) - 1)
    assert oriented_box_iou(sq, np.array([[0, 0, 0, 2, 2, 2, np.pi / 4]]))[0] == pytest.approx(inter / (8 - inter))
    # a 90-degree turn of a 2 x 1 box about its centre overlaps in a 1 x 1 square
    assert oriented_box_iou(np.array([[0, 0, 0, 2, 1, 1, 0.0]]), np.array([[0, 0, 0, 2, 1, 1, np.pi / 2]]))[0] == \
        pytest.approx(1 / 3)
    # a turned box far away
    assert oriented_box_iou(sq, np.array([[10, 0, 0, 2, 2, 2, 0.3]]))[0] == 0.0


def test_nms_equals_greedy():
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(0, 3, (60, 3)), rng.uniform(0.3, 1.2, (60, 3))], 1)
    scores = rng.random(60)
    keep = nms(torch.tensor(boxes), torch.tensor(scores), 0.25).numpy()
    ref = np.zeros(60, bool)
    for i in np.argsort(-scores):  # the textbook greedy loop, as the reference
        if not any(ref[j] and box_iou(boxes[i], boxes[j]) > 0.25 for j in range(60)):
            ref[i] = True
    np.testing.assert_array_equal(keep, ref)


def test_average_precision_hand_case():
    # 3 GT; detections by score: TP, FP, TP -> precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 3)
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)


def test_matching_takes_each_gt_once():
    gt = np.array([[0, 0, 0, 1, 1, 1.0]])
    dets = np.array([[0, 0, 0, 1, 1, 1.0], [0.05, 0, 0, 1, 1, 1.0], [5, 5, 5, 1, 1, 1.0]])
    tp = match_detections(np.zeros(3), dets, np.array([0.5, 0.9, 0.8]), np.zeros(1), gt, 0.25)
    assert tp.tolist() == [False, True, False]  # the higher-scoring duplicate takes the GT
    res = mean_ap({"scene": np.zeros(3, int), "box": dets, "class": np.array([2, 2, 2]), "score": np.array([0.5, 0.9, 0.8])},
                  {"scene": np.zeros(1, int), "box": gt, "class": np.array([2])})
    assert res["AP@0.25"]["chair"] == pytest.approx(1.0)


def test_checkpoint_mapping_reports_keys(tmp_path):
    from ws3dvg.models.detector import build_detector

    model = build_detector(TINY_DETECTOR, 7)
    state = {("module." + k).replace("points_obj_cls.0.layer0.conv.", "points_obj_cls.conv1."): v.clone()
             for k, v in model.state_dict().items()}
    state["module.extra_head.weight"] = torch.zeros(3)
    first = next(k for k in state if k.endswith("sa1.mlp_module.layer0.conv.weight"))
    state[first] = torch.zeros(1)  # wrong shape
    torch.save({"model_state_dict": state}, tmp_path / "ckpt.tar")
    assert "points_obj_cls.0.layer0.conv.weight" in rename(unwrap({"model": state}), [(r"^module\.", ""),
                                                           (r"^points_obj_cls\.conv1\.", "points_obj_cls.0.layer0.conv.")])
    report = load_pretrained(build_detector(TINY_DETECTOR, 7), tmp_path / "ckpt.tar", "groupfree")
    assert report["unexpected"] == ["extra_head.weight"]
    assert report["shape_mismatch"] == ["backbone_net.sa1.mlp_module.layer0.conv.weight"]
    assert report["missing"] == ["backbone_net.sa1.mlp_module.layer0.conv.weight"]


def test_tiny_detector_overfits_two_scenes(tiny_h5):
    from ws3dvg.detection.data import SceneSet, collate, feature_dim
    from ws3dvg.detection.loss import detection_loss
    from ws3dvg.detection.train import evaluate_detector
    from ws3dvg.models.detector import build_detector

    torch.manual_seed(0)
    cfg = dict(TINY_DETECTOR)
    ds = SceneSet(tiny_h5, ["scene0000_00", "scene0001_00"], cfg["num_points"], cfg["input_features"], seed=0)
    model = build_detector(cfg, feature_dim(cfg["input_features"]))
    before = evaluate_detector(model, ds, cfg, torch.device("cpu"))["mAP@0.25"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = collate([ds[0], ds[1]])
    model.train()
    for _ in range(60):
        loss, _ = detection_loss(model(batch["xyz"], batch["features"]), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate_detector(model, ds, cfg, torch.device("cpu"))["mAP@0.25"]
    assert after > before + 0.2, (before, after)


@pytest.mark.parametrize("mode", ["detector", "gt"])
def test_cache_layout(tiny_h5, tmp_path, mode):
    from ws3dvg.detection.cache import read_proposals, write_cache
    from ws3dvg.detection.data import SceneSet, feature_dim
    from ws3dvg.models.detector import build_detector
    from ws3dvg.preprocess import read_scene

    cfg = dict(TINY_DETECTOR)
    ds = SceneSet(tiny_h5, ["scene0000_00", "scene0002_00"], cfg["num_points"], cfg["input_features"])
    model = build_detector(cfg, feature_dim(cfg["input_features"])).eval()
    stats = write_cache(model, ds, cfg, mode, str(tmp_path / "val.h5"), torch.device("cpu"))
    assert stats["scenes"] == 2
    p = read_proposals(str(tmp_path / "val.h5"), "scene0002_00")
    scene = read_scene(tiny_h5, "scene0002_00")
    n = (scene["box_class18"] >= 0).sum() if mode == "gt" else cfg["num_proposal"]
    shapes = {"center": (n, 3), "size": (n, 3), "heading": (n,), "corners": (n, 8, 3), "objectness": (n,),
              "class_scores": (n, 18), "features": (n, 288), "seed_index": (n,)}
    for k, shape in shapes.items():
        assert p[k].shape == shape, k
    assert p["seed_index"].max() < len(scene["points"]) and p["seed_index"].min() >= 0
    np.testing.assert_allclose(p["class_scores"].sum(1), 1.0, atol=1e-4)
    if mode == "gt":
        np.testing.assert_allclose(p["center"], scene["boxes"][scene["box_class18"] >= 0][:, :3], atol=1e-5)
        assert (p["objectness"] == 1).all() and len(p["gt_instance"]) == n
