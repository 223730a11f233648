"""Does the teacher know when its fine choice is right? Accuracy of the fine stage's pick by its confidence.

The fine stage picks each sentence's valid candidate with the lowest reconstruction score; its confidence is the
teacher's posterior of that pick, softmax_k(-n r_k) (n: the sentence's hidden keywords), as
`distill.confidence_weighted` weighs it. Over the sentences with two or more valid candidates (the only ones where
the pick can be wrong), this prints the pick's accuracy per confidence quartile, per split, and with
`--descriptions` (world 2) per deciding fact on val, and `weighted`: the share of right picks when each sentence
counts by its confidence, as the confidence-weighted student's labels count. A teacher whose confident picks are
right more often is one whose confidence can clean the student's labels; a flat row says there is nothing to weigh
by.

Usage (pipeline root, after train_teacher): python benchmarks/teacher_confidence.py [data/teacher/knowledge.h5]
       [--descriptions data/synthetic/meta/synth_descriptions.csv] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.grounding.losses import fine_choice, teacher_posterior  # noqa: E402
from ws3dvg.text.masking import read_masked  # noqa: E402
from ws3dvg.text.vocab import KEYWORD  # noqa: E402


def confidence_table(candidates, recon, valid, words, target, fact=None) -> pd.DataFrame:
    """Per confidence quartile (and per fact where given): sentences and the pick's accuracy, and that accuracy
    weighted by the confidence. candidates / recon / valid (N, K), words (N,) hidden keywords, target (N,) the true
    target's proposal (-1: none), fact (N,) or None."""
    r, v = torch.as_tensor(recon, dtype=torch.float32), torch.as_tensor(valid)
    best = fine_choice(r, v).numpy()                     # the teacher's own choice and posterior (grounding.losses)
    post = teacher_posterior(r, v, torch.as_tensor(words)).numpy()
    rows = np.arange(len(best))
    keep = valid.sum(1) >= 2
    frame = pd.DataFrame({"confidence": post[rows, best], "right": candidates[rows, best] == target,
                          "fact": fact if fact is not None else "all"})[keep]
    frame["quartile"] = pd.qcut(frame["confidence"].rank(method="first"), 4, labels=["q1", "q2", "q3", "q4"])
    by = frame.groupby(["fact", "quartile"], observed=True)["right"].mean().unstack("quartile")
    by.insert(0, "n", frame.groupby("fact").size())
    by.insert(1, "accuracy", frame.groupby("fact")["right"].mean())
    frame["weighed"] = frame["confidence"] * frame["right"]
    sums = frame.groupby("fact")[["weighed", "confidence"]].sum()
    by.insert(2, "weighted", sums["weighed"] / sums["confidence"])
    return by.sort_values("n", ascending=False)


def main() -> None:
    from ws3dvg.grounding.student import full_supervision_targets
    from ws3dvg.grounding.teacher import read_knowledge

    ap = argparse.ArgumentParser()
    ap.add_argument("knowledge", nargs="?", default=artifacts.KNOWLEDGE)
    ap.add_argument("--descriptions", help="world 2's synth_descriptions.csv: val per deciding fact")
    ap.add_argument("--json")
    args = ap.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())  # only data.preprocessed: no schema of this checkout
    report = {}
    for split in ("train", "val"):
        paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", f"proposals_{split}",
                                          "preprocessed")
        know = read_knowledge(args.knowledge, split)
        lang = read_masked(paths["masked"], split)
        words = (lang["mask"] == KEYWORD).sum(-1)
        target = full_supervision_targets(paths, split)
        fact = None
        if args.descriptions and split == "val":
            desc = pd.read_csv(args.descriptions)
            keys = pd.DataFrame({"scene_id": lang["scene_id"], "object_id": lang["object_id"].astype(int),
                                 "ann_id": lang["ann_id"].astype(int)})
            fact = keys.merge(desc, on=["scene_id", "object_id", "ann_id"], how="left")["decided_by"].fillna("?")
            fact = fact.to_numpy()
        for name, f in (("all", None), ("by fact", fact)):
            if name == "by fact" and f is None:
                continue
            table = confidence_table(know["candidates"], know["recon_loss"], know["valid"], words, target, f)
            print(f"{split}, {name}: the fine pick's accuracy per quartile of its confidence (q1 least sure)")
            print(table.head(12).to_string(float_format="%.3f"))
            report[f"{split} {name}"] = table.reset_index().to_dict(orient="records")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
