"""Scenes for the object encoder (`detector.model: objects`, ground-truth boxes only): each annotated object's
own points, drawn `detector.object_points` at a time, and its class.

An object's point channels: xyz relative to its box centre (3), then the `detector.input_features` as the
detector reads them (height above the floor, colour rgb/255 - 0.5, normals). Training turns each object by
its own random angle about z and scales it by 0.9-1.1, as ReferIt3D's object encoders are trained.
"""

from __future__ import annotations

import numpy as np
import torch

from ..engine.errors import DataError, ParamsError
from ..engine.training import epoch_key
from ..scannet.preprocess import read_scene
from .metrics import mean_ap


def sample_object_points(instance: np.ndarray, ids: np.ndarray, k: int, rng: np.random.Generator,
                         source: str = "scene") -> np.ndarray:
    """(M, k) indices of points drawn uniformly, with replacement, from each object's own points
    (`instance` (N,): every point's object id; `ids` (M,): the objects). One sort, no loop over objects."""
    order = np.argsort(instance, kind="stable")
    lo = np.searchsorted(instance[order], ids, "left")
    count = np.searchsorted(instance[order], ids, "right") - lo
    if (count == 0).any():
        raise DataError(source, f"objects {ids[count == 0].tolist()} have a box but no points")
    draws = (rng.random((len(ids), k)) * count[:, None]).astype(np.int64)
    return order[lo[:, None] + draws]


def annotated_objects(d: dict) -> np.ndarray:
    """The boxes (M, 8) of a scene's objects of the 18 classes, in the order every proposal cache uses."""
    return d["boxes"][d["box_class18"] >= 0]


class ObjectSet(torch.utils.data.Dataset):
    """One item per scene: (M, C, K) point sets of its M annotated objects and their classes.

    `views` (training with `detector.object_contrastive`): each item also holds two further draws of every
    object, `views` (2, M, C, K), each drawn, turned and scaled on its own and its colour shifted by one offset
    per object (SimCLR's colour jitter): two views of one object agree in shape and surface pattern, not in
    where their points fall or in their exact mean colour."""

    def __init__(self, h5_path, scenes: list[str], num_points: int, features: list[str], augment: bool = False,
                 seed: int = 0, views: bool = False):
        if "multiview" in features:  # the channel count is data.input_dim's
            raise ParamsError("params.yaml: detector.input_features: the object encoder (model: objects) reads "
                              "height, color and normal; multiview is for the point detectors")
        self.scenes, self.num_points, self.features = list(scenes), num_points, list(features)
        self.augment, self.seed, self.epoch, self.source = augment, seed, 0, str(h5_path)
        self.views = views and augment
        self.data = [read_scene(h5_path, s) for s in self.scenes]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, key) -> dict:
        epoch, i = epoch_key(key, self.epoch)
        d = self.data[i]
        rng = np.random.default_rng([self.seed, epoch if self.augment else 0, i])
        boxes = annotated_objects(d)
        item = {"points": torch.from_numpy(self._draw(d, boxes, rng, i)),
                "gt_class": torch.from_numpy(d["box_class18"][d["box_class18"] >= 0].astype(np.int64)),
                "gt_box": torch.from_numpy(boxes[:, :6].astype(np.float32)), "scene": self.scenes[i]}
        if self.views:  # drawn after the main draw, so the main draw is the same with views on or off
            item["views"] = torch.from_numpy(np.stack([self._draw(d, boxes, rng, i, jitter=True) for _ in range(2)]))
        return item

    def _draw(self, d: dict, boxes: np.ndarray, rng: np.random.Generator, i: int, jitter: bool = False) -> np.ndarray:
        """(M, C, K) float32: `num_points` of each object's points, centred on its box (turned and scaled in
        training; with `jitter`, its colour shifted by up to +-0.2 per channel, one offset per object)."""
        idx = sample_object_points(d["instance"], boxes[:, 7].astype(np.int64), self.num_points, rng,
                                   f"{self.source}: scene {self.scenes[i]!r}")
        pts = d["points"][idx].astype(np.float32)                     # (M, K, 9)
        xyz, normal = pts[..., :3] - boxes[:, None, :3], pts[..., 6:9]
        height = pts[..., 2:3] - np.percentile(d["points"][:, 2], 0.99)
        if self.augment:  # each object its own turn about z and scale
            angle = rng.uniform(0, 2 * np.pi, len(boxes))
            c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
            turn = lambda v: np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1], v[..., 2]], -1)
            scale = rng.uniform(0.9, 1.1, (len(boxes), 1, 1))
            xyz, normal, height = turn(xyz) * scale, turn(normal), height * scale
        colour = pts[..., 3:6] / 255.0 - 0.5
        if jitter:
            colour = colour + rng.uniform(-0.2, 0.2, (len(boxes), 1, 3))
        parts = [xyz]
        for name in self.features:
            parts.append({"height": height, "color": colour, "normal": normal}[name])
        return np.ascontiguousarray(np.concatenate(parts, -1).transpose(0, 2, 1), np.float32)   # (M, C, K)


def collate_objects(items: list[dict]) -> dict:
    """The batch's objects side by side; `object_scene` says which item each came from."""
    out = {k: torch.cat([it[k] for it in items]) for k in ("points", "gt_class", "gt_box")}
    if "views" in items[0]:
        out["views"] = torch.cat([it["views"] for it in items], 1)
    out["object_scene"] = torch.cat([torch.full((len(it["gt_class"]),), i) for i, it in enumerate(items)])
    out["scene"] = [it["scene"] for it in items]
    return out


@torch.no_grad()
def run_objects(model, dataset: ObjectSet, device: torch.device):
    """Yield (scene, outputs on CPU: features (M, D), sem_logits (M, 18)) for every scene, in dataset order."""
    model.eval()
    for i in range(len(dataset)):
        item = dataset[i]
        out = model(item["points"].to(device))
        yield item["scene"], {k: v.float().cpu() for k, v in out.items()}, item


def evaluate_objects(model, dataset: ObjectSet, device: torch.device) -> dict:
    """Classification accuracy, and the mAP of the given boxes ranked by their class scores (the detector's
    metric on boxes that localise exactly: it measures the classes alone)."""
    dets = {"scene": [], "box": [], "class": [], "score": []}
    gts = {"scene": [], "box": [], "class": []}
    correct = total = 0
    for si, (_, out, item) in enumerate(run_objects(model, dataset, device)):
        conf, label = out["sem_logits"].softmax(-1).max(-1)
        correct += int((label == item["gt_class"]).sum())
        total += len(label)
        for store, box, cls in ((dets, item["gt_box"], label), (gts, item["gt_box"], item["gt_class"])):
            store["scene"].append(np.full(len(box), si))
            store["box"].append(box.numpy())
            store["class"].append(cls.numpy())
        dets["score"].append(conf.numpy())
    result = mean_ap({k: np.concatenate(v) for k, v in dets.items()}, {k: np.concatenate(v) for k, v in gts.items()})
    return {"accuracy": correct / max(total, 1), **result}
