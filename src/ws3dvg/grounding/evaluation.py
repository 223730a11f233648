"""Evaluation, in one place: the box each row's choice picks, Acc@0.25 / Acc@0.5 over unique / multiple /
overall (and ReferIt3D's easy / hard, view-dependent / independent), the teacher's top-1 choices and the
random baselines beside the upper bound, and the per-sentence predictions. The subsets and chance levels
are each benchmark's own (docs/design.md §1)."""

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


def chosen_boxes(center: np.ndarray, size: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """The box of each row's chosen proposal: center/size (N, P, 3), choice (N,) -> (N, 6) [centre, size]."""
    rows = np.arange(len(choice))
    return np.concatenate([center[rows, choice], size[rows, choice]], -1)


def chosen_iou(center: np.ndarray, size: np.ndarray, choice: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """center/size (N, P, 3) per sentence's scene, choice (N,), targets (N, 6) -> IoU (N,)."""
    return box_iou(chosen_boxes(center, size, choice), targets)


def top1_choices(knowledge: dict, joint_student: bool = False) -> dict[str, np.ndarray]:
    """Coarse top-1: the best coarse weight; fine top-1: the lowest reconstruction loss among candidates;
    with `joint_student`, the jointly trained student head's pick (`run_teacher` keeps it; knowledge.h5 does not)."""
    rows = np.arange(len(knowledge["candidates"]))
    fine = np.where(np.isfinite(knowledge["recon_loss"]), knowledge["recon_loss"], np.inf).argmin(1)
    out = {"coarse": knowledge["candidates"][:, 0], "fine": knowledge["candidates"][rows, fine]}
    if joint_student:
        out["joint_student"] = knowledge["student"]
    return out


def accuracy_report(knowledge: dict, targets: np.ndarray, joint_student: bool = False) -> dict[str, float]:
    out = {}
    for name, choice in top1_choices(knowledge, joint_student).items():
        iou = chosen_iou(knowledge["center"], knowledge["size"], choice, targets)
        out[f"{name}_acc@0.25"] = float((iou >= 0.25).mean())
        out[f"{name}_acc@0.5"] = float((iou >= 0.5).mean())
    rows, cand = np.arange(len(targets))[:, None], knowledge["candidates"]  # every candidate's box at once: (N, K, 6)
    boxes = np.concatenate([knowledge["center"][rows, cand], knowledge["size"][rows, cand]], -1)
    best = box_iou(boxes, targets[:, None])
    out["candidate_recall@0.25"] = float(((best >= 0.25) & knowledge["valid"]).any(1).mean())
    out["candidate_recall@0.5"] = float(((best >= 0.5) & knowledge["valid"]).any(1).mean())
    return out


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
    stimuli = lang.get("stimulus_id")
    if stimuli is None or not all(stimuli):
        return None
    rng = np.random.default_rng(seed)
    picks = []
    for stimulus in stimuli:  # one draw per sentence (evaluation only)
        _, _, n, target, distractors = decode_stimulus_id(str(stimulus))
        picks.append(([target] + distractors)[int(rng.integers(n))])
    return target_boxes(preprocessed_h5, lang["scene_id"], picks)


def random_same_type_row(lang: dict, preprocessed_h5: str, targets: np.ndarray, seed: int) -> dict | None:
    """The accuracy table of ReferIt3D's chance row (`random_same_type_boxes`), None for data without stimulus ids."""
    boxes = random_same_type_boxes(lang, preprocessed_h5, seed)
    if boxes is None:
        return None
    return accuracy_table(box_iou(boxes, targets), lang["unique"], lang.get("hard"), lang.get("view_dep"))


def evaluation_table(choices: dict[str, np.ndarray], center, size, targets, lang: dict) -> tuple[dict, dict]:
    """-> ({row: accuracy table}, {row: IoU per sentence})."""
    table, ious = {}, {}
    for name, choice in choices.items():
        ious[name] = chosen_iou(center, size, choice, targets)
        table[name] = accuracy_table(ious[name], lang["unique"], lang.get("hard"), lang.get("view_dep"))
    return table, ious


def predictions(lang: dict, choice: np.ndarray, score: np.ndarray, center, size, targets, iou,
                every_iou: dict[str, np.ndarray] | None = None) -> list[dict]:
    """The student's answer per sentence; with `every_iou`, each table row's IoU for the sentence too, so a
    breakdown (benchmarks/accuracy_by_fact.py) can compare rows on the same sentences."""
    rows = np.arange(len(choice))
    box = chosen_boxes(center, size, choice)
    out = [{"scene_id": str(lang["scene_id"][i]), "object_id": int(lang["object_id"][i]),
            "ann_id": str(lang["ann_id"][i]), "description": str(lang["description"][i]),
            "pred_proposal": int(choice[i]), "pred_box": [round(float(x), 4) for x in box[i]],
            "gt_box": [round(float(x), 4) for x in targets[i]], "iou": round(float(iou[i]), 4),
            "score": round(float(score[i]), 4), "unique": bool(lang["unique"][i]),
            **({"iou_of": {name: round(float(v[i]), 4) for name, v in every_iou.items()}} if every_iou else {})}
           for i in rows]
    return out
