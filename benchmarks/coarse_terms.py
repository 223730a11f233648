"""Which of the coarse stage's terms ranks the target first among the class candidates (val, Acc@0.25 on
"multiple"): the sentence-proposal similarity alone, the detector's logit at the predicted class alone, and the
whole coarse weight. Run in a pipeline root after train_teacher (benchmarks/RESULTS.md, "The main job, round 2").

    PYTHONPATH=src python benchmarks/coarse_terms.py
"""

from __future__ import annotations

import numpy as np
import torch

from ws3dvg.engine import artifacts
from ws3dvg.engine.config import load_params
from ws3dvg.engine.training import load_weights, make_loader
from ws3dvg.grounding.data import collate, grounding_set
from ws3dvg.grounding.evaluation import target_boxes
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.grounding.teacher import build_teacher
from ws3dvg.ops.geometry import box_iou
from ws3dvg.text.masking import read_masked


@torch.no_grad()
def main() -> None:
    params = load_params()
    cfg = params["teacher"]
    saved = load_weights(artifacts.TEACHER_WEIGHTS)
    recipe = Recipe.from_dict(saved["config"]["recipe"])
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    ds = grounding_set(paths, "val", cfg, recipe)
    model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, 0)
    model.load_state_dict(saved["model"])
    model.eval()
    lang = read_masked(paths["masked"], "val")
    target = target_boxes(paths["preprocessed"], lang["scene_id"], lang["object_id"])
    iou = {k: np.zeros(len(target)) for k in ("similarity", "class logit", "coarse weight")}
    for batch in make_loader(ds, cfg["batch_size"], False, 0, collate):
        out = model(batch)
        cand, valid = out["candidates"], out["candidate_valid"]
        det = batch["class_logits"]
        pred = out["class_logits"].argmax(-1)
        terms = {"similarity": torch.einsum("bsh,bph->bsp", out["sentence"], out["matched"]),
                 "class logit": det.gather(2, pred[:, None, :].expand(-1, det.shape[1], -1)).transpose(1, 2),
                 "coarse weight": out["coarse"]}
        sel = batch["sent_mask"]
        rows = batch["sentence_index"][sel].numpy()
        boxes = torch.cat([batch["center"], batch["size"]], -1)
        scene = torch.arange(cand.shape[0])[:, None].expand(cand.shape[:2])
        for name, score in terms.items():
            best = cand.gather(2, score.gather(2, cand).masked_fill(~valid, float("-inf")).argmax(-1, keepdim=True))
            iou[name][rows] = box_iou(boxes[scene, best.squeeze(-1)][sel].numpy(), target[rows])
    multiple = ~lang["unique"].astype(bool)
    for name, v in iou.items():
        print(f"{name:14s} top-1 among the class candidates, 'multiple' Acc@0.25: {(v[multiple] >= 0.25).mean():.3f}")


if __name__ == "__main__":
    main()
