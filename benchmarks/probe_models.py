"""Where does an attribute get lost? Linear probes of what a trained grounding model reads of each proposal.

`probe_features.py` asks what the cached proposal features carry. This asks the same of a trained model's
relation encoder, the representation the teacher's decoder reconstructs keywords from and the students' match
head scores: its output (`context`, each proposal after seeing its scene) and its input projection (`own`). Each
checkpoint (teacher.pt, student.pt: any with `relation.*` weights and a config with its recipe) is run over the
cached proposals exactly as its recipe prepares them, and probed by the same ridge probes, fitted on train and
scored on val: class, colour and size, and on world v2 material and shape per kind.

If the fully supervised student's encoder keeps material and the teacher's loses it, the teacher never learned
to keep it; if the teacher's keeps it, its decoder does not read it.

Usage (pipeline root): PYTHONPATH=src python benchmarks/probe_models.py models/teacher/teacher.pt
       [models/student/student.pt ...] [--proposals data/proposals] [--objects data/synthetic/meta/synth_objects.csv]
       [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_features import classify_attributes, load, probe, read_objects, write_json  # noqa: E402

from ws3dvg.detection.proposals import cache_mode  # noqa: E402
from ws3dvg.engine.training import load_weights  # noqa: E402
from ws3dvg.grounding.data import load_proposals, prepare_proposals  # noqa: E402
from ws3dvg.grounding.recipe import Recipe  # noqa: E402
from ws3dvg.models.grounding import RelationEncoder  # noqa: E402


def relation_encoder(checkpoint: dict) -> RelationEncoder:
    """The checkpoint's relation encoder, its sizes read off its own weights."""
    state = {k[len("relation."):]: v for k, v in checkpoint["model"].items() if k.startswith("relation.")}
    hidden = state["layer_norm.weight"].shape[0]
    in_dim = state["input_proj.weight"].shape[1] if "input_proj.weight" in state else hidden
    multiview = state["obj_embedding.0.weight"].shape[1] if "obj_embedding.0.weight" in state else 0
    layers = sum(1 for k in state if k.startswith("bbox_embedding.") and k.endswith(".weight"))
    enc = RelationEncoder(in_dim, hidden, heads=8, layers=layers, multiview_dim=multiview,
                          distance_bias="distance_scale" in state)
    enc.load_state_dict(state)
    return enc.eval()


@torch.no_grad()
def encode(checkpoint: dict, proposals_h5: str) -> dict[str, np.ndarray]:
    """Every proposal's `own` and `context` rows, scenes in sorted order (as probe_features.load reads them)."""
    cfg = checkpoint["config"]
    recipe = Recipe.from_dict(cfg["recipe"])
    enc = relation_encoder(checkpoint)
    use_multiview = enc.obj_embedding is not None
    with h5py.File(proposals_h5, "r") as h5:
        scenes = sorted(h5)
    props = load_proposals(proposals_h5, scenes)
    mode = cache_mode(proposals_h5)
    rows: dict[str, list] = {"own": [], "context": []}
    for scene in scenes:
        p = prepare_proposals(props[scene], proposals_h5, use_multiview, recipe.box_colour, mode,
                              recipe.box_summary, recipe.summary_only, recipe.feature_norm)
        feats = torch.from_numpy(p["features"])[None]
        mask = torch.ones(feats.shape[:2], dtype=torch.bool)
        mv = torch.from_numpy(p["multiview"])[None] if use_multiview else None
        rows["own"].append(enc.own(feats)[0].numpy())
        rows["context"].append(enc(feats, torch.from_numpy(p["corners"])[None], mask, mv)[0].numpy())
    return {k: np.concatenate(v).astype(np.float64) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--proposals", default="data/proposals")
    ap.add_argument("--preprocessed", default="data/preprocessed/scannet.h5")
    ap.add_argument("--objects", help="world v2's meta/synth_objects.csv (adds material and shape)")
    ap.add_argument("--json")
    args = ap.parse_args()
    objects = read_objects(args.objects)
    split = {s: f"{args.proposals}/{s}.h5" for s in ("train", "val")}
    truth = {s: load(path, args.preprocessed, objects) for s, path in split.items()}
    out = {"proposals": args.proposals, "models": {}}
    for path in args.checkpoints:
        ck = load_weights(path)
        reps = {s: encode(ck, p) for s, p in split.items()}
        row = {}
        for which in ("own", "context"):
            tr, te = reps["train"][which], reps["val"][which]
            row[which] = probe(truth["train"], truth["val"], tr, te)
            if objects is not None:
                material = (np.ones(len(tr), bool), np.ones(len(te), bool))
                row[which]["attributes"] = classify_attributes(truth["train"], truth["val"], material,
                                                               {"probe": (tr, te)}, min_val=10)
        out["models"][path] = row
        print(path, json.dumps(row), flush=True)
    write_json(out, args.json)


if __name__ == "__main__":
    main()
