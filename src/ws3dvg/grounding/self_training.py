"""Cross-fitted self-training: students that never saw a row's label score it, and their product with the teacher
is the next knowledge a student distils from (`distill.self_training_rounds`, a departure; off in the paper).

The teacher's fine stage reads one candidate at a time; the student's match head compares candidates and can read
their geometry, so it generalises what it learnt on the rows its teacher got right to some rows its teacher got
wrong. A student cannot relabel its own training rows (it fitted their labels, errors included), so the training
scenes are split into folds. Per fold a student is trained (the weak student's own settings) on the knowledge of
the other folds only, the fold's rows marked as having no valid candidate, which the distillation losses leave out,
and it scores the fold's rows. Split by scene, not by row: a scene's other descriptions of the same object would
carry a row's label to its own student.

Each valid candidate k of a row with n hidden keywords then gets r_k - w log q_k / n, with r_k its reconstruction
score and q_k the held-out student's probability of k among the row's valid candidates. The teacher's posterior is
softmax_k(-n r_k) (losses.teacher_posterior), so the new one is proportional to p_teacher(k) q(k)^w: a product of
experts. Candidates, validity and the val split stay the teacher's. Measured at ScanRefer's size on world 2:
+0.016 on "multiple" after one round, +0.022 after two (benchmarks/RESULTS.md, "A student that learns more than its
teacher's picks").
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from ..engine import distributed
from ..engine.atomic import write_json
from ..engine.errors import DataError, ParamsError
from ..engine.training import autocast, make_loader, to_device
from ..text.masking import read_masked
from ..text.vocab import KEYWORD
from .data import collate, grounding_set
from .losses import fine_choice
from .recipe import Recipe
from .student import train_student
from .teacher import read_knowledge, write_knowledge

log = logging.getLogger(__name__)


def scene_folds(scene_id: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Per row its fold, 0..folds-1: the sorted scenes shuffled with `seed` and dealt out in turn."""
    if folds < 2:
        raise ParamsError(f"params.yaml: distill.self_training_folds must be at least 2, got {folds}")
    scenes, row_scene = np.unique(scene_id, return_inverse=True)  # sorted scenes, each row's index among them
    if len(scenes) < folds:
        raise ParamsError(f"params.yaml: distill.self_training_folds: {len(scenes)} training scenes cannot make "
                          f"{folds} folds")
    order = np.random.default_rng(seed).permutation(len(scenes))
    fold_of_scene = np.empty(len(scenes), np.int64)
    fold_of_scene[order] = np.arange(len(scenes)) % folds
    return fold_of_scene[row_scene.reshape(-1)]


def training_rows(paths: dict, source: str, n_rows: int, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per training row of the masked table its fold (`scene_folds`) and its hidden keywords; `source`, the
    knowledge with `n_rows` rows, must be of that table."""
    lang = read_masked(paths["masked"], "train")
    if n_rows != len(lang["scene_id"]):
        raise DataError(source, f"{n_rows} training rows, {paths['masked']} has {len(lang['scene_id'])}")
    return scene_folds(lang["scene_id"], folds, seed), (lang["mask"] == KEYWORD).sum(-1)


def without_rows(knowledge: dict, drop: np.ndarray) -> dict:
    """The knowledge with the rows `drop` (bool, per row) marked as having no valid candidate: the distillation
    losses leave such a row out, so a student trained on it never sees their labels."""
    return {**knowledge, "valid": knowledge["valid"].astype(bool) & ~drop[:, None]}


def candidate_log_posterior(scores: torch.Tensor, candidates: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The student's log probability of each of a row's valid candidates among them (-inf where invalid, and on a
    row without a valid one). scores (..., P) over proposals, candidates / valid (..., K) -> (..., K)."""
    idx = torch.where(valid, candidates, 0).clamp(0, scores.shape[-1] - 1)
    picked = scores.float().gather(-1, idx).masked_fill(~valid, float("-inf"))
    ok = valid.any(-1, keepdim=True)
    return torch.where(ok, picked.log_softmax(-1), float("-inf")).masked_fill(~valid, float("-inf"))


def product(knowledge: dict, log_q: np.ndarray, words: np.ndarray, weight: float = 1.0) -> dict:
    """r_k - weight * log q_k / n on each valid candidate (n: the row's hidden keywords, at least one); rows whose
    log_q is -inf everywhere (no student scored them) keep the teacher's scores."""
    valid = knowledge["valid"].astype(bool)
    scored = np.isfinite(log_q).any(1) & valid.any(1)
    n = np.maximum(words, 1).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        new = knowledge["recon_loss"].astype(np.float64) - weight * log_q / n
    recon = np.where(valid & scored[:, None], new, knowledge["recon_loss"]).astype(knowledge["recon_loss"].dtype)
    return {**knowledge, "recon_loss": recon}


def fine_pick(knowledge: dict) -> np.ndarray:
    """Per row the fine stage's choice (losses.fine_choice) over the knowledge's scores."""
    return fine_choice(torch.from_numpy(knowledge["recon_loss"]),
                       torch.from_numpy(knowledge["valid"].astype(bool))).numpy()


@torch.no_grad()
def student_log_posterior(model, dataset, knowledge: dict, cfg: dict, device) -> np.ndarray:
    """(N, K): the student's log posterior over each training row's valid candidates (masked table order)."""
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


def held_out_scores(cfg: dict, paths: dict, train: dict, fold: np.ndarray, work_dir: Path, device, seed: int,
                    teacher: dict, runtime: dict) -> np.ndarray:
    """One student per fold, trained on the other folds' knowledge (`train`), scores its fold's rows -> (N, K)
    log posteriors. Each student trains in work_dir/fold{f} (resumed from its checkpoint there). Under torchrun
    every rank trains each student data-parallel; rank 0 alone writes its knowledge and scores the rows (the other
    ranks return no scores: they read the round's knowledge back from rank 0's file)."""
    main = distributed.context().is_main
    dataset = grounding_set(paths, "train", cfg, Recipe.from_dict(cfg["recipe"])) if main else None
    log_q = np.full(train["candidates"].shape, -np.inf, np.float32)
    for f in range(int(fold.max()) + 1):
        fold_dir = work_dir / f"fold{f}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        held_in = str(fold_dir / "knowledge.h5")
        if main:
            write_unless_same(held_in, {"train": without_rows(train, fold == f)}, knowledge_topk(paths["knowledge"]))
        distributed.barrier()  # every rank trains from the file rank 0 has written
        torch.manual_seed(seed)
        model = train_student(cfg, {**paths, "knowledge": held_in}, device, seed, str(fold_dir),
                              str(fold_dir / "curves"), teacher["model"], runtime["loader_workers"], runtime["step"],
                              teacher.get("history"), runtime["checkpoint_every_s"])
        if main:
            log_q[fold == f] = student_log_posterior(model, dataset, train, cfg, device)[fold == f]
    return log_q


def write_unless_same(path: str, knowledge: dict[str, dict], topk: int) -> None:
    """write_knowledge, unless `path` holds these arrays already: a rewrite would change its date, and a student's
    checkpoint, which fingerprints its inputs by date, would then not be resumed (a rerun would retrain it)."""
    if Path(path).exists():
        try:
            old = {split: read_knowledge(path, split) for split in knowledge}
        except (OSError, KeyError):
            old = None
        if old is not None and knowledge_topk(path) == topk and all(
                set(old[split]) >= set(k) and all(np.array_equal(old[split][n], v) for n, v in k.items())
                for split, k in knowledge.items()):
            return
    write_knowledge(path, knowledge, {"topk": topk})


def knowledge_topk(knowledge_path: str) -> int:
    """The teacher's K, which a knowledge file carries as an attribute."""
    with h5py.File(knowledge_path, "r") as h5:
        return int(h5.attrs["topk"])


def self_train(cfg: dict, paths: dict, work_dir: str | Path, device, seed: int, teacher: dict,
               runtime: dict) -> str:
    """`cfg["self_training_rounds"]` rounds over the knowledge at paths["knowledge"] -> the path of the last
    round's knowledge (work_dir/round{r}/knowledge.h5, val copied from the teacher's), with work_dir/report.json:
    per round how many training rows changed their pick. Reads no target. Under torchrun rank 0 alone writes,
    and every rank goes on from what it wrote."""
    main = distributed.context().is_main
    rounds, folds = int(cfg.get("self_training_rounds", 0)), int(cfg.get("self_training_folds", 2))
    work_dir = Path(work_dir)
    source = paths["knowledge"]
    train, val = read_knowledge(source, "train"), read_knowledge(source, "val")
    fold, words = training_rows(paths, source, len(train["valid"]), folds, seed)
    topk = knowledge_topk(source)
    report = []
    for r in range(rounds):
        round_dir = work_dir / f"round{r + 1}"
        log_q = held_out_scores(cfg, {**paths, "knowledge": source}, train, fold, round_dir, device, seed, teacher,
                                runtime)
        source = str(round_dir / "knowledge.h5")
        if main:
            combined = product(train, log_q, words)
            write_unless_same(source, {"train": combined, "val": val}, topk)
            several, before = train["valid"].astype(bool).sum(1) >= 2, fine_pick(train)
            changed = float((fine_pick(combined) != before)[several].mean()) if several.any() else 0.0
            student_agrees = float((log_q.argmax(1) == before)[several].mean()) if several.any() else 0.0
            report.append({"round": r + 1, "rows_with_choice": int(several.sum()), "pick_changed": changed,
                           "held_out_student_agrees": student_agrees})
            log.info("self-training round %d/%d: %d folds; on %d rows with a choice the held-out students agree "
                     "with the knowledge on %.3f, the product changes %.3f of the picks", r + 1, rounds, folds,
                     several.sum(), student_agrees, changed)
        distributed.barrier()
        # what the next round (and the student after the last) starts from: the arrays just written, as written
        train = combined if main else read_knowledge(source, "train")
    if main:
        write_json(work_dir / "report.json", {"rounds": report, "folds": folds, "seed": seed}, indent=1)
    return source
