"""Stage distill: train the student from the teacher's cached knowledge (never the teacher model).

Several GPUs: `torchrun --nproc_per_node N -m stages.distill`; each rank trains on its part of every global
batch, rank 0 alone writes.
"""

import logging
from pathlib import Path

import torch

from ws3dvg.engine import artifacts, distributed
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.engine.training import load_weights, save_weights
from ws3dvg.grounding.self_training import self_train
from ws3dvg.grounding.student import student_config, train_student


def main() -> None:
    log = setup_logging("distill")
    params = load_params()
    cfg, data = params["distill"], params["data"]
    ctx, device = distributed.init(resolve_device(params["base"]["device"]))
    if not ctx.is_main:  # rank 0 speaks for the run
        logging.getLogger().setLevel(logging.WARNING)
    paths = artifacts.grounding_paths(data["preprocessed"], "masked", "language_dir", "knowledge", "proposals_train",
                                      "preprocessed")
    teacher = load_weights(artifacts.TEACHER_WEIGHTS)
    Path(artifacts.STUDENT_FULL).mkdir(parents=True, exist_ok=True)  # declared output, empty when not trained
    runs = [(cfg["supervision"], artifacts.STUDENT, artifacts.curves("distill"))]
    if cfg["reference_full"] and cfg["supervision"] != "full":
        runs.append(("full", artifacts.STUDENT_FULL, artifacts.curves("distill") + "_full"))
    seed, runtime = params["base"]["seed"], params["runtime"]
    for supervision, out_dir, live in runs:
        run_cfg = student_config(cfg, supervision, teacher["config"])
        knowledge = paths["knowledge"]
        if supervision == "weak" and run_cfg.get("self_training_rounds"):  # off in the paper's recipe and joint head
            knowledge = self_train(run_cfg, paths, Path(out_dir) / "self_training", device, seed, teacher, runtime)
        torch.manual_seed(seed)
        model = train_student(run_cfg, {**paths, "knowledge": knowledge}, device, seed, out_dir, live,
                              teacher["model"], runtime["loader_workers"], runtime["step"], teacher.get("history"),
                              runtime["checkpoint_every_s"])
        if ctx.is_main:
            save_weights(artifacts.student_weights(out_dir), model, run_cfg)
            log.info("%s student written to %s", supervision, out_dir)
    distributed.shutdown()


if __name__ == "__main__":
    run_stage(main)
