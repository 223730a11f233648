"""Stage train_teacher: coarse-to-fine semantic matching trained with scene-sentence pairs only;
writes the teacher, its knowledge for distillation and its val accuracy.

Several GPUs: `torchrun --nproc_per_node N -m stages.train_teacher` (engine/distributed.py); each rank trains on
its part of every global batch of `teacher.batch_size` scenes, rank 0 alone writes.
"""

import logging

from ws3dvg.engine import artifacts, distributed
from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.grounding.data import grounding_set
from ws3dvg.grounding.evaluation import accuracy_report, target_boxes
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.grounding.teacher import run_teacher, save_teacher, train_teacher, write_knowledge
from ws3dvg.text.masking import read_masked


def main() -> None:
    log = setup_logging("train_teacher")
    params = load_params()
    cfg, data = params["teacher"], params["data"]
    ctx, device = distributed.init(resolve_device(params["base"]["device"]))
    if not ctx.is_main:  # rank 0 speaks for the run
        logging.getLogger().setLevel(logging.WARNING)
    paths = artifacts.grounding_paths(data["preprocessed"], "masked", "language_dir", "proposals_train", "proposals_val",
                                      "preprocessed")
    recipe = Recipe.from_params(cfg)  # the paper's choices, or ours where a departure is on
    trained = train_teacher(cfg, recipe, paths, device, params["base"]["seed"], artifacts.TEACHER,
                            artifacts.curves("teacher"),
                            params["runtime"]["loader_workers"], params["runtime"]["step"],
                            params["runtime"]["checkpoint_every_s"])
    model = trained["model"]
    if not ctx.is_main:  # the knowledge pass and every file are rank 0's
        distributed.shutdown()
        return
    save_teacher(artifacts.TEACHER_WEIGHTS, model, cfg, recipe, trained["history"])
    know, report = {}, {}
    for split in ("train", "val"):
        ds = grounding_set(paths, split, cfg, recipe)
        know[split] = run_teacher(model, ds, cfg, device, f"knowledge {split}")
    write_knowledge(artifacts.KNOWLEDGE, know, cfg)
    lang = read_masked(paths["masked"], "val")  # targets for the report only, after training
    report = accuracy_report(know["val"], target_boxes(data["preprocessed"], lang["scene_id"], lang["object_id"]),
                             recipe.joint_student)
    write_json(artifacts.metrics("teacher"), {"val": report})
    log.info("val: %s", {k: round(v, 3) for k, v in report.items()})
    distributed.shutdown()


if __name__ == "__main__":
    run_stage(main)
