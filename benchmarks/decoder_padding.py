"""How much of the teacher's step is padding? The fine stage decodes every (sentence, candidate) row at the batch's
padded shape: sentences padded to `lang_num_max` per scene chunk, candidates to K (invalid ones are masked after
decoding), words to the split's longest sentence where a CUDA graph needs one static shape. This reports, over a few
training batches of a pipeline tree: the share of decoded rows x word positions that are a valid candidate's real
word, the decoder's share of the forward pass (CUDA events around its forward), and the eager step's time at the
static shape against the batch's own longest sentence (what trimming the word axis alone would give).

Usage (pipeline root, after cache_detector; the teacher's params as train_teacher reads them):
    PYTHONPATH=src python benchmarks/decoder_padding.py [--batches 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_features import write_json  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.config import load_params, resolve_device  # noqa: E402
from ws3dvg.engine.training import autocast, make_optimizer, to_device  # noqa: E402
from ws3dvg.grounding.data import collate, grounding_set  # noqa: E402
from ws3dvg.grounding.losses import teacher_losses  # noqa: E402
from ws3dvg.grounding.recipe import Recipe  # noqa: E402
from ws3dvg.grounding.teacher import build_teacher, warm_up_language  # noqa: E402
from ws3dvg.text.vocab import PADDING  # noqa: E402


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def padding_counts(valid: torch.Tensor, tokens: torch.Tensor, sent_mask: torch.Tensor) -> dict:
    """What the decoder ran on and what of it counts. valid (B, S, K) bool: the candidates kept after decoding;
    tokens (B, S, L): the masking codes (PADDING past a sentence's end); sent_mask (B, S): real sentences.
    -> rows (B*S*K) and valid_rows; decoded (rows x L) and useful (a valid candidate's real word) positions."""
    real = (tokens != PADDING) & sent_mask[..., None]
    b, s, k = valid.shape
    return {"rows": b * s * k, "valid_rows": int(valid.sum()), "decoded": b * s * k * tokens.shape[-1],
            "useful": int((valid.sum(-1) * real.sum(-1)).sum()), "real_words": int(real.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    params = load_params()
    cfg, device = params["teacher"], resolve_device(params["base"]["device"])
    recipe = Recipe.from_params(cfg)
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    ds = grounding_set(paths, "train", cfg, recipe, shuffle_seed=params["base"]["seed"])
    static = ds.static_sizes()
    model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, params["base"]["seed"]).to(device)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg["lr"], cfg["weight_decay"], device,
                         "eager")
    if recipe.language_warmup and cfg["language_warmup_epochs"]:  # as train_teacher: the class-restricted
        warm_up_language(model.language, ds.lang, cfg, device, params["base"]["seed"])  # candidates need it
    model.train()
    timing = {"decoder_s": 0.0}
    events: list = []

    def mark(*_) -> None:  # a CUDA event before and after the decoder's forward (hooks that change nothing)
        events.append(torch.cuda.Event(enable_timing=True))
        events[-1].record()

    if device.type == "cuda":
        model.decoder.register_forward_pre_hook(mark)
        model.decoder.register_forward_hook(mark)

    def step(batch, timed_forward: bool = False) -> tuple[float, dict]:
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device, cfg["amp"]):
            out = model(batch, random_mask=cfg["random_mask"])
        if timed_forward:
            sync(device)
            timing["forward_s"] = timing.get("forward_s", 0.0) + time.perf_counter() - t0
        loss, _ = teacher_losses(out, batch, cfg, cfg["epochs"] - 1, recipe)
        loss.backward()
        opt.step()
        sync(device)
        return time.perf_counter() - t0, out

    rows = {"decoded": 0, "useful": 0, "real_words": 0, "valid_rows": 0, "rows": 0}
    static_s = trimmed_s = 0.0
    n = min(args.batches, len(ds) // cfg["batch_size"] - 2)
    # items drawn across the split as the training loader shuffles them (the dataset lists them scene by scene)
    order = np.random.default_rng(params["base"]["seed"]).permutation(len(ds))
    for i in range(n + 2):  # two warm-up batches first
        items = [ds[int(j)] for j in order[i * cfg["batch_size"]:(i + 1) * cfg["batch_size"]]]
        full = to_device(collate(items, static), device)
        own = to_device(collate(items, {"sentences": static["sentences"]}), device)  # the batch's longest sentence
        events.clear()
        t_full, out = step(full, timed_forward=i >= 2)
        if i < 2:
            continue
        if events:
            timing["decoder_s"] += events[0].elapsed_time(events[1]) / 1000
        t_own, _ = step(own)
        static_s, trimmed_s = static_s + t_full, trimmed_s + t_own
        for key, value in padding_counts(out["candidate_valid"], full["mask"], full["sent_mask"]).items():
            rows[key] += value
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "batches": n, "batch_size": cfg["batch_size"], "static_sizes": static, "topk": cfg["topk"],
        "valid_candidate_share": rows["valid_rows"] / rows["rows"],
        "useful_share_of_decoded_positions": rows["useful"] / rows["decoded"],
        "step_s_static": static_s / n, "step_s_own_length": trimmed_s / n,
        "forward_s": timing.get("forward_s", 0.0) / n,
        "decoder_forward_s": timing["decoder_s"] / n if device.type == "cuda" else None,
    }
    for key, value in report.items():
        print(f"{key:36s} {value}")
    if args.json:
        write_json(report, args.json)


if __name__ == "__main__":
    main()
