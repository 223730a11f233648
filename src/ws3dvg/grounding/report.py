"""The evaluation table: the student next to the teacher's fine and coarse top-1, random
baselines and the upper bound, on the same proposals; per-sentence predictions."""

from __future__ import annotations

import numpy as np

from ..ops.geometry import box_iou
from .evaluation import accuracy_table


def baseline_choices(center, size, prop_valid, class_scores, pred_class, targets, seed: int) -> dict[str, np.ndarray]:
    """random proposal, random proposal of the predicted class, best-IoU proposal (upper bound).

    center/size (N, P, 3), prop_valid (N, P), class_scores (N, P, C), pred_class (N,), targets (N, 6)
    """
    rng = np.random.default_rng(seed)
    n, p = prop_valid.shape
    noise = rng.random((n, p))
    random = np.where(prop_valid, noise, -1).argmax(1)
    of_class = prop_valid & (class_scores.argmax(-1) == pred_class[:, None])
    of_class = np.where(of_class.any(1, keepdims=True), of_class, prop_valid)  # none of that class: any proposal
    random_class = np.where(of_class, noise, -1).argmax(1)
    iou = box_iou(np.concatenate([center, size], -1), targets[:, None])
    upper = np.where(prop_valid, iou, -1).argmax(1)
    return {"random": random, "random_class": random_class, "upper_bound": upper}


def random_same_type_boxes(lang: dict, preprocessed_h5: str, seed: int) -> np.ndarray | None:
    """ReferIt3D's chance: one of the target's same-type objects (target + distractors of stimulus_id)
    drawn uniformly per sentence; (N, 6) ground-truth boxes, or None for data without stimulus ids."""
    from ..text.annotations import decode_stimulus_id
    from .evaluation import target_boxes

    stimuli = lang.get("stimulus_id")
    if stimuli is None or not all(stimuli):
        return None
    rng = np.random.default_rng(seed)
    picks = []
    for stimulus in stimuli:  # one draw per sentence (evaluation only)
        _, _, n, target, distractors = decode_stimulus_id(str(stimulus))
        picks.append(([target] + distractors)[int(rng.integers(n))])
    return target_boxes(preprocessed_h5, lang["scene_id"], picks)


def evaluation_table(choices: dict[str, np.ndarray], center, size, targets, lang: dict) -> tuple[dict, dict]:
    """-> ({row: accuracy table}, {row: IoU per sentence})."""
    rows = np.arange(len(targets))
    table, ious = {}, {}
    for name, choice in choices.items():
        box = np.concatenate([center[rows, choice], size[rows, choice]], -1)
        ious[name] = box_iou(box, targets)
        table[name] = accuracy_table(ious[name], lang["unique"], lang.get("hard"), lang.get("view_dep"))
    return table, ious


def predictions(lang: dict, choice: np.ndarray, score: np.ndarray, center, size, targets, iou) -> list[dict]:
    rows = np.arange(len(choice))
    box = np.concatenate([center[rows, choice], size[rows, choice]], -1)
    return [{"scene_id": str(lang["scene_id"][i]), "object_id": int(lang["object_id"][i]),
             "ann_id": str(lang["ann_id"][i]), "description": str(lang["description"][i]),
             "pred_proposal": int(choice[i]), "pred_box": [round(float(x), 4) for x in box[i]],
             "gt_box": [round(float(x), 4) for x in targets[i]], "iou": round(float(iou[i]), 4),
             "score": round(float(score[i]), 4), "unique": bool(lang["unique"][i])} for i in rows]
