"""Run pipeline stages one after another in this process's children and record, per stage, its wall time, the
peak resident memory of the stage's process and of its own children (pools, loader workers), and on CUDA the peak
GPU memory torch allocated and reserved (issue "ScanRefer's size on one GPU").

    PYTHONPATH=src python benchmarks/stage_resources.py --json scale.json [synthesize preprocess ... evaluate]

Each stage runs as `python -m stages.NAME` would, in a fresh process (so one stage's peaks never count for the
next), through `--one NAME`, which runs the stage's main() and prints its own figures as one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import time


def measure_one(name: str) -> dict:
    """Run stages.NAME's main() here; -> seconds, peak RSS (GiB) of this process and of its children, GPU peaks."""
    sys.path.insert(0, ".")  # the pipeline root, where stages/ is (run from there, as dvc and Snakemake do)
    t0 = time.perf_counter()
    module = importlib.import_module(f"stages.{name}")
    from ws3dvg.engine.config import run_stage

    try:
        run_stage(module.main)
    except SystemExit as exit_:  # run_stage exits 1 after printing a bad input's one line
        if exit_.code:
            raise
    row = {"stage": name, "seconds": round(time.perf_counter() - t0, 1),
           # ru_maxrss is in KiB on Linux
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
           "children_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)}
    import torch

    if torch.cuda.is_available():
        row["gpu_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        row["gpu_peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stages", nargs="*", help="stage names (default: every stage of dvc.yaml, in its order)")
    ap.add_argument("--one", help="run this stage in this process and print its figures (used by the driver)")
    ap.add_argument("--json", default="", help="append every stage's figures to this file, one JSON line each")
    args = ap.parse_args()
    if args.one:
        print("STAGE_RESOURCES " + json.dumps(measure_one(args.one)), flush=True)
        return
    if not args.stages:
        from ws3dvg.engine.workflow import load_stages

        args.stages = list(load_stages("dvc.yaml"))
    for name in args.stages:
        proc = subprocess.run([sys.executable, __file__, "--one", name], stdout=subprocess.PIPE, text=True)
        sys.stdout.write("".join(line + "\n" for line in proc.stdout.splitlines()
                                 if not line.startswith("STAGE_RESOURCES ")))
        rows = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines()
                if line.startswith("STAGE_RESOURCES ")]
        if proc.returncode or not rows:
            sys.exit(f"stage {name} failed (exit {proc.returncode})")
        print(json.dumps(rows[0]), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(rows[0]) + "\n")


if __name__ == "__main__":
    main()
