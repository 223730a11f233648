"""The proposal cache: the frozen detector run once over every scene, one HDF5 file per split.

Layout of `<split>.h5`, one group per scene (P proposals; P = detector.num_proposal in
`detector` mode, the number of GT objects of the 18 classes in `gt` mode):
  center      (P, 3)    float32  box centre (aligned frame, metres)
  size        (P, 3)    float32  box size
  heading     (P,)      float32  0 (ScanNet boxes are axis-aligned)
  corners     (P, 8, 3) float32  ws3dvg.geometry.box_corners order
  objectness  (P,)      float32  probability
  class_scores(P, 18)   float32  class probabilities (CLASSES18 order)
  class_logits(P, 18)   float32  the detector's class logits (gt mode: log of class_scores); the authors'
                                 coarse stage reads these
  features    (P, D)    float32  proposal feature (D = 288 for GroupFree-3D)
  seed_index  (P,)      int64    index into the preprocessed scene's points of the proposal's seed
  gt_instance (P,)      int64    `gt` mode only: the instance id (objectId + 1) each proposal is
attrs of the file: mode, feature_dim.
"""

from __future__ import annotations

import h5py
import numpy as np
import torch

from ..atomic import atomic_file
from ..errors import DataError
from ..geometry import box_corners
from .data import SceneSet
from .train import proposal_scores, run_detector

FIELDS = ("center", "size", "heading", "corners", "objectness", "class_scores", "class_logits", "features", "seed_index")


def detector_proposals(out: dict, sample: dict) -> dict[str, np.ndarray]:
    obj, cls = proposal_scores(out)
    boxes = torch.cat([out["center"], out["size"]], -1).numpy()
    return {"center": boxes[:, :3], "size": boxes[:, 3:], "heading": np.zeros(len(boxes), np.float32),
            "corners": box_corners(boxes).astype(np.float32), "objectness": obj.numpy(), "class_scores": cls.numpy(),
            "class_logits": out["sem_logits"].numpy(), "features": out["features"].numpy(), "seed_index": sample["point_index"][out["seed_index"]].numpy()}


def gt_proposals(out: dict, sample: dict, gt_instance: np.ndarray) -> dict[str, np.ndarray]:
    """GT objects as proposals; feature = max of the backbone's seed features inside the box
    (the nearest seed's feature when no seed falls inside)."""
    m = sample["gt_mask"]
    center, size = sample["gt_center"][m], sample["gt_size"][m]
    seeds = out["seed_xyz"]                       # (S, 3)
    feats = out["seed_features"].T               # (S, D)
    inside = ((seeds[None] - center[:, None]).abs() <= size[:, None] / 2).all(-1)  # (M, S)
    pooled = torch.where(inside[..., None], feats[None], torch.finfo(feats.dtype).min).max(1).values
    nearest = (seeds[None] - center[:, None]).norm(dim=-1).argmin(1)
    pooled = torch.where(inside.any(1, keepdim=True), pooled, feats[nearest])
    point_near = (sample["xyz"][None] - center[:, None]).norm(dim=-1).argmin(1)
    # class scores from the detector, never the GT label (ReferIt3D gives boxes, not classes):
    # the mean class distribution of detected proposals centred inside the box, else the nearest one's
    _, cls = proposal_scores(out)
    in_box = ((out["center"][None] - center[:, None]).abs() <= size[:, None] / 2).all(-1).float()  # (M, P)
    mean_cls = in_box @ cls / in_box.sum(1, keepdim=True).clamp_min(1)
    nearest_prop = (out["center"][None] - center[:, None]).norm(dim=-1).argmin(1)
    class_scores = torch.where(in_box.sum(1, keepdim=True) > 0, mean_cls, cls[nearest_prop])
    boxes = torch.cat([center, size], -1).numpy()
    return {"center": boxes[:, :3], "size": boxes[:, 3:], "heading": np.zeros(len(boxes), np.float32),
            "corners": box_corners(boxes).astype(np.float32), "objectness": np.ones(len(boxes), np.float32),
            "class_scores": class_scores.numpy(), "class_logits": class_scores.clamp_min(1e-6).log().numpy(),
            "features": pooled.numpy(), "seed_index": sample["point_index"][point_near].numpy(),
            "gt_instance": gt_instance}


def write_cache(model, dataset: SceneSet, cfg: dict, mode: str, path: str, device) -> dict:
    """Run the frozen detector over `dataset` and write the split's cache atomically."""
    counts = []
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["mode"] = mode
        for i, (scene, sample, out) in enumerate(run_detector(model, dataset, cfg, device, f"cache {mode}")):
            if mode == "gt":
                d = dataset.data[dataset.scenes.index(scene)]
                gt_instance = d["boxes"][d["box_class18"] >= 0][:, 7].astype(np.int64)
                props = gt_proposals(out, sample, gt_instance)
            else:
                props = detector_proposals(out, sample)
            g = h5.create_group(scene)
            for k, v in props.items():
                g.create_dataset(k, data=v)
            counts.append(len(props["center"]))
            h5.attrs["feature_dim"] = props["features"].shape[1]
    return {"scenes": len(counts), "proposals_per_scene": float(np.mean(counts)) if counts else 0.0}


def read_proposals(path: str, scene: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        if scene not in h5:
            raise DataError(path, f"no proposals for scene {scene!r}")
        return {k: h5[scene][k][()] for k in h5[scene]}
