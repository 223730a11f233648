"""The object encoder of the ground-truth-box protocol (detector.model: objects)."""

import h5py
import numpy as np
import pytest
import torch

from ws3dvg.detection.cache import write_cache
from ws3dvg.detection.data import input_dim
from ws3dvg.detection.loss import instance_discrimination_loss
from ws3dvg.detection.objects import ObjectSet, annotated_objects, collate_objects, sample_object_points
from ws3dvg.detection.train import model_set, object_loss, train_detector
from ws3dvg.engine.errors import DataError, ParamsError
from ws3dvg.models.detector import build_detector
from ws3dvg.scannet.preprocess import read_splits

OBJECTS = {"pretrained": "", "model": "objects", "input_features": ["height", "color", "normal"], "object_points": 64,
           "object_contrastive": 0.0,
           "num_points": 64,
           "sa_npoints": [1, 1, 1, 1], "width": 1, "num_proposal": 1, "decoder_layers": 1, "ffn_dim": 1,
           "batch_size": 2, "epochs": 30, "lr": 0.003, "decoder_lr_scale": 0.1, "mean_sizes": "",
           "weight_decay": 0.0005, "center_delta": 0.2, "size_delta": 0.2, "eval_every": 30, "nms_iou": 0.25,
           "amp": False}


def test_points_are_drawn_from_each_objects_own_points():
    instance = np.array([5, 5, 7, 5, 7, 9])
    idx = sample_object_points(instance, np.array([7, 5, 9]), 200, np.random.default_rng(0))
    assert idx.shape == (3, 200)
    assert set(idx[0].tolist()) == {2, 4} and set(idx[1].tolist()) == {0, 1, 3} and set(idx[2].tolist()) == {5}
    with pytest.raises(DataError, match=r"scene 'x'.*\[8\] have a box but no points"):
        sample_object_points(instance, np.array([5, 8]), 4, np.random.default_rng(0), "scene 'x'")


def test_object_set_centres_each_object_in_its_box(tiny_h5):
    scenes = read_splits(tiny_h5)["train"]
    plain = ObjectSet(tiny_h5, scenes, 32, ["height", "color", "normal"])
    turned = ObjectSet(tiny_h5, scenes, 32, ["height", "color", "normal"], augment=True, seed=1)
    item, aug = plain[0], turned[(3, 0)]
    boxes = annotated_objects(plain.data[0])
    assert item["points"].shape == (len(boxes), 10, 32) and len(item["gt_class"]) == len(boxes)
    xyz = item["points"][:, :3].numpy()
    # every point lies in its own object's box, relative to the box's centre
    assert (np.abs(xyz) <= boxes[:, None, 3:6].transpose(0, 2, 1) / 2 + 1e-4).all()
    # training turns and scales each object about its own centre: every point stays within the box's
    # circumscribed radius times 1.1, and another epoch draws other points
    radius = np.linalg.norm(boxes[:, 3:6] / 2, axis=1)[:, None] * 1.1 + 1e-4
    assert (np.linalg.norm(aug["points"][:, :3].numpy(), axis=1) <= radius).all()
    assert not np.allclose(item["points"].numpy(), aug["points"].numpy())
    batch = collate_objects([plain[0], plain[1 % len(plain)]])
    assert batch["points"].shape[0] == len(batch["gt_class"]) == len(batch["object_scene"])
    with pytest.raises(ParamsError, match="multiview is for the point detectors"):
        ObjectSet(tiny_h5, scenes, 32, ["color", "multiview"])


def test_object_encoder_learns_classes_and_fills_the_gt_cache(tiny_h5, tmp_path):
    splits = read_splits(tiny_h5)
    splits_same = {"train": splits["train"], "val": splits["train"]}  # 3 scenes: fit the training objects
    out = train_detector(OBJECTS, str(tiny_h5), splits_same, str(tmp_path / "ckpt"), str(tmp_path / "live"),
                         torch.device("cpu"), 0)
    train = ObjectSet(tiny_h5, splits["train"], 8, [])
    classes = np.concatenate([train[i]["gt_class"].numpy() for i in range(len(train))])
    majority = np.bincount(classes).max() / len(classes)
    assert out["metrics"]["accuracy"] >= 0.8 > majority + 0.2, (out["metrics"]["accuracy"], majority)
    model = out["model"].eval()
    ds = model_set(OBJECTS, str(tiny_h5), splits["val"], False, 0, None)
    write_cache(model, ds, OBJECTS, "gt", str(tmp_path / "val.h5"), torch.device("cpu"))
    with h5py.File(tmp_path / "val.h5", "r") as h5:
        g = h5[splits["val"][0]]
        boxes = annotated_objects(ds.data[0])
        np.testing.assert_array_equal(g["gt_instance"][()], boxes[:, 7].astype(np.int64))
        np.testing.assert_allclose(g["center"][()], boxes[:, :3], atol=1e-6)
        np.testing.assert_allclose(g["class_scores"][()].sum(1), 1.0, atol=1e-5)
        assert g["features"].shape == (len(boxes), model.feature_dim)
        assert g["box_colour"].shape == (len(boxes), 3)
    assert input_dim(OBJECTS) == 10 and build_detector(OBJECTS, 10).feature_dim == 256


def test_instance_discrimination_loss_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # each view closest to its own: both rows' logits are (1/t, 0): loss = log(1 + e^(-1/t))
    assert instance_discrimination_loss(a, 3 * a, 0.5).item() == pytest.approx(np.log1p(np.exp(-2.0)), rel=1e-6)
    # swapped views: each picks the other object: log(1 + e^(1/t))
    assert instance_discrimination_loss(a, a.flip(0), 0.5).item() == pytest.approx(np.log1p(np.exp(2.0)), rel=1e-6)
    # all alike: chance, log M
    assert instance_discrimination_loss(torch.ones(4, 3), torch.ones(4, 3)).item() == pytest.approx(np.log(4), rel=1e-6)


def test_views_leave_the_main_draw_alone_and_train_with_instance_discrimination(tiny_h5, tmp_path):
    scenes = read_splits(tiny_h5)["train"]
    plain = ObjectSet(tiny_h5, scenes, 32, ["height", "color", "normal"], augment=True, seed=1)
    viewed = ObjectSet(tiny_h5, scenes, 32, ["height", "color", "normal"], augment=True, seed=1, views=True)
    a, b = plain[(2, 0)], viewed[(2, 0)]
    assert "views" not in a and b["views"].shape == (2, *a["points"].shape)
    torch.testing.assert_close(a["points"], b["points"])        # the same draw whether views are on or not
    assert not torch.allclose(b["views"][0], b["views"][1])
    assert "views" not in ObjectSet(tiny_h5, scenes, 32, ["color"], views=True)[0]    # evaluation draws none
    batch = collate_objects([b, viewed[(2, 1 % len(viewed))]])
    assert batch["views"].shape[:2] == (2, len(batch["gt_class"]))
    cfg = dict(OBJECTS, epochs=2, eval_every=2, object_contrastive=0.5)
    out = train_detector(cfg, str(tiny_h5), read_splits(tiny_h5), str(tmp_path / "ckpt"), str(tmp_path / "live"),
                         torch.device("cpu"), 0)
    model = out["model"].train()
    assert model.projection is not None
    loss, terms = object_loss(model, cfg, torch.device("cpu"))(batch)
    assert set(terms) == {"sem", "instance"}
    assert loss.item() == pytest.approx(terms["sem"].item() + 0.5 * terms["instance"].item(), rel=1e-5)
