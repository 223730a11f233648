"""Student distillation from the teacher's cached knowledge (or, as a reference, full supervision)."""

from __future__ import annotations

import logging
import time
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from ..engine import distributed
from ..engine.errors import ParamsError
from ..engine.tracking import Curves
from ..engine.training import (
    Checkpoint,
    EpochLoader,
    StepRunner,
    autocast,
    make_loader,
    make_optimizer,
    seed_everything,
    step_mode,
    to_device,
)
from ..models.grounding import Student, draw_word_dropout
from ..text.masking import read_masked
from ..text.vocab import KEYWORD, Vocabulary
from .data import GroundingSet, collate, grounding_set
from .evaluation import target_boxes
from .losses import EXCLUSIVE, full_supervision_loss, language_loss, student_distillation
from .recipe import Recipe
from .teacher import read_knowledge, word_embeddings

log = logging.getLogger(__name__)


# What a student takes from its teacher: the architecture its encoders share (distill keeps only how it trains)
FROM_TEACHER = ("hidden", "embedding_dim", "word_vectors", "use_multiview")


def build_student(cfg: dict, language_dir: str, feature_dim: int, seed: int) -> Student:
    """cfg: a `student_config` (saved in student.pt)."""
    vocab = Vocabulary.load(f"{language_dir}/vocab.json")
    return Student(len(vocab), feature_dim, cfg, word_embeddings(cfg, vocab, seed), 128 if cfg["use_multiview"] else 0)


def init_from_teacher(student: Student, teacher_state: dict, heads: bool = False) -> int:
    """Copy the teacher's language and relation encoder weights (and its jointly trained match head when
    `heads`) where names and shapes match."""
    own = student.state_dict()
    prefixes = ("language.", "relation.") + (("match.",) if heads else ())
    take = {k: v for k, v in teacher_state.items() if k.startswith(prefixes) and k in own and own[k].shape == v.shape}
    student.load_state_dict(take, strict=False)
    return len(take)


def full_supervision_targets(paths: dict, split: str) -> np.ndarray:
    """Per sentence the proposal of highest IoU with the target box, -1 when below 0.25."""
    from ..ops.geometry import box_iou
    from .data import load_proposals

    lang = read_masked(paths["masked"], split)
    targets = target_boxes(paths["preprocessed"], lang["scene_id"], lang["object_id"])
    props = load_proposals(paths[f"proposals_{split}"], sorted(set(lang["scene_id"].tolist())))
    out = np.full(len(targets), -1, np.int64)
    for scene, p in props.items():
        rows = np.flatnonzero(lang["scene_id"] == scene)
        boxes = np.concatenate([p["center"], p["size"]], 1)
        iou = box_iou(boxes[None], targets[rows][:, None])  # (n, P)
        best = iou.argmax(1)
        out[rows] = np.where(iou[np.arange(len(rows)), best] >= 0.25, best, -1)
    return out


# distill's switches that depart from the authors' student; the paper's recipe (`teacher.variant: paper`) and the
# teacher's jointly trained head (the authors' weak student, trained without them) leave them off
STUDENT_DEPARTURES = ("class_prior", "posterior_targets", "confidence_weighted", "self_training_rounds")


def student_config(distill_cfg: dict, supervision: str, teacher_config: dict) -> dict:
    """The config a student trains and is saved with: the distill section (how it trains), its supervision, and
    from the teacher's saved config its architecture (`FROM_TEACHER`) and its recipe. Under the paper's recipe, and
    for the weak student that is the teacher's joint head, `STUDENT_DEPARTURES` are off whatever distill says."""
    cfg = dict(distill_cfg, supervision=supervision, **{k: teacher_config[k] for k in FROM_TEACHER},
               recipe=teacher_config["recipe"])
    recipe = Recipe.from_dict(teacher_config["recipe"])
    if recipe.is_paper or (supervision == "weak" and recipe.joint_student):
        off = [k for k in STUDENT_DEPARTURES if cfg.get(k)]
        if off:
            log.info("the %s student: %s off (the authors' student has neither)",
                     "paper recipe's" if recipe.is_paper else "jointly trained", ", ".join(off))
        cfg.update({k: False for k in STUDENT_DEPARTURES})
    if cfg.get("posterior_targets") and cfg.get("confidence_weighted"):  # before any training starts
        raise ParamsError(EXCLUSIVE)
    return cfg


def train_student(cfg: dict, paths: dict, device, seed: int, out_dir: str, live_dir: str,
                  teacher_state: dict | None, loader_workers: int = 0, step: str = "auto",
                  teacher_history: list[dict] | None = None, checkpoint_every_s: float = 0.0) -> Student:
    """Weak: from the teacher's cached ranking (or, where the teacher trained the head jointly as the authors do,
    that head as it is); full: toward the true target (the upper-bound reference). `cfg` is a `student_config`.
    Under torchrun each rank trains on its part of every global batch (whole batches only), eagerly; rank 0
    alone writes."""
    seed_everything(seed)
    ctx = distributed.context()
    mode = "eager" if ctx.enabled else step_mode(step, device)
    recipe = Recipe.from_dict(cfg["recipe"])
    ds = grounding_set(paths, "train", cfg, recipe, shuffle_seed=seed)
    model = build_student(cfg, paths["language_dir"], ds.feature_dim, seed).to(device)
    if cfg["supervision"] == "weak" and recipe.joint_student and teacher_state is not None:
        log.info("the teacher trained its student head jointly: taking %d tensors as they are",
                 init_from_teacher(model, teacher_state, heads=True))
        if ctx.is_main:
            curves = Curves(live_dir)  # its curve: the distillation term of the teacher's training
            for epoch, row in enumerate(teacher_history or []):
                curves.log({"train/loss": row.get("train/distill", float("nan"))}, epoch)
            curves.close()
        return model
    if cfg["init_from_teacher"] and teacher_state is not None:
        log.info("initialised %d tensors from the teacher", init_from_teacher(model, teacher_state))
    if cfg["supervision"] == "weak":
        know = read_knowledge(paths["knowledge"], "train")
        table = {k: torch.from_numpy(know[k]) for k in ("candidates", "recon_loss", "valid")}
    else:  # the upper-bound reference: the true target, as any fully supervised grounding model sees it
        table = {"target": torch.from_numpy(full_supervision_targets(paths, "train"))}
    sizes = ds.static_sizes() if mode == "graph" or ctx.enabled else {"sentences": cfg["lang_num_max"]}
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg["lr"], cfg["weight_decay"], device,
                         mode)
    ckpt = Checkpoint(out_dir, {"distill": cfg, "seed": seed}, paths.values(), checkpoint_every_s)
    start, _ = ckpt.load(model, opt, None, device)
    if not start and ctx.enabled:  # each rank its own dropout and word-dropout stream
        torch.manual_seed(seed + ctx.rank)
    net = distributed.wrap(model, ctx, device)  # DDP with global batch norm under torchrun, else the model
    curves = Curves(live_dir, resume=start > 0) if ctx.is_main else None
    runner = StepRunner(net, opt, mode)

    distill = student_distillation(recipe, cfg.get("posterior_targets", False),  # older student configs: neither
                                   cfg.get("confidence_weighted", False), cfg.get("posterior_weight", 1.0))

    def loss_fn(batch):
        b, s, length = batch["ids"].shape
        dropped = draw_word_dropout(batch["length"].view(-1), length, cfg["word_dropout"]).view(b, s, length) \
            if cfg["word_dropout"] > 0 else None
        with autocast(device, cfg["amp"]):
            out = net(batch, dropped)
        sm = batch["sent_mask"]
        if cfg["supervision"] == "weak":
            loss = distill(out["scores"], batch["k_candidates"], batch["k_recon_loss"],
                           batch["k_valid"] & sm[..., None], sm, words=(batch["mask"] == KEYWORD).sum(-1))
        else:
            loss = full_supervision_loss(out["scores"], batch["k_target"], sm)
        lang = language_loss(out["class_logits"], batch["class18"], sm)
        return loss + cfg["lang_cls_weight"] * lang, {"loss": loss, "lang_cls": lang}

    # one loader for every epoch left (workers started once), shuffled by (seed, epoch) as a loader per epoch would be
    loader = EpochLoader(ds, cfg["batch_size"], seed, range(start, cfg["epochs"]), partial(collate, sizes=sizes),
                         loader_workers, device, drop_last=ctx.enabled, rank=ctx.rank, world=ctx.world)
    for epoch in range(start, cfg["epochs"]):
        model.train()
        sums: dict = {}
        t0 = time.perf_counter()
        for batch in loader.epoch(epoch, f"distill epoch {epoch + 1}/{cfg['epochs']}" if ctx.is_main else None):
            idx = batch["sentence_index"].clamp_min(0)
            batch.update({f"k_{k}": v[idx] for k, v in table.items()})  # the teacher's knowledge of these sentences
            terms = runner(to_device(batch, device), "step", loss_fn)
            for k, v in terms.items():  # one host sync per epoch
                sums[k] = sums.get(k, 0.0) + v.float()
        # each rank's terms are its part's share of the global batch's: their mean over ranks is the batch's
        row = {f"train/{k}": float(distributed.all_sum(v)) / ctx.world / loader.steps for k, v in sums.items()}
        if curves is not None:
            curves.log(row, epoch)
        log.info("distill (%s) epoch %d: %.1f s (%s steps)", cfg["supervision"], epoch + 1, time.perf_counter() - t0,
                 mode)
        ckpt.save(epoch, model, opt, final=epoch + 1 == cfg["epochs"])
    if curves is not None:
        curves.close()
    return model


@torch.no_grad()
def predict(model: Student, dataset: GroundingSet, cfg: dict, device) -> dict[str, np.ndarray]:
    """Argmax proposal per sentence (masked table order), its score, and the per-sentence time."""
    model.eval()
    n = len(dataset.lang["ids"])
    choice, score = np.zeros(n, np.int64), np.zeros(n, np.float32)
    loader = make_loader(dataset, cfg["batch_size"], False, 0, collate, 0, device)
    elapsed = 0.0
    for batch in tqdm(loader, desc="predict", leave=False, unit="batch"):
        batch = to_device(batch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast(device, cfg["amp"]):
            s = model(batch)["scores"].float()
        best, arg = s.max(-1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - t0
        sel = batch["sent_mask"]
        idx = batch["sentence_index"][sel].cpu().numpy()
        choice[idx], score[idx] = arg[sel].cpu().numpy(), best[sel].cpu().numpy()
    return {"choice": choice, "score": score, "ms_per_sentence": 1e3 * elapsed / max(n, 1)}
