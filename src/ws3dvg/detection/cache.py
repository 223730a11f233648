"""The proposal cache: the frozen detector (or the ground truth) run once over every scene, written in
the format of `detection/proposals.py`, one HDF5 file per split.

`oracle` mode is a diagnostic ceiling with no detector at all: GT objects as proposals whose feature is
[true class one-hot (18), mean colour (3, 0..1), size (3), centre (3)] and whose class scores are the true class.
"""

from __future__ import annotations

import h5py
import numpy as np
import torch

from ..engine.atomic import atomic_file
from ..ops.geometry import box_corners
from ..scannet.tables import iter_tables
from .data import SceneSet
from .objects import ObjectSet, annotated_objects, run_objects
from .proposals import write_group
from .train import proposal_scores, run_detector


def detector_proposals(out: dict, sample: dict) -> dict[str, np.ndarray]:
    obj, cls = proposal_scores(out)
    boxes = torch.cat([out["center"], out["size"]], -1).numpy()
    return {"center": boxes[:, :3], "size": boxes[:, 3:], "heading": np.zeros(len(boxes), np.float32),
            "corners": box_corners(boxes).astype(np.float32), "objectness": obj.numpy(), "class_scores": cls.numpy(),
            "class_logits": out["sem_logits"].numpy(), "features": out["features"].numpy(), "seed_index": sample["point_index"][out["seed_index"]].numpy()}


def inside_boxes(xyz: torch.Tensor, center: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """(M, N) whether each of N points (N, 3) lies in each of M axis-aligned boxes (centre, size (M, 3))."""
    return ((xyz[None] - center[:, None]).abs() <= size[:, None] / 2).all(-1)


def mean_colour_in_boxes(points: np.ndarray, center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(M, 3) mean colour (0..1) of the points (N, 9: xyz, rgb, normal) inside each axis-aligned box."""
    rgb = torch.from_numpy(points[:, 3:6] / 255.0)
    w = inside_boxes(torch.from_numpy(points[:, :3]), torch.from_numpy(center), torch.from_numpy(size)).to(rgb.dtype)
    return (w @ rgb / w.sum(1, keepdim=True).clamp_min(1)).float().numpy()


def gt_proposals(out: dict, sample: dict, gt_instance: np.ndarray) -> dict[str, np.ndarray]:
    """GT objects as proposals; feature = max of the backbone's seed features inside the box
    (the nearest seed's feature when no seed falls inside)."""
    m = sample["gt_mask"]
    center, size = sample["gt_center"][m], sample["gt_size"][m]
    seeds = out["seed_xyz"]                       # (S, 3)
    feats = out["seed_features"].T               # (S, D)
    inside = inside_boxes(seeds, center, size)    # (M, S)
    pooled = torch.where(inside[..., None], feats[None], torch.finfo(feats.dtype).min).max(1).values
    nearest = (seeds[None] - center[:, None]).norm(dim=-1).argmin(1)
    pooled = torch.where(inside.any(1, keepdim=True), pooled, feats[nearest])
    point_near = (sample["xyz"][None] - center[:, None]).norm(dim=-1).argmin(1)
    # class scores from the detector, never the GT label (ReferIt3D gives boxes, not classes):
    # the mean class distribution of detected proposals centred inside the box, else the nearest one's
    _, cls = proposal_scores(out)
    in_box = inside_boxes(out["center"], center, size).float()  # (M, P)
    mean_cls = in_box @ cls / in_box.sum(1, keepdim=True).clamp_min(1)
    nearest_prop = (out["center"][None] - center[:, None]).norm(dim=-1).argmin(1)
    class_scores = torch.where(in_box.sum(1, keepdim=True) > 0, mean_cls, cls[nearest_prop])
    boxes = torch.cat([center, size], -1).numpy()
    return {"center": boxes[:, :3], "size": boxes[:, 3:], "heading": np.zeros(len(boxes), np.float32),
            "corners": box_corners(boxes).astype(np.float32), "objectness": np.ones(len(boxes), np.float32),
            "class_scores": class_scores.numpy(), "class_logits": class_scores.clamp_min(1e-6).log().numpy(),
            "features": pooled.numpy(), "seed_index": sample["point_index"][point_near].numpy(),
            "gt_instance": gt_instance}


def given_boxes(scene: dict) -> dict[str, np.ndarray]:
    """The fields every proposal built from a scene's annotated objects shares: its box, corners, objectness 1,
    the point nearest its centre (the seed) and its instance id, in `annotated_objects` order."""
    boxes = annotated_objects(scene)
    centre, size = boxes[:, :3].astype(np.float32), boxes[:, 3:6].astype(np.float32)
    near = torch.cdist(torch.from_numpy(centre).double(), torch.from_numpy(scene["points"][:, :3]).double()).argmin(1)
    return {"center": centre, "size": size, "heading": np.zeros(len(boxes), np.float32),
            "corners": box_corners(np.concatenate([centre, size], 1)).astype(np.float32),
            "objectness": np.ones(len(boxes), np.float32), "seed_index": near.numpy(),
            "gt_instance": boxes[:, 7].astype(np.int64)}


def encoded_proposals(out: dict, scene: dict) -> dict[str, np.ndarray]:
    """GT objects as proposals, each with what the object encoder made of its own points: its pooled feature and
    its class scores (ReferIt3D's protocol: the boxes are given, their classes are not)."""
    logits = out["sem_logits"]
    return {**given_boxes(scene), "class_scores": logits.softmax(-1).numpy(),
            "class_logits": logits.log_softmax(-1).numpy(), "features": out["features"].numpy()}


def oracle_proposals(scene: dict) -> dict[str, np.ndarray]:
    """GT objects with a feature built from what they truly are (class, colour, size, place): the ceiling."""
    props = given_boxes(scene)
    cls = scene["box_class18"][scene["box_class18"] >= 0].astype(np.int64)
    inst = props["gt_instance"]
    # mean colour of every object's points, without a loop over points: sums per instance id
    counts = np.bincount(scene["instance"], minlength=int(inst.max(initial=0)) + 1)
    sums = np.stack([np.bincount(scene["instance"], scene["points"][:, 3 + c], minlength=len(counts)) for c in range(3)], 1)
    colour = (sums[inst] / np.maximum(counts[inst], 1)[:, None] / 255.0).astype(np.float32)
    onehot = np.eye(18, dtype=np.float32)[cls]
    return {**props, "class_scores": onehot, "class_logits": np.log(np.clip(onehot, 1e-6, None)).astype(np.float32),
            "features": np.concatenate([onehot, colour, props["size"], props["center"]], 1)}


def write_cache(model, dataset: SceneSet | ObjectSet, cfg: dict, mode: str, path: str, device,
                multiview_h5: str | None = None, read_workers: int = 1) -> dict:
    """Run the frozen detector (or object encoder) over `dataset` (not in `oracle` mode) and write the split's
    cache atomically."""
    counts = []
    # each scene's per-point table in the file's dtype, in dataset order, decompressed in parallel a window at a time
    tables = iter_tables(multiview_h5, dataset.scenes, read_workers, None, "multiview features") if multiview_h5 \
        else None
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["mode"] = mode
        if mode == "oracle":
            items = ((s, None, None) for s in dataset.scenes)
        elif isinstance(dataset, ObjectSet):
            items = ((s, None, out) for s, out, _ in run_objects(model, dataset, device))
        else:
            items = run_detector(model, dataset, cfg, device, f"cache {mode}")
        for scene, sample, out in items:
            i = dataset.scenes.index(scene)
            d = dataset.data[i]
            if mode == "oracle":
                props = oracle_proposals(d)
            elif isinstance(dataset, ObjectSet):
                props = encoded_proposals(out, d)
            elif mode == "gt":
                props = gt_proposals(out, sample, annotated_objects(d)[:, 7].astype(np.int64))
            else:
                props = detector_proposals(out, sample)
            if mode != "oracle":
                props["box_colour"] = mean_colour_in_boxes(d["points"], props["center"], props["size"])
            if tables is not None:
                name, rows = next(tables)  # run_detector and the oracle go through the scenes in dataset order
                assert name == scene, (name, scene)
                props["multiview"] = rows[props["seed_index"]].astype(np.float32)
            write_group(h5, scene, props)
            counts.append(len(props["center"]))
            h5.attrs["feature_dim"] = props["features"].shape[1]
    return {"scenes": len(counts), "proposals_per_scene": float(np.mean(counts)) if counts else 0.0}
