"""Can the student fit its training set? Trains the fully supervised student on the pipeline's
cached proposals and prints train / val accuracy (proposal = the target's best-IoU proposal).

Usage (pipeline root, after `dvc repro cache_detector mask_keywords`):
    PYTHONPATH=src python benchmarks/student_fit.py [--lr 1e-3] [--epochs 40] [--relation paper|ours]
        [--box-colour] [--box-summary] [--drop-detector-feature] [--eval-every 10]

--drop-detector-feature keeps only what --box-colour / --box-summary append (the detector's pooled feature
goes): does the pooled feature help the head, or only give it more to overfit?
"""

from __future__ import annotations

import argparse

import h5py
import torch
import yaml

from ws3dvg.engine.training import make_loader
from ws3dvg.grounding.data import GroundingSet, collate
from ws3dvg.grounding.losses import full_supervision_loss
from ws3dvg.grounding.student import build_student, full_supervision_targets, predict


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--box-colour", action="store_true")
    ap.add_argument("--box-summary", action="store_true")
    ap.add_argument("--drop-detector-feature", action="store_true")
    ap.add_argument("--eval-every", type=int, default=10)
    args = ap.parse_args()
    params = yaml.safe_load(open("params.yaml"))
    # the student's architecture is the teacher's (as distill takes it from teacher.pt)
    cfg = dict(params["distill"], **{k: params["teacher"][k] for k in ("hidden", "embedding_dim", "word_vectors")},
               use_multiview=False)
    paths = {"masked": "data/language/masked.h5", "proposals_train": "data/proposals/train.h5",
             "proposals_val": "data/proposals/val.h5", "preprocessed": params["data"]["preprocessed"]}
    torch.manual_seed(0)
    sets = {s: (GroundingSet(paths["masked"], s, paths[f"proposals_{s}"], cfg["lang_num_max"],
                             shuffle_seed=0 if s == "train" else None, box_colour=args.box_colour,
                             box_summary=args.box_summary),
                full_supervision_targets(paths, s)) for s in ("train", "val")}
    if args.drop_detector_feature:
        with h5py.File(paths["proposals_train"], "r") as h5:
            pooled = int(h5.attrs["feature_dim"])
        for ds, _ in sets.values():
            for p in ds.proposals.values():
                p["features"] = p["features"][:, pooled:]
    feature_dim = sets["train"][0].feature_dim
    print(f"feature dim {feature_dim}", flush=True)
    model = build_student(cfg, "data/language", feature_dim, 0)
    opt = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=cfg["weight_decay"])

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
        if (epoch + 1) % args.eval_every == 0:
            print(f"epoch {epoch + 1}: train acc {accuracy('train'):.3f}  val acc {accuracy('val'):.3f}", flush=True)


if __name__ == "__main__":
    main()
