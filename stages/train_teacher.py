"""Stage train_teacher: coarse-to-fine semantic matching trained with scene-sentence pairs only;
writes the teacher, its knowledge for distillation and its val accuracy."""

from pathlib import Path

from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device, setup_logging
from ws3dvg.grounding.data import grounding_set
from ws3dvg.grounding.evaluation import target_boxes
from ws3dvg.grounding.teacher import accuracy_report, run_teacher, save_teacher, train_teacher, write_knowledge
from ws3dvg.text.masking import read_masked


def main(models: str = "models/teacher", knowledge: str = "data/teacher/knowledge.h5",
         metrics: str = "metrics/teacher.json", live_dir: str = "metrics/teacher_train") -> None:
    log = setup_logging("train_teacher")
    params = load_params()
    cfg, data = params["teacher"], params["data"]
    device = resolve_device(params["base"]["device"])
    paths = {"masked": "data/language/masked.h5", "language_dir": "data/language",
             "proposals_train": "data/proposals/train.h5", "proposals_val": "data/proposals/val.h5",
             "preprocessed": data["preprocessed"]}
    trained = train_teacher(cfg, paths, device, params["base"]["seed"], models, live_dir,
                            params["runtime"]["loader_workers"], params["runtime"]["step"],
                            params["runtime"]["checkpoint_every_s"])
    model = trained["model"]
    save_teacher(str(Path(models) / "teacher.pt"), model, cfg, trained["history"])
    know, report = {}, {}
    for split in ("train", "val"):
        ds = grounding_set(paths, split, cfg)
        know[split] = run_teacher(model, ds, cfg, device, f"knowledge {split}")
    write_knowledge(knowledge, know, cfg)
    lang = read_masked(paths["masked"], "val")  # targets for the report only, after training
    report = accuracy_report(know["val"], target_boxes(data["preprocessed"], lang["scene_id"], lang["object_id"]))
    write_json(metrics, {"val": report})
    log.info("val: %s", {k: round(v, 3) for k, v in report.items()})


if __name__ == "__main__":
    main()
