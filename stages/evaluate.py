"""Stage evaluate: the val table in metrics/eval.json, per-sentence predictions, PLY/PNG views."""

from pathlib import Path

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.engine.training import load_weights
from ws3dvg.grounding.data import grounding_set, load_proposals, per_sentence_proposals
from ws3dvg.grounding.evaluation import (
    baseline_choices,
    evaluation_table,
    predictions,
    random_same_type_row,
    target_boxes,
    top1_choices,
)
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.grounding.student import build_student, predict
from ws3dvg.grounding.teacher import read_knowledge
from ws3dvg.grounding.visualize import write_views
from ws3dvg.text.masking import read_masked


def main() -> None:
    log = setup_logging("evaluate")
    params = load_params()
    cfg, data, dcfg = params["evaluate"], params["data"], params["distill"]
    device = resolve_device(params["base"]["device"])
    masked, props_path = artifacts.MASKED, artifacts.proposals("val")
    lang = read_masked(masked, "val")
    targets = target_boxes(data["preprocessed"], lang["scene_id"], lang["object_id"])
    props = per_sentence_proposals(load_proposals(props_path, sorted(set(lang["scene_id"].tolist()))), lang["scene_id"])
    know = read_knowledge(artifacts.KNOWLEDGE, "val")
    student_cfg = load_weights(artifacts.student_weights())["config"]
    ds = grounding_set({"masked": masked, "proposals_val": props_path}, "val", student_cfg,
                       Recipe.from_dict(student_cfg["recipe"]))

    choices, timing = {}, {}
    for name, folder in (("student", artifacts.STUDENT), ("student_full_supervision", artifacts.STUDENT_FULL)):
        if not Path(artifacts.student_weights(folder)).exists():
            continue
        weights = load_weights(artifacts.student_weights(folder), device)
        model = build_student(weights["config"], artifacts.LANGUAGE, ds.feature_dim, 0).to(device)
        model.load_state_dict(weights["model"])
        pred = predict(model, ds, dcfg, device)
        choices[name], timing[name] = pred["choice"], pred["ms_per_sentence"]
        if name == "student":
            student_score = pred["score"]
    top1 = top1_choices(know)
    choices["teacher_fine"], choices["coarse"] = top1["fine"], top1["coarse"]
    valid = props["valid"] & (props["objectness"] >= params["teacher"]["objectness_threshold"])
    choices.update(baseline_choices(props["center"], props["size"], valid, props["class_scores"], know["pred_class"],
                                    targets, cfg["seed"]))
    table, ious = evaluation_table(choices, props["center"], props["size"], targets, lang)
    same_type = random_same_type_row(lang, data["preprocessed"], targets, cfg["seed"])
    if same_type is not None:  # Nr3D / Sr3D: ReferIt3D's chance level, over ground-truth boxes
        table["random_same_type"] = same_type
    write_json(artifacts.metrics("eval"), table)  # no wall times in metrics: same inputs, same bytes
    log.info("student inference: %.2f ms per sentence", timing.get("student", 0.0))
    out = Path(artifacts.EVAL)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "predictions.json",
               predictions(lang, choices["student"], student_score, props["center"], props["size"], targets,
                           ious["student"], ious), indent=1)
    write_views(out / "views", lang, choices["student"], props, targets, ious["student"], data["preprocessed"],
                cfg["visualize"])
    for name, t in table.items():
        log.info("%-26s overall %.3f / %.3f   multiple %.3f / %.3f", name, t["overall"]["acc@0.25"],
                 t["overall"]["acc@0.5"], t["multiple"]["acc@0.25"], t["multiple"]["acc@0.5"])


if __name__ == "__main__":
    run_stage(main)
