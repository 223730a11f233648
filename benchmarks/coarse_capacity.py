"""How far the coarse stage's score can rank the target within its class, whatever trains it: the teacher's language
encoder and each proposal's own-feature projection (own_feature_match), scored by their dot product as the coarse
stage scores, trained with the language classification and one of
  weak: per sentence, its scene's proposals against every training proposal (MIL-NCE over the whole training set:
        more negatives than any batch gives);
  full: the target given, cross-entropy over its scene's proposals (an upper bound of the score's form).
Prints, per epoch, val "multiple" Acc@0.25 of the best-scoring proposal of the predicted class, and a random
proposal of that class. Run in a pipeline root after cache_detector (benchmarks/RESULTS.md, "The coarse stage").

    PYTHONPATH=src python benchmarks/coarse_capacity.py weak --epochs 15
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from ws3dvg.engine import artifacts
from ws3dvg.engine.config import load_params
from ws3dvg.grounding.data import grounding_set
from ws3dvg.grounding.evaluation import target_boxes
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.grounding.teacher import build_teacher, warm_up_language
from ws3dvg.ops.geometry import box_iou
from ws3dvg.text.masking import read_masked


def split_tables(ds, paths: dict, split: str) -> dict:
    """Every proposal of the split in one table, each sentence's scene and its target's IoU with every proposal."""
    scenes = sorted(ds.by_scene)
    index = {s: i for i, s in enumerate(scenes)}
    p = [ds.proposals[s] for s in scenes]
    box = np.concatenate([np.concatenate([q["center"], q["size"]], 1) for q in p])
    lang = read_masked(paths["masked"], split)
    target = target_boxes(paths["preprocessed"], lang["scene_id"], lang["object_id"])
    iou = box_iou(np.broadcast_to(box[None], (len(target),) + box.shape).reshape(-1, 6),
                  np.repeat(target, len(box), 0)).reshape(len(target), len(box))
    return {"features": torch.from_numpy(np.concatenate([q["features"] for q in p]).astype(np.float32)),
            "class": torch.from_numpy(np.concatenate([q["class_scores"].argmax(1) for q in p])),
            "scene": torch.from_numpy(np.repeat(np.arange(len(p)), [len(q["features"]) for q in p])),
            "sentence_scene": torch.tensor([index[s] for s in lang["scene_id"]]),
            "iou": torch.from_numpy(iou), "multiple": ~lang["unique"].astype(bool)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["weak", "full"])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    params = load_params()
    cfg = params["teacher"]
    recipe = Recipe.from_params(cfg)
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    sets = {s: grounding_set(paths, s, cfg, recipe) for s in ("train", "val")}
    tab = {s: split_tables(ds, paths, s) for s, ds in sets.items()}
    model = build_teacher(cfg, recipe, paths["language_dir"], sets["train"].feature_dim, args.seed)
    warm_up_language(model.language, sets["train"].lang, cfg, "cpu", args.seed)
    tr, va = tab["train"], tab["val"]
    own_scene = tr["scene"][None, :] == tr["sentence_scene"][:, None]                     # (sentences, N)
    target = tr["iou"].masked_fill(~own_scene, -1).argmax(1)
    ids, length, cls = (torch.from_numpy(sets["train"].lang[k]).long() for k in ("ids", "length", "class18"))
    proj = model.relation.input_proj
    trained = list(model.language.parameters()) + (list(proj.parameters()) if proj is not None else [])
    opt = torch.optim.AdamW([p for p in trained if p.requires_grad], lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(args.seed)
    batch = cfg["batch_size"] * cfg["lang_num_max"]
    for epoch in range(args.epochs):
        model.train()
        for rows in torch.randperm(len(ids), generator=gen).split(batch):
            width = int(length[rows].max())
            out = model.language(ids[rows, :width], length[rows])
            sim = out["sentence"] @ model.relation.own(tr["features"]).T                   # (rows, N)
            mine = own_scene[rows]
            if args.mode == "weak":
                match = (torch.logsumexp(sim, 1) - torch.logsumexp(sim.masked_fill(~mine, float("-inf")), 1)).mean()
            else:
                match = F.cross_entropy(sim.masked_fill(~mine, float("-inf")), target[rows])
            loss = match + F.cross_entropy(out["class_logits"], cls[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            lang = sets["val"].lang
            out = model.language(torch.from_numpy(lang["ids"]).long(), torch.from_numpy(lang["length"]).long())
            sim = out["sentence"] @ model.relation.own(va["features"]).T
            pred = out["class_logits"].argmax(1)
            cand = (va["scene"][None, :] == va["sentence_scene"][:, None]) & (va["class"][None, :] == pred[:, None])
            hit = va["iou"] >= 0.25
            best = hit.gather(1, sim.masked_fill(~cand, float("-inf")).argmax(1, keepdim=True)).squeeze(1)
            rand = (hit & cand).sum(1) / cand.sum(1).clamp_min(1)
        m = torch.from_numpy(va["multiple"])
        print(f"{args.mode} epoch {epoch + 1}: val 'multiple' (n = {int(m.sum())}) best of the class "
              f"{float(best[m].float().mean()):.3f}, random of the class {float(rand[m].mean()):.3f}", flush=True)


if __name__ == "__main__":
    main()
