"""Where a detector training step's time goes (issue: the detector at benchmark speed): data wait, forward,
loss, backward + optimiser, each timed with a CUDA sync around it, then a torch.profiler table of the ops.

Usage (pipeline root, after preprocess / project_multiview): PYTHONPATH=src python benchmarks/profile_detector.py
    [--steps 12] [--out profile.txt] [--cudnn-benchmark] [--graph] [--json times.json]

--graph replays the whole step (forward, loss, backward, clipping, fused AdamW at a constant learning rate) as
one CUDA graph through training.StepRunner, with the GT boxes padded to one count; the phases are then not
separable and only "data" and "total" are reported.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np
import torch

from ws3dvg.detection.data import collate, feature_dim
from ws3dvg.detection.loss import detection_loss
from ws3dvg.detection.train import _float, mean_sizes, scene_set
from ws3dvg.engine.config import load_params, resolve_device
from ws3dvg.engine.training import StepRunner, autocast, make_loader, to_device
from ws3dvg.models.detector import build_detector
from ws3dvg.scannet.preprocess import read_splits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", default="profile_detector.txt")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms per shape")
    ap.add_argument("--graph", action="store_true", help="the step as one CUDA graph (StepRunner)")
    ap.add_argument("--json", default="", help="append the medians as one JSON line to this file")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    params = load_params()
    cfg, data = params["detector"], params["data"]
    device = resolve_device(params["base"]["device"])
    splits = read_splits(data["preprocessed"])
    mv = data["multiview"] if "multiview" in cfg["input_features"] else None
    ds = scene_set(cfg, data["preprocessed"], splits["train"], True, 0, mv, params["runtime"]["workers"])
    model = build_detector(cfg, feature_dim(cfg["input_features"]), mean_sizes(cfg, data["preprocessed"],
                                                                               splits["train"])).to(device)
    args.graph = args.graph and device.type == "cuda"  # the CPU has no graphs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                            fused=device.type == "cuda", capturable=args.graph)  # as train_detector
    max_boxes = max(int((d["box_class18"] >= 0).sum()) for d in ds.data)
    loader = make_loader(ds, cfg["batch_size"], True, 0, partial(collate, max_boxes=max_boxes),
                         params["runtime"]["loader_workers"], device, drop_last=True)
    runner = StepRunner(model, opt, "graph" if args.graph else "eager", clip_norm=10.0)

    def loss_fn(b):
        with autocast(device, cfg["amp"]):
            out = model(b["xyz"], b["features"])
        return detection_loss(_float(out), b, model.mean_size_arr, cfg["center_delta"], cfg["size_delta"])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    parts: dict[str, list[float]] = {k: [] for k in ("data", "forward", "loss", "backward+step", "total")}
    def batches():
        while True:  # epochs back to back
            yield from loader

    it = batches()

    def step(record: bool):
        t0 = time.perf_counter()
        batch = to_device(next(it), device)
        batch["features"] = ds.input_features(batch)
        sync()
        t1 = time.perf_counter()
        if args.graph:
            runner(batch, "step", loss_fn)
            sync()
            t4 = time.perf_counter()
            if record:
                parts["data"].append(1e3 * (t1 - t0))
                parts["total"].append(1e3 * (t4 - t0))
            return
        with autocast(device, cfg["amp"]):
            out = model(batch["xyz"], batch["features"])
        sync()
        t2 = time.perf_counter()
        loss, _ = detection_loss(_float(out), batch, model.mean_size_arr, cfg["center_delta"], cfg["size_delta"])
        sync()
        t3 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sync()
        t4 = time.perf_counter()
        if record:
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                parts[k].append(1e3 * v)

    model.train()
    for _ in range(3):
        step(False)
    for _ in range(args.steps):
        step(True)
    lines = [f"detector step, batch {cfg['batch_size']} x {cfg['num_points']} points, median ms over {args.steps}:"]
    lines += [f"  {k:14s} {np.median(v):8.1f}" for k, v in parts.items() if v]
    if args.json:
        row = {"graph": args.graph, "cudnn_benchmark": args.cudnn_benchmark, "steps": args.steps,
               **{k: round(float(np.median(v)), 2) for k, v in parts.items() if v}}
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(3):
            step(False)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    lines.append(prof.key_averages().table(sort_by=key, row_limit=25))
    text = "\n".join(lines)
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
