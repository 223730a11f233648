"""How closely does the student follow a better teacher? The knowledge of a simulated one.

Target 3b of issue #20 turns on it: a student that adds a fixed amount to its teacher needs a much weaker teacher
than one that is right 0.77 of the time where its teacher is right and 0.21 where it is wrong. Training a better
teacher to find out costs a GPU run; this writes the knowledge of one instead. On a random `share` of the training
rows where the teacher's fine choice is wrong and the target is one of its valid candidates, it swaps the
reconstruction scores of the chosen candidate and the target. The target is then the fine choice, the rest of the
row's ranking stays the teacher's, and every other row is untouched. The errors left are the teacher's own.
The val split is copied as it is (evaluate reads the teacher's val knowledge for its own rows). A diagnostic: it
uses the targets that weak supervision never sees.

Usage (pipeline root, after train_teacher):
    PYTHONPATH=src python benchmarks/simulated_teacher.py data/teacher/knowledge.h5 OUT.h5 --share 0.5 [--seed 0]
        [--json out.json]
then put OUT.h5 in place of data/teacher/knowledge.h5 and run `python -m stages.distill` and `stages.evaluate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_features import write_json  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.config import load_params  # noqa: E402
from ws3dvg.grounding.student import full_supervision_targets  # noqa: E402
from ws3dvg.grounding.teacher import read_knowledge, write_knowledge  # noqa: E402


def choice_and_target_slot(knowledge: dict, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row the fine choice (the valid slot of lowest score, -1 with none valid) and the slot holding the target
    among the valid candidates (-1 where it is not one)."""
    valid = knowledge["valid"].astype(bool)
    score = np.where(valid, knowledge["recon_loss"], np.inf)
    choice = np.where(valid.any(1), score.argmin(1), -1)
    hit = valid & (knowledge["candidates"] == target[:, None]) & (target[:, None] >= 0)
    slot = np.where(hit.any(1), hit.argmax(1), -1)
    return choice, slot


def lift(knowledge: dict, target: np.ndarray, share: float, seed: int) -> tuple[dict, np.ndarray]:
    """-> (the knowledge with the scores of choice and target swapped on `share` of the rows where the fine choice
    is wrong and the target is a valid candidate, the mask of those rows). Drawn with `seed`, one draw per row."""
    choice, slot = choice_and_target_slot(knowledge, target)
    wrong = (slot >= 0) & (choice != slot)
    swap = wrong & (np.random.default_rng(seed).random(len(target)) < share)
    rows = np.flatnonzero(swap)
    recon = knowledge["recon_loss"].copy()
    recon[rows, choice[rows]], recon[rows, slot[rows]] = recon[rows, slot[rows]], recon[rows, choice[rows]]
    return {**knowledge, "recon_loss": recon}, swap


def accuracy(knowledge: dict, target: np.ndarray) -> dict:
    """The fine choice's accuracy over rows with 2+ valid candidates, and how often the target is one of them."""
    choice, slot = choice_and_target_slot(knowledge, target)
    several = knowledge["valid"].astype(bool).sum(1) >= 2
    return {"rows": int(several.sum()), "fine_right": float((choice == slot)[several & (slot >= 0)].sum()
                                                            / max(several.sum(), 1)),
            "target_a_candidate": float((slot >= 0)[several].mean()) if several.any() else 0.0}


def check_share(share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise SystemExit(f"--share must lie in [0, 1], got {share}")


def simulate(knowledge: str, out: str, share: float, seed: int, paths: dict) -> dict:
    """Write the lifted knowledge to `out` (val copied) -> what was done and the training rows' fine accuracy
    before and after. `paths` as artifacts.grounding_paths gives them (masked, proposals_train, preprocessed)."""
    check_share(share)
    train = read_knowledge(knowledge, "train")
    target = full_supervision_targets(paths, "train")
    if len(target) != len(train["valid"]):
        raise SystemExit(f"{knowledge}: {len(train['valid'])} training rows, {paths['masked']} has {len(target)}")
    lifted, swapped = lift(train, target, share, seed)
    with h5py.File(knowledge, "r") as h5:
        topk = int(h5.attrs["topk"])
    write_knowledge(out, {"train": lifted, "val": read_knowledge(knowledge, "val")}, {"topk": topk})
    return {"knowledge": knowledge, "share": share, "seed": seed, "rows_swapped": int(swapped.sum()),
            "train_before": accuracy(train, target), "train_after": accuracy(lifted, target)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("knowledge")
    ap.add_argument("out")
    ap.add_argument("--share", type=float, required=True, help="share of the teacher's wrong rows set right")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    check_share(args.share)  # before reading any params
    params = load_params()
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "proposals_train", "proposals_val",
                                      "preprocessed")
    report = simulate(args.knowledge, args.out, args.share, args.seed, paths)
    print(report)
    write_json(report, args.json)


if __name__ == "__main__":
    main()
