"""A student that learns more than its teacher's picks: cross-fitted self-training over a teacher's knowledge.

The teacher's fine stage reads one candidate at a time; the student's match head compares candidates and reads
their pairwise geometry, so it can generalise relations it learnt on the rows its teacher got right to rows its
teacher got wrong (RESULTS "A better teacher, simulated, at ScanRefer's size": the student learns relations from
right labels). A second round of distillation can use that, but not from the round-1 student's scores on its own
training rows: it fitted those labels, errors included. So the training scenes are split into `folds` parts; for
each part a student is trained (the variant's distill settings, from the teacher's encoders) on the teacher's
knowledge of the other parts only (the part's rows marked as having no valid candidate, which the distillation
loss leaves out), and it scores the part's rows it never learnt from. Split by scene, not by row: a scene's other
descriptions of the same objects would otherwise carry a row's label to its own student.

The new knowledge is the product of the teacher and the held-out student over the teacher's candidates: each valid
candidate k of a row with n hidden keywords gets r_k - weight * log q_k / n, where r_k is the teacher's
reconstruction score and q_k the student's probability of k among the row's valid candidates. The teacher's
posterior is softmax_k(-n r_k) (losses.teacher_posterior), so the new posterior is proportional to
p_teacher(k) * q(k)^weight: a product of experts, like benchmarks/combine_knowledge.py with a student as the second
expert. The candidates, their validity and the val split stay the teacher's (evaluate's "teacher fine" row is then
the product's on train only; val is copied unchanged). A diagnostic report gives, over the training rows with 2+
valid candidates, how often the teacher, the held-out students and the product pick the target (which weak
supervision never sees; it is read only for the report).

Usage (a pipeline root after train_teacher, whose params give the distill settings):
    PYTHONPATH=src python benchmarks/cross_fit.py data/teacher/knowledge.h5 OUT_DIR [--folds 2] [--weight 1.0]
then OUT_DIR/knowledge.h5 takes the place of data/teacher/knowledge.h5 for `python -m stages.distill`.
OUT_DIR/cross_fit.json is the report, OUT_DIR/fold*/ each held-out student.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_features import write_json  # noqa: E402
from simulated_teacher import accuracy  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.config import load_params, resolve_device  # noqa: E402
from ws3dvg.engine.training import autocast, load_weights, make_loader, to_device  # noqa: E402
from ws3dvg.grounding.data import collate, grounding_set  # noqa: E402
from ws3dvg.grounding.recipe import Recipe  # noqa: E402
from ws3dvg.grounding.student import full_supervision_targets, student_config, train_student  # noqa: E402
from ws3dvg.grounding.teacher import read_knowledge, write_knowledge  # noqa: E402
from ws3dvg.text.masking import read_masked  # noqa: E402
from ws3dvg.text.vocab import KEYWORD  # noqa: E402


def scene_folds(scene_id: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Per row its fold, 0..folds-1: the sorted scenes shuffled with `seed` and dealt out in turn."""
    if folds < 2:
        raise SystemExit(f"--folds must be at least 2, got {folds}")
    scenes = np.array(sorted(set(scene_id.tolist())))
    if len(scenes) < folds:
        raise SystemExit(f"{len(scenes)} training scenes cannot make {folds} folds")
    order = np.random.default_rng(seed).permutation(len(scenes))
    fold_of = {scenes[j]: i % folds for i, j in enumerate(order)}
    return np.array([fold_of[s] for s in scene_id], np.int64)


def without_rows(knowledge: dict, drop: np.ndarray) -> dict:
    """The knowledge with the rows `drop` (bool, per row) marked as having no valid candidate: the distillation
    losses leave such a row out, so a student trained on it never sees their labels."""
    return {**knowledge, "valid": knowledge["valid"] & ~drop[:, None]}


def candidate_log_posterior(scores: torch.Tensor, candidates: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The student's log probability of each of a row's valid candidates among them (-inf where invalid, and on a
    row without a valid one). scores (..., P) over proposals, candidates / valid (..., K) -> (..., K)."""
    idx = torch.where(valid, candidates, 0).clamp(0, scores.shape[-1] - 1)
    picked = scores.float().gather(-1, idx).masked_fill(~valid, float("-inf"))
    ok = valid.any(-1, keepdim=True)
    return torch.where(ok, picked.log_softmax(-1), float("-inf")).masked_fill(~valid, float("-inf"))


def product(knowledge: dict, log_q: np.ndarray, words: np.ndarray, weight: float) -> dict:
    """r_k - weight * log q_k / n on each valid candidate (n: the row's hidden keywords, at least one); rows whose
    log_q is -inf everywhere (no student scored them) keep the teacher's scores."""
    valid = knowledge["valid"].astype(bool)
    scored = np.isfinite(log_q).any(1) & valid.any(1)
    n = np.maximum(words, 1).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        new = knowledge["recon_loss"].astype(np.float64) - weight * log_q / n
    recon = np.where(valid & scored[:, None], new, knowledge["recon_loss"]).astype(knowledge["recon_loss"].dtype)
    return {**knowledge, "recon_loss": recon}


@torch.no_grad()
def student_log_posterior(model, dataset, knowledge: dict, cfg: dict, device) -> np.ndarray:
    """(N, K): the student's log posterior over each training row's valid teacher candidates (masked table order)."""
    model.eval()
    cand, valid = torch.from_numpy(knowledge["candidates"]), torch.from_numpy(knowledge["valid"].astype(bool))
    out = np.full(cand.shape, -np.inf, np.float32)
    loader = make_loader(dataset, cfg["batch_size"], False, 0, collate, 0, device)
    for batch in tqdm(loader, desc="score held-out rows", leave=False, unit="batch"):
        idx = batch["sentence_index"].clamp_min(0)
        batch = to_device(batch, device)
        with autocast(device, cfg["amp"]):
            scores = model(batch)["scores"]
        logq = candidate_log_posterior(scores, cand[idx].to(device), valid[idx].to(device)).cpu().numpy()
        sel = batch["sent_mask"].cpu().numpy()
        out[idx.numpy()[sel]] = logq[sel]
    return out


def fine_right(knowledge: dict, target: np.ndarray, rows: np.ndarray) -> dict:
    return accuracy({k: v[rows] for k, v in knowledge.items()}, target[rows])


def cross_fit(source: str, out_dir: Path, folds: int, weight: float, params: dict) -> dict:
    """Train the held-out students, write out_dir/knowledge.h5 -> the report."""
    base, data = params["base"], params["data"]
    device = resolve_device(base["device"])
    paths = artifacts.grounding_paths(data["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "preprocessed")
    teacher = load_weights(artifacts.TEACHER_WEIGHTS)
    cfg = student_config(params["distill"], "weak", teacher["config"])
    train = read_knowledge(source, "train")
    lang = read_masked(paths["masked"], "train")
    if len(lang["scene_id"]) != len(train["valid"]):
        raise SystemExit(f"{source}: {len(train['valid'])} training rows, {paths['masked']} has "
                         f"{len(lang['scene_id'])}")
    fold = scene_folds(lang["scene_id"], folds, base["seed"])
    words = (lang["mask"] == KEYWORD).sum(-1)
    dataset = grounding_set(paths, "train", cfg, Recipe.from_dict(cfg["recipe"]))
    log_q = np.full(train["candidates"].shape, -np.inf, np.float32)
    report = {"source": source, "folds": folds, "weight": weight, "seed": base["seed"], "seconds": []}
    for f in range(folds):
        t0 = time.perf_counter()
        fold_dir = out_dir / f"fold{f}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        held_in = fold_dir / "knowledge.h5"
        write_knowledge(str(held_in), {"train": without_rows(train, fold == f)}, {"topk": topk_of(source)})
        torch.manual_seed(base["seed"])
        model = train_student(cfg, {**paths, "knowledge": str(held_in)}, device, base["seed"], str(fold_dir),
                              str(fold_dir / "curves"), teacher["model"], params["runtime"]["loader_workers"],
                              params["runtime"]["step"], teacher.get("history"))
        scored = student_log_posterior(model, dataset, train, cfg, device)
        log_q[fold == f] = scored[fold == f]
        report["seconds"].append(round(time.perf_counter() - t0, 1))
    combined = product(train, log_q, words, weight)
    write_knowledge(str(out_dir / "knowledge.h5"), {"train": combined, "val": read_knowledge(source, "val")},
                    {"topk": topk_of(source)})
    target = full_supervision_targets(paths, "train")
    student_only = product({**train, "recon_loss": np.zeros_like(train["recon_loss"])}, log_q, words, 1.0)
    everything = np.ones(len(target), bool)
    report["train_rows"] = {name: fine_right(k, target, everything) for name, k in
                            (("teacher", train), ("held_out_student", student_only), ("product", combined))}
    report["per_fold"] = [{name: fine_right(k, target, fold == f)["fine_right"] for name, k in
                           (("teacher", train), ("held_out_student", student_only), ("product", combined))}
                          for f in range(folds)]
    return report


def topk_of(knowledge: str) -> int:
    with h5py.File(knowledge, "r") as h5:
        return int(h5.attrs["topk"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("knowledge", help="the teacher's knowledge.h5")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--weight", type=float, default=1.0, help="the student's exponent in the product")
    args = ap.parse_args()
    if args.weight < 0:
        raise SystemExit(f"--weight must be at least 0, got {args.weight}")
    report = cross_fit(args.knowledge, args.out_dir, args.folds, args.weight, load_params())
    print(report)
    write_json(report, str(args.out_dir / "cross_fit.json"))


if __name__ == "__main__":
    main()
