"""What do the cached proposal features carry? Linear probes, fitted on the train split's proposals and scored on
val: the object's class (accuracy), its true mean colour (R^2) and its size (R^2). Colour words and anchor nouns
are most of the masked keywords, so a candidate whose feature does not carry colour cannot explain "the [red]
chair". Needs `gt` or `oracle` proposals (they know which object each proposal is).

On world v2 (synth.world: 2, whose `meta/synth_objects.csv` says each object's shape and material) it also
probes the attributes that only the points show: per kind with shape variants, the shape (accuracy), and the
material of every object, each from the 27-number summary (class scores, mean colour, size, centre), from its
box part (colour, size, centre) and its class scores apart, and from the detector's pooled feature, with the
majority-class rate as chance.

With `--multiview data/multiview/enet_feats.h5` it also probes the same attributes from each object's ENet
multiview feature averaged over its seen points (the appearance the frames show), beside its points' colour mean
and spread: does a 2D network trained on semantic labels see the material patterns?

Usage (pipeline root): PYTHONPATH=src python benchmarks/probe_features.py [data/proposals] [--json out.json]
       [--objects data/synthetic/meta/synth_objects.csv [--multiview data/multiview/enet_feats.h5]
        [--attributes-only]]
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np

from ws3dvg.scannet.preprocess import read_scene


def read_objects(path: str | None):
    """World v2's meta/synth_objects.csv indexed by (scene_id, object_id), or None without a path."""
    if not path:
        return None
    import pandas as pd
    return pd.read_csv(path).set_index(["scene_id", "object_id"])


def instance_sums(instance: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """(at least size, C) float64 sums of `values` (N, C) over the points of each instance id (one bincount a
    channel: no loop over objects or points)."""
    return np.stack([np.bincount(instance, values[:, c].astype(np.float64), minlength=size)
                     for c in range(values.shape[1])], 1)


def targets(preprocessed: str, scene: str, instances: np.ndarray) -> dict[str, np.ndarray]:
    d = read_scene(preprocessed, scene)
    size = int(instances.max()) + 1
    counts = np.bincount(d["instance"], minlength=size)
    colour = instance_sums(d["instance"], d["points"][:, 3:6], len(counts))
    colour = colour[instances] / np.maximum(counts[instances], 1)[:, None] / 255.0
    box = {int(b[7]): (b[3:6], int(k)) for b, k in zip(d["boxes"], d["box_class18"])}
    return {"class": np.array([box[int(i)][1] for i in instances]), "colour": colour,
            "size": np.stack([box[int(i)][0] for i in instances])}


def load(path: str, preprocessed: str | None, objects=None) -> dict[str, np.ndarray]:
    """The proposals' rows of one split; with `preprocessed` None, no truth from the scenes' points (which an
    unpacked run_cache tree lacks), only what the proposals and the world's object table say."""
    rows: dict[str, list] = {}
    with h5py.File(path, "r") as h5:
        for scene in sorted(h5):
            g = h5[scene]
            t = {} if preprocessed is None else targets(preprocessed, scene, g["gt_instance"][()])
            for k in ("features", "multiview", "box_colour", "class_scores", "size", "center"):
                if k in g:  # the box's size and centre as the proposal gives them, beside the truth's
                    rows.setdefault({"size": "box_size", "center": "box_center"}.get(k, k), []).append(g[k][()])
            for k, v in t.items():
                rows.setdefault(k, []).append(v)
            if objects is not None:  # instance ids are objectId + 1
                o = objects.loc[[(scene, int(i) - 1) for i in g["gt_instance"][()]]]
                for k in ("name", "shape", "material"):
                    rows.setdefault(k, []).append(o[k].fillna("").to_numpy(str))
    return {k: np.concatenate(v) for k, v in rows.items()}


def attribute_probes(tr: dict, te: dict) -> dict:
    """Shape per kind and material, from the summary and from the pooled feature, with chance beside them."""
    feats = {"summary": lambda d: np.c_[d["class_scores"], d["box_colour"], d["box_size"], d["box_center"]],
             # its two parts apart: the 9 numbers read off the box, and the 18 a trained classifier gives it
             "summary_box": lambda d: np.c_[d["box_colour"], d["box_size"], d["box_center"]],
             "summary_class_scores": lambda d: d["class_scores"],
             "features": lambda d: d["features"]}
    material = (np.ones(len(tr["name"]), bool), np.ones(len(te["name"]), bool))
    return classify_attributes(tr, te, material, {k: (get(tr), get(te)) for k, get in feats.items()}, min_val=10)


def classify_attributes(tr: dict, te: dict, material: tuple, feats: dict, min_val: int) -> dict:
    """Material (over the objects `material` selects in train and val) and the shape of each kind with variants,
    each feature's (train, val) rows probed by ridge classification; tasks with one label or fewer than `min_val`
    val objects are left out. -> per task: val objects, the majority label's share (chance), each feature's
    accuracy."""
    tasks = {"material": (*material, "material")}
    for name in sorted(set(tr["name"][tr["shape"] != ""])):
        tasks[f"shape of {name}"] = (tr["name"] == name, te["name"] == name, "shape")
    out = {}
    for task, (m_tr, m_te, field) in tasks.items():
        y_tr, y_te = tr[field][m_tr], te[field][m_te]
        labels = sorted(set(y_tr))
        if len(labels) < 2 or m_te.sum() < min_val:
            continue
        onehot = (y_tr[:, None] == np.array(labels)[None]).astype(float)
        row = {"val_objects": int(m_te.sum()),
               "chance": float(max((y_te == lab).mean() for lab in labels))}
        for fname, (x_tr, x_te) in feats.items():
            pred = np.array(labels)[ridge(x_tr[m_tr], onehot, x_te[m_te]).argmax(1)]
            row[fname] = float((pred == y_te).mean())
        out[task] = row
    return out


def object_appearance(preprocessed: str, multiview_h5: str, scenes: list[str], objects) -> dict[str, np.ndarray]:
    """Per object of the world's table: its mean ENet feature over the points some frame saw (zero where fewer
    than 5 were), the share of its points seen, and its points' colour mean and standard deviation."""
    rows: dict[str, list] = {}
    with h5py.File(multiview_h5, "r") as mv:
        for scene in scenes:
            d = read_scene(preprocessed, scene)
            feats = mv[scene][()].astype(np.float32)  # float16 on disk: sums overflow
            seen = np.abs(feats).sum(1) > 0
            inst = d["instance"]
            ids = np.array([i for i in np.unique(inst) if i > 0 and (scene, int(i) - 1) in objects.index], np.int64)
            size = int(inst.max()) + 1
            points = np.bincount(inst, minlength=size)[ids]
            looked = np.bincount(inst[seen], minlength=size)[ids]
            enet = instance_sums(inst[seen], feats[seen], size)[ids] / np.maximum(looked, 1)[:, None]
            colour = d["points"][:, 3:6].astype(np.float64)
            mean = instance_sums(inst, colour, size)[ids] / points[:, None]
            spread = np.sqrt(np.maximum(instance_sums(inst, colour ** 2, size)[ids] / points[:, None] - mean ** 2, 0))
            rows.setdefault("enet", []).extend(np.where(looked[:, None] >= 5, enet, 0.0))
            rows.setdefault("seen", []).extend(looked / points)
            rows.setdefault("colour_stats", []).extend(np.c_[mean, spread])
            o = objects.loc[[(scene, int(i) - 1) for i in ids]]
            for k in ("name", "shape", "material"):
                rows.setdefault(k, []).extend(o[k].fillna("").astype(str))
    return {k: np.array(v) for k, v in rows.items()}


def appearance_probes(tr: dict, te: dict) -> dict:
    """Material and shape per kind from the objects' mean ENet feature and from their colour mean and spread."""
    material = (tr["material"] != "", te["material"] != "")
    feats = {k: (tr[k], te[k]) for k in ("enet", "colour_stats")}
    return {"objects_seen": float((tr["seen"] > 0).mean()), "points_seen": float(tr["seen"].mean()),
            **classify_attributes(tr, te, material, feats, min_val=8)}


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
    ap.add_argument("--objects", help="world v2's meta/synth_objects.csv (adds the attribute probes)")
    ap.add_argument("--multiview", help="with --objects: data/multiview/enet_feats.h5 (adds the appearance probes)")
    ap.add_argument("--attributes-only", action="store_true",
                    help="with --objects: only the attribute probes, which need no scene points (an unpacked "
                         "benchmarks/run_cache.py tree)")
    ap.add_argument("--json")
    args = ap.parse_args()
    objects = read_objects(args.objects)
    if args.attributes_only:
        if objects is None:
            raise SystemExit("--attributes-only needs --objects (world v2's meta/synth_objects.csv)")
        tr, te = (load(f"{args.proposals}/{s}.h5", None, objects) for s in ("train", "val"))
        out = {"proposals": args.proposals, "train_objects": len(tr["name"]), "val_objects": len(te["name"]),
               "attributes": attribute_probes(tr, te)}
        print(json.dumps(out, indent=1))
        return write_json(out, args.json)
    tr, te = (load(f"{args.proposals}/{s}.h5", args.preprocessed, objects) for s in ("train", "val"))
    out = {"proposals": args.proposals, "train_objects": len(tr["class"]), "val_objects": len(te["class"]),
           "features": probe(tr, te, tr["features"], te["features"])}
    if "multiview" in tr:
        out["multiview"] = probe(tr, te, tr["multiview"], te["multiview"])
        out["features+multiview"] = probe(tr, te, np.c_[tr["features"], tr["multiview"]],
                                          np.c_[te["features"], te["multiview"]])
    if "box_colour" in te:
        out["box_colour_r2_direct"] = r2(te["box_colour"], te["colour"])
    if objects is not None:
        out["attributes"] = attribute_probes(tr, te)
    if objects is not None and args.multiview:
        from ws3dvg.scannet.preprocess import read_splits
        splits = read_splits(args.preprocessed)
        out["appearance"] = appearance_probes(
            *(object_appearance(args.preprocessed, args.multiview, splits[s], objects) for s in ("train", "val")))
    print(json.dumps(out, indent=1))
    write_json(out, args.json)


def write_json(out: dict, path: str | None) -> None:
    """The probes' table to `path` (the scripts' --json), when one is given."""
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
