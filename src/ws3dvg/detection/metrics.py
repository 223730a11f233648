"""3D NMS and mean average precision on axis-aligned boxes, vectorised over boxes and detections."""

from __future__ import annotations

import numpy as np
import torch

from ..ops.geometry import box_iou
from ..scannet.labels import CLASSES18


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS result, computed as the fixed point of `keep_i = no kept j before i overlaps i`.

    boxes (P, 6), scores (P,) -> keep mask (P,) in the input order. Each round is one
    matrix-vector product; the fixed point equals greedy NMS and is reached in a few rounds.
    """
    order = scores.argsort(descending=True)
    b = boxes[order]
    over = box_iou(b[:, None], b[None]) > iou_threshold
    earlier = torch.ones_like(over).triu(1).T  # earlier[i, j]: j comes before i
    blocks = (over & earlier).float()
    keep = torch.ones(len(b), dtype=torch.bool, device=boxes.device)
    for _ in range(len(b)):
        new = (blocks @ keep.float()) == 0
        if torch.equal(new, keep):
            break
        keep = new
    out = torch.zeros_like(keep)
    out[order] = keep
    return out


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """Area under the precision envelope (VOC 2010+ / VoteNet's use_07_metric=False)."""
    if n_gt == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.r_[0.0, rec, 1.0]
    mpre = np.r_[0.0, prec, 0.0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def match_detections(det_scene, det_box, det_score, gt_scene, gt_box, iou_threshold) -> np.ndarray:
    """VOC matching: a detection is a TP if its best-IoU GT (same scene) clears the threshold and no
    higher-scoring detection took that GT first. Returns tp flags in the detections' order."""
    if len(det_box) == 0:
        return np.zeros(0, bool)
    if len(gt_box) == 0:
        return np.zeros(len(det_box), bool)
    iou = box_iou(det_box[:, None], gt_box[None])
    iou = np.where(det_scene[:, None] == gt_scene[None], iou, -1.0)
    best = iou.argmax(1)
    ok = iou[np.arange(len(best)), best] >= iou_threshold
    order = np.argsort(-det_score, kind="stable")
    tp = np.zeros(len(det_box), bool)
    cand = order[ok[order]]
    _, first = np.unique(best[cand], return_index=True)  # first (highest-scoring) claim on each GT
    tp[cand[first]] = True
    return tp


def mean_ap(dets: dict, gts: dict, thresholds=(0.25, 0.5)) -> dict:
    """dets/gts: {scene, box (n, 6), class, score} arrays (scene as ints). Per class AP and the mean."""
    out = {}
    for thr in thresholds:
        aps = {}
        for c, name in enumerate(CLASSES18):
            dm, gm = dets["class"] == c, gts["class"] == c
            if gm.sum() == 0:
                continue
            tp = match_detections(dets["scene"][dm], dets["box"][dm], dets["score"][dm], gts["scene"][gm],
                                  gts["box"][gm], thr)
            aps[name] = average_precision(dets["score"][dm], tp, int(gm.sum()))
        out[f"mAP@{thr}"] = float(np.mean(list(aps.values()))) if aps else 0.0
        out[f"AP@{thr}"] = aps
    return out
