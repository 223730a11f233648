"""One training step of the grounding head on cached-detector-shaped inputs (the authors' joint step).

Language GRU (and its keyword-masked second pass), relation encoder, the student's match head, coarse top-K,
reconstruction over K = 8 candidates, all losses (MIL, language classification, reconstruction, distillation),
backward, AdamW: the authors' joint step (`teacher.variant: paper`), as the authors' released step.
256 proposals x 288-d, 32 words, vocabulary 3,500; B scenes x 8 sentences.

    PYTHONPATH=src python benchmarks/bench_grounding_step.py [--batches 4 8 16] [--variant paper|ours] [--json out.json]

Median of `--steps` CUDA-event timings after warm-up; peak memory from torch.cuda.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml
from bench_pointops import timeit

from ws3dvg.grounding.losses import distillation_loss, teacher_losses
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.models.grounding import Student, Teacher

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def make_batch(b, s, p, length, vocab, device, g):
    lengths = torch.randint(8, length + 1, (b, s), generator=g)
    ids = torch.randint(4, vocab, (b, s, length), generator=g)
    pos = torch.arange(length)
    valid = pos < lengths[..., None]
    ids = torch.where(valid, ids, 0)
    mask = torch.where(valid, (torch.rand(b, s, length, generator=g) < 0.15).long(), 2)
    center = torch.rand(b, p, 3, generator=g) * 6
    size = torch.rand(b, p, 3, generator=g) + 0.2
    signs = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=torch.float32) / 2
    batch = {"ids": ids, "mask": mask, "length": lengths, "class18": torch.randint(0, 18, (b, s), generator=g),
             "sent_mask": torch.ones(b, s, dtype=torch.bool), "prop_mask": torch.ones(b, p, dtype=torch.bool),
             "features": torch.randn(b, p, 288, generator=g), "center": center, "size": size,
             "corners": center[:, :, None] + signs * size[:, :, None],
             "objectness": torch.rand(b, p, generator=g) * 0.5 + 0.5,
             "class_logits": torch.randn(b, p, 18, generator=g) * 3}
    batch["class_scores"] = batch["class_logits"].softmax(-1)
    return {k: v.to(device) for k, v in batch.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--amp", type=int, default=1)
    ap.add_argument("--graph", type=int, default=0, help="capture the whole step (fwd, bwd, AdamW) in a CUDA graph")
    ap.add_argument("--variant", default="paper", choices=["paper", "ours"],
                    help="paper: the joint step; ours: params.yaml's departures (staged: teacher + separate student)")
    ap.add_argument("--json")
    args = ap.parse_args()
    cfg = dict(PARAMS["teacher"], variant=args.variant)
    dev = torch.device(args.device)
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "variant": args.variant,
           "amp_bf16": bool(args.amp and dev.type == "cuda"), "cuda_graph": bool(args.graph), "rows": {}}
    for b in args.batches:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        recipe = Recipe.from_params(cfg)
        teacher = Teacher(3500, 288, cfg, class_candidates=recipe.class_candidates,
                          joint_student=recipe.joint_student).to(dev)
        # the staged variant distils into a separate student afterwards: time both steps as one here
        student = None if recipe.joint_student else Student(3500, 288, cfg).to(dev)
        params = list(teacher.parameters()) + (list(student.parameters()) if student is not None else [])
        graph = bool(args.graph and dev.type == "cuda")
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=5e-4, fused=dev.type == "cuda", capturable=graph)
        batch = make_batch(b, 8, 256, 32, 3500, dev, g)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if args.amp and dev.type == "cuda" else torch.autocast("cpu", enabled=False)

        def step():
            with amp:
                out = teacher(batch, random_mask=0.3)
                sout = student(batch) if student is not None else None
            loss, _ = teacher_losses(out, batch, cfg, 5, recipe)
            if sout is not None:
                loss = loss + distillation_loss(sout["scores"], out["candidates"], out["recon"].detach(),
                                                out["candidate_valid"], batch["sent_mask"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        if graph:
            # whole-step capture: warm up on a side stream, then record fwd + bwd + optimiser once;
            # a replay reruns every kernel with no Python and no launch overhead
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(args.warmup):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            g_ = torch.cuda.CUDAGraph()
            opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(g_):
                step()
            eager_step, step = step, g_.replay  # noqa: F841
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        med = timeit(step, dev, args.steps, args.warmup)  # the same timing as the point-op benchmark
        row = {"median_ms": round(med, 2), "sentences_per_s": round(b * 8 / med * 1e3, 1)}
        if dev.type == "cuda":
            row["peak_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        res["rows"][f"{b}x8"] = row
        print(f"{b}x8: {row}", flush=True)
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
