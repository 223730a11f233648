"""Box IoU, NMS, AP, checkpoint mapping, a tiny detector that overfits, and the cache layout."""

import re

import h5py
import numpy as np
import pytest
import torch

from ws3dvg.detection.checkpoints import load_pretrained, rename
from ws3dvg.detection.metrics import average_precision, match_detections, mean_ap, nms
from ws3dvg.ops.geometry import box_iou, oriented_box_iou

# deltas 1.0: the fastest to fit, which is what the overfit test checks
TINY_DETECTOR = {"model": "groupfree", "num_points": 1024, "input_features": ["height", "color", "normal"],
                 "sa_npoints": [256, 128, 64, 32], "width": 1, "num_proposal": 32, "decoder_layers": 2, "ffn_dim": 64,
                 "batch_size": 2, "epochs": 1, "lr": 0.003, "decoder_lr_scale": 0.1, "mean_sizes": "", "center_delta": 1.0, "size_delta": 1.0, "weight_decay": 0.0, "eval_every": 100, "nms_iou": 0.25,
                 "amp": False, "pretrained": ""}


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
    state = {"module." + k: v.clone() for k, v in model.state_dict().items() if k != "mean_size_arr"}
    state["module.extra_head.weight"] = torch.zeros(3)
    first = next(k for k in state if k.endswith("sa1.mlp_module.layer0.conv.weight"))
    state[first] = torch.zeros(1)  # wrong shape
    torch.save({"model_state_dict": state}, tmp_path / "ckpt.tar")
    report = load_pretrained(build_detector(TINY_DETECTOR, 7), tmp_path / "ckpt.tar", "groupfree")
    assert report["unexpected"] == ["extra_head.weight"]
    assert report["shape_mismatch"] == ["backbone_net.sa1.mlp_module.layer0.conv.weight"]
    assert report["missing"] == ["backbone_net.sa1.mlp_module.layer0.conv.weight"]  # mean sizes are not reported


def test_rename_refuses_two_different_tensors_on_one_key():
    table = [(r"^decoder\.(\d+)\.self_posembed\.", r"decoder_self_posembeds.\1.")]
    same = {"decoder_self_posembeds.0.w": torch.ones(2), "decoder.0.self_posembed.w": torch.ones(2)}
    assert list(rename(same, table)) == ["decoder_self_posembeds.0.w"]
    with pytest.raises(ValueError, match="decoder_self_posembeds.0.w"):
        rename({**same, "decoder.0.self_posembed.w": torch.zeros(2)}, table)


def test_tiny_detector_overfits_two_scenes(tiny_h5):
    from ws3dvg.detection.data import SceneSet, class_mean_sizes, collate, feature_dim
    from ws3dvg.detection.loss import detection_loss
    from ws3dvg.detection.train import evaluate_detector
    from ws3dvg.models.detector import build_detector

    torch.manual_seed(0)
    cfg = dict(TINY_DETECTOR)
    ds = SceneSet(tiny_h5, ["scene0000_00", "scene0001_00"], cfg["num_points"], cfg["input_features"], seed=0)
    model = build_detector(cfg, feature_dim(cfg["input_features"]), class_mean_sizes(tiny_h5, ds.scenes))
    before = evaluate_detector(model, ds, cfg, torch.device("cpu"))["mAP@0.25"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = collate([ds[0], ds[1]])
    model.train()
    for _ in range(60):
        loss, _ = detection_loss(model(batch["xyz"], batch["features"]), batch, model.mean_size_arr,
                                 cfg["center_delta"], cfg["size_delta"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate_detector(model, ds, cfg, torch.device("cpu"))["mAP@0.25"]
    assert after > before + 0.2, (before, after)


@pytest.mark.parametrize("mode", ["detector", "gt"])
def test_cache_layout(tiny_h5, tmp_path, mode):
    from ws3dvg.detection.cache import write_cache
    from ws3dvg.detection.data import SceneSet, feature_dim
    from ws3dvg.detection.proposals import read_proposals
    from ws3dvg.models.detector import build_detector
    from ws3dvg.scannet.preprocess import read_scene

    cfg = dict(TINY_DETECTOR)
    scenes = ["scene0000_00", "scene0002_00"]
    ds = SceneSet(tiny_h5, scenes, cfg["num_points"], cfg["input_features"])
    model = build_detector(cfg, feature_dim(cfg["input_features"])).eval()
    # a float32 multiview file (ScanRefer's enet_feats are float32; ours float16), read by two processes
    rng = np.random.default_rng(1)
    tables = {s: rng.standard_normal((len(read_scene(tiny_h5, s)["points"]), 128)).astype(np.float32) for s in scenes}
    with h5py.File(tmp_path / "mv.h5", "w") as h5:
        for s, t in tables.items():
            h5.create_dataset(s, data=t, compression="gzip")
    stats = write_cache(model, ds, cfg, mode, str(tmp_path / "val.h5"), torch.device("cpu"), str(tmp_path / "mv.h5"), 2)
    assert stats["scenes"] == 2
    p = read_proposals(str(tmp_path / "val.h5"), ["scene0002_00"])["scene0002_00"]
    scene = read_scene(tiny_h5, "scene0002_00")
    np.testing.assert_array_equal(p["multiview"], tables["scene0002_00"][p["seed_index"]])  # each seed's own row
    n = (scene["box_class18"] >= 0).sum() if mode == "gt" else cfg["num_proposal"]
    shapes = {"center": (n, 3), "size": (n, 3), "heading": (n,), "corners": (n, 8, 3), "objectness": (n,),
              "class_scores": (n, 18), "features": (n, 288), "seed_index": (n,), "box_colour": (n, 3)}
    for k, shape in shapes.items():
        assert p[k].shape == shape, k
    assert p["seed_index"].max() < len(scene["points"]) and p["seed_index"].min() >= 0
    np.testing.assert_allclose(p["class_scores"].sum(1), 1.0, atol=1e-4)
    # box colour by hand for one box: the mean rgb / 255 of the scene's points inside it
    i = int(np.argmax(p["size"].prod(1)))
    inside = (np.abs(scene["points"][:, :3] - p["center"][i]) <= p["size"][i] / 2).all(1)
    want = scene["points"][inside, 3:6].mean(0) / 255 if inside.any() else np.zeros(3)
    np.testing.assert_allclose(p["box_colour"][i], want, atol=1e-5)
    if mode == "gt":
        np.testing.assert_allclose(p["center"], scene["boxes"][scene["box_class18"] >= 0][:, :3], atol=1e-5)
        assert (p["objectness"] == 1).all() and len(p["gt_instance"]) == n


# The state dict of GroupFree-3D's released ScanNet model (L6, O256: xyz input, width 1, 6 decoder
# layers, FFN 2048, one heading bin, 18 size clusters), written out from its published module
# definitions and saved the way its train_dist.py saves (DistributedDataParallel: `module.`).
def _bn(prefix: str, c: int) -> dict:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def _conv(prefix: str, cout: int, cin: int, bias: bool = True, kernel=(1,)) -> dict:
    return {f"{prefix}.weight": (cout, cin, *kernel), **({f"{prefix}.bias": (cout,)} if bias else {})}


def _shared_mlp(prefix: str, channels: list[int]) -> dict:  # pointnet2 pytorch_utils.SharedMLP(bn=True)
    out = {}
    for i, (cin, cout) in enumerate(zip(channels, channels[1:])):
        out.update(_conv(f"{prefix}.layer{i}.conv", cout, cin, bias=False, kernel=(1, 1)))
        out.update(_bn(f"{prefix}.layer{i}.bn.bn", cout))
    return out


def _predict_head(prefix: str) -> dict:
    out = {**_conv(f"{prefix}.conv1", 288, 288), **_bn(f"{prefix}.bn1", 288),
           **_conv(f"{prefix}.conv2", 288, 288), **_bn(f"{prefix}.bn2", 288)}
    for name, c in (("objectness_scores_head", 1), ("center_residual_head", 3), ("heading_class_head", 1),
                    ("heading_residual_head", 1), ("size_class_head", 18), ("size_residual_head", 54),
                    ("sem_cls_scores_head", 18)):
        out.update(_conv(f"{prefix}.{name}", c, 288))
    return out


def _pos_embed(prefix: str, cin: int) -> dict:
    return {**_conv(f"{prefix}.position_embedding_head.0", 288, cin), **_bn(f"{prefix}.position_embedding_head.1", 288),
            **_conv(f"{prefix}.position_embedding_head.3", 288, 288)}


def _attention(prefix: str) -> dict:
    return {f"{prefix}.in_proj_weight": (864, 288), f"{prefix}.in_proj_bias": (864,),
            f"{prefix}.out_proj.weight": (288, 288), f"{prefix}.out_proj.bias": (288,)}


def released_groupfree_l6o256() -> dict:
    keys = {}
    for name, mlp in (("sa1", [3, 64, 64, 128]), ("sa2", [131, 128, 128, 256]), ("sa3", [259, 128, 128, 256]),
                      ("sa4", [259, 128, 128, 256])):
        keys.update(_shared_mlp(f"backbone_net.{name}.mlp_module", mlp))
    keys.update(_shared_mlp("backbone_net.fp1.mlp", [512, 256, 256]))
    keys.update(_shared_mlp("backbone_net.fp2.mlp", [512, 256, 288]))
    keys.update({**_conv("points_obj_cls.conv1", 288, 288), **_bn("points_obj_cls.bn1", 288),
                 **_conv("points_obj_cls.conv2", 288, 288), **_bn("points_obj_cls.bn2", 288),
                 **_conv("points_obj_cls.conv3", 1, 288)})
    keys.update(_predict_head("proposal_head"))
    keys.update({**_conv("decoder_key_proj", 288, 288), **_conv("decoder_query_proj", 288, 288)})
    for i in range(6):
        for owner in (f"decoder_self_posembeds.{i}", f"decoder.{i}.self_posembed"):  # one module, two names
            keys.update(_pos_embed(owner, 6))
        for owner in (f"decoder_cross_posembeds.{i}", f"decoder.{i}.cross_posembed"):
            keys.update(_pos_embed(owner, 3))
        keys.update({**_attention(f"decoder.{i}.self_attn"), **_attention(f"decoder.{i}.multihead_attn"),
                     f"decoder.{i}.linear1.weight": (2048, 288), f"decoder.{i}.linear1.bias": (2048,),
                     f"decoder.{i}.linear2.weight": (288, 2048), f"decoder.{i}.linear2.bias": (288,)})
        for n in (1, 2, 3):
            keys.update({f"decoder.{i}.norm{n}.weight": (288,), f"decoder.{i}.norm{n}.bias": (288,)})
        keys.update(_predict_head(f"prediction_heads.{i}"))
    return keys


RELEASED_L6O256_CONFIG = {**TINY_DETECTOR, "input_features": [], "num_points": 50000, "sa_npoints": [2048, 1024, 512, 256],
                          "num_proposal": 256, "decoder_layers": 6, "ffn_dim": 2048}


def test_released_groupfree_checkpoint_loads_without_leftovers(tmp_path):
    from ws3dvg.models.detector import build_detector

    g = torch.Generator().manual_seed(0)
    shapes = released_groupfree_l6o256()
    shared = {}  # a position-embedding tensor is one object under both of its names, as in the real file
    state = {}
    for k, shape in shapes.items():
        canonical = re.sub(r"^decoder\.(\d+)\.(self|cross)_posembed\.", r"decoder_\2_posembeds.\1.", k)
        state["module." + k] = shared.setdefault(canonical, torch.randn(shape, generator=g) if shape else torch.tensor(7))
    torch.save({"config": None, "model": state, "optimizer": {}, "epoch": 400}, tmp_path / "scannet_l6o256.pth")

    sizes = np.linspace(0.3, 2.0, 54, dtype=np.float32).reshape(18, 3)
    model = build_detector(RELEASED_L6O256_CONFIG, 0, sizes)
    report = load_pretrained(model, tmp_path / "scannet_l6o256.pth", "groupfree")
    assert report == {"missing": [], "unexpected": [], "shape_mismatch": []}
    own = model.state_dict()
    assert len(own) == len(shared) + 1  # + the mean sizes, which released files keep outside the model
    assert torch.equal(own["decoder_self_posembeds.3.position_embedding_head.0.weight"],
                       state["module.decoder.3.self_posembed.position_embedding_head.0.weight"])
    assert torch.equal(own["prediction_heads.5.size_residual_head.weight"], state["module.prediction_heads.5.size_residual_head.weight"])
    assert torch.equal(own["mean_size_arr"], torch.from_numpy(sizes))  # kept: not in the file


def test_predict_head_decodes_size_from_the_best_cluster():
    from ws3dvg.models.detector import PredictHead

    head = PredictHead(4, num_class=2, num_size_cluster=2).eval()
    for conv in (head.size_class_head, head.size_residual_head):
        torch.nn.init.zeros_(conv.weight)
    head.size_class_head.bias.data = torch.tensor([0.0, 1.0])            # cluster 1 wins
    head.size_residual_head.bias.data = torch.tensor([9.0, 9, 9, 0.5, 0, -0.5])
    mean = torch.tensor([[1.0, 1, 1], [2.0, 4, 6]])
    out = head(torch.randn(1, 4, 3), torch.zeros(1, 3, 3), mean)
    assert torch.allclose(out["size"], torch.tensor([3.0, 4, 3]).expand(1, 3, 3))  # mean * (1 + residual)
    assert out["size_residuals_normalized"].shape == (1, 3, 2, 3)


def test_class_mean_sizes_and_released_means_file(tiny_h5, tmp_path):
    from ws3dvg.detection.data import class_mean_sizes, read_mean_sizes
    from ws3dvg.engine.errors import DataError
    from ws3dvg.scannet.preprocess import read_scene

    scenes = ["scene0000_00", "scene0001_00"]
    means = class_mean_sizes(tiny_h5, scenes)
    boxes = np.concatenate([read_scene(tiny_h5, s)["boxes"] for s in scenes])
    cls = np.concatenate([read_scene(tiny_h5, s)["box_class18"] for s in scenes])
    c = int(cls[cls >= 0][0])
    assert np.allclose(means[c], boxes[cls == c, 3:6].mean(0), atol=1e-5)
    absent = [k for k in range(18) if k not in set(cls.tolist())][0]
    assert np.allclose(means[absent], boxes[cls >= 0, 3:6].mean(0), atol=1e-5)
    np.savez(tmp_path / "scannet_means.npz", means)
    assert np.array_equal(read_mean_sizes(tmp_path / "scannet_means.npz"), means)
    np.savez(tmp_path / "bad.npz", means[:5])
    with pytest.raises(DataError, match="bad.npz.*18 positive"):
        read_mean_sizes(tmp_path / "bad.npz")


def test_xyz_only_input_as_the_released_scannet_models(tiny_h5):
    from ws3dvg.detection.data import SceneSet, collate
    from ws3dvg.models.detector import build_detector

    ds = SceneSet(tiny_h5, ["scene0000_00", "scene0001_00"], 512, [])
    batch = collate([ds[0], ds[1]])
    assert batch["features"].shape == (2, 0, 512)
    model = build_detector({**TINY_DETECTOR, "input_features": []}, 0).eval()
    assert model.backbone_net.sa1.mlp_module.layer0.conv.weight.shape[1] == 3  # relative xyz only
    with torch.no_grad():
        out = model(batch["xyz"], batch["features"])
    assert out["center"].shape == (2, TINY_DETECTOR["num_proposal"], 3) and out["sem_logits"].shape[-1] == 18


def released_votenet_scannet() -> dict:
    """VoteNet's released ScanNet model (height input, 256-d seeds, one heading bin, 18 size clusters)."""
    keys = {}
    for name, mlp in (("sa1", [4, 64, 64, 128]), ("sa2", [131, 128, 128, 256]), ("sa3", [259, 128, 128, 256]),
                      ("sa4", [259, 128, 128, 256])):
        keys.update(_shared_mlp(f"backbone_net.{name}.mlp_module", mlp))
    keys.update(_shared_mlp("backbone_net.fp1.mlp", [512, 256, 256]))
    keys.update(_shared_mlp("backbone_net.fp2.mlp", [512, 256, 256]))
    keys.update({**_conv("vgen.conv1", 256, 256), **_conv("vgen.conv2", 256, 256), **_conv("vgen.conv3", 259, 256),
                 **_bn("vgen.bn1", 256), **_bn("vgen.bn2", 256)})
    keys.update(_shared_mlp("pnet.vote_aggregation.mlp_module", [259, 128, 128, 128]))
    keys.update({**_conv("pnet.conv1", 128, 128), **_conv("pnet.conv2", 128, 128),
                 **_conv("pnet.conv3", 2 + 3 + 2 + 18 * 4 + 18, 128), **_bn("pnet.bn1", 128), **_bn("pnet.bn2", 128)})
    return keys


def test_released_votenet_checkpoint_loads_without_leftovers(tmp_path):
    from ws3dvg.models.detector import build_detector

    g = torch.Generator().manual_seed(1)
    state = {k: torch.randn(shape, generator=g) if shape else torch.tensor(3) for k, shape in released_votenet_scannet().items()}
    torch.save({"epoch": 180, "model_state_dict": state}, tmp_path / "votenet_scannet.tar")
    cfg = {**TINY_DETECTOR, "model": "votenet", "input_features": ["height"], "sa_npoints": [2048, 1024, 512, 256],
           "num_proposal": 256}
    model = build_detector(cfg, 1)
    assert load_pretrained(model, tmp_path / "votenet_scannet.tar", "votenet") == \
        {"missing": [], "unexpected": [], "shape_mismatch": []}
    assert torch.equal(model.state_dict()["pnet.conv3.weight"], state["pnet.conv3.weight"])


def test_votenet_decodes_its_fused_head_and_trains():
    from ws3dvg.detection.loss import detection_loss
    from ws3dvg.models.detector import ProposalModule, build_detector

    head = ProposalModule(8, 4, num_class=2, num_size_cluster=2)
    assert head.conv3.out_channels == 2 + 3 + 2 + 8 + 2
    torch.nn.init.zeros_(head.conv3.weight)
    head.conv3.bias.data = torch.tensor([0.5, 2.0, 0.1, 0.2, 0.3, 0, 0, 0.0, 1.0, 0, 0, 0, 0.5, 0.5, 0.5, 3.0, 4.0])
    mean = torch.tensor([[1.0, 1, 1], [2.0, 2, 2]])
    out, feat, inds = head.eval()(torch.rand(1, 16, 3), torch.randn(1, 8, 16), mean)
    assert torch.allclose(out["objectness"], torch.tensor(1.5))      # two-class logits -> their difference
    assert torch.allclose(out["size"], torch.tensor(3.0))            # cluster 1: 2 * (1 + 0.5)
    assert torch.allclose(out["sem_logits"][0, 0], torch.tensor([3.0, 4.0]))
    assert feat.shape == (1, 128, 4) and inds.shape == (1, 4)

    model = build_detector({**TINY_DETECTOR, "model": "votenet"}, 7)
    xyz, feats = torch.rand(2, 256, 3) * 3, torch.randn(2, 7, 256)
    out = model(xyz, feats)
    assert out["features"].shape == (2, TINY_DETECTOR["num_proposal"], 128)
    batch = {"point_gt": torch.randint(-1, 2, (2, 256)), "gt_center": torch.rand(2, 2, 3), "gt_size": torch.rand(2, 2, 3) + 0.2,
             "gt_class": torch.tensor([[0, 1], [1, 0]])}
    loss, terms = detection_loss(out, batch, model.mean_size_arr)
    loss.backward()
    assert {"vote", "objectness", "center", "size", "size_cls", "sem"} <= set(terms)
    assert model.vgen.conv1.weight.grad is not None


def test_multiview_channels_are_gathered_in_place(tiny_h5, tmp_path):
    """The loader leaves the 128 multiview channels out; `input_features` puts each sampled point's row of the
    float16 table back at the channel position the feature list gives it."""
    from ws3dvg.detection.data import SceneSet, collate
    from ws3dvg.engine.errors import DataError
    from ws3dvg.scannet.preprocess import read_scene

    scenes = ["scene0000_00", "scene0001_00"]
    rng = np.random.default_rng(0)
    tables = {s: rng.standard_normal((len(read_scene(tiny_h5, s)["points"]), 128)).astype(np.float16) for s in scenes}
    mv = tmp_path / "mv.h5"
    with h5py.File(mv, "w") as h5:
        for s, t in tables.items():
            h5[s] = t
    names = ["height", "multiview", "color"]
    ds = SceneSet(tiny_h5, scenes, 256, names, str(mv), augment=True, seed=3)
    plain = SceneSet(tiny_h5, scenes, 256, ["height", "color"], augment=True, seed=3)
    items = [ds[1], ds[0]]
    assert items[0]["features"].shape == (4, 256)  # height + colour travel through the loader, multiview not
    batch = collate(items)
    f = ds.input_features(batch)
    assert f.shape == (2, 1 + 128 + 3, 256)
    expect_plain = collate([plain[1], plain[0]])["features"]
    torch.testing.assert_close(f[:, :1], expect_plain[:, :1], rtol=0, atol=0)
    torch.testing.assert_close(f[:, 129:], expect_plain[:, 1:], rtol=0, atol=0)
    for b, (scene, item) in enumerate(zip([scenes[1], scenes[0]], items)):
        want = torch.from_numpy(tables[scene][item["point_index"].numpy()].astype(np.float32)).T
        torch.testing.assert_close(f[b, 1:129], want, rtol=0, atol=0)
    with h5py.File(mv, "a") as h5:
        del h5[scenes[1]]
        h5[scenes[1]] = np.zeros((5, 128), np.float16)
    with pytest.raises(DataError, match="multiview features of shape"):
        SceneSet(tiny_h5, scenes, 256, names, str(mv))


def test_epoch_keys_give_that_epochs_augmentation(tiny_h5):
    """An EpochLoader asks for (epoch, index): the same sample as set_epoch(epoch) then [index]."""
    from ws3dvg.detection.data import SceneSet

    ds = SceneSet(tiny_h5, ["scene0000_00", "scene0001_00"], 256, ["height", "color"], augment=True, seed=5)
    keyed = ds[(3, 1)]
    ds.set_epoch(3)
    plain = ds[1]
    for k in ("xyz", "features", "point_index", "gt_center", "gt_size"):
        assert torch.equal(keyed[k], plain[k]), k
    assert not torch.equal(ds[(4, 1)]["xyz"], plain["xyz"])  # another epoch, another augmentation
