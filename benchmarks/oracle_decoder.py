"""Can the fine stage read a kind of word at all, when it is told which object is meant? A teacher trained on
the true target alone.

The weak teacher learns to reconstruct a sentence's hidden keywords from candidates it chose itself. If a kind
of word (material, shape) is never read off the candidate (benchmarks/keyword_readout.py), either the feature
and the decoder cannot carry it, or the weak signal never teaches it. This trains the same teacher, from the
same initial weights, with one change: the reconstruction term sees the true target as the only candidate
(the language classifier and the coarse stage's MIL term train as usual). Then keyword_readout measures it
over the coarse stage's candidates exactly as it measures the weak teacher. Where this teacher reads a kind and
the weak one does not, the signal is what is missing, not the capacity. A diagnostic: it uses the targets that
weak supervision never sees.

Usage (pipeline root): PYTHONPATH=src python benchmarks/oracle_decoder.py OUT.pt [--teacher models/teacher/teacher.pt]
       [--epochs N] [--json out.json]   (the teacher's saved config and recipe; its weights are not used)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keyword_readout import collect, report  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.config import load_params, resolve_device  # noqa: E402
from ws3dvg.engine.training import EpochLoader, autocast, load_weights, seed_everything, to_device  # noqa: E402
from ws3dvg.grounding.data import collate, grounding_set  # noqa: E402
from ws3dvg.grounding.losses import language_loss, mil_nce  # noqa: E402
from ws3dvg.grounding.recipe import Recipe  # noqa: E402
from ws3dvg.grounding.student import full_supervision_targets  # noqa: E402
from ws3dvg.grounding.teacher import build_teacher, save_teacher  # noqa: E402

log = logging.getLogger("oracle_decoder")


def oracle_loss(model, batch: dict, target: torch.Tensor, cfg: dict) -> torch.Tensor:
    """The teacher's loss with the reconstruction term on the target alone: 2 MIL + 2 language + the target's
    reconstruction score (sentences whose target is no proposal, or not a valid candidate, left out)."""
    known = target >= 0
    out = model(batch, random_mask=cfg["random_mask"], draws={"candidates": target.clamp_min(0)[..., None]})
    recon = out["recon"][..., 0]
    take = known & torch.isfinite(recon)
    w = cfg["loss_weights"]
    return (w["mil"] * mil_nce(out["sentence"], out["matched"], batch["prop_mask"], batch["sent_mask"])
            + w["lang_cls"] * language_loss(out["class_logits"], batch["class18"], batch["sent_mask"])
            + w["recon"] * torch.where(take, recon, 0.0).sum() / take.sum().clamp_min(1))


def train_oracle(cfg: dict, recipe: Recipe, paths: dict, device, seed: int, epochs: int):
    seed_everything(seed)
    train = grounding_set(paths, "train", cfg, recipe)
    targets = torch.from_numpy(full_supervision_targets(paths, "train"))
    model = build_teacher(cfg, recipe, paths["language_dir"], train.feature_dim, seed).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    # one loader for every epoch, shuffled by (seed, epoch) as the teacher's training loader is
    loader = EpochLoader(train, cfg["batch_size"], seed, range(epochs), collate, 4 if device.type == "cuda" else 0,
                         device)
    for epoch in range(epochs):
        model.train()
        total, steps = 0.0, 0
        for batch in loader.epoch(epoch):
            batch = to_device(batch, device)
            target = targets.to(device)[batch["sentence_index"].clamp_min(0)]
            with autocast(device, cfg["amp"]):  # bf16 on CUDA as the teacher trains, fp32 on the CPU
                loss = oracle_loss(model, batch, target, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        log.info("oracle epoch %d: loss %.3f", epoch + 1, total / max(steps, 1))
    return model


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="where the oracle teacher is written (teacher.pt format)")
    ap.add_argument("--teacher", default=artifacts.TEACHER_WEIGHTS, help="the config and recipe to train with")
    ap.add_argument("--epochs", type=int, help="default: the teacher's")
    ap.add_argument("--json")
    args = ap.parse_args()
    params = load_params()
    device = resolve_device(params["base"]["device"])
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    cfg = load_weights(args.teacher)["config"]
    recipe = Recipe.from_dict(cfg["recipe"])
    model = train_oracle(cfg, recipe, paths, device, params["base"]["seed"], args.epochs or cfg["epochs"])
    save_teacher(args.out, model, cfg, recipe)
    report(collect(args.out, paths, device), args.json, teacher_config=args.teacher,
           epochs=args.epochs or cfg["epochs"])


if __name__ == "__main__":
    main()
