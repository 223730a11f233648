"""Stage distill: train the student from the teacher's cached knowledge (never the teacher model)."""

from pathlib import Path

import torch

from ws3dvg.engine import artifacts
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.engine.training import load_weights, save_weights
from ws3dvg.grounding.student import student_config, train_student


def main() -> None:
    log = setup_logging("distill")
    params = load_params()
    cfg, data = params["distill"], params["data"]
    device = resolve_device(params["base"]["device"])
    paths = artifacts.grounding_paths(data["preprocessed"], "masked", "language_dir", "knowledge", "proposals_train",
                                      "preprocessed")
    teacher = load_weights(artifacts.TEACHER_WEIGHTS)
    Path(artifacts.STUDENT_FULL).mkdir(parents=True, exist_ok=True)  # declared output, empty when not trained
    runs = [(cfg["supervision"], artifacts.STUDENT, artifacts.curves("distill"))]
    if cfg["reference_full"] and cfg["supervision"] != "full":
        runs.append(("full", artifacts.STUDENT_FULL, artifacts.curves("distill") + "_full"))
    for supervision, out_dir, live in runs:
        run_cfg = student_config(cfg, supervision, teacher["config"])
        torch.manual_seed(params["base"]["seed"])
        model = train_student(run_cfg, paths, device, params["base"]["seed"], out_dir, live, teacher["model"],
                              params["runtime"]["loader_workers"], params["runtime"]["step"], teacher.get("history"),
                              params["runtime"]["checkpoint_every_s"])
        save_weights(artifacts.student_weights(out_dir), model, run_cfg)
        log.info("%s student written to %s", supervision, out_dir)


if __name__ == "__main__":
    run_stage(main)
