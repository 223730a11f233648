"""Accuracy of chosen boxes: Acc@0.25 / Acc@0.5 over unique / multiple / overall (and ReferIt3D's
easy / hard, view-dependent / independent)."""

from __future__ import annotations

import h5py
import numpy as np

from ..engine.errors import DataError
from ..ops.geometry import box_iou


def target_boxes(preprocessed_h5: str, scene_ids, object_ids) -> np.ndarray:
    """(N, 6) GT box of every sentence's target (instance id = object_id + 1). Evaluation only."""
    out = np.zeros((len(scene_ids), 6), np.float32)
    cache: dict[str, dict[int, np.ndarray]] = {}
    with h5py.File(preprocessed_h5, "r") as h5:
        for i, (s, o) in enumerate(zip(scene_ids, object_ids)):
            if s not in cache:
                boxes = h5[s]["boxes"][()]
                cache[s] = {int(b[7]): b[:6] for b in boxes}
            if int(o) + 1 not in cache[s]:
                raise DataError(preprocessed_h5, f"scene {s} has no object {o}")
            out[i] = cache[s][int(o) + 1]
    return out


def accuracy_table(iou: np.ndarray, unique: np.ndarray, hard: np.ndarray | None = None,
                   view_dep: np.ndarray | None = None) -> dict:
    """{subset: {"acc@0.25", "acc@0.5", "n"}} for unique, multiple, overall (+ easy/hard, view_dep/indep)."""
    subsets = {"unique": unique.astype(bool), "multiple": ~unique.astype(bool), "overall": np.ones(len(iou), bool)}
    if hard is not None and (hard >= 0).any():
        subsets.update(easy=hard == 0, hard=hard == 1)
    if view_dep is not None and (view_dep >= 0).any():
        subsets.update(view_dep=view_dep == 1, view_indep=view_dep == 0)
    table = {}
    for name, sel in subsets.items():
        n = int(sel.sum())
        table[name] = {"acc@0.25": float((iou[sel] >= 0.25).mean()) if n else 0.0,
                       "acc@0.5": float((iou[sel] >= 0.5).mean()) if n else 0.0, "n": n}
    return table


def chosen_iou(center: np.ndarray, size: np.ndarray, choice: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """center/size (N, P, 3) per sentence's scene, choice (N,), targets (N, 6) -> IoU (N,)."""
    rows = np.arange(len(choice))
    box = np.concatenate([center[rows, choice], size[rows, choice]], -1)
    return box_iou(box, targets)
