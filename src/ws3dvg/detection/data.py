"""Scenes for the detector: sampled points with input features, per-point object ids, GT boxes.

Input features (`detector.input_features`): height above the floor (1), colour (3, rgb/255 - 0.5),
normals (3), multiview (128, ENet features projected onto the points).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..engine.errors import DataError
from ..engine.training import epoch_key
from ..ops.geometry import box_corners
from ..scannet.preprocess import read_scene
from ..scannet.tables import read_tables

FEATURE_DIMS = {"height": 1, "color": 3, "normal": 3, "multiview": 128}


def feature_dim(names: list[str]) -> int:
    return sum(FEATURE_DIMS[n] for n in names)


def input_dim(cfg: dict) -> int:
    """Channels the model's points carry: the input features, and for the object encoder (`model: objects`)
    each point's xyz relative to its object's box centre before them."""
    return feature_dim(cfg["input_features"]) + (3 if cfg["model"] == "objects" else 0)


def class_mean_sizes(h5_path, scenes: list[str], num_class: int = 18) -> np.ndarray:
    """Mean GT box size per class over `scenes` (how VoteNet's scannet_means.npz was made); (18, 3).

    A class without boxes gets the mean over all boxes."""
    boxes = [(d["boxes"][:, 3:6], d["box_class18"]) for d in (read_scene(h5_path, s) for s in scenes)]
    sizes = np.concatenate([b for b, _ in boxes]) if boxes else np.zeros((0, 3))
    classes = np.concatenate([c for _, c in boxes]) if boxes else np.zeros(0, int)
    keep = classes >= 0
    sizes, classes = sizes[keep], classes[keep]
    if not len(sizes):
        raise DataError(h5_path, "no boxes of the 18 classes in the training scenes")
    sums = np.zeros((num_class, 3))
    np.add.at(sums, classes, sizes)
    counts = np.bincount(classes, minlength=num_class)[:, None]
    return np.where(counts > 0, sums / np.maximum(counts, 1), sizes.mean(0)).astype(np.float32)


def read_mean_sizes(path) -> np.ndarray:
    """ScanNet's size-cluster means as VoteNet / GroupFree-3D ship them (scannet_means.npz, `arr_0`, (18, 3))."""
    try:
        with np.load(path) as z:
            arr = z[z.files[0]]
    except (OSError, ValueError, IndexError) as e:
        raise DataError(path, f"cannot read mean sizes: {e}") from e
    if arr.shape != (18, 3) or not np.all(arr > 0):
        raise DataError(path, f"mean sizes must be 18 positive (x, y, z) rows, got shape {arr.shape}")
    return arr.astype(np.float32)


class SceneSet(torch.utils.data.Dataset):
    """One item per scene: `num_points` sampled points (augmented in training) and their GT boxes.

    The 128 multiview channels are not built here: the loader would move 137 floats per point instead of 9.
    They stay in one float16 table (as project_multiview stores them), and `input_features(batch)` gathers
    them by point index on the batch's device, where the table moves once (exact: float16 -> float32)."""

    def __init__(self, h5_path, scenes: list[str], num_points: int, features: list[str],
                 multiview_h5: str | None = None, augment: bool = False, seed: int = 0, read_workers: int = 1):
        self.scenes, self.num_points, self.features = list(scenes), num_points, list(features)
        self.augment, self.seed, self.epoch = augment, seed, 0
        self.data = [read_scene(h5_path, s) for s in self.scenes]
        self.multiview, self.multiview_offset, self._resident = None, None, {}
        if "multiview" in self.features:
            if not multiview_h5:
                raise DataError("params.yaml", "detector.input_features has 'multiview' but no multiview file is set")
            # decompressed by `read_workers` processes: one reads about 250 MB/s, and the GPU setting has GBs
            table, starts = read_tables(multiview_h5, self.scenes, read_workers, np.float16, "multiview features")
            for s, rows, d in zip(self.scenes, np.diff(starts), self.data):
                if table.shape[1:] != (FEATURE_DIMS["multiview"],) or rows != len(d["points"]):
                    raise DataError(multiview_h5, f"scene {s!r}: multiview features of shape "
                                                  f"{(int(rows), *table.shape[1:])} for {len(d['points'])} points "
                                                  f"(rerun project_multiview)")
            self.multiview, self.multiview_offset = table, starts[:-1]
            names = self.features[: self.features.index("multiview")]
            self.multiview_channel = sum(FEATURE_DIMS[n] for n in names)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def max_boxes(self) -> int:
        """The most GT boxes any scene has (every item keeps all of its scene's boxes)."""
        return max((int((d["box_class18"] >= 0).sum()) for d in self.data), default=0)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, key) -> dict:
        epoch, i = epoch_key(key, self.epoch)  # (epoch, index) from an EpochLoader, else the index
        d = self.data[i]
        rng = np.random.default_rng([self.seed, epoch if self.augment else 0, i])
        n = len(d["points"])
        choice = rng.choice(n, self.num_points, replace=n < self.num_points)
        pts = d["points"][choice]
        xyz, rgb, normal = pts[:, :3].copy(), pts[:, 3:6], pts[:, 6:9].copy()
        keep = d["box_class18"] >= 0
        boxes = d["boxes"][keep]
        centers, sizes = boxes[:, :3].copy(), boxes[:, 3:6].copy()
        classes = d["box_class18"][keep].astype(np.int64)
        # per-point index of its GT box (-1: not on an object of the 18 classes)
        lut = np.full(int(d["boxes"][:, 7].max(initial=0)) + 1, -1, np.int64)
        lut[boxes[:, 7].astype(np.int64)] = np.arange(len(boxes))
        point_gt = lut[d["instance"][choice]]
        if self.augment:
            xyz, normal, centers, sizes = _augment(rng, xyz, normal, centers, sizes)
        feats = []
        for name in self.features:
            if name == "height":
                feats.append((xyz[:, 2] - np.percentile(xyz[:, 2], 0.99))[:, None])
            elif name == "color":
                feats.append(rgb / 255.0 - 0.5)
            elif name == "normal":
                feats.append(normal)
        feats = np.concatenate(feats, 1) if feats else np.zeros((len(xyz), 0), np.float32)
        return {"xyz": torch.from_numpy(xyz.astype(np.float32)), "features": torch.from_numpy(feats.T.astype(np.float32)),
                "point_gt": torch.from_numpy(point_gt), "point_index": torch.from_numpy(choice.astype(np.int64)),
                "scene_index": torch.tensor(i), "gt_center": torch.from_numpy(centers.astype(np.float32)),
                "gt_size": torch.from_numpy(sizes.astype(np.float32)), "gt_class": torch.from_numpy(classes),
                "scene": self.scenes[i]}

    def input_features(self, batch: dict) -> torch.Tensor:
        """The model's (B, C, N) input features: the loader's channels with the multiview ones put in their place."""
        f = batch["features"]
        if self.multiview is None:
            return f
        if f.device not in self._resident:
            self._resident[f.device] = (torch.from_numpy(self.multiview).to(f.device),
                                        torch.from_numpy(self.multiview_offset).to(f.device))
        table, offset = self._resident[f.device]
        rows = offset[batch["scene_index"].to(f.device)][:, None] + batch["point_index"].to(f.device)
        mv = table[rows].to(f.dtype).transpose(1, 2)
        at = self.multiview_channel
        return torch.cat([f[:, :at], mv, f[:, at:]], 1)


def _augment(rng, xyz, normal, centers, sizes):
    for axis in (0, 1):  # flips
        if rng.random() < 0.5:
            xyz[:, axis] *= -1
            normal[:, axis] *= -1
            centers[:, axis] *= -1
    angle = rng.uniform(-math.pi / 36, math.pi / 36)  # +-5 degrees about z
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
    xyz, normal = xyz @ rot.T, normal @ rot.T
    corners = box_corners(np.concatenate([centers, sizes], 1)) @ rot.T  # rotated boxes -> their AABB
    lo, hi = corners.min(1), corners.max(1)
    centers, sizes = (lo + hi) / 2, hi - lo
    scale = rng.uniform(0.9, 1.1)
    return xyz * scale, normal, centers * scale, sizes * scale


def collate(items: list[dict], max_boxes: int | None = None) -> dict:
    """Stack the points; pad the GT boxes to the batch's largest count (or to `max_boxes`: one shape for every
    batch, as a CUDA graph needs; padding is masked, so it changes no number)."""
    out = {k: torch.stack([it[k] for it in items]) for k in ("xyz", "features", "point_gt", "point_index", "scene_index")}
    m = max(1, max(len(it["gt_center"]) for it in items), max_boxes or 0)
    b = len(items)
    out["gt_center"] = torch.zeros(b, m, 3)
    out["gt_size"] = torch.ones(b, m, 3)
    out["gt_class"] = torch.zeros(b, m, dtype=torch.long)
    out["gt_mask"] = torch.zeros(b, m, dtype=torch.bool)
    for i, it in enumerate(items):
        k = len(it["gt_center"])
        out["gt_center"][i, :k], out["gt_size"][i, :k] = it["gt_center"], it["gt_size"]
        out["gt_class"][i, :k], out["gt_mask"][i, :k] = it["gt_class"], True
    out["scene"] = [it["scene"] for it in items]
    return out
