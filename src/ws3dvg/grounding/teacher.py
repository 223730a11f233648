"""Teacher training (scene-sentence pairs only) and its knowledge for distillation.

Knowledge HDF5 (`knowledge.h5`), one group per split, rows in the masked table's order:
  candidates  (N, K) int64    proposal indices chosen by the coarse stage (best coarse weight first)
  recon_loss  (N, K) float32  reconstruction loss of each candidate (inf where invalid)
  coarse      (N, K) float32  coarse weight of each candidate
  valid       (N, K) bool
  pred_class  (N,)   int64    the language classifier's class
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from ..engine import distributed
from ..engine.atomic import atomic_file
from ..engine.tracking import Curves
from ..engine.training import (
    Checkpoint,
    EpochLoader,
    StepRunner,
    autocast,
    make_loader,
    make_optimizer,
    load_weights,
    save_weights,
    seed_everything,
    step_mode,
    to_device,
)
from ..models.grounding import (
    LanguageEncoder,
    Teacher,
    coarse_head_term,
    draw_random_mask,
    draw_word_dropout,
    gather_rows,
)
from ..text.masking import read_masked
from ..text.tagger import ATTRIBUTES
from ..text.vocab import Vocabulary
from .data import GroundingSet, collate, grounding_set
from .evaluation import accuracy_report, target_boxes
from .losses import coarse_from_fine_loss, fine_choice, recon_phase, teacher_losses
from .recipe import Recipe

log = logging.getLogger(__name__)


def word_embeddings(cfg: dict, vocab: Vocabulary, seed: int) -> torch.Tensor | None:
    if not cfg["word_vectors"]:
        return None  # a learned embedding table
    from ..text.glove import embedding_matrix, load_glove

    mat, missing = embedding_matrix(vocab, load_glove(cfg["word_vectors"], set(vocab.words)), seed)
    log.info("word vectors: %d of %d vocabulary words missing (-> unk)", missing, len(vocab) - 4)
    return torch.from_numpy(mat)


def attribute_word_mask(words: list[str]) -> torch.Tensor:
    """(V,) bool: which vocabulary words are attribute words (the rule tagger's colour, size, material and shape
    lexicons), the words anchor_decoder's first decoder scores."""
    return torch.tensor([w in ATTRIBUTES for w in words], dtype=torch.bool)


def build_teacher(cfg: dict, recipe: Recipe, language_dir: str, feature_dim: int, seed: int) -> Teacher:
    vocab = Vocabulary.load(Path(language_dir) / "vocab.json")
    return Teacher(len(vocab), feature_dim, cfg, word_embeddings(cfg, vocab, seed), 128 if cfg["use_multiview"] else 0,
                   class_candidates=recipe.class_candidates, joint_student=recipe.joint_student,
                   own_feature_match=recipe.own_feature_match, coarse_from_fine=recipe.coarse_from_fine,
                   relation_distance_bias=recipe.relation_distance_bias,
                   decoder_reads_own=recipe.decoder_reads_own, decoder_reads_scene=recipe.decoder_reads_scene,
                   attribute_words=attribute_word_mask(vocab.words) if recipe.anchor_decoder else None)


@torch.no_grad()
def run_teacher(model: Teacher, dataset: GroundingSet, cfg: dict, device, desc="teacher") -> dict:
    """Eval-mode pass -> per-sentence arrays in the masked table's order. The reconstruction score of each
    candidate is averaged over `knowledge_draws` random masks (a fixed generator: same draws every run), or
    taken with the keywords hidden only when that is 0."""
    model.eval()
    draws = cfg.get("knowledge_draws", 0)
    gen = torch.Generator(device=device).manual_seed(1234) if draws else None
    n = len(dataset.lang["ids"])
    k = cfg["topk"]
    out = {"candidates": np.zeros((n, k), np.int64), "recon_loss": np.full((n, k), np.inf, np.float32),
           "coarse": np.zeros((n, k), np.float32), "valid": np.zeros((n, k), bool),
           "pred_class": np.zeros(n, np.int64)}
    p = max(len(v["center"]) for v in dataset.proposals.values())
    out["center"], out["size"] = np.zeros((n, p, 3), np.float32), np.zeros((n, p, 3), np.float32)
    loader = make_loader(dataset, cfg["batch_size"], False, 0, collate, 0, device)
    for batch in tqdm(loader, desc=desc, leave=False, unit="batch"):
        batch = to_device(batch, device)
        with autocast(device, cfg["amp"]):
            res = model(batch)
            if draws:
                real = batch["mask"] != 2
                recon = [model(batch, draws={"random": draw_random_mask(real, cfg["random_mask"], gen)})["recon"].float()
                         for _ in range(draws)]
                res["recon"] = torch.stack(recon).mean(0)
        sel = batch["sent_mask"]
        idx = batch["sentence_index"][sel].cpu().numpy()
        kk = res["candidates"].shape[-1]
        cand_ok = res["candidate_valid"][sel]
        out["candidates"][idx, :kk] = torch.where(cand_ok, res["candidates"][sel], 0).cpu().numpy()
        out["coarse"][idx, :kk] = res["candidate_weights"][sel].float().cpu().numpy()
        out["valid"][idx, :kk] = res["candidate_valid"][sel].cpu().numpy()
        if "recon" in res:
            out["recon_loss"][idx, :kk] = res["recon"][sel].float().cpu().numpy()
        out["pred_class"][idx] = res["class_logits"][sel].argmax(-1).cpu().numpy()
        if model.joint_student:  # the jointly trained student head
            out.setdefault("student", np.zeros(n, np.int64))[idx] = res["scores"][sel].float().argmax(-1).cpu().numpy()
        scene_of = torch.arange(sel.shape[0], device=sel.device)[:, None].expand_as(sel)[sel]
        bp = batch["center"].shape[1]
        out["center"][idx, :bp] = batch["center"][scene_of].cpu().numpy()  # each sentence's scene's boxes
        out["size"][idx, :bp] = batch["size"][scene_of].cpu().numpy()
    return out


def train_teacher(cfg: dict, recipe: Recipe, paths: dict, device, seed: int, out_dir: str, live_dir: str,
                  loader_workers: int = 0, step: str = "auto", checkpoint_every_s: float = 0.0) -> dict:
    """Under torchrun (engine/distributed.py) each rank trains on its part of every global batch of scenes (whole
    batches only), steps eagerly, and rank 0 alone reports and writes; alone, the run it always was."""
    seed_everything(seed)
    ctx = distributed.context()
    mode = "eager" if ctx.enabled else step_mode(step, device)
    train_set = grounding_set(paths, "train", cfg, recipe, shuffle_seed=seed)
    # the authors pad every scene to lang_num_max sentences; a CUDA graph needs every other size fixed too, and so
    # do ranks that gather each other's proposals
    sizes = train_set.static_sizes() if mode == "graph" or ctx.enabled else {"sentences": cfg["lang_num_max"]}
    model = build_teacher(cfg, recipe, paths["language_dir"], train_set.feature_dim, seed).to(device)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg["lr"], cfg["weight_decay"], device,
                         mode)
    ckpt = Checkpoint(out_dir, {"teacher": cfg, "seed": seed}, paths.values(), checkpoint_every_s)
    start, extra = ckpt.load(model, opt, None, device)
    if start:
        log.info("resuming teacher from %s at epoch %d", ckpt.path, start)
    else:
        if recipe.language_warmup and cfg["language_warmup_epochs"]:  # every rank the same passes (DDP then
            acc = warm_up_language(model.language, train_set.lang, cfg, device, seed)  # broadcasts rank 0's)
            log.info("language warm-up: %d epochs, training class accuracy %.3f", cfg["language_warmup_epochs"], acc)
        if ctx.enabled:  # each rank its own dropout stream
            torch.manual_seed(seed + ctx.rank)
    net = distributed.wrap(model, ctx, device)  # DDP with global batch norm under torchrun, else the model
    reports = _report_sets(cfg, recipe, paths) if cfg["eval_every"] and ctx.is_main else {}
    curves = Curves(live_dir, resume=start > 0) if ctx.is_main else None
    runner = StepRunner(net, opt, mode)
    history = list(extra.get("history", []))  # a resumed run continues its record

    def loss_fn(epoch: int):
        def fn(batch):
            with autocast(device, cfg["amp"]):
                out = net(batch, random_mask=cfg["random_mask"])
            return teacher_losses(out, batch, cfg, epoch, recipe)
        return fn

    # one loader for every epoch left (workers started once), shuffled by (seed, epoch) as a loader per epoch would be
    loader = EpochLoader(train_set, cfg["batch_size"], seed, range(start, cfg["epochs"]), partial(collate, sizes=sizes),
                         loader_workers, device, drop_last=ctx.enabled, rank=ctx.rank, world=ctx.world)
    for epoch in range(start, cfg["epochs"]):
        model.train()
        key = recon_phase(epoch, cfg, recipe)  # a captured step per phase: only the phase changes the loss
        fn = loss_fn(epoch)
        sums: dict = {}
        t0 = time.perf_counter()
        for batch in loader.epoch(epoch, f"teacher epoch {epoch + 1}/{cfg['epochs']}" if ctx.is_main else None):
            terms = runner(to_device(batch, device), key, fn)
            for k, v in terms.items():  # device tensors: one host sync per epoch, not per step
                sums[k] = sums.get(k, 0.0) + v.float()
        # each rank's terms are its part's share of the global batch's: their mean over ranks is the batch's
        row = {f"train/{k}": float(distributed.all_sum(v)) / ctx.world / loader.steps for k, v in sums.items()}
        log.info("teacher epoch %d: %.1f s (%s steps)", epoch + 1, time.perf_counter() - t0, mode)
        if reports and ((epoch + 1) % cfg["eval_every"] == 0 or epoch + 1 == cfg["epochs"]):
            for split, (ds, targets) in reports.items():
                rep = accuracy_report(run_teacher(model, ds, cfg, device, f"report {split}"), targets,
                                      recipe.joint_student)
                row.update({f"{split}/{k}": v for k, v in rep.items()})
            log.info("epoch %d: %s", epoch + 1, {k: round(v, 3) for k, v in row.items()})
        if curves is not None:
            curves.log(row, epoch)
        history.append({k: v for k, v in row.items() if k.startswith("train/")})
        ckpt.save(epoch, model, opt, extra={"history": history}, final=epoch + 1 == cfg["epochs"])
    if curves is not None:
        curves.close()
    if recipe.coarse_from_fine and cfg["coarse_fit_epochs"]:  # after the last epoch (a resumed run fits again)
        agree = fit_coarse_from_fine(model, train_set, cfg, device, seed)
        log.info("coarse_from_fine: %d passes, the coarse top-1 agrees with the fine stage on %.3f of the training "
                 "sentences", cfg["coarse_fit_epochs"], agree)
    return {"model": model, "history": history}


def fit_coarse_from_fine(model: Teacher, dataset: GroundingSet, cfg: dict, device, seed: int) -> float:
    """Our `coarse_from_fine`: the trained teacher's candidates of every training sentence, its coarse dot products
    and its fine stage's choice, cached once; then only the coarse score's own term (sentence bag of word vectors x
    proposal feature, `Teacher.coarse_head`) learns to put the fine stage's choice first, for `coarse_fit_epochs`
    passes at `coarse_fit_lr`. Nothing else changes: the fine stage and the students' targets are the trained
    teacher's. Returns how often the fitted coarse top-1 among the candidates is the fine stage's choice."""
    model.eval()
    # one grouping of sentences into scenes whatever the training loader last left (its workers regroup their own
    # copies), so the cached floats, and the fit, are the same in every run
    dataset.set_epoch(0)
    cached: dict[str, list] = {k: [] for k in ("index", "bag", "base", "props", "valid", "fine")}
    with torch.no_grad():
        for batch in make_loader(dataset, cfg["batch_size"], False, 0, collate, 0, device):
            batch = to_device(batch, device)
            with autocast(device, cfg["amp"]):
                out = model(batch)
            sel, valid = batch["sent_mask"], out["candidate_valid"]
            props = gather_rows(out["matched"].float(), out["candidates"])                  # (B, S, K, H)
            cached["index"].append(batch["sentence_index"][sel])
            cached["bag"].append(out["bag"][sel])
            cached["base"].append(torch.einsum("bsh,bskh->bsk", out["sentence"].float(), props)[sel])
            cached["props"].append(props[sel])
            cached["valid"].append(valid[sel])
            cached["fine"].append(fine_choice(out["recon"], valid)[sel])
    order = torch.cat(cached["index"]).argsort()
    bag, base, props, valid, fine = (torch.cat(cached[k])[order] for k in ("bag", "base", "props", "valid", "fine"))
    weight = torch.zeros_like(model.coarse_head, requires_grad=True)
    opt = torch.optim.AdamW([weight], lr=cfg["coarse_fit_lr"], weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(seed)
    learned = lambda rows: coarse_head_term(bag[rows], weight, props[rows])  # noqa: E731
    for _ in range(cfg["coarse_fit_epochs"]):
        for rows in torch.randperm(len(fine), generator=gen).split(cfg["batch_size"] * cfg["lang_num_max"]):
            rows = rows.to(bag.device)
            loss = coarse_from_fine_loss(base[rows], learned(rows), fine[rows], valid[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        model.coarse_head.copy_(weight)
        every = torch.arange(len(fine), device=bag.device)
        top = (base + learned(every)).masked_fill(~valid, float("-inf")).argmax(-1)
        return float((top == fine)[valid.any(-1)].float().mean()) if len(fine) else 0.0


def warm_up_language(language: LanguageEncoder, lang: dict, cfg: dict, device, seed: int) -> float:
    """Our `language_warmup`: the language encoder learns alone to name each training sentence's target class (the
    annotation's object_name, which weak supervision has) for `language_warmup_epochs` passes at
    `language_warmup_lr`, before the joint training. Trained jointly from the start, the classifier learns slowly
    (the coarse stage's class terms and class_candidates then pick from the wrong class for most of training):
    benchmarks/RESULTS.md, "The main job". Returns the last pass's training accuracy."""
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in language.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["language_warmup_lr"], weight_decay=cfg["weight_decay"])
    ids, length, target = (torch.from_numpy(lang[k]).long() for k in ("ids", "length", "class18"))
    batch = cfg["batch_size"] * cfg["lang_num_max"]
    language.train()
    for _ in range(cfg["language_warmup_epochs"]):
        order, correct = torch.randperm(len(ids), generator=gen), 0
        for rows in order.split(batch):
            width = int(length[rows].max())  # the batch's longest sentence, not the table's padded width
            x, n, y = ids[rows, :width].to(device), length[rows].to(device), target[rows].to(device)
            dropped = draw_word_dropout(n, width, cfg["word_dropout"]) if cfg["word_dropout"] > 0 else None
            logits = language(x, n, dropped)["class_logits"].float()
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(-1) == y).sum())
    return correct / max(len(ids), 1)


def _report_sets(cfg, recipe, paths) -> dict:
    """Datasets with targets, for the accuracy curves only (the model never sees the targets)."""
    out = {}
    for split in ("train", "val"):
        ds = grounding_set(paths, split, cfg, recipe, with_targets=True)
        lang = read_masked(paths["masked"], split)
        out[split] = (ds, target_boxes(paths["preprocessed"], lang["scene_id"], lang["object_id"]))
    return out


def write_knowledge(path: str, knowledge: dict[str, dict], cfg: dict) -> None:
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["topk"] = cfg["topk"]
        for split, k in knowledge.items():
            g = h5.create_group(split)
            for name in ("candidates", "recon_loss", "coarse", "valid", "pred_class"):
                g.create_dataset(name, data=k[name])


def read_knowledge(path: str, split: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {k: h5[split][k][()] for k in h5[split]}


def load_teacher(path: str, paths: dict, split: str) -> tuple[Teacher, dict, GroundingSet]:
    """A saved teacher (save_teacher) in eval mode on the CPU, its config, and its dataset of `split` over `paths`
    (grounding_paths): the architecture and recipe come from the checkpoint."""
    ck = load_weights(path)
    cfg = ck["config"]
    recipe = Recipe.from_dict(cfg["recipe"])
    ds = grounding_set(paths, split, cfg, recipe)
    model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, 0)  # every weight is then loaded
    model.load_state_dict(ck["model"])
    return model.eval(), cfg, ds


def save_teacher(path: str, model: Teacher, cfg: dict, recipe: Recipe, history: list[dict] | None = None) -> None:
    """The weights, the config with its recipe in place of the raw switches (distill, evaluate and the CLI read the
    recipe from here), and the per-epoch training terms (the jointly trained head's curve lives there)."""
    save_weights(path, model, recipe.in_config(cfg), history=history or [])
