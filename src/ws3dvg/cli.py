"""`ws3dvg ground --scene SCENE_ID --text "the red chair next to the table"`

Loads the trained student and the cached proposals (run from the pipeline's root, after
`dvc repro`), prints the chosen box and its score, and writes a PLY and a top-down PNG.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .engine.errors import DataError


def ground(scene: str, text: str, root: Path, out_dir: Path, device_name: str = "auto") -> dict:
    from .detection.proposals import cache_mode, find_scene
    from .engine import artifacts
    from .engine.config import load_params, resolve_device
    from .grounding.data import collate, load_proposals, prepare_proposals
    from .grounding.evaluation import chosen_boxes
    from .grounding.recipe import Recipe
    from .grounding.student import build_student
    from .grounding.visualize import PRED_COLOR, proposal_names, write_scene_ply, write_topdown_png
    from .scannet.labels import CLASSES18, OTHERS
    from .scannet.preprocess import read_scene
    from .text.tokens import tokenize
    from .text.vocab import Vocabulary, encode_batch

    if not text or not text.strip():
        raise ValueError("--text is empty: give the sentence that describes the object")
    params = load_params(root / "params.yaml")
    device = resolve_device(device_name if device_name != "auto" else params["base"]["device"])
    cache = find_scene([root / artifacts.proposals(split) for split in ("val", "train")], scene)
    if cache is None:
        raise DataError(root / artifacts.PROPOSALS, f"unknown scene {scene!r}: no cached proposals for it "
                                                    "(run `dvc repro cache_detector`, or check the id)")
    props, mode = load_proposals(cache, [scene])[scene], cache_mode(cache)
    tokens = tokenize(text)
    if not any(t not in ".," for t in tokens):
        raise ValueError(f"--text {text!r} has no words")
    if tokens[-1] != ".":  # descriptions end with a full stop in ScanRefer (and in training)
        tokens.append(".")
    vocab = Vocabulary.load(root / artifacts.LANGUAGE / "vocab.json")
    lcfg = params["language"]
    ids, mask, length = encode_batch([tokens], [[]], vocab, lcfg["max_len"], lcfg["sos_eos"])
    weights = torch.load(root / artifacts.student_weights(), map_location=device, weights_only=False)
    config = weights["config"]  # the student reads what its teacher read: its recipe and multiview switch
    mv = config["use_multiview"]
    prepare_proposals(props, cache, mv, mode=mode, **Recipe.from_dict(config["recipe"]).proposal_inputs())
    model = build_student(config, str(root / artifacts.LANGUAGE), props["features"].shape[1], 0).to(device)
    model.load_state_dict(weights["model"])
    model.eval()
    item = {"scene": scene, "sentence_index": np.array([0]), "ids": ids, "mask": mask, "length": length,
            "class18": np.array([OTHERS]), **{k: props[k] for k in ("center", "size", "corners", "objectness",
                                                                    "class_scores", "features", "seed_index")}}
    item["class_logits"] = props["class_logits"]
    if mv:
        item["multiview"] = props["multiview"]  # the cache carries it at every proposal's seed
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in collate([item]).items()}
    with torch.no_grad():
        out = model(batch)
    scores, said = out["scores"][0, 0].float(), int(out["class_logits"][0, 0].argmax())
    best = int(scores.argmax())
    # the scene's objects by class (the detector's verdict on each proposal), to tell the user what is there
    names = proposal_names(props["class_scores"])
    present = Counter(n for n, o in zip(names, props["objectness"]) if o >= params["teacher"]["objectness_threshold"])
    box = chosen_boxes(props["center"][None], props["size"][None], np.array([best]))[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    data = read_scene(root / params["data"]["preprocessed"], scene)
    pts, cols = data["points"][:, :3], data["points"][:, 3:6].astype(np.uint8)
    stem = out_dir / f"{scene}_{'_'.join(tokens[:6])}"
    write_scene_ply(f"{stem}.ply", pts, cols, [(box, PRED_COLOR)])
    write_topdown_png(f"{stem}.png", pts, cols, np.concatenate([props["center"], props["size"]], 1), None, box, text,
                      names, f"chose a {names[best]}")
    return {"scene": scene, "proposal": best, "box": box.tolist(), "score": float(scores[best]),
            "class": names[best], "sentence_class": CLASSES18[said], "scene_classes": dict(sorted(present.items())),
            "ply": f"{stem}.ply", "png": f"{stem}.png"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ws3dvg", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("ground", help="find the object a sentence refers to in a scene")
    g.add_argument("--scene", required=True)
    g.add_argument("--text", required=True)
    g.add_argument("--root", default=".", help="pipeline root (holds params.yaml, data/, models/)")
    g.add_argument("--out", default="predictions", help="folder for the PLY and PNG")
    g.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    try:
        res = ground(args.scene, args.text, Path(args.root), Path(args.out), args.device)
    except (DataError, ValueError) as exc:
        print(f"ws3dvg: error: {exc}", file=sys.stderr)
        return 2
    c, s = res["box"][:3], res["box"][3:]
    there = ", ".join(f"{n} x{k}" if k > 1 else n for n, k in res["scene_classes"].items())
    if res["sentence_class"] != "others" and res["sentence_class"] not in res["scene_classes"]:
        print(f"note: the student reads the sentence as a {res['sentence_class']}, and the detector finds none in "
              f"scene {res['scene']} (it finds: {there})", file=sys.stderr)
    print(f"scene {res['scene']}: proposal {res['proposal']} (a {res['class']}), score {res['score']:.3f}")
    print(f"box centre ({c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}) m, size ({s[0]:.2f}, {s[1]:.2f}, {s[2]:.2f}) m")
    print(f"wrote {res['ply']} and {res['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
