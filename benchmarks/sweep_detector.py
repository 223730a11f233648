"""How many scenes and steps does the detector need? Trains it under several settings on fresh
synthetic data and prints val mAP@0.25 / 0.5 along the way (JSON lines).

Usage (repo root): PYTHONPATH=src python benchmarks/sweep_detector.py --scenes 12 48 \
    --runs "steps=300" "steps=300;lr=0.004" [--parallel 4] [--out sweep.jsonl]

Each run is `key=value;...` over the detector params plus `steps` (total optimiser steps) and
`scenes` (which synthetic set; default: every --scenes value). Runs go in parallel processes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _env(*extra: str) -> dict:
    path = [*extra, str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p), TQDM_DISABLE="1")


def make_data(n: int, root: Path, workers: int) -> Path:
    work = root / f"scenes{n}"
    work.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synth"].update(n_scenes=n)
    params["runtime"]["workers"] = workers
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _env(str(REPO))
    for cmd in (["-m", "stages.synthesize", "data/synthetic"], ["-m", "stages.preprocess"]):
        proc = subprocess.run([sys.executable, *cmd], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed in {work}:\n{proc.stderr[-3000:]}")
    return work


def run_one(spec: dict, work: Path, out: Path) -> dict:
    """Train in a subprocess (its own CUDA context), return the final metrics."""
    code = f"""
import json, logging, math, sys, time, tempfile, torch, yaml
logging.basicConfig(level=logging.INFO)
from ws3dvg.engine.config import resolve_device
from ws3dvg.detection.train import train_detector
from ws3dvg.scannet.preprocess import read_splits
spec = json.loads({json.dumps(json.dumps(spec))})
p = yaml.safe_load(open("params.yaml"))
cfg = dict(p["detector"])
cfg.update({{k: v for k, v in spec.items() if k in cfg}})
splits = read_splits(p["data"]["preprocessed"])
per_epoch = max(1, len(splits["train"]) // cfg["batch_size"])
cfg["epochs"] = math.ceil(spec["steps"] / per_epoch)
cfg["eval_every"] = max(1, cfg["epochs"] // 4)
d = tempfile.mkdtemp()
t = time.time()
r = train_detector(cfg, p["data"]["preprocessed"], splits, d, d + "/live", resolve_device(p["base"]["device"]), 3407)
print("RESULT", json.dumps({{"mAP@0.25": r["metrics"]["mAP@0.25"], "mAP@0.5": r["metrics"]["mAP@0.5"],
                            "epochs": cfg["epochs"], "seconds": round(time.time() - t, 1)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=_env(), capture_output=True, text=True)
    curve = [line.split("epoch ", 1)[1] for line in proc.stderr.splitlines() if "val mAP" in line]
    result = next((json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")),
                  {"error": proc.stderr[-2000:]})
    row = {**spec, **result, "curve": [c.split(": loss")[0] + ":" + c.split("val", 1)[1] for c in curve]}
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return row


def parse(run: str) -> dict:
    spec = {}
    for kv in filter(None, run.split(";")):
        k, v = kv.split("=", 1)
        spec[k] = yaml.safe_load(v)
    return spec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, nargs="+", default=[12])
    ap.add_argument("--runs", nargs="+", default=["steps=300"])
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="sweep.jsonl")
    ap.add_argument("--root", default=None, help="folder for the synthetic sets (default: a temp folder)")
    args = ap.parse_args()
    root = Path(args.root or tempfile.mkdtemp(prefix="sweep_"))
    t0 = time.time()
    works = {n: make_data(n, root, args.workers) for n in args.scenes}
    print(f"data ready in {time.time() - t0:.0f} s", flush=True)
    specs = []
    for run, n in itertools.product(args.runs, args.scenes):
        spec = parse(run)
        if spec.setdefault("scenes", n) == n:
            specs.append(spec)
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(lambda s: run_one(s, works[s["scenes"]], Path(args.out)), specs))


if __name__ == "__main__":
    main()
