"""One round of cross-fitted self-training over a teacher's knowledge, with a diagnostic report that reads the targets.

The pipeline runs it as `distill.self_training_rounds` (src/ws3dvg/grounding/self_training.py, which says how it
works). This script runs one round outside the pipeline, for `run_variants.py`'s `cross_fit=F` variants, with a
free exponent for the student (`--weight`) and a report the pipeline never writes: over the training rows with 2+
valid candidates, how often the teacher, the held-out students alone and their product pick the target (the
targets weak supervision never sees; read only for the report).

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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulated_teacher import accuracy  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.atomic import write_json  # noqa: E402
from ws3dvg.engine.config import load_params, resolve_device  # noqa: E402
from ws3dvg.engine.training import load_weights  # noqa: E402
from ws3dvg.grounding.self_training import (  # noqa: E402
    held_out_scores,
    knowledge_topk,
    product,
    training_rows,
)
from ws3dvg.grounding.student import full_supervision_targets, student_config  # noqa: E402
from ws3dvg.grounding.teacher import read_knowledge, write_knowledge  # noqa: E402


def cross_fit(source: str, out_dir: Path, folds: int, weight: float, params: dict) -> dict:
    """Train the held-out students, write out_dir/knowledge.h5 -> the report."""
    base, data = params["base"], params["data"]
    paths = artifacts.grounding_paths(data["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "preprocessed")
    paths["knowledge"] = source
    teacher = load_weights(artifacts.TEACHER_WEIGHTS)
    cfg = student_config(params["distill"], "weak", teacher["config"])
    train = read_knowledge(source, "train")
    fold, words = training_rows(paths, source, len(train["valid"]), folds, base["seed"])
    t0 = time.perf_counter()
    log_q = held_out_scores(cfg, paths, train, fold, out_dir, resolve_device(base["device"]), base["seed"], teacher,
                            params["runtime"])
    combined = product(train, log_q, words, weight)
    write_knowledge(str(out_dir / "knowledge.h5"), {"train": combined, "val": read_knowledge(source, "val")},
                    {"topk": knowledge_topk(source)})
    target = full_supervision_targets(paths, "train")
    student_only = product({**train, "recon_loss": np.zeros_like(train["recon_loss"])}, log_q, words, 1.0)
    models = (("teacher", train), ("held_out_student", student_only), ("product", combined))

    def right(k: dict, rows: np.ndarray) -> dict:
        return accuracy({name: v[rows] for name, v in k.items()}, target[rows])

    everything = np.ones(len(target), bool)
    return {"source": source, "folds": folds, "weight": weight, "seed": base["seed"],
            "seconds": round(time.perf_counter() - t0, 1),
            "train_rows": {name: right(k, everything) for name, k in models},
            "per_fold": [{name: right(k, fold == f)["fine_right"] for name, k in models} for f in range(folds)]}


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
    write_json(args.out_dir / "cross_fit.json", report, indent=1)


if __name__ == "__main__":
    main()
