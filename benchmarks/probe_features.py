"""What do the cached proposal features carry? Linear probes, fitted on the train split's proposals and scored on
val: the object's class (accuracy), its true mean colour (R^2) and its size (R^2). Colour words and anchor nouns
are most of the masked keywords, so a candidate whose feature does not carry colour cannot explain "the [red]
chair". Needs `gt` or `oracle` proposals (they know which object each proposal is).

Usage (pipeline root): PYTHONPATH=src python benchmarks/probe_features.py [data/proposals] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np

from ws3dvg.scannet.preprocess import read_scene


def targets(preprocessed: str, scene: str, instances: np.ndarray) -> dict[str, np.ndarray]:
    d = read_scene(preprocessed, scene)
    counts = np.bincount(d["instance"], minlength=int(instances.max()) + 1)
    colour = np.stack([np.bincount(d["instance"], d["points"][:, 3 + c], minlength=len(counts)) for c in range(3)], 1)
    colour = colour[instances] / np.maximum(counts[instances], 1)[:, None] / 255.0
    box = {int(b[7]): (b[3:6], int(k)) for b, k in zip(d["boxes"], d["box_class18"])}
    return {"class": np.array([box[int(i)][1] for i in instances]), "colour": colour,
            "size": np.stack([box[int(i)][0] for i in instances])}


def load(path: str, preprocessed: str) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {}
    with h5py.File(path, "r") as h5:
        for scene in sorted(h5):
            g = h5[scene]
            t = targets(preprocessed, scene, g["gt_instance"][()])
            for k in ("features", "multiview", "box_colour"):
                if k in g:
                    rows.setdefault(k, []).append(g[k][()])
            for k, v in t.items():
                rows.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in rows.items()}


def ridge(x_tr, y_tr, x_te, lam=1.0):
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    a, b = (x_tr - mu) / sd, (x_te - mu) / sd
    a, b = np.c_[a, np.ones(len(a))], np.c_[b, np.ones(len(b))]
    w = np.linalg.solve(a.T @ a + lam * len(a) * 1e-3 * np.eye(a.shape[1]), a.T @ y_tr)
    return b @ w


def r2(pred, y):
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def probe(tr: dict, te: dict, x_tr, x_te) -> dict:
    onehot = np.eye(18)[tr["class"]]
    return {"class_accuracy": float((ridge(x_tr, onehot, x_te).argmax(1) == te["class"]).mean()),
            "colour_r2": r2(ridge(x_tr, tr["colour"], x_te), te["colour"]),
            "size_r2": r2(ridge(x_tr, tr["size"], x_te), te["size"]), "dims": int(x_tr.shape[1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("proposals", nargs="?", default="data/proposals")
    ap.add_argument("--preprocessed", default="data/preprocessed/scannet.h5")
    ap.add_argument("--json")
    args = ap.parse_args()
    tr, te = (load(f"{args.proposals}/{s}.h5", args.preprocessed) for s in ("train", "val"))
    out = {"proposals": args.proposals, "train_objects": len(tr["class"]), "val_objects": len(te["class"]),
           "features": probe(tr, te, tr["features"], te["features"])}
    if "multiview" in tr:
        out["multiview"] = probe(tr, te, tr["multiview"], te["multiview"])
        out["features+multiview"] = probe(tr, te, np.c_[tr["features"], tr["multiview"]],
                                          np.c_[te["features"], te["multiview"]])
    if "box_colour" in te:
        out["box_colour_r2_direct"] = r2(te["box_colour"], te["colour"])
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
