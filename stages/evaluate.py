"""Stage evaluate: the val table in metrics/eval.json, per-sentence predictions, PLY/PNG views."""

from pathlib import Path

import numpy as np

from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device, setup_logging
from ws3dvg.engine.training import load_weights
from ws3dvg.grounding.data import grounding_set, load_proposals, per_sentence_proposals
from ws3dvg.grounding.evaluation import accuracy_table, target_boxes
from ws3dvg.grounding.report import baseline_choices, evaluation_table, predictions, random_same_type_boxes
from ws3dvg.grounding.student import build_student, predict
from ws3dvg.grounding.teacher import read_knowledge, top1_choices
from ws3dvg.grounding.visualize import GT_COLOR, PRED_COLOR, write_scene_ply, write_topdown_png
from ws3dvg.ops.geometry import box_iou
from ws3dvg.scannet.preprocess import read_scene
from ws3dvg.text.masking import read_masked


def main(out_dir: str = "data/eval", metrics: str = "metrics/eval.json") -> None:
    log = setup_logging("evaluate")
    params = load_params()
    cfg, data, dcfg = params["evaluate"], params["data"], params["distill"]
    device = resolve_device(params["base"]["device"])
    masked, props_path = "data/language/masked.h5", "data/proposals/val.h5"
    lang = read_masked(masked, "val")
    targets = target_boxes(data["preprocessed"], lang["scene_id"], lang["object_id"])
    props = per_sentence_proposals(load_proposals(props_path, sorted(set(lang["scene_id"].tolist()))), lang["scene_id"])
    know = read_knowledge("data/teacher/knowledge.h5", "val")
    student_cfg = load_weights("models/student/student.pt")["config"]
    ds = grounding_set({"masked": masked, "proposals_val": props_path}, "val", student_cfg)

    choices, timing = {}, {}
    for name, folder in (("student", "models/student"), ("student_full_supervision", "models/student_full")):
        if not Path(folder, "student.pt").exists():
            continue
        weights = load_weights(Path(folder) / "student.pt", device)
        model = build_student(weights["config"], "data/language", ds.feature_dim, 0,
                              weights["config"].get("use_multiview", False)).to(device)
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
    same_type = random_same_type_boxes(lang, data["preprocessed"], cfg["seed"])
    if same_type is not None:  # Nr3D / Sr3D: ReferIt3D's chance level, over ground-truth boxes
        table["random_same_type"] = accuracy_table(box_iou(same_type, targets), lang["unique"], lang.get("hard"),
                                                   lang.get("view_dep"))
    write_json(metrics, table)  # no wall times in metrics: same inputs, same bytes
    log.info("student inference: %.2f ms per sentence", timing.get("student", 0.0))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "predictions.json",
               predictions(lang, choices["student"], student_score, props["center"], props["size"], targets,
                           ious["student"]), indent=1)
    _views(out / "views", lang, choices["student"], props, targets, data["preprocessed"], cfg["visualize"])
    for name, t in table.items():
        log.info("%-26s overall %.3f / %.3f   multiple %.3f / %.3f", name, t["overall"]["acc@0.25"],
                 t["overall"]["acc@0.5"], t["multiple"]["acc@0.25"], t["multiple"]["acc@0.5"])


def _views(folder: Path, lang, choice, props, targets, preprocessed, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in np.linspace(0, len(choice) - 1, min(count, len(choice))).astype(int):
        scene = read_scene(preprocessed, str(lang["scene_id"][i]))
        pts, cols = scene["points"][:, :3], scene["points"][:, 3:6].astype(np.uint8)
        pred = np.concatenate([props["center"][i, choice[i]], props["size"][i, choice[i]]])
        name = f"{lang['scene_id'][i]}_{int(lang['object_id'][i])}_{lang['ann_id'][i]}"
        write_scene_ply(folder / f"{name}.ply", pts, cols, [(targets[i], GT_COLOR), (pred, PRED_COLOR)])
        boxes = np.concatenate([props["center"][i], props["size"][i]], 1)[props["valid"][i]]
        write_topdown_png(folder / f"{name}.png", pts, cols, boxes, targets[i], pred, str(lang["description"][i]))


if __name__ == "__main__":
    main()
