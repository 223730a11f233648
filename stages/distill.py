"""Stage distill: train the student from the teacher's cached knowledge (never the teacher model)."""

from pathlib import Path

import torch

from ws3dvg.engine.config import load_params, resolve_device, setup_logging
from ws3dvg.engine.training import load_weights, save_weights
from ws3dvg.grounding.student import student_config, train_student


def main(models: str = "models/student", live_dir: str = "metrics/distill_train") -> None:
    log = setup_logging("distill")
    params = load_params()
    cfg, data = params["distill"], params["data"]
    device = resolve_device(params["base"]["device"])
    paths = {"masked": "data/language/masked.h5", "language_dir": "data/language", "knowledge": "data/teacher/knowledge.h5",
             "proposals_train": "data/proposals/train.h5", "preprocessed": data["preprocessed"]}
    teacher = load_weights("models/teacher/teacher.pt")
    Path(f"{models}_full").mkdir(parents=True, exist_ok=True)  # declared output, empty when not trained
    runs = [(cfg["supervision"], models, live_dir)]
    if cfg["reference_full"] and cfg["supervision"] != "full":
        runs.append(("full", f"{models}_full", f"{live_dir}_full"))
    for supervision, out_dir, live in runs:
        run_cfg = student_config(cfg, supervision, teacher["config"])
        torch.manual_seed(params["base"]["seed"])
        model = train_student(run_cfg, paths, device, params["base"]["seed"], out_dir, live, teacher["model"],
                              params["runtime"]["loader_workers"], params["runtime"]["step"], teacher.get("history"),
                              params["runtime"]["checkpoint_every_s"])
        save_weights(Path(out_dir) / "student.pt", model, run_cfg)
        log.info("%s student written to %s", supervision, out_dir)


if __name__ == "__main__":
    main()
