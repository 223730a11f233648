"""Can the student fit its training set? Trains the fully supervised student on the pipeline's
cached proposals and prints train / val accuracy (proposal = the target's best-IoU proposal).

Usage (pipeline root, after `dvc repro cache_detector mask_keywords`):
    PYTHONPATH=src python benchmarks/student_fit.py [--lr 1e-3] [--epochs 40] [--relation paper|ours]
"""

from __future__ import annotations

import argparse

import torch
import yaml

from ws3dvg.grounding.data import GroundingSet, collate
from ws3dvg.grounding.losses import full_supervision_loss
from ws3dvg.grounding.student import build_student, full_supervision_targets, predict
from ws3dvg.training import make_loader


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--relation", default="paper", choices=["paper", "ours"])
    args = ap.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    cfg = params["distill"]
    paths = {"masked": "data/language/masked.h5", "proposals_train": "data/proposals/train.h5",
             "proposals_val": "data/proposals/val.h5", "preprocessed": params["data"]["preprocessed"]}
    torch.manual_seed(0)
    from ws3dvg.grounding.teacher import feature_dim_of

    model = build_student(dict(cfg, relation=args.relation), "data/language", feature_dim_of(paths["proposals_train"]),
                          0, False)
    opt = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=cfg["weight_decay"])
    sets = {s: (GroundingSet(paths["masked"], s, paths[f"proposals_{s}"], cfg["lang_num_max"],
                             shuffle_seed=0 if s == "train" else None),
                full_supervision_targets(paths, s)) for s in ("train", "val")}

    def accuracy(split: str) -> float:
        ds, targets = sets[split]
        choice = predict(model, ds, dict(cfg, amp=False), torch.device("cpu"))["choice"]
        ok = targets >= 0
        return float((choice[ok] == targets[ok]).mean())

    ds, targets = sets["train"]
    for epoch in range(args.epochs):
        ds.set_epoch(epoch)
        model.train()
        for b in make_loader(ds, cfg["batch_size"], True, epoch, collate):
            target = torch.from_numpy(targets)[b["sentence_index"].clamp_min(0)]
            loss = full_supervision_loss(model(b)["scores"], target, b["sent_mask"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: train acc {accuracy('train'):.3f}  val acc {accuracy('val'):.3f}", flush=True)


if __name__ == "__main__":
    main()
